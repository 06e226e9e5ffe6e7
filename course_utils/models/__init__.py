"""The course's models, one file per family; building them here, training and loading them in ``train``."""

from .fcn import FCN, FCNConfig, build_fcn  # noqa: F401
from .pixel import PixelClassifier, PixelConfig, build_pixel_classifier  # noqa: F401
