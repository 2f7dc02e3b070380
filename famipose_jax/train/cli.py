"""The training command: `python train.py`, `python -m famipose_jax.train` or `famipose-train`.

  python train.py --config=configs/synthetic.py --workdir=runs/demo            # the CPU demo
  python train.py --config=configs/posetrack17.py --workdir=runs/pt17 \\
      --config.data.root=/data/PoseTrack17 --config.init_from=/ckpt/hrnet_w48_pt17
  python train.py --config=configs/posetrack17.py --workdir=runs/pt17 --mode=evaluate

Rerunning the same command resumes from the workdir's latest checkpoint. SIGTERM/SIGINT save a
checkpoint and exit cleanly. Compiled programs are kept in --compile_cache, so a resumed or
repeated run loads its train and evaluation steps instead of compiling them again. A user error
(famipose_jax.errors) is one `error:` message with exit status 2.
`famipose_jax.train.loop.train_and_evaluate(config, workdir)` is the importable entry.
"""

import os
import re
import signal
import sys

from absl import app
from absl import flags
from absl import logging
import jax
import ml_collections
from ml_collections import config_flags

from famipose_jax import errors
from famipose_jax.config import defaults as config_defaults
from famipose_jax.models import registry
from famipose_jax.runtime import compile_cache
from famipose_jax.runtime import multihost
from famipose_jax.train import loop as trainer

DEFAULT_CONFIG = 'configs/synthetic.py'
# Overrides may add fields so that validate_config names every unknown one, with a hint. No
# default here: ml_collections would load it, and fail on a bad override, at import time.
_CONFIG = config_flags.DEFINE_config_file('config', None,
                                          f'Experiment config file (default {DEFAULT_CONFIG}).',
                                          lock_config=False, accept_new_attributes=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Run folder: checkpoints, logs, predictions.')
_MODE = flags.DEFINE_enum('mode', 'train', ['train', 'evaluate'],
                          'train: train (resuming) then evaluate; evaluate: latest checkpoint '
                          '(or config.init_from) only.')
_COMPILE_CACHE = flags.DEFINE_string(
    'compile_cache', compile_cache.default_folder(),
    "Folder of compiled programs kept between runs (JAX's persistent compilation cache): a "
    "resumed or repeated run loads them instead of compiling. '' turns it off; "
    'JAX_COMPILATION_CACHE_DIR, where set, wins.')


def _parse_flags(argv):
  if not any(re.match(r'-{1,2}config(=|$)', a) for a in argv[1:]):
    argv = argv[:1] + [f'--config={DEFAULT_CONFIG}'] + argv[1:]
  try:
    return flags.FLAGS(argv)
  except (AttributeError, KeyError) as e:
    # New leaf fields are accepted and then named by validate_config; only an override below a
    # field that is missing or is not a group (--config.bogus.x=1) fails here.
    print(f'error: unknown config field {_failed_override(argv[1:], e)!r}; see the config file '
          'for the fields it has.', file=sys.stderr)
    sys.exit(2)
  except flags.Error as e:
    print(f'error: {e}\nPass --helpfull to see the flags.', file=sys.stderr)
    sys.exit(2)


def _failed_override(argv, error: Exception) -> str:
  """The `--config.a.b` override that ml_collections could not place, named from its error."""
  message = str(error)
  looked_up = re.search(r'Attempting to lookup: ([\w.]+)', message)
  if looked_up:
    return looked_up.group(1)
  missing = message.strip('"\'')
  names = [a.split('=', 1)[0][len('--config.'):] for a in argv if a.startswith('--config.')]
  return next((n for n in names if missing in n.split('.')), missing)


def _closing_note(summary: trainer.RunSummary, config: ml_collections.ConfigDict) -> str:
  """What the run did and where its outputs are (the config names the family's rows)."""
  lines = []
  workdir = os.path.relpath(summary.workdir)
  if summary.stopped_by:
    return (f'Stopped by {summary.stopped_by} at step {summary.step}; checkpoint '
            f'{summary.checkpoint}. Run the same command again to resume.')
  mean = (summary.evaluation or {}).get('mAP', {})
  base = ((summary.pretrain.evaluation or {}).get('mAP', {}).get('final')
          if summary.pretrain is not None else None)
  if base is not None:   # process 0 scores; the others hold no numbers
    lines.append(f'  single-frame HRNet baseline (stage 1, '
                 f'{os.path.relpath(summary.pretrain.workdir)}): Mean AP {base:.1f}')
  if 'backbone' in mean:
    frozen = 'frozen ' if config.model.freeze_backbone else ''
    lines.append(f'  {registry.of(config).label}: Mean AP {mean["final"]:.1f}   (its {frozen}'
                 f'backbone alone: {mean["backbone"]:.1f})')
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
  compile_cache.use(_COMPILE_CACHE.value)
  try:
    # `--config.model.family=...` on another family's config file: the new family's section.
    config, note = config_defaults.adopt_family(_CONFIG.value)
    if note:
      print(f'note: {note}', file=sys.stderr)
    if _MODE.value == 'train':
      summary = trainer.train_and_evaluate(config, _WORKDIR.value)
    else:
      summary = trainer.evaluate(config, _WORKDIR.value)
  except (errors.UserError, OSError) as e:
    sys.exit(errors.report(e))
  except jax.errors.JaxRuntimeError as e:
    if not multihost.failed_collective(e):
      raise
    print(f'error: {multihost.lost_peer_message(e)}', file=sys.stderr)
    sys.exit(1)
  except KeyboardInterrupt as e:   # a second signal, or one outside the training loop
    name = getattr(e, 'signal_name', 'SIGINT')
    print(f'{name}: stopped at once; checkpoints in {_WORKDIR.value} are kept, rerun to resume.',
          file=sys.stderr)
    sys.exit(128 + signal.Signals[name].value)
  print(_closing_note(summary, config), flush=True)


def run_command():
  """Parses the flags and runs `main` (the console script's and `python -m`'s entry)."""
  app.run(main, flags_parser=_parse_flags)
