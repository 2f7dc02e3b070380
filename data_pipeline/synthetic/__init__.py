"""A synthetic PoseTrack-like video dataset: the default for the demo, CI and users without PoseTrack.

  python -m data_pipeline.synthetic --out /data/synthetic_posetrack

or `generate(out_dir, seed=0, train_videos=20, ...)`. See `writer` for the folder layout,
`labels` for the annotation policy, `scenes` for what happens in a video.
"""

from data_pipeline.synthetic.dataset import Dataset, DatasetExistsError, generate, read_manifest
from data_pipeline.synthetic.settings import VARIANTS, Settings, variant
from data_pipeline.synthetic.writer import MANIFEST, PATHS

__all__ = ['Dataset', 'DatasetExistsError', 'MANIFEST', 'PATHS', 'Settings', 'VARIANTS',
           'generate', 'read_manifest', 'variant']
