"""Figures: scenes, label maps, instances, training curves and small interactive viewers."""

from .scenes import (
                     class_legend,
                     colour_panoptic,
                     colour_semantic,
                     draw_instances,
                     hwc,
                     instance_colours,
                     show_scene,
                     show_scenes,
                     to_uint8,
)

__all__ = ["class_legend", "colour_panoptic", "colour_semantic", "draw_instances", "hwc", "instance_colours",
           "show_scene", "show_scenes", "to_uint8"]
