"""The single-frame HRNet: the backbone on the key frame alone, its heatmaps the prediction.

The same backbone (and SimCC classifiers) every video family builds on, under the same names, so
its variables initialise any family's backbone (init_from) and public HRNet pose checkpoints
convert into it (interop/convert.py, model kind 'hrnet').
"""

import jax
import ml_collections
from flax import linen as nn

from famipose_jax.models import backbone_pass
from famipose_jax.models import hrnet
from famipose_jax.models import simcc_classifier


class SingleFrameHRNet(nn.Module):
  """HRNet on the key frame; `config` is the (frozen) model section of the experiment config.

  Call: module.apply(variables, key_image [B, H, W, 3], train=bool, mutable=['batch_stats'] when
  train) -> dict of float32 arrays: heatmaps = backbone_heatmaps [B, h, w, K], key_features
  [B, h, w, C], decoded_key [B, h, w, K] (stop_gradient of the heatmaps); with head 'simcc'
  also simcc_x [B, K, round(W*k)] and simcc_y [B, K, round(H*k)].
  """
  config: ml_collections.FrozenConfigDict

  def setup(self):
    cfg = self.config
    opts = backbone_pass.layer_options(cfg)
    self.backbone = hrnet.HRNet(cfg.backbone, cfg.num_joints, opts)
    if cfg.head == 'simcc':
      self.simcc_head = simcc_classifier.for_model(cfg, opts.dtype)
      nn.share_scope(self, self.simcc_head)

  def __call__(self, key_image: jax.Array, train: bool = False) -> dict[str, jax.Array]:
    cfg = self.config
    backbone_pass.check_key_image(key_image, cfg)
    heatmaps, features = backbone_pass.backbone_pass(self.backbone, key_image, cfg, train)
    out = {'backbone_heatmaps': heatmaps, 'key_features': features,
           'decoded_key': jax.lax.stop_gradient(heatmaps), 'heatmaps': heatmaps}
    if cfg.head == 'simcc':
      out['simcc_x'], out['simcc_y'] = self.simcc_head(heatmaps)
    return backbone_pass.as_float32(out)
