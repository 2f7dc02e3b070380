"""TDMI (Feng et al., CVPR 2023): the network, reconstructed from the paper's Fig. 2.

No code was released; docs/tdmi.md lists every choice and whether it is the paper's (its
pipeline figure), the unofficial lab model's (DTDMNRV15_2) or ours. Data flow (h x w = image / 4,
C = the backbone's highest-resolution width, K joints, T = 1 + N frames):
  1. One shared HRNet pass over [key; sup_0; ...; sup_{N-1}] on the batch axis (frozen, its BN
     as every family's: backbone_pass.py), keeping each stage's highest-resolution features.
  2. The Temporal Difference Encoder (difference_encoder.py) on the used stages' features of
     the T frames in time order: the motion feature M [B, h, w, C].
  3. The Representation Disentanglement Module (disentanglement.py): M_u and M_n.
  4. Aggregation: feature_agg (BasicBlocks) on concat(M_u, the key frame's last-stage
     feature), then the detection head (a conv to K heatmaps); the project's heads on top.
"""

import jax
import jax.numpy as jnp
import ml_collections
from flax import linen as nn

from famipose_jax.models import backbone_pass
from famipose_jax.models import blocks
from famipose_jax.models import hrnet
from famipose_jax.models import simcc_classifier
from famipose_jax.models.tdmi import difference_encoder
from famipose_jax.models.tdmi import disentanglement


def time_order(offsets) -> tuple[tuple[int, ...], int]:
  """(the stacked frames' indices in time order, the key frame's place in that order).

  Stacked order is [key, sup_0, ..., sup_{N-1}] with the supporting frames at `offsets`.
  """
  frames = [(0, 0)] + [(int(o), i + 1) for i, o in enumerate(offsets)]
  ordered = sorted(frames)
  return tuple(index for _, index in ordered), ordered.index((0, 0))


class TDMI(nn.Module):
  """TDMI network; `config` is the (frozen) model section, its own fields in config.tdmi.

  Call: module.apply(variables, key_image [B, H, W, 3], supporting_images [B, N, H, W, 3]
  (at model.tdmi.supporting_offsets, in that order), train=bool) -> dict of float32:
    heatmaps [B, h, w, K], backbone_heatmaps, key_features [B, h, w, C] (the key frame's
    last-stage feature), motion_features M, useful_motion M_u (= M without the RDM), and with
    the RDM noisy_motion M_n, useful_gate and noisy_gate; fused_features [B, h, w, C];
    per used stage j stage_motion_j (D_j) and stage_deformed_j (V_j); with head 'simcc' also
    simcc_x, simcc_y.
  """
  config: ml_collections.FrozenConfigDict

  def setup(self):
    cfg, own = self.config, self.config.tdmi
    opts = backbone_pass.layer_options(cfg)
    self.backbone = hrnet.HRNet(cfg.backbone, cfg.num_joints, opts)
    self.encoder = difference_encoder.TemporalDifferenceEncoder(own, opts)
    if own.rdm:
      self.disentanglement = disentanglement.Disentanglement(own.rdm_gate_input,
                                                             own.rdm_hidden)
    channels = cfg.backbone.stage4.num_channels[0]
    self.feature_agg = blocks.ChainOfBasicBlocks(channels, own.aggregation_blocks, opts)
    self.final_layer = opts.conv(cfg.num_joints, own.head_kernel_size,
                                 padding=own.head_kernel_size // 2, use_bias=True)
    if cfg.head == 'simcc':
      self.simcc_head = simcc_classifier.for_model(cfg, opts.dtype)
      nn.share_scope(self, self.simcc_head)

  def __call__(self, key_image: jax.Array, supporting_images: jax.Array,
               train: bool = False) -> dict[str, jax.Array]:
    cfg, own = self.config, self.config.tdmi
    backbone_pass.check_key_image(key_image, cfg)
    backbone_pass.check_supporting_images(supporting_images, key_image)
    if supporting_images.shape[1] != len(own.supporting_offsets):
      raise ValueError(f'TDMI reads {len(own.supporting_offsets)} supporting frames '
                       f'(model.tdmi.supporting_offsets={tuple(own.supporting_offsets)}); got '
                       f'supporting_images of shape {supporting_images.shape}')
    b = key_image.shape[0]
    frames = backbone_pass.stack_frames(key_image, supporting_images)
    heatmaps, features, stages = backbone_pass.backbone_pass(
        self.backbone, frames, cfg, train, stage_features=True)
    order, key_index = time_order(own.supporting_offsets)
    stage_frames = [[stages[stage - 1][i * b:(i + 1) * b] for i in order]
                    for stage in own.stages]
    key_features = features[:b]
    out = {'backbone_heatmaps': heatmaps[:b], 'key_features': key_features}
    out.update(self.encoder(stage_frames, key_index, key_features, train))
    motion = out['motion_features']
    if own.rdm:
      out.update(self.disentanglement(motion))
    else:
      out['useful_motion'] = motion
    fused = self.feature_agg(jnp.concatenate([out['useful_motion'], key_features], axis=-1),
                             train)
    out['fused_features'] = fused
    out['heatmaps'] = self.final_layer(fused)
    if cfg.head == 'simcc':
      out['simcc_x'], out['simcc_y'] = self.simcc_head(out['heatmaps'])
    return backbone_pass.as_float32(out)
