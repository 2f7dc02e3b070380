"""Settings of the synthetic PoseTrack-like dataset (data_pipeline.synthetic.Settings).

  python -m data_pipeline.synthetic --out /data/synthetic_posetrack          # the default
  generate(root, **synthetic_data.get_config('tiny'))                         # CI-sized

Variants: 'default' (20 train + 6 val videos x 36 frames at 480x270, under a minute on two
cores), 'tiny' (1 + 1 videos x 6 frames at 160x90, with occluders, crowds and blur forced on,
for tests), 'posetrack_scale' (1280x720, 250 + 50 videos x 100 frames).
"""

import ml_collections

from data_pipeline.synthetic.settings import Settings

_VARIANTS = {
    'default': {},
    'tiny': dict(train_videos=1, val_videos=1, frames=6, width=160, height=90, min_people=2,
                 max_people=4, passing_occluders=12.0, static_occluder_prob=1.0,
                 ignore_region_prob=1.0, blur_frame_prob=0.2, det_miss_rate=0.2,
                 det_false_positives=2.0),
    'posetrack_scale': dict(train_videos=250, val_videos=50, frames=100, width=1280,
                            height=720, max_people=6),
}


def get_config(variant: str = 'default') -> ml_collections.ConfigDict:
  """The generator settings of `variant` as a ConfigDict (keys = Settings fields)."""
  if variant not in _VARIANTS:
    raise ValueError(f'unknown synthetic data variant {variant!r}; known: {sorted(_VARIANTS)}')
  return ml_collections.ConfigDict(Settings(**_VARIANTS[variant]).to_dict())
