"""Random image augmentation for training batches [B, C, H, W] (torch's global RNG).

``random_shift`` translates by whole pixels, so it only moves spikes: the number of input spikes
and their times stay as they were. ``random_rotate_scale`` interpolates, which adds faint
pixels, so more (late) input spikes and slower event-driven steps.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional as F


def _check_images(images: Tensor) -> None:
    if not isinstance(images, Tensor) or images.ndim != 4:
        raise ValueError(
            f"images must be a [B, C, H, W] tensor, got {getattr(images, 'shape', images)}"
        )


def random_shift(images: Tensor, max_shift: int) -> Tensor:
    """Translate each image by dx, dy ~ U{-max_shift, ..., max_shift} pixels; zeros fill in.

    out[b, :, i, j] = images[b, :, i + dy_b, j + dx_b] (0 outside the image).
    """
    _check_images(images)
    if not (isinstance(max_shift, int) and max_shift >= 0):
        raise ValueError(f"max_shift must be an int >= 0, got {max_shift!r}")
    if max_shift == 0:
        return images
    n, _, height, width = images.shape
    padded = F.pad(images, (max_shift,) * 4)
    dx, dy = torch.randint(0, 2 * max_shift + 1, (2, n)).to(images.device)
    rows = (dy[:, None] + torch.arange(height, device=images.device))[:, :, None]  # [B, H, 1]
    cols = (dx[:, None] + torch.arange(width, device=images.device))[:, None, :]  # [B, 1, W]
    batch = torch.arange(n, device=images.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous()


def random_rotate_scale(images: Tensor, max_degrees: float, max_scale: float) -> Tensor:
    """Rotate each image by a uniform angle in [-max_degrees, max_degrees] and zoom it by a
    uniform factor in [1 - max_scale, 1 + max_scale] about its centre (bilinear, zeros fill in)."""
    _check_images(images)
    if not (max_degrees >= 0 and 0 <= max_scale < 1):
        raise ValueError(
            f"need max_degrees >= 0 and 0 <= max_scale < 1, got {max_degrees!r}, {max_scale!r}"
        )
    n = images.shape[0]
    angle = (2 * torch.rand(n) - 1) * math.radians(max_degrees)
    zoom = 1 + (2 * torch.rand(n) - 1) * max_scale
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = cos, -sin, sin, cos
    theta = theta.to(images)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, align_corners=False)
