"""The data config flattened into one frozen, picklable record for the per-sample hot path.

ConfigDict lookups are slow and ConfigDicts travel badly to worker processes; every field the
clip pipeline reads is copied here once, by name, from `config.data`. The values are checked
before a run starts, by famipose_jax/config/schema.py.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class DataSettings:
  """Per-sample settings, all from config.data (meanings: famipose_jax/config/defaults.py)."""
  root: str
  image_size: tuple            # (W, H) of the network input
  heatmap_size: tuple          # (w, h)
  num_joints: int
  supporting_offsets: tuple
  boundary_rule: str
  sigma: float
  box_enlarge: float
  pixel_std: float
  scale_factor: float
  scale_clip: tuple
  rotation_factor: float
  rotation_clip: float
  rotation_prob: float
  flip_prob: float
  flip_pairs: tuple
  half_body_prob: float
  half_body_min_joints: int
  half_body_upper_threshold: float
  half_body_scale: float
  upper_body_joints: tuple
  mean: tuple
  std: tuple
  det_score_threshold: float
  crop_convention: str
  decode_reduction: str
  region_decode: bool
  frame_numbering: str
  on_bad_input: str

  @classmethod
  def from_config(cls, data_config) -> 'DataSettings':
    values = {}
    for field in dataclasses.fields(cls):
      value = data_config[field.name]
      if isinstance(value, list):
        value = tuple(value)
      if field.name == 'flip_pairs':
        value = tuple(tuple(int(j) for j in pair) for pair in value)
      values[field.name] = value
    return cls(**values)

  @property
  def aspect_ratio(self) -> float:
    return self.image_size[0] / self.image_size[1]

  @property
  def num_supporting(self) -> int:
    return len(self.supporting_offsets)
