"""The conv kernel's own walk (numba_conv._walk_field, one loop over the inputs) against the
linear kernel's (numba_cpu._walk, nested group loops): the same k_fire, S, P and alive bit for
bit on rows with ties, silent neurons and early stops; a walk that does not freeze fired neurons is caught."""

from __future__ import annotations

import numba
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stdbp_plugin.kernels.numba_conv import _walk_field
from stdbp_plugin.kernels.numba_cpu import _walk


@numba.njit(cache=False)
def _run_field(row, times, n, weight_t, theta, s, p, alive, k_fire):
    _walk_field(row, times, n, weight_t, theta, s, p, alive, k_fire)


@numba.njit(cache=False)
def _run_rows(row, times, n, weight_t, theta, s, p, alive, k_fire):
    _walk(row, times, n, weight_t, theta, s, p, alive, k_fire)


@numba.njit(cache=False)
def _run_unfrozen(row, times, n, weight_t, theta, s, p, alive, k_fire):
    """Deliberately broken: a neuron that fired keeps adding inputs to its S and P."""
    s[:] = 0.0
    p[:] = 0.0
    alive[:] = 1.0
    k_fire[:] = 0.0
    for m in range(n):
        t_k, t_next = times[m], times[m + 1]
        w_row = weight_t[row[m]]
        for j in range(weight_t.shape[1]):
            s[j] += np.float64(w_row[j])
            p[j] += np.float64(w_row[j]) * t_k
            if t_next != t_k and alive[j] > 0.0 and s[j] > 0.0 and s[j] * t_next - p[j] >= theta[j]:
                alive[j] = 0.0
                k_fire[j] = m + 1


def walk(runner, case):
    row, times, n, weight_t, theta = case
    n_out = weight_t.shape[1]
    state = [np.full(n_out, np.nan) for _ in range(4)]  # s, p, alive, k_fire: all overwritten
    runner(row, times, n, weight_t, theta, *state)
    return state


def make_field(seed: int, grid: float, dtype) -> tuple:
    """A row of n <= n_in finite inputs (times on a grid of ``grid``: ties), weights, thetas."""
    rng = np.random.default_rng(seed)
    n_in, n_out = int(rng.integers(1, 41)), int(rng.integers(1, 13))
    n = int(rng.integers(0, n_in + 1))
    times = np.sort(rng.uniform(0.0, 3.0, n))
    if grid:
        times = np.round(times / grid) * grid
    times = np.append(times, np.inf)
    row = rng.permutation(n_in)[:n].astype(np.int32)
    weight_t = (rng.normal(0.3, 1.0, (n_in, n_out)) / np.sqrt(max(n, 1))).astype(dtype)
    return row, times, n, weight_t, rng.uniform(0.05, 1.5, n_out)


@st.composite
def fields(draw):
    return make_field(
        draw(st.integers(0, 2**31 - 1)),
        draw(st.sampled_from([0.0, 0.25, 1.0])),  # continuous times, or many ties
        draw(st.sampled_from([np.float32, np.float64])),
    )


@settings(max_examples=200, deadline=None)
@given(fields())
def test_field_walk_equals_row_walk_bit_for_bit(case):
    for got, expected in zip(walk(_run_field, case), walk(_run_rows, case), strict=True):
        np.testing.assert_array_equal(got, expected)


def test_a_walk_that_does_not_freeze_fired_neurons_is_caught():
    """The check above fails for a walk whose fired neurons keep integrating (same k_fire)."""
    cases = [make_field(seed, 0.25, np.float64) for seed in range(20)]
    assert all(
        np.array_equal(walk(_run_unfrozen, c)[3], walk(_run_rows, c)[3]) for c in cases
    )  # the spikes' places agree...
    assert any(
        not np.array_equal(walk(_run_unfrozen, c)[0], walk(_run_rows, c)[0]) for c in cases
    )  # ...but S at the crossing does not
