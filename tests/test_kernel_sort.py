"""The numba kernel's per-sample sort (bucket order, merge-sort fallback) is a stable argsort."""

from __future__ import annotations

import numpy as np
import pytest

from stdbp_plugin.kernels import numba_cpu


def sort_row(t: np.ndarray, density: float) -> tuple[np.ndarray, np.ndarray, int]:
    n_in = t.shape[0]
    order = np.empty(n_in, np.int64)
    times = np.empty(n_in + 1)
    counts = np.empty(int(n_in * density) + 2, np.int64)
    n = numba_cpu._sort_row(
        t, order, times, np.empty(n_in), np.empty(n_in, np.int64), counts, density
    )
    return order, times, n


def rows(seed: int):
    rng = np.random.default_rng(seed)
    yield "spread", rng.random(700)
    yield "long tail", rng.lognormal(0.0, 1.5, 800)  # late times share the last bucket
    yield "quantised", np.floor(rng.random(784) * 256) / 256  # MNIST-like ties
    yield "outlier", np.concatenate([rng.random(300) * 1e-3, [50.0]])  # one full bucket
    yield "narrow", np.arange(200)[::-1] * 5e-324  # bucket width overflows: merge sort
    yield "all tied", np.full(90, 0.25)
    yield "short", rng.random(5)
    yield "one", np.array([0.5])
    yield "reversed", np.linspace(3, 0, 400)


@pytest.mark.parametrize("density", [0.5, numba_cpu.SORT_DENSITY])  # conv's, linear's
@pytest.mark.parametrize("silent", [0.0, 0.4, 1.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_sort_row_is_stable_argsort_of_finite_then_silent(seed, silent, density):
    rng = np.random.default_rng(seed + 10)
    for name, t in rows(seed):
        t = t.astype(np.float32 if seed else np.float64)
        t[rng.random(t.shape[0]) < silent] = np.inf
        order, times, n = sort_row(t, density)
        expected = np.argsort(t, kind="stable")  # +inf last, in index order
        assert np.array_equal(order, expected), name
        assert n == np.isfinite(t).sum(), name
        assert np.array_equal(times[:n], t[expected[:n]]) and times[n] == np.inf, name
