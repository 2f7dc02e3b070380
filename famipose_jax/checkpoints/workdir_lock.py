"""One run per workdir: an exclusive lock on `workdir/.lock`, held for the whole run.

The lock is `fcntl.flock` on that file, which the kernel releases when its holder exits however
it exits, kill -9 included. A lock file left behind by a dead run is therefore free: the next run
takes it over and says whose it was. The file holds the holder's pid, host and start time, so a
refused run names them; a run that ends normally removes it.

Multi-process runs: each process locks its own file (`.lock` for process 0, `.lock.<i>` for
process i), so every process of a second run is refused by itself, without waiting on the others.

Network file systems: Linux maps flock on NFS to byte-range locks that the server enforces
between hosts (NFSv4, or NFSv3 with lockd). A mount with `local_lock=flock`/`all` or `nolock`
keeps locks local to each host; there the lock keeps apart only runs on the same host.
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import json
import logging
import os
import socket

from data_pipeline.errors import UserError
from famipose_jax.checkpoints import workdir_errors

LOCK_FILE = '.lock'


class WorkdirLockedError(UserError, RuntimeError):
  """Another run holds the workdir."""


def lock_path(workdir: str, process_index: int = 0) -> str:
  name = LOCK_FILE if process_index == 0 else f'{LOCK_FILE}.{process_index}'
  return os.path.join(workdir, name)


def _holder(fd: int) -> dict | None:
  """The {'pid', 'host', 'since'} record in an open lock file; None if empty or unreadable."""
  try:
    record = json.loads(os.pread(fd, 4096, 0).decode('utf-8'))
    return record if isinstance(record, dict) else None
  except (OSError, ValueError):
    return None


def _describe(holder: dict | None) -> str:
  if not holder:
    return 'another run (it has not written its pid yet)'
  return (f'pid {holder.get("pid")} on host {holder.get("host")} (since '
          f'{holder.get("since")})')


def _same_file(fd: int, path: str) -> bool:
  try:
    on_disk = os.stat(path)
  except FileNotFoundError:
    return False
  opened = os.fstat(fd)
  return (opened.st_dev, opened.st_ino) == (on_disk.st_dev, on_disk.st_ino)


class WorkdirLock:
  """`with WorkdirLock(workdir):` holds the workdir's lock, or raises WorkdirLockedError.

  The workdir is created if needed; nothing else in it is touched before the lock is held. A
  workdir the lock created and the run left empty (a start that failed) is removed again.
  """

  def __init__(self, workdir: str, process_index: int = 0):
    self.workdir = os.path.abspath(workdir)
    self.path = lock_path(self.workdir, process_index)
    self._fd: int | None = None
    self._created_workdir = False

  def acquire(self):
    """Takes the lock. Raises WorkdirLockedError naming the workdir and the holder, or
    WorkdirWriteError naming the lock file when the workdir cannot be written."""
    with workdir_errors.writing(self.path):
      self._acquire()

  def _acquire(self):
    self._created_workdir = not os.path.isdir(self.workdir)
    os.makedirs(self.workdir, exist_ok=True)
    while True:
      fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
      try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
      except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        raise WorkdirLockedError(
            f'workdir {self.workdir} is in use by {_describe(holder)}; lock file {self.path}. '
            'Wait for that run to end (or stop it), or choose another --workdir.') from None
      except OSError as e:
        if e.errno not in (errno.ENOLCK, errno.EINVAL, errno.EOPNOTSUPP):
          os.close(fd)
          raise
        logging.warning('cannot lock %s (%s): this file system has no flock, so nothing keeps '
                        'a second run out of %s', self.path, e, self.workdir)
      # A holder that ended between our open and our flock removed that file; lock the new one.
      if _same_file(fd, self.path):
        break
      os.close(fd)
    previous = _holder(fd)
    if previous and previous.get('pid') != os.getpid():
      logging.warning('workdir %s: taking over the lock of %s, which no longer holds it (that '
                      'run ended without removing %s, e.g. killed)', self.workdir,
                      _describe(previous), self.path)
    record = {'pid': os.getpid(), 'host': socket.gethostname(),
              'since': datetime.datetime.now().isoformat(timespec='seconds')}
    try:
      os.ftruncate(fd, 0)
      os.pwrite(fd, (json.dumps(record) + '\n').encode('utf-8'), 0)
      os.fsync(fd)
    except OSError:
      os.close(fd)   # releases the lock too
      raise
    self._fd = fd

  def release(self):
    """Removes the lock file, then releases the lock (in that order: see acquire's retry)."""
    if self._fd is None:
      return
    try:
      os.remove(self.path)
    except FileNotFoundError:
      pass
    os.close(self._fd)
    self._fd = None
    if self._created_workdir:
      try:
        os.rmdir(self.workdir)   # only if empty: then nothing of the run is lost
      except OSError:
        pass

  def __enter__(self) -> WorkdirLock:
    self.acquire()
    return self

  def __exit__(self, *exc):
    self.release()
    return False
