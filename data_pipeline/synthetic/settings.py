"""The generator's settings: one frozen dataclass, validated, shared by the CLI and `generate`."""

from __future__ import annotations

import dataclasses

# Frame numbers are the last 4 digits of a PoseTrack18 image id (1 + 6-digit video + 4-digit frame).
MAX_FRAMES = 10000
# Annotation ids are image id * 100 + person index (PoseTrack18 practice).
MAX_PEOPLE = 99
# Validation videos are numbered from here, so that image ids never repeat across splits.
VAL_VIDEO_OFFSET = 100000
# Degraded frames keep +-2 clean neighbours, so at most one frame in three is degraded.
DEGRADED_GAP = 3
MAX_DEGRADED_SHARE = 1.0 / DEGRADED_GAP


@dataclasses.dataclass(frozen=True)
class Settings:
  """Everything that changes the generated files (not how fast they are made).

  Pixel sizes scale with `height` (the defaults were tuned at 270 rows), so a 1280x720 dataset
  looks like a sharper version of the 480x270 one.
  """
  seed: int = 0
  train_videos: int = 20
  val_videos: int = 6
  frames: int = 36                   # frames per video
  width: int = 480
  height: int = 270
  min_people: int = 1                # annotated (foreground) people per video
  max_people: int = 4
  label_stride: int = 1              # label every k-th frame (4 ~ PoseTrack val); 1 = all
  infer_window: int = 2              # an occluded joint is labelled if seen within +-this many frames
  min_labeled_joints: int = 3        # fewer labelled joints: the person goes to an ignore region
  min_person_height: float = 0.12    # of the image height; smaller people are not annotated
  passing_occluders: float = 4.0     # objects sweeping across the view, per 30 frames
  static_occluder_prob: float = 0.35  # chance of a pole / crate people walk behind
  blur_frame_prob: float = 0.1       # frames with a camera jerk and heavy motion blur
  mild_blur_prob: float = 0.12       # frames with light motion blur
  ignore_region_prob: float = 0.4    # chance of a crowd of small unannotated people
  camera_shake: float = 1.5          # std of the smooth camera jitter, pixels at 270 rows
  camera_pan_prob: float = 0.4       # chance of a slow pan
  noise_std: float = 3.0             # max sensor noise std (grey levels)
  jpeg_quality: int = 90
  det_miss_rate: float = 0.05        # base chance a visible person gets no detection box
  det_false_positives: float = 0.5   # mean background boxes per frame
  # Share of frames degraded on their own (an extreme blur, a passing occluder over a person or
  # a corrupted band), no two within 2 frames of each other (ordinary blur and occluders may
  # still touch the neighbours): key frames that a temporal model can repair from its
  # supporting frames. 0 draws nothing (and leaves every other random choice as it was).
  degraded_frame_share: float = 0.0

  def __post_init__(self):
    def check(field, ok, need):
      if not ok:
        raise ValueError(f'synthetic settings: {field} must be {need}, got '
                         f'{getattr(self, field)!r}')
    for field in ('seed', 'train_videos', 'val_videos', 'frames', 'width', 'height',
                  'min_people', 'max_people', 'label_stride', 'infer_window',
                  'min_labeled_joints', 'jpeg_quality'):
      value = getattr(self, field)
      check(field, isinstance(value, int) and not isinstance(value, bool), 'an integer')
    check('seed', self.seed >= 0, '>= 0')
    check('train_videos', 0 <= self.train_videos < VAL_VIDEO_OFFSET, f'in [0, {VAL_VIDEO_OFFSET})')
    check('val_videos', 0 <= self.val_videos < VAL_VIDEO_OFFSET, f'in [0, {VAL_VIDEO_OFFSET})')
    check('frames', 1 <= self.frames <= MAX_FRAMES, f'in [1, {MAX_FRAMES}]')
    check('width', self.width >= 32, '>= 32')
    check('height', self.height >= 32, '>= 32')
    check('min_people', 0 <= self.min_people <= MAX_PEOPLE, f'in [0, {MAX_PEOPLE}]')
    check('max_people', self.min_people <= self.max_people <= MAX_PEOPLE,
          f'in [min_people, {MAX_PEOPLE}]')
    check('label_stride', self.label_stride >= 1, '>= 1')
    check('infer_window', self.infer_window >= 0, '>= 0')
    check('min_labeled_joints', 1 <= self.min_labeled_joints <= 15, 'in [1, 15]')
    check('jpeg_quality', 1 <= self.jpeg_quality <= 100, 'in [1, 100]')
    for field in ('min_person_height', 'passing_occluders', 'static_occluder_prob',
                  'blur_frame_prob', 'mild_blur_prob', 'ignore_region_prob', 'camera_shake',
                  'camera_pan_prob', 'noise_std', 'det_miss_rate', 'det_false_positives'):
      value = getattr(self, field)
      check(field, isinstance(value, (int, float)) and not isinstance(value, bool)
            and value >= 0, 'a number >= 0')
    check('degraded_frame_share', isinstance(self.degraded_frame_share, (int, float))
          and not isinstance(self.degraded_frame_share, bool)
          and 0 <= self.degraded_frame_share <= MAX_DEGRADED_SHARE,
          f'a number in [0, {MAX_DEGRADED_SHARE:.3f}] (degraded frames are 3 apart)')
    for field in ('static_occluder_prob', 'blur_frame_prob', 'mild_blur_prob',
                  'ignore_region_prob', 'camera_pan_prob', 'det_miss_rate',
                  'min_person_height'):
      check(field, getattr(self, field) <= 1, '<= 1')

  @property
  def unit(self) -> float:
    """Pixels per "design pixel" (sizes were designed at 270 rows)."""
    return self.height / 270.0

  def to_dict(self) -> dict:
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, values: dict) -> 'Settings':
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
      raise ValueError(f'synthetic settings: unknown setting(s) {unknown}; known: {sorted(known)}')
    return cls(**values)


