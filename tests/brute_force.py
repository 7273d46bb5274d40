"""Independent brute-force simulator of one ReL-PSP neuron, in float64 numpy.

It never uses the sorted-prefix closed form of the package: it evaluates

    V(t) = b * max(0, t) + sum_i w_i * max(0, t - t_i)

directly on a dense time grid plus exactly at every input time (the only points where V
can change slope), takes the first evaluated point with V >= theta and refines the crossing
by bisection on V between that point and the previous one.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

GRID_POINTS = 2001
BISECTION_STEPS = 200


def potential(t: np.ndarray, t_in: np.ndarray, w: np.ndarray, b: float = 0.0) -> np.ndarray:
    """V(t) = b max(0, t) + sum_i w_i max(0, t - t_i) at every time in ``t`` (silent inputs: inf)."""
    t = np.asarray(t, dtype=np.float64)[..., None]
    finite = np.isfinite(t_in)
    lag = np.where(finite, t - np.where(finite, t_in, 0.0), 0.0)
    return b * np.maximum(0.0, t[..., 0]) + (w * np.maximum(0.0, lag)).sum(-1)


class Crossing(NamedTuple):
    """Spike time (inf = silent); slope dV/dt just before the crossing (0 if silent);
    margin = min over input times t_i before the spike of theta - V(t_i) (how far V stays below
    threshold at its possible local maxima; inf if none); gap = min_i |time - t_i| (inf if none).
    Margins and gaps tell whether a small perturbation can change the causal set."""

    time: float
    slope: float
    margin: float
    gap: float


def first_crossing(t_in: np.ndarray, w: np.ndarray, b: float, theta: float) -> Crossing:
    """First t >= 0 with V(t) >= theta for one neuron (inputs [I], weights [I])."""
    t_in = np.asarray(t_in, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    events = t_in[np.isfinite(t_in)]
    t_last = float(events.max()) if events.size else 0.0
    grid = np.linspace(0.0, t_last + 1.0, GRID_POINTS)
    points = np.unique(np.concatenate([grid, events]))
    # after the last input V is linear: extend by doubling until it crosses or stops growing
    tail_slope = potential(t_last + 1.0, t_in, w, b) - potential(t_last, t_in, w, b)
    if tail_slope > 0:
        v_last = potential(t_last, t_in, w, b)
        span = 1.0
        while v_last + tail_slope * span < theta:
            span *= 2.0
        points = np.append(points, t_last + 2.0 * span)
    v = potential(points, t_in, w, b)
    above = np.nonzero(v >= theta)[0]
    if above.size == 0:
        margin = float(np.min(theta - potential(events, t_in, w, b), initial=np.inf))
        return Crossing(float("inf"), 0.0, margin, float("inf"))
    k = int(above[0])
    if k == 0:  # V(0) >= theta > 0 is impossible: V(0) = 0
        raise AssertionError("V(0) >= theta")
    lo, hi = float(points[k - 1]), float(points[k])
    for _ in range(BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if potential(mid, t_in, w, b) >= theta:
            hi = mid
        else:
            lo = mid
    eps = 1e-7 * max(1.0, hi)
    slope = float((potential(hi, t_in, w, b) - potential(hi - eps, t_in, w, b)) / eps)
    before = events[events < hi]
    margin = float(np.min(theta - potential(before, t_in, w, b), initial=np.inf))
    gap = float(np.min(np.abs(events - hi), initial=np.inf))
    return Crossing(hi, slope, margin, gap)


def first_crossings(
    t_in: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, theta: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Batch version: t_in [B, I], weight [O, I], bias [O] or None, theta [O].

    Returns (times, slopes, margins, gaps), each [B, O] (see ``Crossing``).
    """
    batch, n_out = t_in.shape[0], weight.shape[0]
    bias = np.zeros(n_out) if bias is None else bias
    theta = np.broadcast_to(np.asarray(theta, dtype=np.float64), (n_out,))
    out = np.empty((4, batch, n_out))
    for b in range(batch):
        for j in range(n_out):
            out[:, b, j] = first_crossing(t_in[b], weight[j], float(bias[j]), float(theta[j]))
    return out[0], out[1], out[2], out[3]


def random_problem(
    rng: np.random.Generator,
    batch: int,
    n_in: int,
    n_out: int,
    p_silent: float = 0.25,
    tie_grid: float | None = 0.1,
    with_bias: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """A random layer problem (t_in [B, I], weight [O, I], bias [O] or None, theta [O]).

    Mixed-sign weights, inputs silent with probability ``p_silent``, times rounded to
    ``tie_grid`` (so ties occur), the last sample all silent, per-neuron thresholds.
    """
    t_in = rng.uniform(0.0, 2.0, (batch, n_in))
    if tie_grid:
        t_in = np.round(t_in / tie_grid) * tie_grid
    t_in[rng.random((batch, n_in)) < p_silent] = np.inf
    t_in[-1] = np.inf
    weight = rng.normal(1.0 / n_in**0.5, 1.0, (n_out, n_in)) * 2.0 / n_in**0.5
    bias = rng.normal(0.0, 0.5, n_out) if with_bias else None
    theta = rng.uniform(0.2, 1.5, n_out)
    return t_in, weight, bias, theta
