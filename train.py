"""Train and evaluate FAMI-Pose (or its single-frame HRNet baseline).

  python train.py --config=configs/synthetic.py --workdir=runs/demo            # the CPU demo
  python train.py --config=configs/posetrack17.py --workdir=runs/pt17 \\
      --config.data.root=/data/PoseTrack17 --config.init_from=/ckpt/hrnet_w48_pt17
  python train.py --config=configs/posetrack17.py --workdir=runs/pt17 --mode=evaluate

Rerunning the same command resumes from the workdir's latest checkpoint. SIGTERM/SIGINT save a
checkpoint and exit cleanly. `train_and_evaluate(config, workdir)` is the importable entry.
"""

import importlib.util
import os
import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from data_pipeline.bad_input import BadInputError
from data_pipeline.dataset import SampleError
from famipose_jax import config_validation
from famipose_jax import trainer
from famipose_jax.checkpoints import checkpointer
from famipose_jax.checkpoints import workdir_binding
from famipose_jax.trainer import evaluate, train_and_evaluate  # noqa: F401 (the public entry)

_CONFIG = config_flags.DEFINE_config_file('config', 'configs/synthetic.py',
                                          'Experiment config file (get_config()).')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Run folder: checkpoints, logs, predictions.')
_MODE = flags.DEFINE_enum('mode', 'train', ['train', 'evaluate'],
                          'train: train (resuming) then evaluate; evaluate: latest checkpoint '
                          '(or config.init_from) only.')

# Errors that are the user's input, not a bug: printed as one clear line, exit status 2.
USER_ERRORS = (config_validation.ConfigError, workdir_binding.ConfigMismatchError,
               checkpointer.CheckpointError, trainer.NonFiniteLossError, FileNotFoundError,
               FileExistsError, BadInputError, SampleError)


def _unknown_override(argv) -> str | None:
  """The first `--config.a.b=v` naming a field the config file does not have, if any."""
  path = next((a.split('=', 1)[1] for a in argv if a.startswith('--config=')), None)
  if path is None:
    path = _CONFIG.default if isinstance(_CONFIG.default, str) else None
  if not path:
    return None
  file_path, _, argument = path.partition(':')
  spec = importlib.util.spec_from_file_location('_config_for_check', file_path)
  if spec is None or not os.path.isfile(file_path):
    return None
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config(argument) if argument else module.get_config()
  for arg in argv:
    if not arg.startswith('--config.'):
      continue
    name = arg[len('--config.'):].split('=', 1)[0]
    node = config
    for part in name.split('.'):
      if not hasattr(node, 'keys') or part not in node:
        return name
      node = node[part]
  return None


def _parse_flags(argv):
  try:
    return flags.FLAGS(argv)
  except (AttributeError, KeyError) as e:
    name = _unknown_override(argv[1:])
    what = f'unknown config field {name!r}' if name else f'bad --config override ({e})'
    print(f'error: {what}; see the config file for the fields it has.', file=sys.stderr)
    sys.exit(2)
  except flags.Error as e:
    print(f'error: {e}\nPass --helpfull to see the flags.', file=sys.stderr)
    sys.exit(2)


def _closing_note(summary: trainer.RunSummary) -> str:
  lines = []
  workdir = os.path.relpath(summary.workdir)
  if summary.stopped_by:
    return (f'Stopped by {summary.stopped_by} at step {summary.step}; checkpoint '
            f'{summary.checkpoint}. Run the same command again to resume.')
  mean = (summary.evaluation or {}).get('mAP', {})
  if summary.pretrain is not None and summary.pretrain.evaluation:
    base = summary.pretrain.evaluation['mAP'].get('final')
    lines.append(f'  single-frame HRNet baseline (stage 1, '
                 f'{os.path.relpath(summary.pretrain.workdir)}): Mean AP {base:.1f}')
  if 'backbone' in mean:
    lines.append(f'  FAMI-Pose: Mean AP {mean["final"]:.1f}   (its frozen backbone alone: '
                 f'{mean["backbone"]:.1f})')
  elif 'final' in mean:
    lines.append(f'  Mean AP {mean["final"]:.1f}')
  lines.append(f'  checkpoint:   {summary.checkpoint}')
  lines.append(f'  TensorBoard:  tensorboard --logdir {workdir}  (metrics also in '
               f'{os.path.join(workdir, "metrics.jsonl")})')
  if summary.evaluation and summary.evaluation.get('prediction_dir'):
    lines.append(f'  predictions:  {os.path.relpath(summary.evaluation["prediction_dir"])}/'
                 '{backbone,final}/<video>.json')
  if summary.evaluation and summary.evaluation.get('image'):
    lines.append(f'  sample image: {os.path.relpath(summary.evaluation["image"])}')
  return 'Done.\n' + '\n'.join(lines)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if not _WORKDIR.value:
    raise app.UsageError('--workdir is required (e.g. --workdir=runs/demo)')
  logging.set_verbosity(logging.WARNING)
  config = _CONFIG.value
  try:
    if _MODE.value == 'train':
      summary = train_and_evaluate(config, _WORKDIR.value)
    else:
      summary = evaluate(config, _WORKDIR.value)
  except USER_ERRORS as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  except KeyboardInterrupt:   # a second Ctrl-C, or one outside the training loop
    print(f'interrupted; checkpoints in {_WORKDIR.value} are kept, rerun to resume.',
          file=sys.stderr)
    sys.exit(130)
  print(_closing_note(summary), flush=True)


if __name__ == '__main__':
  app.run(main, flags_parser=_parse_flags)
