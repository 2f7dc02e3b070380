"""Before training: every frame a clip needs exists, is readable and has the annotated size.

A loader worker that meets a bad frame can only stop the run, so `build_dataset` probes each
distinct frame once (its header and, for a folder of JPEGs, its last bytes: no decode; see
FolderFrameSource.probe and TfdsFrameSource.probe for what each source can check) and passes
each sample that needs a bad frame to the bad-input policy: named with 'error', counted and
dropped with 'skip'.
"""

from __future__ import annotations

import concurrent.futures
from typing import Callable

from data_pipeline.bad_input import BadInputPolicy
from data_pipeline.frame_source import UnreadableFrame
from data_pipeline.samples import Sample

_PROBE_THREADS = 16    # the probes wait on file reads, not on the CPU


def probe_frames(names, source) -> dict[str, tuple[int, int] | UnreadableFrame]:
  """{frame name: (width, height), or the UnreadableFrame saying why it cannot be used}."""
  def probe(name):
    try:
      return source.probe(name)
    except UnreadableFrame as e:
      return e
  names = sorted(set(names))
  with concurrent.futures.ThreadPoolExecutor(min(_PROBE_THREADS, max(len(names), 1))) as pool:
    return dict(zip(names, pool.map(probe, names)))


def check_clip_frames(samples: list[Sample], clip_files: Callable[[int], list[str]], source,
                      policy: BadInputPolicy) -> list[Sample]:
  """The samples whose clip frames are all usable; the others go through `policy`.

  Args:
    samples: the sample list.
    clip_files: sample index -> the frame names its clip reads.
    source: the frame source (its `exists` and `probe`).
    policy: raises on the first bad sample ('error') or counts it ('skip').
  """
  needed = [clip_files(i) for i in range(len(samples))]
  present = {name for names in needed for name in names if source.exists(name)}
  probed = probe_frames(present, source)
  kept = []
  for s, names in zip(samples, needed):
    names = sorted(set(names))
    missing = [name for name in names if name not in present]
    if missing:
      policy(missing[0], 'frame file', missing[0],
             f'missing (needed by the clip of {s.file_name}; {len(missing)} missing)')
      continue
    if _report_bad_frame(s, names, probed, source, policy):
      continue
    kept.append(s)
  return kept


def _report_bad_frame(sample: Sample, names, probed, source, policy) -> bool:
  """Reports the first unusable frame of a clip to `policy`; whether there was one."""
  width, height = sample.image_size
  for name in names:
    result = probed[name]
    if isinstance(result, UnreadableFrame):
      policy(result.path, 'frame file', name, result.reason)
      return True
    if tuple(result) != (width, height):
      policy(source.where(name), 'frame size', tuple(result),
             f'the annotations say {width}x{height}')
      return True
  return False
