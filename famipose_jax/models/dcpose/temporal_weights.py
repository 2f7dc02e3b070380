"""DCPose's previous/next weights: the temporally closer frame weighs more.

The published forward takes margin = (c - p, n - c) for key frame c, previous p and next n, a
stand-in key frame counting 1, and weighs the previous frame by (n - c) / (n - p) and the next by
(c - p) / (n - p), divided in float32 (`margin.float() / interval.float()`) whatever the model's
dtype. With the published frame distance 1 both weights are exactly 0.5.
"""

import jax
import jax.numpy as jnp


def temporal_weights(supporting_frame_offsets: jax.Array, dtype) -> tuple[jax.Array, jax.Array]:
  """(previous weight, next weight) [B, 1, 1, 1] of `dtype`, from the frames read.

  Args:
    supporting_frame_offsets: [B, 2] int, the previous and the next frame read minus the key
      frame (0 where the key frame stood in; data_pipeline.clip_frames).
    dtype: the model's compute dtype (the division itself is float32, as published).
  """
  offsets = supporting_frame_offsets.astype(jnp.int32)
  margin_left = jnp.maximum(-offsets[:, 0], 1).astype(jnp.float32)
  margin_right = jnp.maximum(offsets[:, 1], 1).astype(jnp.float32)
  interval = margin_left + margin_right
  shape = (-1, 1, 1, 1)
  return ((margin_right / interval).astype(dtype).reshape(shape),
          (margin_left / interval).astype(dtype).reshape(shape))
