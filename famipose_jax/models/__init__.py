"""The FAMI-Pose network (HRNet backbone, global transformation, local calibration, heads)."""

from famipose_jax.models.famipose import FamiPose, build_model, example_inputs, validate_model_config
from famipose_jax.models.hrnet import HRNet
