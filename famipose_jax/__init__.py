"""FAMI-Pose in JAX/Flax: temporal feature alignment and mutual information for video pose."""
