"""The course map: every lesson with its question, and rough run-time estimates (data, not prose)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Lesson", "LESSONS", "course_map_rows", "course_map_markdown"]


@dataclass(frozen=True)
class Lesson:
    """One lesson of the course."""

    number: str  # two digits, "00".."11"
    notebook: str  # file name in notebooks/
    title: str  # short title, as in the notebook's title cell
    question: str  # the question the lesson answers, one line
    cpu_minutes: float  # estimated run time top to bottom on a 2-core CPU, as the lesson's header says; < 1: "< 1 min"
    gpu_minutes: float  # estimated run time on a CUDA GPU, as the lesson's header says


# The times agree with each notebook's "Estimated time" line: change both together.
LESSONS: tuple[Lesson, ...] = (
    Lesson("00", "00_start_here.ipynb", "Start here",
           "Does my machine work, and how do lessons, questions and assignments work?", 0.5, 0.5),
    Lesson("01", "01_pixel_classification.ipynb", "Pixel classification",
           "Can we segment an image by classifying each pixel on its own? Where does that fail?", 0.5, 0.5),
    Lesson("02", "02_from_cnn_to_fcn.ipynb", "From CNN to FCN",
           "How do convolutions add context, and how does a network give back a full-size label map?", 0.5, 0.5),
    Lesson("03", "03_fcn_semantic_segmentation.ipynb", "FCN semantic segmentation",
           "Train and evaluate an FCN: what does it get right that lesson 01 could not?", 3, 0.5),
    Lesson("04", "04_unet_deeplab.ipynb", "U-Net and DeepLab",
           "How do encoder-decoders with skips (U-Net) and atrous convolution with ASPP (DeepLab) beat FCN-8s "
           "at the same budget, and where?", 4, 0.5),
    Lesson("05", "05_instance_segmentation.ipynb", "Instance segmentation",
           "Why is semantic segmentation not enough? Semantic vs instance vs panoptic; annotating instances.",
           1, 0.5),
    Lesson("06", "06_detection_building_blocks.ipynb", "Detection building blocks",
           "Boxes, IoU, box regression, anchors, non-maximum suppression, precision/recall/AP.", 0.5, 0.5),
    Lesson("07", "07_mask_rcnn.ipynb", "Mask R-CNN",
           "Build, train, look inside every stage, and evaluate Mask R-CNN with COCO AP.", 3, 0.5),
    Lesson("08", "08_one_stage_instance_segmentation.ipynb", "One-stage instance segmentation",
           "The FCN-driven family (YOLACT): prototypes and coefficients; what do we trade against Mask R-CNN?",
           4, 0.5),
    Lesson("09", "09_panoptic_segmentation.ipynb", "Panoptic segmentation",
           "Stuff and things in one map; panoptic quality (PQ).", 0.5, 0.5),
    Lesson("10", "10_masks_as_queries_and_prompts.ipynb", "Masks as queries and prompts",
           "One model for semantic, instance and panoptic (mask classification), and click-to-segment (prompts).",
           4, 0.5),
    Lesson("11", "11_your_own_data.ipynb", "Your own data",
           "A dataset unlike the shapes world: validate, labelme, fine-tune vs from scratch, augment, evaluate "
           "(and its pitfalls), a real photograph.", 2, 1),
)


def _minutes(value: float) -> str:
    """An estimate as the table shows it: "< 1 min" or "~2 min"."""
    return "< 1 min" if value < 1 else f"~{value:g} min"


def course_map_rows() -> list[dict[str, str]]:
    """The course map as table rows.

    Returns:
        one dict per lesson with ``lesson``, ``notebook``, ``title``, ``question``, ``cpu``, ``gpu`` (strings).
    """
    return [{"lesson": ls.number, "notebook": ls.notebook, "title": ls.title, "question": ls.question,
             "cpu": _minutes(ls.cpu_minutes), "gpu": _minutes(ls.gpu_minutes)} for ls in LESSONS]


def course_map_markdown(link: bool = True) -> str:
    """The course map as a Markdown table (notebook links when ``link``), for ``IPython.display.Markdown``."""
    lines = ["| # | lesson | the question it answers | run time (CPU) | run time (GPU) |", "|---|---|---|---|---|"]
    for r in course_map_rows():
        title = f"[{r['title']}]({r['notebook']})" if link else r["title"]
        lines.append(f"| {r['lesson']} | {title} | {r['question']} | {r['cpu']} | {r['gpu']} |")
    return "\n".join(lines)
