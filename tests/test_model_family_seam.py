"""The model-family seam: a family the library has never heard of plugs in through one record.

The two-frame family below lives only in this module. It is registered at run time and then
trains (resuming), evaluates, predicts on a video file and exports through the library's own
entry points, and no library file names it. It reads the previous frame (the key frame standing
in at a video's first frame) and that frame's offset, so every input a family can ask for
travels through the data pipeline, the predictor and the export.
"""


import cv2
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import linen as nn

from data_pipeline.clip_frames import ClipSpec
from data_pipeline.errors import ConfigError
from famipose_jax import experiment as experiment_lib
from famipose_jax.config import defaults as config_defaults
from famipose_jax.config import schema as config_schema
from famipose_jax.export import jax_export
from famipose_jax.inference import predictor as predictor_lib
from famipose_jax.models import backbone_pass
from famipose_jax.models import hrnet
from famipose_jax.models import registry
from famipose_jax.train import cli as train_cli
from famipose_jax.train import loop as trainer
from tests.export_support import assert_coords_decode_own_outputs, flatten, random_batch
from tests.export_support import random_variables
from tests.library_sources import library_sources
from tests.train_support import smoke_config

NAME = 'two_frame_seam_test'


class TwoFrameNet(nn.Module):
  """Backbone heatmaps of the key frame plus a learned 1x1 mix of the feature change since the
  previous frame, divided by how many frames back it lies (at least 1)."""
  config: ml_collections.FrozenConfigDict

  def setup(self):
    opts = backbone_pass.layer_options(self.config)
    self.backbone = hrnet.HRNet(self.config.backbone, self.config.num_joints, opts)
    self.mix = opts.conv(self.config.num_joints, 1, use_bias=True)

  def __call__(self, key_image, supporting_images, supporting_frame_offsets, train=False):
    cfg = self.config
    b = key_image.shape[0]
    frames = backbone_pass.stack_frames(key_image, supporting_images)
    heatmaps, features = backbone_pass.backbone_pass(self.backbone, frames, cfg, train)
    distance = jnp.maximum(jnp.abs(supporting_frame_offsets[:, 0]), 1).astype(features.dtype)
    change = (features[:b] - features[b:]) / distance[:, None, None, None]
    out = {'backbone_heatmaps': heatmaps[:b],
           'heatmaps': heatmaps[:b] + cfg[NAME].mix_weight * self.mix(change)}
    return backbone_pass.as_float32(out)


def _section():
  section = ml_collections.ConfigDict()
  section.mix_weight = 1.0
  return section


def _check(model_config):
  if model_config[NAME].mix_weight < 0:
    raise ConfigError(f'config.model.{NAME}.mix_weight must be >= 0')


FAMILY = registry.ModelFamily(
    name=NAME, label='two-frame test family',
    build=lambda model_config: TwoFrameNet(ml_collections.FrozenConfigDict(model_config)),
    inputs=(registry.KEY_IMAGE, registry.SUPPORTING_IMAGES, registry.SUPPORTING_FRAME_OFFSETS),
    clip=lambda config: ClipSpec((-1,), 'key_frame', frame_offsets=True),
    section=_section, check=_check)


@pytest.fixture(scope='module')
def family():
  registry.register(FAMILY)
  yield FAMILY
  registry.unregister(NAME)


def _config(root, workdir_epochs=1):
  config = config_defaults.with_family(smoke_config(root), NAME)
  config.num_epochs = workdir_epochs
  config.eval_batch_size = 4
  return config


def test_no_library_file_knows_the_family():
  sources = dict(library_sources())
  assert len(sources) > 100 and all(NAME not in text for text in sources.values())


def test_its_config_section_is_checked_like_any_other(family, tiny_dataset):
  config = _config(tiny_dataset)
  config_schema.validate_config(config)
  assert NAME in config.model and 'famipose' not in config.model
  config.model[NAME].mix_weight = -1.0
  with pytest.raises(ConfigError, match=f'config.model.{NAME}.mix_weight must be >= 0'):
    config_schema.validate_config(config)
  famipose = smoke_config(tiny_dataset)
  famipose.model[NAME] = _section()
  with pytest.raises(ConfigError, match=f"config.model.{NAME} is the section of model family "
                     f"'{NAME}', but config.model.family='famipose'"):
    config_schema.validate_config(famipose)


def test_its_clip_reaches_the_data_pipeline(family, tiny_dataset):
  """The previous frame, the key frame itself at a video's first frame, and their offsets."""
  dataset = experiment_lib.Experiment(_config(tiny_dataset)).dataset('val')
  firsts = [i for i, s in enumerate(dataset.samples) if s.frame.number == s.frame.first_number]
  later = [i for i, s in enumerate(dataset.samples) if s.frame.number > s.frame.first_number]
  first, other = dataset.load(firsts[0], train=False), dataset.load(later[0], train=False)
  assert first['supporting_frame_offsets'].tolist() == [0]
  np.testing.assert_array_equal(first['supporting_images'][0], first['key_image'])
  assert other['supporting_frame_offsets'].tolist() == [-1]
  assert other['supporting_frame_offsets'].dtype == np.int32


