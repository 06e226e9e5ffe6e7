"""Models of the course: per-pixel classifiers, FCNs and Mask R-CNN (with inspection hooks)."""

from .fcn import FCN, FCNConfig, build_fcn, load_fcn  # noqa: F401
from .pixel import PixelClassifier, PixelConfig, build_pixel_classifier, load_pixel_classifier  # noqa: F401
