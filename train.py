"""Train and evaluate a video pose model (FAMI-Pose by default; see famipose_jax/train/cli.py).

  python train.py --config=configs/synthetic.py --workdir=runs/demo            # the CPU demo
  python train.py --config=configs/posetrack17.py --workdir=runs/pt17 \\
      --config.data.root=/data/PoseTrack17 --config.init_from=/ckpt/hrnet_w48_pt17
  python train.py --config=configs/posetrack17.py --workdir=runs/pt17 --mode=evaluate

The same command is `python -m famipose_jax.train` and `famipose-train`. Rerunning it resumes
from the workdir's latest checkpoint; SIGTERM/SIGINT save a checkpoint and exit cleanly.
`train_and_evaluate(config, workdir)` is the importable entry.
"""

from famipose_jax.train.cli import run_command
from famipose_jax.train.loop import evaluate, train_and_evaluate  # noqa: F401 (the public entry)

if __name__ == '__main__':
  run_command()
