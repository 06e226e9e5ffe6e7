"""Tools around the lessons: the headless course runner, static widget snapshots, headlines, the environment check.

Modules (import the one you need; this package imports none of them, so importing it costs nothing):

- ``lesson_runner``: ``python -m course_utils.tools.lesson_runner`` (``make course``) runs every lesson
  headless; ``run_lesson`` and ``CourseNotebookClient`` for tests and benchmarks.
- ``widget_snapshot``: ``snapshot_widgets(nb)``, widget views as static HTML for exported pages.
- ``headline``: ``headline(name, value)``, a lesson's key number, and ``find_headline(nb)`` to read it back.
- ``env_check``: ``print_report()``, what ``python -m course_utils check`` prints.
"""
