"""TFDS builder: the frames of a manually downloaded PoseTrack folder, each stored once.

  python -m data_pipeline.posetrack_frames --manual_dir=/data/PoseTrack17 \
      --data_dir=/data/tfds --file_format=array_record
  (= tfds build data_pipeline/posetrack_frames ... where apache-beam is installed; see
  __main__.py)

reads `<manual_dir>/images/<split>/<video>/<frame>.jpg` for the splits present (train, val,
test) and writes one example per frame: the original JPEG bytes (never re-encoded, so clips
are bit-identical to the raw-folder route), its file name relative to the root, the video
folder, the frame number and the image size. Examples keep a fixed order (sorted file names);
the dataset's metadata lists (file name, width, height) per split, so the clip pipeline
(`data.frame_source = 'tfds'`) maps a file name to its record without reading any image. Each
frame is checked as the folder route checks it (empty, truncated, no readable size); unusable
frames are stored as they are and listed with the reason under `unreadable_frames`, so that
`data.on_bad_input` treats them as on the folder route.
Clips are assembled at load time from these frames, so a frame shared by many clips (or many
persons) is stored once. Annotation files stay where they are (data.root/annotations).
"""

from __future__ import annotations

import logging
import os

import numpy as np
import tensorflow_datasets as tfds

from data_pipeline import frame_source

SPLITS = ('train', 'val', 'test')
_IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png')


def list_frames(root: str, split: str) -> list[str]:
  """Sorted frame file names (relative to `root`) of one split."""
  base = os.path.join(root, 'images', split)
  names = []
  for folder, _, files in os.walk(base):
    for name in files:
      if name.lower().endswith(_IMAGE_EXTENSIONS):
        names.append(os.path.relpath(os.path.join(folder, name), root))
  return sorted(names)


class Builder(tfds.core.GeneratorBasedBuilder):
  """PoseTrack frames (any release: the folder layout is the same)."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'One example per frame, original JPEG bytes.'}
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Download PoseTrack (2017, 2018 or 2021) yourself and pass its root folder as --manual_dir.
  It must contain images/<split>/<video>/<frame>.jpg for at least one of train, val, test.
  """

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            'jpeg': tfds.features.Tensor(shape=(), dtype=np.object_),
            'file_name': tfds.features.Text(),
            'video': tfds.features.Text(),
            'frame': np.int64,
            'width': np.int32,
            'height': np.int32,
        }),
        disable_shuffling=True,       # record i = i-th sorted file name, as the metadata lists
        metadata=tfds.core.MetadataDict(),
        homepage='https://posetrack.net',
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    root = os.fspath(dl_manager.manual_dir)
    splits = {split: list_frames(root, split) for split in SPLITS}
    splits = {split: names for split, names in splits.items() if names}
    if not splits:
      raise ValueError(f'{root}: no frames under images/{{train,val,test}}/<video>/')
    sizes, unreadable = {}, {}
    for split, names in splits.items():
      sizes[split] = [self._size_of(root, name, unreadable) for name in names]
    self.info.metadata['frames'] = {
        split: [[name, *sizes[split][i]] for i, name in enumerate(names)]
        for split, names in splits.items()}
    self.info.metadata['unreadable_frames'] = unreadable
    if unreadable:
      name, reason = next(iter(unreadable.items()))
      logging.warning('%d unusable frame(s), stored and recorded as such (first: %s: %s)',
                      len(unreadable), name, reason)
    return {split: self._generate_examples(root, names, sizes[split])
            for split, names in splits.items()}

  def _size_of(self, root: str, name: str, unreadable: dict) -> tuple[int, int]:
    """The frame's size; (0, 0) and its reason in `unreadable` if it cannot be used."""
    with open(os.path.join(root, name), 'rb') as f:
      try:
        return frame_source.probe_image_file(f)
      except ValueError as e:
        unreadable[name] = str(e)
        return 0, 0

  def _generate_examples(self, root: str, names: list[str], sizes: list[tuple[int, int]]):
    for name, (width, height) in zip(names, sizes):
      with open(os.path.join(root, name), 'rb') as f:
        data = f.read()
      stem = os.path.splitext(os.path.basename(name))[0]
      yield name, {
          'jpeg': data,
          'file_name': name,
          'video': os.path.dirname(name),
          'frame': int(stem) if stem.isdigit() else -1,
          'width': width,
          'height': height,
      }
