"""DCPose: published parameter counts, the clip it reads, its temporal weights and wiring.

Full-size structure by jax.eval_shape (nothing is computed); the numbers are the published
model's (DcPose_RSN with HRNet-W48). tests/test_interop_dcpose.py compares it with a PyTorch
reference of the published architecture, number for number.
"""

import jax.numpy as jnp
import numpy as np
import pytest

from configs import dcpose_posetrack17
from configs import dcpose_posetrack18
from configs import synthetic_dcpose
from data_pipeline import clip_frames
from famipose_jax import experiment as experiment_lib
from famipose_jax.config import schema as config_schema
from famipose_jax.models.dcpose import network
from famipose_jax.models.dcpose import residual_steps
from famipose_jax.models.dcpose.temporal_weights import temporal_weights
from tests import model_shapes


@pytest.fixture(scope='module')
def w48():
  """(variable shapes, output shapes) of the published DCPose, one clip."""
  config = dcpose_posetrack17.get_config()
  return (config, *model_shapes.shapes(config))


def test_parameter_counts_are_the_published_ones(w48):
  config, variables, _ = w48
  params = variables['params']
  assert model_shapes.count(params) == 65_198_798
  assert model_shapes.count(params['backbone']) == 63_595_745
  trainable = model_shapes.trainable_count(config, params)
  assert trainable == 1_603_053
  parts = {'diff_temporal_fuse': 99_670, 'support_temporal_fuse': 43_249,
           'offset_mask_combine_conv': 125_124}
  assert {k: model_shapes.count(params[k]) for k in parts} == parts
  assert sum(model_shapes.count(params[f'offsets_list_{i}_0']) for i in range(5)) == 881_280
  assert sum(model_shapes.count(params[f'masks_list_{i}_0']) for i in range(5)) == 440_640
  assert sum(model_shapes.count(params[f'modulated_deform_conv_list_{i}']) for i in range(5)) == 13_090
  assert params['offsets_list_4_0']['kernel'].shape == (3, 3, 64, 306)
  block = params['diff_temporal_fuse']['layers_0']
  assert block['conv_bn_relu1']['conv']['kernel'].shape == (1, 1, 68, 108)   # b = 27
  assert block['conv_bn_relu2_4_4']['conv']['kernel'].shape == (3, 3, 27, 27)
  assert 'downsample' in block and 'downsample' not in params['diff_temporal_fuse']['layers_1']


def test_outputs(w48):
  _, _, out = w48
  maps = (1, 96, 72, 17)
  assert out['heatmaps'].shape == out['backbone_heatmaps'].shape == maps
  assert out['prf_input'].shape == (1, 96, 72, 68) and out['ptm_input'].shape == (1, 96, 72, 51)
  assert out['difference_heatmaps'].shape == (1, 96, 72, 34)
  assert out['support_heatmaps'].shape == maps
  assert out['combined_features'].shape == (1, 96, 72, 64)
  assert out['offsets_2'].shape == (1, 96, 72, 306) and out['masks_2'].shape == (1, 96, 72, 153)
  assert out['prev_weight'].shape == (1, 1, 1, 1)
  assert all(v.dtype == jnp.float32 for v in out.values())


def test_the_clip_is_the_neighbours_with_the_key_frame_at_the_ends():
  config = dcpose_posetrack17.get_config()
  clip = experiment_lib.Experiment(config).clip
  assert clip == clip_frames.ClipSpec((-1, 1), 'key_frame', frame_offsets=True)
  numbers = lambda key: clip_frames.supporting_frame_numbers(key, 1, 5, clip.offsets,
                                                             clip.boundary_rule)
  assert [numbers(k) for k in (1, 3, 5)] == [[1, 2], [2, 4], [4, 5]]
  config.model.dcpose.frame_distance = 2
  assert experiment_lib.Experiment(config).clip.offsets == (-2, 2)


def test_temporal_weights_follow_the_published_margins():
  offsets = jnp.asarray([[-1, 1], [0, 1], [-1, 0], [-2, 1], [-1, 3]])
  prev, nxt = temporal_weights(offsets, jnp.float32)
  assert prev.shape == (5, 1, 1, 1)
  np.testing.assert_array_equal(prev.ravel(), np.float32([0.5, 0.5, 0.5, 1 / 3, 0.75]))
  np.testing.assert_array_equal(nxt.ravel(), np.float32([0.5, 0.5, 0.5, 2 / 3, 0.25]))


def test_inputs_are_interleaved_per_joint():
  maps = [jnp.full((1, 2, 2, 3), float(t)) + jnp.arange(3.0) * 10 for t in range(4)]
  out = network._interleave(maps)   # pylint: disable=protected-access
  assert out.shape == (1, 2, 2, 12)
  assert out[0, 0, 0].tolist() == [0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23]


def test_residual_steps_widths():
  assert [residual_steps.branch_width(c) for c in (68, 34, 51, 64)] == [27, 13, 20, 26]


def test_configs_and_rules():
  for config in (dcpose_posetrack17.get_config(), dcpose_posetrack17.get_config('local'),
                 dcpose_posetrack18.get_config(), synthetic_dcpose.get_config()):
    config_schema.validate_config(config)
  config = dcpose_posetrack17.get_config()
  assert (config.num_epochs, config.batch_size, config.seed) == (20, 64, 8888)
  assert tuple(config.optim.lr_decay_epochs) == (5, 9, 13, 17)     # [4, 8, 12, 16] + 1
  assert config.data.crop_convention == 'size' and not config.eval.flip_test
  assert dcpose_posetrack18.get_config().optim.lr_decay_factor == 0.99
  config.model.freeze_backbone = False
  with pytest.raises(config_schema.ConfigError, match='freeze_backbone=False'):
    config_schema.validate_config(config)
  config = dcpose_posetrack17.get_config()
  config.model.dcpose.aggregation = 'max'
  with pytest.raises(config_schema.ConfigError, match=r"config.model.dcpose.aggregation='max'"):
    config_schema.validate_config(config)
  config.model.dcpose.aggregation = 'mean'
  config.model.dcpose.ptm_blocks = 0
  with pytest.raises(config_schema.ConfigError, match='ptm_blocks=0: expected at least 1'):
    config_schema.validate_config(config)
