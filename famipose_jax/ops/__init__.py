"""Sampling ops in NHWC: bilinear sampling, affine warps, modulated deformable convolution."""

from famipose_jax.ops.affine import affine_grid, invert_affine, translation_matrix, warp_affine
from famipose_jax.ops.bilinear import bilinear_sample, grid_sample
from famipose_jax.ops.deform_conv import modulated_deform_conv
