"""Earliest-spike pooling on the CPU (numba): each window's earliest spike and where it was.

Per plane (b, c) and window (oy, ox) over rows oy sh .. oy sh + kh - 1 and columns
ox sw .. ox sw + kw - 1:

    t_out = min_window t_in,   winner = the first entry, in row-major order, with t < every
    earlier one (strictly), starting from the window's first entry (so an all-silent window's
    winner is its first entry)

which is ``-max_pool2d(-t_in)`` with max_pool2d's CPU tie rule (``val > maxval``, starting at
the window's first index); the backward adds dL/dt_out to the winner's dL/dt_in, in output
order, as max_pool2d's backward does. Bit for bit the same values and gradients, without the
two negations, the int64 argmax search of torch's generic kernel and the copy after it.
Planes are split into chunks as in :mod:`stdbp_plugin.kernels.numba_cpu`.
"""

from __future__ import annotations

import numba
import numpy as np
import torch
from torch import Tensor

from stdbp_plugin.kernels.numba_cpu import _numpy, _team, num_chunks

__all__ = ["backward", "forward"]


@numba.njit(fastmath=False, cache=True, nogil=True)
def _forward_planes(t_in, geometry, t_out, winner, start, stop):
    """Planes start..stop-1 of t_in [P, H, W] into t_out, winner [P, H_out, W_out]."""
    kh, kw, sh, sw = geometry
    width = t_in.shape[2]
    h_out, w_out = t_out.shape[1], t_out.shape[2]
    size = t_in.shape[1] * width
    for q in range(start, stop):
        plane = t_in[q].reshape(size)
        for oy in range(h_out):
            for ox in range(w_out):
                first = oy * sh * width + ox * sw
                best = plane[first]
                where = first
                for dy in range(kh):
                    row = first + dy * width
                    for dx in range(kw):
                        v = plane[row + dx]
                        earlier = v < best  # selects, not branches (random data mispredicts)
                        best = v if earlier else best
                        where = row + dx if earlier else where
                t_out[q, oy, ox] = best
                winner[q, oy, ox] = where


@numba.njit(fastmath=False, cache=True, nogil=True)
def _backward_planes(grad_out, winner, grad_in, start, stop):
    """grad_in [P, H W] (zeros) += grad_out at each window's winner, in output order."""
    h_out, w_out = grad_out.shape[1], grad_out.shape[2]
    for q in range(start, stop):
        for oy in range(h_out):
            for ox in range(w_out):
                grad_in[q, winner[q, oy, ox]] += grad_out[q, oy, ox]


def forward(
    t_in: Tensor, kernel_size: tuple[int, int], stride: tuple[int, int]
) -> tuple[Tensor, np.ndarray]:
    """(t_out [B, C, H_out, W_out], winner [B C, H_out, W_out] flat plane indices (int32)) of
    the earliest-spike pooling of t_in [B, C, H, W] (CPU; H >= kh and W >= kw)."""
    t_np = _numpy(t_in)
    batch, channels, height, width = t_np.shape
    (kh, kw), (sh, sw) = kernel_size, stride
    h_out, w_out = (height - kh) // sh + 1, (width - kw) // sw + 1
    planes = t_np.reshape(batch * channels, height, width)
    t_out = np.empty((batch * channels, h_out, w_out), t_np.dtype)
    winner = np.empty((batch * channels, h_out, w_out), np.int32)
    args = (planes, (kh, kw, sh, sw), t_out, winner)
    _run_planes(batch * channels, _forward_planes, args)
    return torch.from_numpy(t_out.reshape(batch, channels, h_out, w_out)), winner


def backward(grad_out: Tensor, winner: np.ndarray, shape: torch.Size) -> Tensor:
    """dL/dt_in [B, C, H, W] from dL/dt_out and the forward's winners."""
    batch, channels, height, width = shape
    g_np = _numpy(grad_out).reshape(winner.shape)
    grad_in = np.zeros((batch * channels, height * width), g_np.dtype)
    _run_planes(batch * channels, _backward_planes, (g_np, winner, grad_in))
    return torch.from_numpy(grad_in.reshape(batch, channels, height, width))


def _run_planes(planes: int, serial, args: tuple) -> None:
    """serial(*args, start, stop) over the planes: one chunk per thread on torch's OpenMP team,
    or all on the calling thread (one thread, or no such team: no second pool for this)."""
    chunks = num_chunks(planes)
    team = _team() if chunks > 1 else None
    if team is None:
        if planes > 0:
            serial(*args, 0, planes)
        return

    def work(c: int) -> None:
        serial(*args, c * planes // chunks, (c + 1) * planes // chunks)

    team.run(chunks, work)
