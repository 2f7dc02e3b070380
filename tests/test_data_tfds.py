"""The posetrack_frames TFDS builder: `tfds build --manual_dir`, one record per frame, and the
clip pipeline reading it gives the same bits as reading the raw folder."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import data_pipeline
from data_pipeline.bad_input import BadInputError
from data_pipeline.frame_source import FolderFrameSource, TfdsFrameSource
from tests.tiny_posetrack import tiny_config, write_tiny_posetrack

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _prepare(root):
  """Builds the posetrack_frames dataset of `root` with tfds's build command; its data_dir."""
  pytest.importorskip('tensorflow_datasets')
  data_dir = root / 'tfds'
  command = [sys.executable, '-m', 'data_pipeline.posetrack_frames', f'--manual_dir={root}',
             f'--data_dir={data_dir}', '--file_format=array_record']
  result = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO))
  assert result.returncode == 0, result.stderr[-3000:]
  return data_dir


@pytest.fixture(scope='module')
def prepared(tmp_path_factory):
  """A tiny PoseTrack folder and its posetrack_frames dataset."""
  pytest.importorskip('tensorflow_datasets')
  root = tmp_path_factory.mktemp('posetrack')
  write_tiny_posetrack(root, videos=2, frames=4, layout='pt17')
  return root, _prepare(root)


def test_each_frame_is_stored_once_with_its_original_bytes(prepared):
  root, data_dir = prepared
  source = TfdsFrameSource(str(data_dir))
  folder = FolderFrameSource(str(root))
  names = sorted(os.path.relpath(os.path.join(d, f), root)
                 for d, _, files in os.walk(root / 'images') for f in files)
  assert len(names) == 16
  assert source.file_names() == names
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  info = tfds.builder_from_directory(str(data_dir / 'posetrack_frames' / '1.0.0')).info
  assert {k: v.num_examples for k, v in info.splits.items()} == {'train': 8, 'val': 8}
  for name in names:
    assert source.read_bytes(name) == folder.read_bytes(name)
  assert source.image_size(names[0]) == (64, 48)
  assert source.count_frames(os.path.dirname(names[0])) == 4
  assert not source.exists('images/val/nope/00000001.jpg')


def test_clip_pipeline_reads_the_prepared_dataset_identically(prepared):
  root, data_dir = prepared
  from_folder = data_pipeline.build_dataset(tiny_config(root), 'train')
  from_tfds = data_pipeline.build_dataset(
      tiny_config(root, frame_source='tfds', tfds_data_dir=str(data_dir)), 'train')
  assert len(from_tfds) == len(from_folder) == 16
  for index in (0, 5, 15):
    a = from_folder.load(index, train=True, seed=4, epoch=2)
    b = from_tfds.load(index, train=True, seed=4, epoch=2)
    for name in a:
      np.testing.assert_array_equal(a[name], b[name], err_msg=name)
  with data_pipeline.make_loader(tiny_config(root), from_tfds,
                                 batch_size=4, train=True, seed=1, num_workers=2) as loader:
    batch = next(loader)      # the source reopens itself inside spawned workers
  with data_pipeline.make_loader(tiny_config(root), from_folder, batch_size=4, train=True,
                                 seed=1, num_workers=0) as loader:
    reference = next(loader)
  for name in batch:
    np.testing.assert_array_equal(batch[name], reference[name], err_msg=name)


def test_missing_prepared_dataset_says_how_to_build_it(tmp_path):
  with pytest.raises(Exception, match='python -m data_pipeline.posetrack_frames --manual_dir=ROOT'):
    TfdsFrameSource(str(tmp_path)).exists('x.jpg')


def test_frames_of_another_size_than_annotated_are_named_or_skipped(prepared, tmp_path):
  root, data_dir = prepared
  with open(root / 'annotations' / 'posetrack_train.json') as f:
    annotations = json.load(f)
  for image in annotations['images']:
    if '000002_mpii_train' in image['file_name']:
      image['width'] = 80
  train_json = tmp_path / 'train.json'
  train_json.write_text(json.dumps(annotations))
  config = tiny_config(root, frame_source='tfds', tfds_data_dir=str(data_dir),
                       train_json=str(train_json))
  with pytest.raises(BadInputError, match=r"posetrack_frames:images/train/000002_mpii_train/"
                                          r"\d+\.jpg: field 'frame size' = \(64, 48\): "
                                          r'the annotations say 80x48'):
    data_pipeline.build_dataset(config, 'train')
  config.on_bad_input = 'skip'
  dataset = data_pipeline.build_dataset(config, 'train')
  assert len(dataset) == 8 and dataset.num_skipped == 8


def test_frames_found_unusable_when_prepared_are_named_or_skipped(tmp_path):
  write_tiny_posetrack(tmp_path, videos=1, frames=4, layout='pt17')
  folder = tmp_path / 'images' / 'train' / '000001_mpii_train'
  data = (folder / '00000003.jpg').read_bytes()
  (folder / '00000003.jpg').write_bytes(data[:len(data) // 2])
  (tmp_path / 'images' / 'val' / '000001_mpii_val' / '00000002.jpg').write_bytes(b'')
  data_dir = _prepare(tmp_path)     # the build stores them and records why they are unusable
  config = tiny_config(tmp_path, frame_source='tfds', tfds_data_dir=str(data_dir),
                       boundary_rule='clamp', supporting_offsets=(-1,))
  with pytest.raises(BadInputError, match=r'posetrack_frames:images/train/000001_mpii_train/'
                                          r'00000003\.jpg: .*truncated JPEG'):
    data_pipeline.build_dataset(config, 'train')
  config.on_bad_input = 'skip'
  dataset = data_pipeline.build_dataset(config, 'train')
  assert len(dataset) == 4 and dataset.num_skipped == 4    # frames 3 and 4 need frame 3
  for index in range(len(dataset)):
    dataset.load(index, train=True)
