"""The shapes world: scenes, class ids, torch datasets and COCO import/export."""

from .classes import CLASS_COLOURS, CLASSES, LABEL_DIVISOR, NUM_CLASSES, STUFF, THING_COLOURS, THINGS, VOID, class_name
from .datasets import (
                      SPLITS,
                      InstanceDataset,
                      PanopticDataset,
                      PixelDataset,
                      SemanticDataset,
                      collate,
                      instance_target,
                      pixel_features,
                      segment_target,
                      split_seed,
)
from .own_world import make_own_scene
from .shapes import make_scene

__all__ = ["CLASSES", "CLASS_COLOURS", "LABEL_DIVISOR", "NUM_CLASSES", "STUFF", "THINGS", "THING_COLOURS",
           "VOID", "class_name", "make_own_scene", "make_scene", "SPLITS", "InstanceDataset", "PanopticDataset",
           "PixelDataset", "SemanticDataset", "collate", "instance_target", "pixel_features", "segment_target",
           "split_seed"]
from .coco import (
    CocoFormatError,
    CocoInstanceDataset,
    CocoValidationError,
    Fault,
    category_mapping,
    export_coco,
    load_coco,
    print_report,
    sample_dir,
    segmentation_to_mask,
    validate_coco,
    validate_or_raise,
    write_sample,
)

__all__ += ["CocoFormatError", "CocoInstanceDataset", "CocoValidationError", "Fault", "category_mapping", "export_coco",
            "load_coco", "print_report", "sample_dir", "segmentation_to_mask", "validate_coco", "validate_or_raise",
            "write_sample"]
