"""Exports a trained network as one file that runs with JAX alone (or as an ONNX model).

  python -m famipose_jax.export_model --checkpoint DIR --out FILE
      [--batch-size N] [--flip-test | --no-flip-test] [--onnx] [--config CONFIG.py]

--checkpoint is a training workdir, one of its checkpoints/<step> folders, or a model folder,
as for `python -m famipose_jax.predict`. The file holds the inference function with the
weights inside (`famipose_jax.export.jax_export`: uint8 crops in, decoded joints and the raw
outputs out; `load_inference(FILE)` runs it); the batch size is symbolic unless --batch-size
fixes it. --onnx writes an ONNX model instead (the [onnx] extra; a fixed --batch-size is needed).
See docs/export.md.
"""

from __future__ import annotations

import argparse
import sys

from famipose_jax import errors
from famipose_jax.config import loader as config_loader
from famipose_jax import experiment as experiment_lib
from famipose_jax.export import jax_export as export
from famipose_jax.checkpoints import trained_model


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='python -m famipose_jax.export_model', description=__doc__.split('\n\n')[0],
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--checkpoint', required=True,
                      help='training workdir, checkpoints/<step> folder or model folder')
  parser.add_argument('--out', required=True, metavar='FILE', help='the file to write')
  parser.add_argument('--batch-size', type=int, default=None,
                      help='a fixed batch size (default: any, a symbolic dimension)')
  flip = parser.add_mutually_exclusive_group()
  flip.add_argument('--flip-test', dest='flip_test', action='store_true', default=None,
                    help='average with the mirrored input (default: as the config says)')
  flip.add_argument('--no-flip-test', dest='flip_test', action='store_false')
  parser.add_argument('--onnx', action='store_true', help='write an ONNX model instead')
  parser.add_argument('--config', default=None,
                      help='config file, for a model folder that records none')
  return parser


def run(args) -> str:
  """Exports as asked; returns the summary line."""
  if args.onnx and args.batch_size is None:
    raise errors.UsageError(
        '--onnx needs a fixed --batch-size (jax2onnx cannot convert the symbolic '
        'batch dimension of this model: docs/export.md)')
  config = config_loader.load_config_file(args.config) if args.config else None
  model = trained_model.load_trained_model(args.checkpoint, config)
  if args.flip_test is not None:
    model.config.eval.flip_test = args.flip_test
  experiment = experiment_lib.Experiment(model.config)
  if args.onnx:
    # pylint: disable-next=g-import-not-at-top (the optional [onnx] extra)
    from famipose_jax.export import onnx_export
    onnx_export.export_onnx(experiment, model.variables, args.out, batch_size=args.batch_size)
  else:
    export.export_inference(experiment, model.variables, args.out, batch_size=args.batch_size)
  batch = 'any batch size' if args.batch_size is None else f'batch size {args.batch_size}'
  return f'wrote {args.out}: {model.source}, {batch}, flip test {model.config.eval.flip_test}'


@errors.command
def main(argv: list[str] | None = None) -> int:
  print(run(_parser().parse_args(argv)))
  return 0


if __name__ == '__main__':
  sys.exit(main())
