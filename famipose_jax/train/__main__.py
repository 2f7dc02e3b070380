"""`python -m famipose_jax.train`: the training command (famipose_jax/train/cli.py)."""

from famipose_jax.train import cli

if __name__ == '__main__':
  cli.run_command()
