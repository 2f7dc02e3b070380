"""Converts a PyTorch HRNet or model-family checkpoint into a folder train.py can start from.

  python -m famipose_jax.convert IN.pth OUT_DIR [--model famipose|hrnet|...] [--non-strict]
      [--width 48] [--num-joints 17] [--image-size 288 384] [--num-supporting 4]
      [--config configs/posetrack17.py] [--trust-pickle]

IN.pth is a bare state_dict or {'state_dict': ...}, with or without `module.` (and, for HRNet,
`hrnet.`) prefixes. OUT_DIR (new or empty) receives variables/ (Orbax) and conversion.json; use
it as --config.init_from=OUT_DIR. --model names a model family (the config is switched to it,
its section at the published values) or 'hrnet' (a backbone). A strict conversion of a family's
checkpoint also records the config in OUT_DIR/config.json, so `python -m famipose_jax.predict
--checkpoint OUT_DIR` needs nothing else. See docs/pytorch_interop.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

import ml_collections

from famipose_jax import errors
from famipose_jax.config import backbone_presets
from famipose_jax.config import defaults as config_defaults
from famipose_jax.config import loader as config_loader
from famipose_jax.interop import checkpoint_io
from famipose_jax.interop import convert
from famipose_jax.models import inputs as model_inputs


def config_from_args(args: argparse.Namespace) -> ml_collections.ConfigDict:
  """The experiment config with the command line's model overrides."""
  config = config_loader.load_config_file(args.config)
  model = config.model
  if args.width is not None:
    model.backbone = backbone_presets.hrnet(args.width)
  if args.num_joints is not None:
    model.num_joints = args.num_joints
  if args.image_size is not None:
    width, height = args.image_size
    model.image_size = (width, height)
    model.heatmap_size = (width // 4, height // 4)
  return config


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='python -m famipose_jax.convert', description=__doc__.split('\n\n')[0],
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('input', metavar='IN.pth', help='PyTorch checkpoint')
  parser.add_argument('output', metavar='OUT_DIR', help='new or empty output folder')
  parser.add_argument('--model', choices=convert.model_kinds(), default=convert.DEFAULT_KIND,
                      help='what the checkpoint holds (default: famipose)')
  parser.add_argument('--non-strict', action='store_true',
                      help='report missing/unexpected/mismatched keys and convert the rest')
  parser.add_argument('--config', default=None,
                      help='experiment config file with get_config() (default: PoseTrack17)')
  parser.add_argument('--width', type=int, default=None, help='HRNet width (default: config, 48)')
  parser.add_argument('--num-joints', type=int, default=None, help='default: config (17)')
  parser.add_argument('--image-size', type=int, nargs=2, metavar=('W', 'H'), default=None,
                      help='input size; sets the global transformation\'s Linear input')
  parser.add_argument('--num-supporting', type=int, default=None,
                      help="supporting frames N (default: the family's clip of the config)")
  parser.add_argument('--trust-pickle', action='store_true',
                      help='allow non-tensor pickled objects (torch.load weights_only=False)')
  return parser


@errors.command
def main(argv: list[str] | None = None) -> int:
  args = _parser().parse_args(argv)
  logging.basicConfig(level=logging.INFO, format='%(message)s')
  config = config_from_args(args)
  if args.model != convert.HRNET_KIND:   # a family's checkpoint: that family's config
    config = config_defaults.with_family(config, args.model)
  clip_frames = len(model_inputs.clip_of(config).offsets)
  num_supporting = clip_frames if args.num_supporting is None else args.num_supporting
  # The config is recorded for prediction when it describes the converted network.
  records_config = (args.model != convert.HRNET_KIND and args.non_strict is False
                    and num_supporting == clip_frames)
  _, report, record = checkpoint_io.convert_file(
      args.input, args.output, config.model, args.model, num_supporting,
      strict=not args.non_strict, trust_pickle=args.trust_pickle,
      config=config if records_config else None)
  if not report.ok:
    print(f'non-strict conversion, not converted:\n{report.problems(limit=50)}', file=sys.stderr)
  counts = record['counts']
  print(f"wrote {args.output}: {record['model']} W{record['width']}, "
        f"{counts['params_tensors']} parameter tensors ({counts['parameters']:,} parameters), "
        f"{counts['batch_stats_tensors']} BN statistics, {record['seconds']['total']:.1f} s")
  print(json.dumps(record['seconds']))
  return 0


if __name__ == '__main__':
  sys.exit(main())
