"""relpsp_conv2d equals a per-receptive-field loop over relpsp_linear; pooling is a window min."""

from __future__ import annotations

import itertools

import pytest
import torch

from stdbp_plugin.functional import earliest_spike_pool2d, relpsp_conv2d, relpsp_linear


def random_time_map(gen, shape, p_silent=0.3):
    t = torch.rand(shape, generator=gen, dtype=torch.float64) * 2
    return t.masked_fill(
        torch.rand(shape, generator=gen, dtype=torch.float64) < p_silent, float("inf")
    )


def conv_by_loop(t_in, weight, bias, theta, stride, padding, backend):
    """Pad with +inf by hand, then one relpsp_linear call per output position."""
    batch, channels, height, width = t_in.shape
    out_ch, _, kh, kw = weight.shape
    padded = torch.full(
        (batch, channels, height + 2 * padding, width + 2 * padding), float("inf"), dtype=t_in.dtype
    )
    padded[:, :, padding : padding + height, padding : padding + width] = t_in
    h_out = (height + 2 * padding - kh) // stride + 1
    w_out = (width + 2 * padding - kw) // stride + 1
    out = torch.empty(batch, out_ch, h_out, w_out, dtype=t_in.dtype)
    for y, x in itertools.product(range(h_out), range(w_out)):
        field = padded[:, :, y * stride : y * stride + kh, x * stride : x * stride + kw]
        out[:, :, y, x] = relpsp_linear(
            field.reshape(batch, -1), weight.reshape(out_ch, -1), bias, theta, backend=backend
        )
    return out


@pytest.mark.parametrize(("stride", "padding"), [(1, 0), (2, 1), (1, 2)])
def test_conv_equals_receptive_field_loop(backend, stride, padding):
    gen = torch.Generator().manual_seed(stride * 10 + padding)
    t_in = random_time_map(gen, (2, 3, 7, 6))
    weight = torch.randn(4, 3, 3, 3, generator=gen, dtype=torch.float64) * 0.5 + 0.2
    bias = torch.randn(4, generator=gen, dtype=torch.float64) * 0.2
    theta = torch.rand(4, generator=gen, dtype=torch.float64) + 0.3
    got = relpsp_conv2d(t_in, weight, bias, theta, stride, padding, backend=backend)
    expected = conv_by_loop(t_in, weight, bias, theta, stride, padding, backend)
    assert got.shape == expected.shape
    assert torch.isfinite(expected).any() and torch.isinf(expected).any()
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_conv_gradients_equal_loop(backend):
    gen = torch.Generator().manual_seed(5)
    t_in = random_time_map(gen, (2, 2, 5, 5)).requires_grad_()
    weight = (
        torch.randn(3, 2, 3, 3, generator=gen, dtype=torch.float64) * 0.5 + 0.3
    ).requires_grad_()
    grads = []
    for fn in (
        lambda t, w: relpsp_conv2d(t, w, None, 1.0, 2, 1, backend=backend),
        lambda t, w: conv_by_loop(t, w, None, 1.0, 2, 1, backend),
    ):
        out = fn(t_in, weight)
        loss = torch.where(torch.isfinite(out), out, torch.zeros_like(out)).square().sum()
        grads.append(torch.autograd.grad(loss, (t_in, weight)))
    for got, expected in zip(*grads, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("kernel", "stride"), [(2, None), (3, 1), (2, 3)])
def test_pool_is_window_min(kernel, stride):
    gen = torch.Generator().manual_seed(kernel)
    t_in = random_time_map(gen, (2, 3, 7, 7), p_silent=0.5)
    got = earliest_spike_pool2d(t_in, kernel, stride)
    step = kernel if stride is None else stride
    h_out = (7 - kernel) // step + 1
    expected = torch.empty(2, 3, h_out, h_out, dtype=torch.float64)
    for y, x in itertools.product(range(h_out), range(h_out)):
        window = t_in[:, :, y * step : y * step + kernel, x * step : x * step + kernel]
        expected[:, :, y, x] = window.amin(dim=(2, 3))
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_pool_gradient_goes_to_winner():
    t_in = torch.tensor(
        [[[[0.5, 0.2, 0.9, 0.8], [0.3, 0.7, float("inf"), 0.4]]]], dtype=torch.float64
    ).requires_grad_()
    out = earliest_spike_pool2d(t_in, 2)
    torch.testing.assert_close(out, torch.tensor([[[[0.2, 0.4]]]], dtype=torch.float64))
    out.backward(torch.tensor([[[[3.0, 5.0]]]], dtype=torch.float64))
    expected = torch.zeros_like(t_in)
    expected[0, 0, 0, 1] = 3.0
    expected[0, 0, 1, 3] = 5.0
    torch.testing.assert_close(t_in.grad, expected)


def test_pool_of_all_silent_window_is_silent():
    t_in = torch.full((1, 1, 2, 2), float("inf"))
    assert torch.isinf(earliest_spike_pool2d(t_in, 2)).all()
