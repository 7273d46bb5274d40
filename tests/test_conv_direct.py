"""The direct conv walk (kernels/numba_conv.py, relpsp_conv2d's numba path) against the fields
unfolded into rows for relpsp_linear (same kernel arithmetic: the forward is bit-identical),
the torch reference, a brute-force V(t) simulation, and float64 finite differences."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from brute_force import first_crossings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stdbp_plugin.functional import relpsp_conv2d, relpsp_linear
from stdbp_plugin.kernels import numba_cpu

PROPERTY = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
MARGIN = 1e-2  # finite differences: no input time or threshold touch within this of a crossing


def unfolded(t_in, weight, bias, theta, stride, padding, backend, **options):
    """relpsp_conv2d as the fields unfolded into rows, one relpsp_linear call over all rows."""
    batch, _, height, width = t_in.shape
    out_ch, _, kh, kw = weight.shape
    (sh, sw), (ph, pw) = stride, padding
    padded = F.pad(t_in, (pw, pw, ph, ph), value=float("inf"))
    h_out, w_out = (height + 2 * ph - kh) // sh + 1, (width + 2 * pw - kw) // sw + 1
    rows = F.unfold(padded, (kh, kw), stride=stride).transpose(1, 2).reshape(-1, weight[0].numel())
    t_out = relpsp_linear(rows, weight.reshape(out_ch, -1), bias, theta, backend=backend, **options)
    return t_out.reshape(batch, h_out, w_out, out_ch).permute(0, 3, 1, 2)


def make_problem(seed, shape, out_ch, kernel, grid, p_silent, bias, dtype):
    """A map [B, C, H, W] (times on a grid of ``grid``: ties; inf with probability p_silent),
    mixed-sign weights [O, C, kh, kw], a bias or None, per-channel thresholds."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0.0, 2.0, shape)
    if grid:
        t = np.round(t / grid) * grid
    t[rng.random(shape) < p_silent] = np.inf
    fan_in = shape[1] * kernel[0] * kernel[1]
    w = rng.normal(1.0 / fan_in**0.5, 1.0, (out_ch, shape[1], *kernel)) * 2.0 / fan_in**0.5
    b = rng.normal(0.0, 0.5, out_ch) if bias else None
    theta = rng.uniform(0.2, 1.5, out_ch)
    as_t = lambda a: None if a is None else torch.tensor(a, dtype=dtype)  # noqa: E731
    return as_t(t), as_t(w), as_t(b), as_t(theta)


@st.composite
def problems(draw):
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    h = draw(st.integers(max(1, kernel[0] - 2 * padding[0]), 7))
    w = draw(st.integers(max(1, kernel[1] - 2 * padding[1]), 7))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)), h, w)
    args = (
        draw(st.integers(0, 2**31 - 1)),
        shape,
        draw(st.integers(1, 5)),
        kernel,
        draw(st.sampled_from([0.0, 0.25, 1.0])),  # continuous times, or many ties
        draw(st.sampled_from([0.0, 0.3, 0.7, 1.0])),  # silent inputs, up to a silent map
        draw(st.booleans()),
        draw(st.sampled_from([torch.float32, torch.float64])),
    )
    return make_problem(*args), stride, padding


def grads(fn, t_in, weight, bias, theta, grad_seed):
    """Forward, then backward of a random grad_out that also reaches silent outputs."""
    leaves = [x.clone().requires_grad_() for x in (t_in, weight, bias, theta) if x is not None]
    args = leaves[:2] + ([leaves[2]] if bias is not None else [None]) + leaves[-1:]
    out = fn(*args)
    gen = torch.Generator().manual_seed(grad_seed)
    grad_out = torch.randn(out.shape, generator=gen, dtype=out.dtype)
    return out.detach(), torch.autograd.grad(out, leaves, grad_out)


def assert_grads_close(got, expected, dtype):
    rtol = 1e-10 if dtype == torch.float64 else 1e-4
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=rtol, atol=rtol * (1 + float(e.abs().max())))


@PROPERTY
@given(problem=problems(), grad_seed=st.integers(0, 100))
def test_direct_walk_equals_unfolded_rows(problem, grad_seed):
    """Same spike times bit for bit (same walk, same order); gradients equal up to the order in
    which the fields' contributions are summed (the direct walk sums in float64)."""
    (t_in, weight, bias, theta), stride, padding = problem
    out, got = grads(
        lambda t, w, b, th: relpsp_conv2d(t, w, b, th, stride, padding, backend="numba"),
        t_in, weight, bias, theta, grad_seed,
    )  # fmt: skip
    ref, expected = grads(
        lambda t, w, b, th: unfolded(t, w, b, th, stride, padding, "numba"),
        t_in, weight, bias, theta, grad_seed,
    )  # fmt: skip
    assert out.dtype == t_in.dtype and out.is_contiguous()
    assert torch.equal(out, ref)
    assert_grads_close(got, expected, t_in.dtype)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(("stride", "padding"), [((1, 1), (0, 0)), ((2, 1), (1, 2))])
