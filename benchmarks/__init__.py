"""Speed and quality benchmarks of the course (spec §7); ``python benchmarks/run.py`` runs them."""
