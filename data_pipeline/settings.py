"""The data config flattened into one frozen, picklable record for the per-sample hot path.

ConfigDict lookups are slow and ConfigDicts travel badly to worker processes; every field the
clip pipeline reads is copied here once, by name, from `config.data` (and the clip's frames
from the ClipSpec a model family hands in). The values are checked by data_pipeline/config.py.
"""

from __future__ import annotations

import dataclasses

from data_pipeline import clip_frames


@dataclasses.dataclass(frozen=True)
class DataSettings:
  """Per-sample settings, from config.data (meanings: data_pipeline/config.py)."""
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

  frame_offsets: bool = False  # elements carry 'supporting_frame_offsets' (clip_frames.ClipSpec)

  @classmethod
  def from_config(cls, data_config, clip: clip_frames.ClipSpec | None = None) -> 'DataSettings':
    """The settings of `config.data`, with the clip a model family reads when given (else the
    section's own supporting_offsets and boundary_rule)."""
    if clip is None:
      clip = clip_frames.ClipSpec(tuple(data_config.supporting_offsets),
                                  data_config.boundary_rule)
    values = {'supporting_offsets': clip.offsets, 'boundary_rule': clip.boundary_rule,
              'frame_offsets': clip.frame_offsets}
    for field in dataclasses.fields(cls):
      if field.name in values:
        continue
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