def test_direct_walk_equals_torch_reference_and_brute_force(seed, stride, padding):
    t_in, weight, bias, theta = make_problem(
        seed, (2, 3, 6, 7), 4, (3, 2), 0.25 if seed else 0.0, 0.3, True, torch.float64
    )
    out, got = grads(
        lambda t, w, b, th: relpsp_conv2d(t, w, b, th, stride, padding, backend="numba"),
        t_in, weight, bias, theta, seed,
    )  # fmt: skip
    ref, expected = grads(
        lambda t, w, b, th: relpsp_conv2d(t, w, b, th, stride, padding, backend="torch"),
        t_in, weight, bias, theta, seed,
    )  # fmt: skip
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    assert_grads_close(got, expected, torch.float64)
    # the brute force simulates V(t) of every output neuron on its own receptive field
    (ph, pw), (kh, kw) = padding, weight.shape[2:]
    padded = F.pad(t_in, (pw, pw, ph, ph), value=float("inf"))
    rows = F.unfold(padded, (kh, kw), stride=stride).transpose(1, 2).reshape(-1, 3 * kh * kw)
    times, _, margins, _ = first_crossings(
        rows.numpy(), weight.reshape(4, -1).numpy(), bias.numpy(), theta.numpy()
    )
    got_times = out.permute(0, 2, 3, 1).reshape(-1, 4).numpy()
    sure = margins > 1e-9  # V does not touch theta at an input time (the brute force's grid)
    assert sure.mean() > 0.9 and np.isfinite(times[sure]).any() and np.isinf(times[sure]).any()
    np.testing.assert_allclose(got_times[sure], times[sure], rtol=1e-9, atol=1e-9)


@functools.cache
def well_conditioned(seed: int):
    """A map on which finite differences keep every field's causal set (see MARGIN)."""
    rng = np.random.default_rng(seed)
    for _ in range(3000):
        t_in, weight, bias, theta = make_problem(
            int(rng.integers(2**31)), (2, 2, 4, 4), 3, (3, 3), 0.0, 0.3, True, torch.float64
        )
        t_in[:, :, 1:3, 1:3] = torch.tensor(rng.uniform(0.0, 2.0, (2, 2, 2, 2)))  # some input
        rows = F.unfold(F.pad(t_in, (1, 1, 1, 1), value=float("inf")), (3, 3), stride=2)
        rows = rows.transpose(1, 2).reshape(-1, 18).numpy()
        times, slopes, margins, gaps = first_crossings(
            rows, weight.reshape(3, -1).numpy(), bias.numpy(), theta.numpy()
        )
        fired = np.isfinite(times)
        tail = np.isfinite(rows) @ weight.reshape(3, -1).numpy().T + bias.numpy()
        if (
            np.all(margins > MARGIN)
            and np.all(gaps[fired] > MARGIN)
            and np.all(slopes[fired] > 0.1)
            and np.all(np.abs(tail) > MARGIN)
            and 0.3 < fired.mean() < 1.0
        ):
            return t_in, weight, bias, theta
    raise RuntimeError("no well-conditioned problem found")