@pytest.fixture(scope='module')
def trained(family, tiny_dataset, compile_cache, tmp_path_factory):
  """(config, workdir, the first run's summary, the resumed run's summary)."""
  workdir = str(tmp_path_factory.mktemp('seam') / 'run')
  first = trainer.train_and_evaluate(_config(tiny_dataset), workdir)
  resumed = trainer.train_and_evaluate(_config(tiny_dataset, workdir_epochs=2), workdir)
  return _config(tiny_dataset, workdir_epochs=2), workdir, first, resumed


def test_it_trains_resumes_and_evaluates(trained):
  config, workdir, first, resumed = trained
  assert first.total_steps > 0 and first.step == first.total_steps
  assert resumed.step == resumed.total_steps == 2 * first.total_steps
  assert resumed.train_seconds > 0                         # it trained the second epoch
  assert sorted(resumed.evaluation['mAP']) == ['backbone', 'final']
  assert '| two-frame test family |' in resumed.evaluation['table']
  again = trainer.evaluate(config, workdir)
  assert again.step == resumed.step
  assert again.evaluation['mAP'] == resumed.evaluation['mAP']
  mean = resumed.evaluation['mAP']
  note = train_cli._closing_note(resumed, config)   # pylint: disable=protected-access
  assert note.splitlines()[1] == (
      f'  two-frame test family: Mean AP {mean["final"]:.1f}   (its frozen backbone alone: '
      f'{mean["backbone"]:.1f})')


def test_it_predicts_on_a_video_file(trained, tmp_path):
  _, workdir, _, _ = trained
  predictor = predictor_lib.Predictor.from_checkpoint(workdir, batch_size=4)
  assert predictor.experiment.family is FAMILY and predictor.frame_window == 4
  rng = np.random.default_rng(0)
  frames = [rng.integers(0, 256, (64, 80, 3), np.uint8) for _ in range(3)]
  path = str(tmp_path / 'clip.avi')
  writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'MJPG'), 10.0, (80, 64))
  for frame in frames:
    writer.write(frame)
  writer.release()
  boxes = [[[4, 4, 60, 50]], [[10, 6, 50, 50], [0, 0, 80, 64]], []]
  poses = predictor.predict(path, boxes)
  assert [len(p) for p in poses] == [1, 2, 0]
  for person in (poses[0][0], poses[1][0], poses[1][1]):
    assert person.keypoints.shape == (17, 3) and np.all(np.isfinite(person.keypoints))


def test_it_exports_and_the_file_runs(trained, tmp_path):
  _, workdir, _, _ = trained
  predictor = predictor_lib.Predictor.from_checkpoint(workdir, batch_size=2)
  path = str(tmp_path / 'two_frame.export')
  variables = predictor._variables   # pylint: disable=protected-access
  header = jax_export.export_inference(predictor.experiment, variables, path,
                                       batch_size=2, platforms=('cpu',))
  assert header['model']['family'] == NAME
  assert header['inputs']['supporting_frame_offsets'] == {'shape': [2, 1], 'dtype': 'int32'}
  assert header['clip'] == {'supporting_offsets': [-1], 'boundary_rule': 'key_frame',
                            'frame_offsets': True}
  batch = predictor.experiment.empty_batch(2)
  batch['key_image'][...] = 200
  batch['supporting_frame_offsets'][...] = [[0], [-1]]
  infer = jax_export.load_inference(path)
  got = flatten(infer(batch))
  assert_coords_decode_own_outputs(predictor.experiment, got)
  _, maxvals = predictor.predict_crops(batch)
  np.testing.assert_allclose(got['final/maxvals'], maxvals, rtol=0, atol=4e-6)


def test_the_frame_offsets_reach_the_exported_network(family, tiny_dataset, tmp_path):
  """With order-one weights: a stand-in (offset 0) counts as one frame back, two frames back
  halve the feature change."""
  experiment = experiment_lib.Experiment(_config(tiny_dataset))
  path = str(tmp_path / 'random.export')
  jax_export.export_inference(experiment, random_variables(experiment), path, batch_size=2,
                              platforms=('cpu',))
  infer = jax_export.load_inference(path)
  batch = random_batch(experiment, 2)
  batch['key_image'][1] = batch['key_image'][0]
  batch['supporting_images'][1] = batch['supporting_images'][0]
  batch['supporting_frame_offsets'][...] = [[0], [-1]]
  maps = flatten(infer(batch))['raw_outputs/heatmaps']
  np.testing.assert_allclose(maps[0], maps[1], rtol=0, atol=1e-5)
  batch['supporting_frame_offsets'][...] = [[-1], [-2]]
  maps = flatten(infer(batch))['raw_outputs/heatmaps']
  assert np.abs(maps[0] - maps[1]).max() > 0.01
