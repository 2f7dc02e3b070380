"""Pose estimation on a video of your own: person boxes, tracks and the predictor."""
