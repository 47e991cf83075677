"""Sizes the model and the feature store accept: the stages check inputs against them before any work.

Plain constants, no torch: the text and video stages and the workflow's config schema read them too.
"""

MAX_POSITIONS = 4096  # the longest clip or word sequence the model's sinusoidal position table covers
# Clips per video: within MAX_POSITIONS, and a video's clip spans (float64 pairs) stay under HDF5's
# 64 KB limit on an attribute, which 4092 spans would reach. workflow/schemas/ states the same maximum.
MAX_CLIPS = 4000
