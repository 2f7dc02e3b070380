"""One person's network input from video frames in memory: the key crop and its supporting crops.

The same crop evaluation takes from a dataset (`data_pipeline.ClipDataset.load` with
train=False): the box becomes a centre and scale (`crop_affine.box_to_center_scale`: widened
to the input's aspect ratio, enlarged by data.box_enlarge), one affine crops the key frame and
every supporting frame, and the supporting frames are those of the model family's clip
(`Experiment.clip`: offsets and the rule at the ends of the video), with their offsets from the
key frame for a family that reads them. Frames are RGB here, so the crops need no colour
swap (warping works channel by channel: the pixels equal the dataset's). Frames are always
used at full resolution: evaluation with data.decode_reduction='auto' crops from reduced JPEG
decodes instead, slightly different pixels.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from data_pipeline import clip_frames
from data_pipeline import clip_transform
from data_pipeline import crop_affine
from data_pipeline.augment import no_augmentation
from data_pipeline.settings import DataSettings


@dataclasses.dataclass(frozen=True)
class ClipCrop:
  """Where one person's crop lies in the frame: what maps crop coordinates back."""
  center: np.ndarray   # [2] float32 image pixels
  scale: np.ndarray    # [2] float32 units of pixel_std


class ClipCropper:
  """Crops the clips of one video's frames (a sequence of [H, W, 3] uint8 RGB arrays).

  `settings` carry the clip (DataSettings.from_config(config.data, experiment.clip)).
  """

  def __init__(self, settings: DataSettings):
    self.settings = settings

  @property
  def temporal(self) -> bool:
    return bool(self.settings.supporting_offsets)

  def frame_numbers(self, key: int, num_frames: int) -> list[int]:
    """The clip's frames (0-based): the key frame, then the supporting frames in offset order."""
    if not self.temporal:
      return [key]
    s = self.settings
    return [key] + clip_frames.supporting_frame_numbers(key, 0, num_frames, s.supporting_offsets,
                                                        s.boundary_rule)

  def crop(self, box_xywh) -> ClipCrop:
    s = self.settings
    center, scale = crop_affine.box_to_center_scale(box_xywh, s.aspect_ratio, s.box_enlarge,
                                                    s.pixel_std)
    return ClipCrop(center=center, scale=scale)

  def write_inputs(self, frames: Sequence[np.ndarray], key: int, crop: ClipCrop,
                   key_out: np.ndarray, supporting_out: np.ndarray | None,
                   frame_offsets_out: np.ndarray | None = None) -> None:
    """Writes the key crop [H, W, 3] and the supporting crops [N, H, W, 3] (uint8 RGB).

    Args:
      frames: the whole video, indexable by frame number.
      key: the key frame's number.
      crop: the person's crop (`crop`).
      key_out, supporting_out: where the crops go (supporting_out None: single frame).
      frame_offsets_out: [N] int32, each supporting frame read minus the key frame (for a
        family that reads them), or None.
    """
    s = self.settings
    width = frames[key].shape[1]
    matrix = clip_transform.crop_matrix(no_augmentation(crop.center, crop.scale), width,
                                        s.image_size, s.pixel_std, s.crop_convention)

    def crop_into(number, slot):
      slot[...] = clip_transform.warp_frame(frames[number], matrix, s.image_size)

    slots = [key_out] + ([] if supporting_out is None else list(supporting_out))
    numbers = self.frame_numbers(key, len(frames))
    clip_transform.fill_clip(slots, numbers, crop_into)
    if frame_offsets_out is not None:
      frame_offsets_out[...] = np.asarray(numbers[1:]) - key
