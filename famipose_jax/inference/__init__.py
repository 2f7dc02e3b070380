"""Pose estimation on your own video: frames, person boxes, tracks, the predictor, its outputs."""