# Named settings (data.synthetic_variant; configs/synthetic_data.py): changes from the defaults.
VARIANTS = {
    'default': {},
    # CI-sized, with occluders, crowds and blur forced on.
    'tiny': dict(train_videos=1, val_videos=1, frames=6, width=160, height=90, min_people=2,
                 max_people=4, passing_occluders=12.0, static_occluder_prob=1.0,
                 ignore_region_prob=1.0, blur_frame_prob=0.2, det_miss_rate=0.2,
                 det_false_positives=2.0),
    # The ablation benchmark (configs/synthetic_ablation.py): a quarter of the frames degraded
    # on their own, so that the key frame is often the bad one while its neighbours are clean.
    'ablation': dict(train_videos=16, val_videos=6, frames=36, width=320, height=180,
                     degraded_frame_share=0.25),
    # The ablation study's --quick check: 'tiny' sizes with degraded frames (the other
    # forced-on hazards of 'tiny' left at their defaults).
    'ablation_tiny': dict(train_videos=1, val_videos=1, frames=6, width=160, height=90,
                          min_people=2, max_people=4, degraded_frame_share=0.3),
    'posetrack_scale': dict(train_videos=250, val_videos=50, frames=100, width=1280,
                            height=720, max_people=6),
}


def variant(name: str) -> Settings:
  """The Settings of a named variant."""
  if name not in VARIANTS:
    raise ValueError(f'unknown synthetic data variant {name!r}; known: {sorted(VARIANTS)}')
  return Settings(**VARIANTS[name])


SPLITS = ('train', 'val')


def video_number(split: str, index: int) -> int:
  """The 6-digit PoseTrack video number of the `index`-th video of `split`."""
  return index + 1 + (VAL_VIDEO_OFFSET if split == 'val' else 0)


def video_name(split: str, index: int) -> str:
  return f'{video_number(split, index):06d}_synthetic_{split}'


def image_id(split: str, index: int, frame: int) -> int:
  """PoseTrack18 image id: '1' + 6-digit video number + 4-digit frame number."""
  return int(f'1{video_number(split, index):06d}{frame:04d}')
