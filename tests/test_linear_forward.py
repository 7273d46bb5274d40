"""relpsp_linear's forward equals a brute-force simulation of V(t) (dense grid + event check)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from brute_force import first_crossings, potential, random_problem

from stdbp_plugin.functional import relpsp_linear

# float64 closed form vs float64 bisection: the only errors are rounding in (theta + P) / S,
# about eps * (theta + sum |w_i t_i|) / S; we allow 1e-9 of that scale (10^6 eps of headroom).
REL_TOL = 1e-9


def _run(t_in, weight, bias, theta, backend, dtype=torch.float64):
    as_t = lambda a: None if a is None else torch.tensor(a, dtype=dtype)  # noqa: E731
    return relpsp_linear(as_t(t_in), as_t(weight), as_t(bias), as_t(theta), backend=backend)


def _tolerance(t_in, weight, bias, theta, slopes):
    finite_t = np.where(np.isfinite(t_in), t_in, 0.0)
    scale = theta[None, :] + np.abs(finite_t) @ np.abs(weight).T
    if bias is not None:
        scale = scale + np.abs(bias)[None, :]
    return REL_TOL * scale / np.maximum(np.abs(slopes), 1e-12) + 1e-12


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("with_bias", [True, False])
def test_forward_matches_brute_force(backend, seed, with_bias):
    rng = np.random.default_rng(seed)
    problem = random_problem(rng, batch=6, n_in=9, n_out=7, with_bias=with_bias)
    t_out = _run(*problem, backend).numpy()
    expected, slopes, _, _ = first_crossings(*problem)
    assert np.isinf(expected).any() and np.isfinite(expected).any(), "case should mix both"
    np.testing.assert_array_equal(np.isinf(t_out), np.isinf(expected))
    fired = np.isfinite(expected)
    tol = _tolerance(*problem, slopes)
    assert np.all(np.abs(t_out[fired] - expected[fired]) <= tol[fired])
    assert np.all(np.isinf(t_out[-1])) or with_bias, "all-silent sample without bias is silent"


def test_event_check_at_spike(backend):
    """At the returned time V = theta, and V < theta at every input time before it."""
    rng = np.random.default_rng(123)
    t_in, weight, bias, theta = random_problem(rng, batch=5, n_in=12, n_out=6)
    t_out = _run(t_in, weight, bias, theta, backend).numpy()
    for b, j in zip(*np.nonzero(np.isfinite(t_out)), strict=True):
        v = potential(t_out[b, j], t_in[b], weight[j], bias[j])
        assert v == pytest.approx(theta[j], rel=1e-9, abs=1e-9)
        events = t_in[b][t_in[b] < t_out[b, j]]
        assert np.all(potential(events, t_in[b], weight[j], bias[j]) < theta[j])


def test_all_silent_and_no_bias_is_silent(backend):
    t_in = torch.full((3, 4), float("inf"), dtype=torch.float64)
    weight = torch.ones(5, 4, dtype=torch.float64)
    assert torch.isinf(relpsp_linear(t_in, weight, backend=backend)).all()


def test_ties_handled_as_one_event(backend):
    """Two tied inputs of weights +2 and -2 cancel: the neuron must not fire between them."""
    t_in = torch.tensor([[0.5, 0.5, 1.0]], dtype=torch.float64)
    weight = torch.tensor([[2.0, -2.0, 1.0], [-2.0, 2.0, 1.0]], dtype=torch.float64)
    t_out = relpsp_linear(t_in, weight, threshold=0.5, backend=backend)
    torch.testing.assert_close(t_out, torch.tensor([[1.5, 1.5]], dtype=torch.float64))


def test_float32_close_to_float64(backend):
    rng = np.random.default_rng(7)
    problem = random_problem(rng, batch=8, n_in=20, n_out=10, tie_grid=None)
    t64 = _run(*problem, backend).numpy()
    t32 = _run(*problem, backend, dtype=torch.float32).numpy()
    expected, slopes, _, _ = first_crossings(*problem)
    np.testing.assert_array_equal(np.isinf(t32), np.isinf(expected))
    fired = np.isfinite(expected)
    # float32 inputs carry ~6e-8 relative rounding; allow 1e-5 of the conditioning scale
    tol = _tolerance(*problem, slopes) / REL_TOL * 1e-5
    assert t32.dtype == np.float32
    assert np.all(np.abs(t32[fired] - t64[fired]) <= tol[fired])


def test_leading_batch_dims(backend):
    rng = np.random.default_rng(3)
    t_in, weight, bias, theta = random_problem(rng, batch=6, n_in=5, n_out=4)
    flat = _run(t_in, weight, bias, theta, backend)
    t3 = torch.tensor(t_in).reshape(2, 3, 5)
    out = relpsp_linear(
        t3, torch.tensor(weight), torch.tensor(bias), torch.tensor(theta), backend=backend
    )
    torch.testing.assert_close(out.reshape(6, 4), flat)
