"""course_utils: the shared code of the image segmentation course.

Notebooks import from here; the submodules are ``data``, ``engine``, ``models``, ``metrics``,
``viz``, ``quiz``, ``exercises`` and ``solutions``.
"""

__version__ = "0.1.0"
