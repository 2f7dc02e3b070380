"""`posetrack_frames`: every PoseTrack frame stored once, as a TFDS dataset (see the builder)."""
