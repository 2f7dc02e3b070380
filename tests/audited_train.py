"""train.py in a child process that records what it changes in its workdir.

  python tests/audited_train.py RECORD.json [train.py flags, --workdir=DIR among them]

A Python audit hook sees every file opened for writing, created, moved or removed by Python
code in this process, its threads included (not tensorstore's C++, which writes Orbax's array
data). At exit RECORD.json lists those under the workdir, relative to it, sorted.
"""

import atexit
import json
import os
import runpy
import sys

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_CHANGES = {'os.remove', 'os.rename', 'os.mkdir', 'os.rmdir', 'os.truncate', 'shutil.rmtree'}


def main():
  record, args = sys.argv[1], sys.argv[2:]
  workdir = next(os.path.abspath(a.split('=', 1)[1]) for a in args if a.startswith('--workdir='))
  changed = set()

  def note(path):
    if isinstance(path, (str, bytes, os.PathLike)):
      path = os.path.abspath(os.fsdecode(path))
      if path == workdir or path.startswith(workdir + os.sep):
        changed.add(os.path.relpath(path, workdir))

  def hook(event, hook_args):
    if event == 'open' and (hook_args[2] or 0) & _WRITE_FLAGS:
      note(hook_args[0])
    elif event in _CHANGES:
      note(hook_args[0])
      if event == 'os.rename':
        note(hook_args[1])

  def write_record():
    with open(record, 'w', encoding='utf-8') as f:
      json.dump(sorted(changed), f)

  atexit.register(write_record)
  sys.addaudithook(hook)
  sys.argv = ['train.py'] + args
  runpy.run_path(os.path.join(_REPO, 'train.py'), run_name='__main__')


if __name__ == '__main__':
  main()
