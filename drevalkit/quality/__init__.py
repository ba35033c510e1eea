"""Adaptive point-wise quality: per-task rubrics, per-dimension judging, weighted aggregation."""
