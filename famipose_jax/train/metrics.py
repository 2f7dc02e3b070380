"""Training metrics on disk: TensorBoard event files and a JSON-lines file.

Neither needs TensorFlow: events are `tensorboard`'s own protobufs framed by its record writer
(TFRecord framing with masked CRC32C), so TensorBoard reads them as usual. Every record is one
`write` of complete bytes followed by a flush, so a crash leaves whole records behind, never
half a line or half an event. A write the file system refuses (disk full, read-only workdir)
raises a WorkdirWriteError naming the file.

Resuming (`resume_step`): a run that crashed after its last checkpoint had logged steps the
resumed run computes again. The writer then drops the lines of later steps from metrics.jsonl
(rewritten atomically) and writes a TensorBoard `SessionLog.START` event, after which
TensorBoard discards the earlier events of later steps; every step is then logged once.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import time
from typing import Mapping

from tensorboard.compat.proto import event_pb2
from tensorboard.compat.proto import summary_pb2
from tensorboard.summary.writer.record_writer import RecordWriter

from data_pipeline import atomic_files
from famipose_jax.checkpoints import workdir_errors

METRICS_FILE = 'metrics.jsonl'
TENSORBOARD_DIR = 'tensorboard'


def _plain(value):
  """A JSON-safe Python scalar (NaN/inf become strings JSON can hold)."""
  value = float(value)
  if math.isfinite(value):
    return value
  return repr(value)  # 'nan', 'inf', '-inf'


class EventFileWriter:
  """Appends scalar and image summaries to a TensorBoard event file."""

  def __init__(self, logdir: str):
    os.makedirs(logdir, exist_ok=True)
    name = 'events.out.tfevents.%010d.%s.%d' % (time.time(), socket.gethostname(), os.getpid())
    self.path = os.path.join(logdir, name)
    self._file = open(self.path, 'ab')
    self._records = RecordWriter(self._file)
    self._write(event_pb2.Event(wall_time=time.time(), file_version='brain.Event:2'))

  def _write(self, event: event_pb2.Event):
    self._records.write(event.SerializeToString())
    self._records.flush()

  def scalars(self, step: int, values: Mapping[str, float]):
    summary = summary_pb2.Summary(value=[
        summary_pb2.Summary.Value(tag=tag, simple_value=float(value))
        for tag, value in values.items()])
    self._write(event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary))

  def image_png(self, step: int, tag: str, png: bytes, height: int, width: int):
    image = summary_pb2.Summary.Image(height=height, width=width, colorspace=3,
                                      encoded_image_string=png)
    summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, image=image)])
    self._write(event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary))

  def session_start(self, step: int):
    """Marks a restart: TensorBoard drops the events it has read with a step >= `step`.

    (tensorboard's EventAccumulator purges on SessionLog.START, keeping events whose step is
    smaller than the START event's.)
    """
    self._write(event_pb2.Event(wall_time=time.time(), step=int(step),
                                session_log=event_pb2.SessionLog(
                                    status=event_pb2.SessionLog.START)))

  def close(self):
    if not self._file.closed:
      self._file.close()


def drop_lines_after(path: str, step: int) -> int:
  """Rewrites the JSON-lines file `path` without the records of steps after `step`.

  A line that does not parse (the torn end of a file cut by a power loss) goes too. The file is
  replaced atomically, and only when something is dropped. Returns how many lines were dropped.
  """
  try:
    with open(path, encoding='utf-8') as f:
      lines = f.readlines()
  except FileNotFoundError:
    return 0
  kept = [line for line in lines if _step_of(line) <= step]
  if len(kept) < len(lines):
    atomic_files.write_bytes_atomic(path, ''.join(kept).encode('utf-8'))
  return len(lines) - len(kept)


def _step_of(line: str) -> float:
  """The step a metrics line records; infinity (never kept) for a torn or unreadable line."""
  if not line.endswith('\n'):
    return math.inf
  try:
    return int(json.loads(line)['step'])
  except (ValueError, KeyError, TypeError):
    return math.inf


class MetricsWriter:
  """Writes the same scalars to TensorBoard and to `workdir/metrics.jsonl`.

  Only process 0 writes (`enabled=False` elsewhere), so multi-host runs keep one log. A
  training run passes `resume_step`, the step its state was restored at (0 for a fresh state):
  whatever an earlier run logged after that step is dropped, since it is logged again.
  """

  def __init__(self, workdir: str, enabled: bool = True, resume_step: int | None = None):
    self.enabled = enabled
    self.jsonl_path = os.path.join(workdir, METRICS_FILE)
    self.dropped_lines = 0
    self._events = None
    self._jsonl = None
    self._failed = False   # a write failed (and was reported): closing may not flush again
    if enabled:
      with workdir_errors.writing(workdir):
        os.makedirs(workdir, exist_ok=True)
      logdir = os.path.join(workdir, TENSORBOARD_DIR)
      with workdir_errors.writing(logdir):
        self._events = EventFileWriter(logdir)
      if resume_step is not None:
        with workdir_errors.writing(self.jsonl_path):
          self.dropped_lines = drop_lines_after(self.jsonl_path, resume_step)
        # +1: the events at the restored step itself (its log line, an evaluation) stay valid.
        with workdir_errors.writing(logdir):
          self._events.session_start(resume_step + 1)
      with workdir_errors.writing(self.jsonl_path):
        self._jsonl = open(self.jsonl_path, 'a', encoding='utf-8')

  @property
  def event_file(self) -> str | None:
    return self._events.path if self._events else None

  def write(self, step: int, values: Mapping[str, float], kind: str = 'train'):
    """Logs `values` at `step`; `kind` ('train' | 'eval' | ...) prefixes the TensorBoard tags."""
    if not self.enabled:
      return
    with self._writing(self._events.path):
      self._events.scalars(step, {f'{kind}/{k}': v for k, v in values.items()})
    record = {'step': int(step), 'kind': kind, 'time': round(time.time(), 3)}
    record.update({k: _plain(v) for k, v in values.items()})
    with self._writing(self.jsonl_path):
      self._jsonl.write(json.dumps(record) + '\n')
      self._jsonl.flush()

  def image_png(self, step: int, tag: str, png: bytes, height: int, width: int):
    if self.enabled:
      with self._writing(self._events.path):
        self._events.image_png(step, tag, png, height, width)

  @contextlib.contextmanager
  def _writing(self, path: str):
    try:
      with workdir_errors.writing(path):
        yield
    except workdir_errors.WorkdirWriteError:
      self._failed = True
      raise

  def close(self):
    """Closes both files; once a failed write was reported, a failed flush is not reported again."""
    reported = self._failed
    for path, file in ((self.event_file, self._events), (self.jsonl_path, self._jsonl)):
      if file is None:
        continue
      try:
        with workdir_errors.writing(path):
          file.close()
      except workdir_errors.WorkdirWriteError:
        if not reported:
          raise


def read_event_scalars(path: str) -> dict[str, list[tuple[int, float]]]:
  """{tag: [(step, value), ...]} from one event file, read with TensorBoard's own record reader."""
  from tensorboard.compat.tensorflow_stub import errors
  from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import PyRecordReader_New
  reader = PyRecordReader_New(path)
  scalars: dict[str, list[tuple[int, float]]] = {}
  while True:
    try:
      reader.GetNext()
    except errors.OutOfRangeError:
      break
    event = event_pb2.Event.FromString(reader.record())
    for value in event.summary.value:
      if value.HasField('simple_value'):
        scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
  return scalars
