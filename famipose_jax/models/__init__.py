"""The FAMI-Pose network (HRNet backbone, global transformation, local calibration, heads)."""

from famipose_jax.models.famipose.network import FamiPose, build_model, example_inputs, input_keys
from famipose_jax.models.famipose.network import validate_model_config
from famipose_jax.models.hrnet import HRNet
