"""`tfds build` for posetrack_frames, without the rest of the tfds CLI.

  python -m data_pipeline.posetrack_frames --manual_dir=/data/PoseTrack17 \
      --data_dir=/data/tfds --file_format=array_record

runs tensorflow-datasets' own `build` command (same flags as `tfds build`) on this builder.
The `tfds` executable of tensorflow-datasets 4.9.x imports apache-beam at start-up for an
unrelated sub-command, so without apache-beam installed it cannot start; this entry point
skips that import. With apache-beam installed, `tfds build data_pipeline/posetrack_frames ...`
is equivalent.
"""

import os
import sys

from absl import app
from tensorflow_datasets.scripts.cli import build
from tensorflow_datasets.scripts.cli import cli_utils

_BUILDER_DIR = os.path.dirname(os.path.abspath(__file__))
_parse_flags = cli_utils.make_flags_parser(build.Args,
                                           description='Build the posetrack_frames dataset.')


def _main(args: build.Args) -> None:
  args.execute()


if __name__ == '__main__':
  flags = sys.argv[1:]
  if not flags or flags[0].startswith('-'):
    flags.insert(0, _BUILDER_DIR)     # the dataset to build defaults to this folder
  sys.argv = [sys.argv[0]] + flags
  app.run(_main, flags_parser=_parse_flags)
