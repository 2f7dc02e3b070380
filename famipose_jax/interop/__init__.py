"""PyTorch interop: the published network in PyTorch, and weight conversion both ways.

`convert` maps published state_dicts (HRNet pose checkpoints or FAMI-Pose) to Flax variables
and back; `torch_reference` is a PyTorch reference of the published architecture used by the
cross-check tests. Importing this package does not import torch.
"""
