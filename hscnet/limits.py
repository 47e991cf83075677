"""Sizes and settings the stages accept: they check inputs against them before any work.

Plain constants, no torch: the text and video stages, the commands' parsers and the workflow's config
schema read them too.
"""

MAX_POSITIONS = 4096  # the longest clip or word sequence the model's sinusoidal position table covers
# Clips per video: within MAX_POSITIONS, and a video's clip spans (float64 pairs) stay under HDF5's
# 64 KB limit on an attribute, which 4092 spans would reach. workflow/schemas/ states the same maximum.
MAX_CLIPS = 4000
# --precision of extraction, training and evaluation: the names of hscnet.device.PRECISIONS and "auto"
# (tests/test_cli.py keeps them equal; hscnet.device imports torch).
PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16")
