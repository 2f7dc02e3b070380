"""Settings of the synthetic PoseTrack-like dataset (data_pipeline.synthetic.Settings).

  python -m data_pipeline.synthetic --out /data/synthetic_posetrack          # the default
  generate(root, **synthetic_data.get_config('tiny'))                         # CI-sized

Variants (data_pipeline/synthetic/settings.py, VARIANTS; a training config names one in
data.synthetic_variant): 'default' (20 train + 6 val videos x 36 frames at 480x270, under a
minute on two cores), 'tiny' (1 + 1 videos x 6 frames at 160x90, with occluders, crowds and
blur forced on, for tests), 'ablation' (16 + 6 videos x 36 frames at 320x180, a quarter of the
frames degraded with undegraded neighbours: docs/ablations.md), 'ablation_tiny' (its --quick
check: tiny sizes, degraded frames), 'posetrack_scale' (1280x720, 250 + 50 videos x 100
frames).
"""

import ml_collections

from data_pipeline.synthetic import settings


def get_config(variant: str = 'default') -> ml_collections.ConfigDict:
  """The generator settings of `variant` as a ConfigDict (keys = Settings fields)."""
  return ml_collections.ConfigDict(settings.variant(variant).to_dict())
