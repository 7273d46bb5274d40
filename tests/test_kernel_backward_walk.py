"""The numba backward's walk for both gradients (one call per sample, _walk_both) does bit for
bit what one _update_dot call per causal input does (the kernel's arithmetic before the walk
moved into a function of _update_dot's own flags), in float32 and float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stdbp_plugin.kernels import numba_cpu


def per_input_calls(a, t_in, t_out, weight_t, order, n_causal):
    """(dt_in, dW^T [I, O]): the walk driven from Python, one _update_dot call per input."""
    batch, n_in = t_in.shape
    grad_in = np.zeros((batch, n_in), t_in.dtype)
    grad_w_t = np.zeros(weight_t.shape, t_in.dtype)
    for b in range(batch):
        active = (n_causal[b] > 0) & (a[b] != 0)
        act = np.where(active, a[b], 0).astype(t_in.dtype)
        act_t = np.where(active, act * np.where(active, t_out[b], 0), 0).astype(t_in.dtype)
        for k in range(int(n_causal[b][active].max(initial=0))):
            act[n_causal[b] == k] = 0  # these neurons' causal sets end before input k
            act_t[n_causal[b] == k] = 0
            i = order[b, k]
            grad_in[b, i] = numba_cpu._update_dot(act, act_t, t_in[b, i], grad_w_t[i], weight_t[i])
    return grad_in, grad_w_t


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("seed", range(4))
def test_walk_both_equals_one_call_per_input(seed, dtype):
    g = torch.Generator().manual_seed(seed)
    batch, n_in, n_out = 6, 40, 10 + seed  # vector lanes and a remainder
    t = torch.round(2.0 * torch.rand(batch, n_in, generator=g, dtype=torch.float64) * 8) / 8
    t[torch.rand(batch, n_in, generator=g) < 0.3] = float("inf")  # ties and silent inputs
    w = torch.randn(n_out, n_in, generator=g, dtype=torch.float64) + 0.3
    theta = 0.5 + torch.rand(n_out, generator=g, dtype=torch.float64)
    t, w, theta = t.to(dtype), w.to(dtype), theta.to(dtype)
    fwd = numba_cpu.forward(t, w, theta)
    a = torch.randn(batch, n_out, generator=g, dtype=torch.float64).to(dtype)
    a = torch.where((fwd.n_causal > 0) & (torch.rand(batch, n_out, generator=g) < 0.8), a, 0.0)
    assert (fwd.n_causal > 0).sum() > batch and (a == 0).any()
    got_in, got_w = numba_cpu.backward(a, t, fwd.t_out, w, fwd.order, fwd.n_causal, True, True)
    want_in, want_w_t = per_input_calls(
        a.numpy(), t.numpy(), fwd.t_out.numpy(), np.ascontiguousarray(w.numpy().T),
        fwd.order.numpy(), fwd.n_causal.numpy(),
    )  # fmt: skip
    assert np.array_equal(got_in.numpy(), want_in)
    assert np.array_equal(got_w.numpy(), want_w_t.T)
