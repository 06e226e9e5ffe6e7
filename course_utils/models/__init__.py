"""The course's models, one file per family; building them here, training and loading them in ``train``."""

from .deeplab import DeepLab, DeepLabConfig, build_deeplab  # noqa: F401
from .fcn import FCN, FCNConfig, build_fcn  # noqa: F401
from .pixel import PixelClassifier, PixelConfig, build_pixel_classifier  # noqa: F401
from .unet import UNet, UNetConfig, build_unet  # noqa: F401
