"""Command line of the course: ``python -m course_utils check | progress | make-data | nbgrader``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _cmd_check(args: argparse.Namespace) -> int:
    from .tools.env_check import print_report

    return 0 if print_report(args.root).ok else 1


def _cmd_progress(args: argparse.Namespace) -> int:
    from . import progress
    from .progress.report import show

    if args.class_dir:
        from .progress.classroom import print_class_report

        return print_class_report(Path(args.class_dir))
    if args.path:
        progress.set_path(args.path)
        if not progress.path().exists():
            print(f"There is no progress file at {progress.path()} (it is created on the first answer or check).")
            return 1
    show()
    return 0


def _cmd_make_data(args: argparse.Namespace) -> int:
    from .paths import REPO_ROOT

    out = Path(args.out) if args.out else REPO_ROOT / "data"
    try:
        from .data.coco import write_sample
    except ImportError as err:
        print(f"The data sample cannot be written: course_utils.data.coco.write_sample is not available ({err}).")
        return 1
    try:
        written = write_sample(out)
    except ImportError as err:  # scikit-image holds the photographs of the backgrounds
        print(f"The data sample cannot be written: {err}.")
        return 1
    print(f"Wrote the course's data sample to {written}.")
    return 0


def _cmd_nbgrader(args: argparse.Namespace) -> int:
    from .tools.nbgrader_export import ExportError, export_course

    only = [n for item in args.only for n in item.split(",") if n] if args.only else None
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        print(f"{out} is a file; give a folder for the nbgrader course.")
        return 1
    try:
        written = export_course(out, only=only, hidden_seed=args.hidden_seed)
    except ExportError as err:
        print(f"No assignments written: {err}")
        return 1
    except OSError as err:
        print(f"The nbgrader course could not be written to {out}: {err}")
        return 1
    for a in written:
        print(f"  source/{a.name}/{a.name}.ipynb: {len(a.exercises)} exercise(s), {a.points} points")
    print(f"Wrote {len(written)} assignments and nbgrader_config.py to {out}.\n"
          f"Next: cd {out} && nbgrader generate_assignment {written[0].name}  (README: For teachers)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m course_utils``."""
    parser = argparse.ArgumentParser(
        prog="python -m course_utils",
        description="Tools of the image segmentation course.",
        epilog="Examples:\n  python -m course_utils check\n  python -m course_utils progress --path progress.json\n"
               "  python -m course_utils progress --class class/\n  python -m course_utils make-data --out data\n"
               "  python -m course_utils nbgrader course/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    check = sub.add_parser("check", help="check this machine: versions, device, widgets, data sample, progress file",
                           description="Print an environment report; exit status 1 when something the course "
                                       "needs is missing.")
    check.add_argument("--root", default=None, help="course folder that holds data/ (default: the repository root)")
    check.set_defaults(func=_cmd_check)
    prog = sub.add_parser("progress", help="print the per-lesson progress table",
                          description="Print questions right / tried / total and exercises passed / total per "
                                      "lesson, read from the progress file.")
    prog.add_argument("--path", default=None,
                      help="progress file to read (default: $COURSE_PROGRESS or progress.json at the course root)")
    prog.add_argument("--class", dest="class_dir", default=None, metavar="DIR",
                      help="a folder of learners' progress files (*.json, any depth): print the class report")
    prog.set_defaults(func=_cmd_progress)
    data = sub.add_parser("make-data", help="(re)write the COCO-format data sample, byte-for-byte",
                          description="Write the course's sample dataset (train/ and val/ in COCO layout).")
    data.add_argument("--out", default=None, help="destination folder (default: data/ at the repository root)")
    data.set_defaults(func=_cmd_make_data)
    grader = sub.add_parser("nbgrader", help="write an nbgrader course folder: an assignment per lesson with exercises",
                            description="Write OUT/source/<lesson>/<lesson>.ipynb for every lesson with a mini "
                                        "assignment (reference solutions, autograded checks with hidden cases) and "
                                        "OUT/nbgrader_config.py.")
    grader.add_argument("out", metavar="OUT", help="the nbgrader course folder (created)")
    grader.add_argument("--only", nargs="+", metavar="NN", help="only these lessons, e.g. --only 01 06")
    grader.add_argument("--hidden-seed", type=int, default=None,
                        help="seed of the hidden cases' inputs (default: a fresh random one)")
    grader.set_defaults(func=_cmd_nbgrader)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
