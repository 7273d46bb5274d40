"""earliest_spike_pool2d's CPU kernel (kernels/numba_pool.py) against -max_pool2d(-t): the same
values and the same gradients bit for bit (winner = first strict minimum in row-major order, an
all-silent window's first entry), over shapes, kernels, strides (overlapping windows too), ties
and silent entries; a deliberately broken tie rule is caught."""

from __future__ import annotations

import numba
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from stdbp_plugin.functional import earliest_spike_pool2d
from stdbp_plugin.kernels import numba_pool


def by_max_pool(t_in, kernel, stride, grad):
    """The reference: -max_pool2d(-t) and its gradient for grad_out = grad."""
    leaf = t_in.clone().requires_grad_()
    out = -F.max_pool2d(-leaf, kernel, stride)
    out.backward(grad)
    return out.detach(), leaf.grad


def by_kernel(t_in, kernel, stride, grad):
    leaf = t_in.clone().requires_grad_()
    out = earliest_spike_pool2d(leaf, kernel, stride)
    node = out.grad_fn if out.ndim == 4 else out.grad_fn.next_functions[0][0]  # 3-D: a select
    assert type(node).__name__.startswith("_EarliestSpikePool2d")  # the numba path ran
    out.backward(grad)
    return out.detach(), leaf.grad


@st.composite
def pools(draw):
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    shape = (
        draw(st.integers(1, 2)),
        draw(st.integers(1, 3)),
        draw(st.integers(kernel[0], 7)),
        draw(st.integers(kernel[1], 7)),
    )
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    grid = draw(st.sampled_from([0.0, 0.5, 1.0]))  # continuous times, or many ties
    t = rng.uniform(0.0, 2.0, shape)
    if grid:
        t = np.round(t / grid) * grid
    t[rng.random(shape) < draw(st.sampled_from([0.0, 0.4, 1.0]))] = np.inf
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    as_3d = draw(st.booleans()) and shape[0] == 1
    return torch.tensor(t, dtype=dtype), kernel, draw(st.sampled_from([None, stride])), as_3d


@settings(max_examples=60, deadline=None)
@given(pools())
def test_equals_max_pool_bit_for_bit(case):
    t_in, kernel, stride, as_3d = case
    if as_3d:
        t_in = t_in[0]
    out_shape = -F.max_pool2d(-t_in, kernel, stride)
    grad = torch.randn(out_shape.shape, dtype=t_in.dtype)
    expected = by_max_pool(t_in, kernel, stride, grad)
    got = by_kernel(t_in, kernel, stride, grad)
    for g, e in zip(got, expected, strict=True):
        assert g.shape == e.shape and g.dtype == e.dtype
        assert torch.equal(g, e)


def test_ties_and_silent_windows_route_like_max_pool():
    inf = float("inf")
    t_in = torch.tensor([[[[0.5, 0.5, inf, inf], [0.2, 0.2, inf, inf]]]])
    grad = torch.tensor([[[[3.0, 5.0]]]])
    out, g = by_kernel(t_in, 2, None, grad)
    assert torch.equal(out, torch.tensor([[[[0.2, inf]]]]))
    expected = torch.zeros_like(t_in)
    expected[0, 0, 1, 0] = 3.0  # the first of the tied minima
    expected[0, 0, 0, 2] = 5.0  # an all-silent window: its first entry
    assert torch.equal(g, expected)
    assert torch.equal(g, by_max_pool(t_in, 2, None, grad)[1])


@numba.njit(cache=False)
def _last_of_ties(t_in, geometry, t_out, winner, start, stop):  # deliberately broken: <=
    kh, kw, sh, sw = geometry
    width = t_in.shape[2]
    for q in range(start, stop):
        for oy in range(t_out.shape[1]):
            for ox in range(t_out.shape[2]):
                best, where = np.inf, oy * sh * width + ox * sw
                for dy in range(kh):
                    for dx in range(kw):
                        v = t_in[q, oy * sh + dy, ox * sw + dx]
                        if v <= best:
                            best, where = v, (oy * sh + dy) * width + ox * sw + dx
                t_out[q, oy, ox] = best
                winner[q, oy, ox] = where


def test_broken_tie_rule_is_caught(monkeypatch):
    t_in = torch.tensor([[[[0.5, 0.2], [0.2, 0.9]]]])
    grad = torch.ones(1, 1, 1, 1)
    expected = by_max_pool(t_in, 2, None, grad)
    monkeypatch.setattr(numba_pool, "_forward_planes", _last_of_ties)
    out, g = by_kernel(t_in, 2, None, grad)
    assert torch.equal(out, expected[0])  # the value is still the minimum
    assert not torch.equal(g, expected[1])  # but the gradient goes to the wrong tied entry


def test_two_threads_equal_one():
    gen = torch.Generator().manual_seed(3)
    t_in = torch.rand(4, 3, 9, 9, generator=gen, dtype=torch.float64)
    t_in[torch.rand(t_in.shape, generator=gen) < 0.3] = float("inf")
    grad = torch.randn(4, 3, 3, 3, generator=gen, dtype=torch.float64)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = by_kernel(t_in, 3, 3, grad)
        torch.set_num_threads(2)
        two = by_kernel(t_in, 3, 3, grad)
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(a, b) for a, b in zip(one, two, strict=True))


def test_non_contiguous_input():
    t_in = torch.rand(2, 5, 6, 3, dtype=torch.float64).permute(0, 3, 1, 2)  # [2, 3, 5, 6] view
    grad = torch.randn(2, 3, 2, 3, dtype=torch.float64)
    got, expected = by_kernel(t_in, 2, None, grad), by_max_pool(t_in, 2, None, grad)
    assert all(torch.equal(a, b) for a, b in zip(got, expected, strict=True))


def test_map_smaller_than_kernel_is_refused():
    with pytest.raises(ValueError, match="smaller than kernel_size"):
        earliest_spike_pool2d(torch.rand(1, 1, 2, 5), 3)


def test_second_derivative_is_refused():
    t_in = torch.rand(1, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(earliest_spike_pool2d(t_in, 2).sum(), t_in, create_graph=True)
    with pytest.raises(RuntimeError):
        g.sum().backward()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_maps_keep_torchs_pooling(dtype):
    """numba has no half types: such maps are pooled by -max_pool2d(-t), as before."""
    t_in = torch.rand(2, 3, 6, 6, dtype=torch.float64)
    t_in[t_in < 0.3] = float("inf")
    t_in = t_in.to(dtype).requires_grad_()
    out = earliest_spike_pool2d(t_in, 2)
    assert out.dtype == dtype
    assert torch.equal(out, -F.max_pool2d(-t_in.detach(), 2))
    out.sum().backward()
    assert torch.equal(t_in.grad, by_max_pool(t_in.detach(), 2, None, torch.ones_like(out))[1])
