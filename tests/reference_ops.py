"""Plain float64 NumPy loop references for the ops tests (slow; tiny inputs only).

Written from the documented rules, one sample at a time, so they share no code with the
vectorised ops they check.
"""

import numpy as np


def bilinear_point(image_hwc, y, x):
  """Zero-padded bilinear sample of one point: image [H, W, C] -> [C]."""
  h, w, c = image_hwc.shape
  y0, x0 = int(np.floor(y)), int(np.floor(x))
  out = np.zeros(c, np.float64)
  for yi, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
    for xi, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
      if 0 <= yi < h and 0 <= xi < w:
        out += wy * wx * image_hwc[yi, xi].astype(np.float64)
  return out


def torchvision_dcn_point(image_hwc, y, x):
  """torchvision deform_conv2d's bilinear rule, written as its kernel states it."""
  h, w, c = image_hwc.shape
  if y <= -1 or h <= y or x <= -1 or w <= x:
    return np.zeros(c, np.float64)
  y_low, x_low = int(np.floor(y)), int(np.floor(x))
  y_high, x_high = y_low + 1, x_low + 1
  ly, lx = y - y_low, x - x_low
  hy, hx = 1 - ly, 1 - lx
  zero = np.zeros(c, np.float64)
  v1 = image_hwc[y_low, x_low] if (y_low >= 0 and x_low >= 0) else zero
  v2 = image_hwc[y_low, x_high] if (y_low >= 0 and x_high <= w - 1) else zero
  v3 = image_hwc[y_high, x_low] if (y_high <= h - 1 and x_low >= 0) else zero
  v4 = image_hwc[y_high, x_high] if (y_high <= h - 1 and x_high <= w - 1) else zero
  return hy * hx * v1 + hy * lx * v2 + ly * hx * v3 + ly * lx * v4


def bilinear_sample(image, y, x):
  """image [B, H, W, C], y/x [B, N] -> [B, N, C]."""
  b, n = y.shape
  out = np.zeros((b, n, image.shape[-1]))
  for bi in range(b):
    for i in range(n):
      out[bi, i] = bilinear_point(image[bi], y[bi, i], x[bi, i])
  return out


def unnormalize(coord, size, align_corners):
  if align_corners:
    return (coord + 1) / 2 * (size - 1)
  return ((coord + 1) * size - 1) / 2


def grid_sample(image, grid, align_corners):
  """torch grid_sample(bilinear, zeros), NHWC: image [B,H,W,C], grid [B,Ho,Wo,2] -> [B,Ho,Wo,C]."""
  b, h, w, c = image.shape
  _, ho, wo, _ = grid.shape
  out = np.zeros((b, ho, wo, c))
  for bi in range(b):
    for i in range(ho):
      for j in range(wo):
        x = unnormalize(grid[bi, i, j, 0], w, align_corners)
        y = unnormalize(grid[bi, i, j, 1], h, align_corners)
        out[bi, i, j] = bilinear_point(image[bi], y, x)
  return out


def base_coord(i, n, align_corners):
  if n == 1:
    return 0.0
  if align_corners:
    return -1 + 2 * i / (n - 1)
  return (-1 + 2 * i / (n - 1)) * (n - 1) / n


def affine_grid(theta, size, align_corners):
  """torch affine_grid: theta [B, 2, 3], size (Ho, Wo) -> [B, Ho, Wo, 2]."""
  b = theta.shape[0]
  ho, wo = size
  grid = np.zeros((b, ho, wo, 2))
  for bi in range(b):
    for i in range(ho):
      for j in range(wo):
        point = np.array([base_coord(j, wo, align_corners), base_coord(i, ho, align_corners), 1.])
        grid[bi, i, j] = theta[bi] @ point
  return grid


def _pixel_to_normalised(h, w):
  return np.array([[2 / (w - 1), 0, -1], [0, 2 / (h - 1), -1], [0, 0, 1.]])


def kornia_warp_affine(image, matrix, align_corners, output_size):
  """kornia.geometry.warp_affine's chain: normalise the pixel matrix, invert, grid, sample."""
  b, h, w, _ = image.shape
  ho, wo = output_size
  theta = np.zeros((b, 2, 3))
  for bi in range(b):
    m = np.vstack([matrix[bi], [0, 0, 1.]])
    dst_norm_from_src_norm = (_pixel_to_normalised(ho, wo) @ m
                              @ np.linalg.inv(_pixel_to_normalised(h, w)))
    theta[bi] = np.linalg.inv(dst_norm_from_src_norm)[:2]
  return grid_sample(image, affine_grid(theta, (ho, wo), align_corners), align_corners)


def deform_conv(x, offset, mask, kernel, bias, stride, padding, dilation, groups):
  """torchvision deform_conv2d semantics in NHWC, one output pixel and tap at a time."""
  b, h, w, cin = x.shape
  kh, kw, _, cout = kernel.shape
  sh, sw = stride
  ph, pw = padding
  dh, dw = dilation
  ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
  wo = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
  cg = cin // groups
  out = np.zeros((b, ho, wo, cout))
  for bi in range(b):
    for oy in range(ho):
      for ox in range(wo):
        acc = np.zeros(cout)
        for i in range(kh):
          for j in range(kw):
            k = i * kw + j
            for g in range(groups):
              dy = offset[bi, oy, ox, 2 * (g * kh * kw + k)]
              dx = offset[bi, oy, ox, 2 * (g * kh * kw + k) + 1]
              m = 1.0 if mask is None else mask[bi, oy, ox, g * kh * kw + k]
              y = oy * sh - ph + i * dh + dy
              xx = ox * sw - pw + j * dw + dx
              channels = slice(g * cg, (g + 1) * cg)
              value = torchvision_dcn_point(x[bi, :, :, channels], y, xx) * m
              acc += value @ kernel[i, j, channels, :]
        out[bi, oy, ox] = acc + (0 if bias is None else bias)
  return out
