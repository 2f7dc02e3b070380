"""FAMI-Pose (Liu et al., CVPR 2022): the network and its parts, named as in the paper.

  network.py                the whole model: HRNet, the alignment, the fusion, the heads
  global_transformation.py  the coarse alignment of each supporting frame (a learned warp)
  local_calibration.py      the fine alignment (modulated deformable convolutions)
"""
