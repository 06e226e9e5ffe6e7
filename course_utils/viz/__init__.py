"""Figures: scenes, label maps, instances, training curves and small interactive viewers."""