@pytest.mark.parametrize("seed", range(2))
def test_gradcheck_float64(seed):
    t_in, weight, bias, theta = (x.requires_grad_() for x in well_conditioned(seed))

    def layer(t, w, b, th):
        out = relpsp_conv2d(t, w, b, th, stride=2, padding=1, backend="numba")
        return torch.where(torch.isfinite(out), out, 0.0)

    assert torch.autograd.gradcheck(layer, (t_in, weight, bias, theta), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize(("threads", "mode"), [(1, "auto"), (3, "auto"), (2, "numba")])
def test_chunks_of_threads_give_the_same_result(threads, mode, monkeypatch):
    """Chunks of samples on torch's team ("auto") or numba's own pool (the fallback)."""
    if mode == "numba" and numba_cpu.numba.get_num_threads() < 2:
        pytest.skip("numba's pool has one thread here: it would run one chunk, not two")
    monkeypatch.setattr(numba_cpu, "PARALLEL", mode)
    t_in, weight, bias, theta = make_problem(
        7, (5, 2, 6, 6), 4, (3, 3), 0.25, 0.3, True, torch.float64
    )
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        assert numba_cpu.num_chunks(5) == threads
        out, got = grads(
            lambda t, w, b, th: relpsp_conv2d(t, w, b, th, 1, 1, backend="numba"),
            t_in, weight, bias, theta, 0,
        )  # fmt: skip
    finally:
        torch.set_num_threads(before)
    ref, expected = grads(
        lambda t, w, b, th: unfolded(t, w, b, th, (1, 1), (1, 1), "numba"),
        t_in, weight, bias, theta, 0,
    )  # fmt: skip
    assert torch.equal(out, ref)
    assert_grads_close(got, expected, torch.float64)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_horizon_and_max_inv_slope_as_for_rows(dtype):
    t_in, weight, bias, theta = make_problem(3, (3, 2, 6, 5), 4, (2, 3), 0.0, 0.2, True, dtype)
    options = {"horizon": 1.2, "max_inv_slope": 2.0}
    out, got = grads(
        lambda t, w, b, th: relpsp_conv2d(t, w, b, th, 1, 0, backend="numba", **options),
        t_in, weight, bias, theta, 1,
    )  # fmt: skip
    ref, expected = grads(
        lambda t, w, b, th: unfolded(t, w, b, th, (1, 1), (0, 0), "numba", **options),
        t_in, weight, bias, theta, 1,
    )  # fmt: skip
    assert torch.isinf(out).any() and not (out[torch.isfinite(out)] > 1.2).any()
    assert torch.equal(out, ref)
    assert_grads_close(got, expected, dtype)


def test_only_the_gradients_asked_for():
    t_in, weight, bias, theta = make_problem(
        4, (2, 2, 5, 5), 3, (3, 3), 0.0, 0.3, True, torch.float64
    )
    weight.requires_grad_()
    out = relpsp_conv2d(t_in, weight, bias, theta, backend="numba")
    grad_out = torch.where(torch.isfinite(out), 1.0, 0.0)
    (grad_w,) = torch.autograd.grad(out, weight, grad_out)
    rows = unfolded(t_in, weight, bias, theta, (1, 1), (0, 0), "numba")
    (expected,) = torch.autograd.grad(rows, weight, grad_out)
    torch.testing.assert_close(grad_w, expected, rtol=1e-10, atol=1e-12)


def test_scalar_threshold_tensor_and_strided_input():
    """A 0-d threshold that requires grad (its gradient sums over every output) and a map that
    is a permuted view (not contiguous)."""
    t_in, weight, bias, _ = make_problem(5, (2, 3, 6, 6), 4, (3, 3), 0.0, 0.2, False, torch.float64)
    strided = t_in.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)
    assert not strided.is_contiguous()
    theta = torch.tensor(0.6, dtype=torch.float64)
    out, got = grads(
        lambda t, w, b, th: relpsp_conv2d(t, w, b, th, 2, 1, backend="numba"),
        strided, weight, bias, theta, 2,
    )  # fmt: skip
    ref, expected = grads(
        lambda t, w, b, th: unfolded(t, w, b, th, (2, 2), (1, 1), "numba"),
        t_in, weight, bias, theta, 2,
    )  # fmt: skip
    assert torch.equal(out, ref) and got[-1].shape == ()
    assert_grads_close(got, expected, torch.float64)


@settings(max_examples=25, deadline=None)
@given(problem=problems(), grad_seed=st.integers(0, 100))
def test_weight_gradients_without_the_input_gradient(problem, grad_seed):
    """A map that needs no gradient (a first layer's input) takes the backward's dW-only walk;
    it gives what the rows give."""
    (t_in, weight, bias, theta), stride, padding = problem
    results = []
    for fn in (
        lambda w, b: relpsp_conv2d(t_in, w, b, theta, stride, padding, backend="numba"),
        lambda w, b: unfolded(t_in, w, b, theta, stride, padding, "numba"),
    ):
        w = weight.clone().requires_grad_()
        b = None if bias is None else bias.clone().requires_grad_()
        out = fn(w, b)
        gen = torch.Generator().manual_seed(grad_seed)
        grad_out = torch.randn(out.shape, generator=gen, dtype=out.dtype)
        results.append(torch.autograd.grad(out, [x for x in (w, b) if x is not None], grad_out))
    assert_grads_close(*results, t_in.dtype)


@pytest.mark.parametrize("backward", [False, True])
def test_output_and_walk_state_are_freed_without_the_cyclic_gc(backward):
    """The walk state kept for the backward (~10 MB per 32C5 call at batch 64) goes with the
    graph: no reference cycle through the output (output -> grad_fn -> ctx -> output) that
    only Python's cyclic GC would free (held as ctx.fwd.t_out, the output stayed alive here)."""
    import gc
    import weakref

    t_in, weight, bias, theta = make_problem(
        6, (2, 2, 6, 6), 3, (3, 3), 0.0, 0.2, True, torch.float64
    )
    weight.requires_grad_()
    enabled = gc.isenabled()
    gc.disable()
    try:
        out = relpsp_conv2d(t_in, weight, bias, theta, backend="numba")
        alive = weakref.ref(out)
        if backward:
            torch.where(torch.isfinite(out), out, 0.0).sum().backward()
        del out
        assert alive() is None
    finally:
        if enabled:
            gc.enable()
