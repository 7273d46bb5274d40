"""Clock-driven ReL-PSP (docs/design.md, section 2) against the event-driven closed form."""

import pytest
import torch

from stdbp_plugin.functional import relpsp_linear, temporal_cross_entropy, times_to_spikes
from stdbp_plugin.functional.clock import relpsp_clock_sequence

snn_functional = pytest.importorskip("snntorch.functional")

INF = float("inf")
H = 4.0  # simulated time window


def _net(seed=1, b=16, n_in=30, n_hid=20, n_out=6, positive=False):
    g = torch.Generator().manual_seed(seed)
    t_in = torch.rand(b, n_in, dtype=torch.float64, generator=g)
    t_in[torch.rand(b, n_in, generator=g) < 0.2] = INF
    w1 = (torch.randn(n_hid, n_in, dtype=torch.float64, generator=g) * 0.5 + 0.25) / n_in**0.5 * 2
    w2 = (torch.randn(n_out, n_hid, dtype=torch.float64, generator=g) * 0.5 + 0.25) / n_hid**0.5 * 2
    if positive:
        w1, w2 = w1.abs(), w2.abs()
    return t_in, w1, w2, torch.randn(b, n_out, dtype=torch.float64, generator=g)


def _times(state):
    return torch.where(state.k_spike >= 0, state.t_spike, torch.full_like(state.t_spike, INF))


def _event(t_in, w1, w2):
    w1, w2 = w1.clone().requires_grad_(), w2.clone().requires_grad_()
    t_h = relpsp_linear(t_in, w1, None, 1.0, backend="torch")
    return t_h, relpsp_linear(t_h, w2, None, 1.0, backend="torch"), w1, w2


def _clock(t_in, w1, w2, steps):
    dt = H / steps
    w1, w2 = w1.clone().requires_grad_(), w2.clone().requires_grad_()
    s_in = times_to_spikes(t_in, steps, dt)
    s_h, _, st_h = relpsp_clock_sequence(s_in @ w1.T, None, 1.0, dt)
    _, _, st_o = relpsp_clock_sequence(s_h @ w2.T, None, 1.0, dt)
    return _times(st_h), _times(st_o), w1, w2, dt


def test_one_layer_on_grid_inputs_is_exact():
    """Inputs on the step grid: the clock neuron IS the closed form (times and STDBP gradients)."""
    t_in, w1, _, _ = _net()
    steps, dt = 64, H / 64
    t_grid = torch.floor(t_in / dt) * dt
    w_e = w1.clone().requires_grad_()
    t_e = relpsp_linear(t_grid, w_e, None, 1.0, backend="torch")
    w_c = w1.clone().requires_grad_()
    _, _, state = relpsp_clock_sequence(times_to_spikes(t_in, steps, dt) @ w_c.T, None, 1.0, dt)
    t_c = _times(state)
    within = torch.isfinite(t_e) & (t_e < H)
    assert within.float().mean() > 0.8
    assert torch.equal(torch.isfinite(t_c), within)
    torch.testing.assert_close(t_c[within], t_e[within], rtol=1e-10, atol=1e-10)
    r = torch.randn_like(t_e)
    (torch.where(within, t_e, 0.0) * r).sum().backward()
    (torch.where(within, t_c, 0.0) * r).sum().backward()
    torch.testing.assert_close(w_c.grad, w_e.grad, rtol=1e-9, atol=1e-10)


def test_spike_times_agree_within_dt():
    """Non-negative weights: quantising input times (earlier by < dt) moves a spike by < dt per
    layer, so hidden spikes agree within dt and output spikes within 2 dt."""
    t_in, w1, w2, _ = _net(positive=True)
    for steps in (50, 400):
        t_h_e, t_o_e, *_ = _event(t_in, w1, w2)
        t_h_c, t_o_c, *_, dt = _clock(t_in, w1, w2, steps)
        for t_c, t_e, bound in ((t_h_c, t_h_e, dt), (t_o_c, t_o_e, 2 * dt)):
            ok = torch.isfinite(t_e) & (t_e < H - 2 * dt)
            assert ok.float().mean() > 0.8
            assert torch.isfinite(t_c[ok]).all()
            assert (t_c[ok] - t_e[ok]).abs().max() <= bound


def test_mixed_sign_spike_times_close_to_event():
    t_in, w1, w2, _ = _net()
    t_h_e, t_o_e, *_ = _event(t_in, w1, w2)
    t_h_c, t_o_c, *_, dt = _clock(t_in, w1, w2, 400)
    both = torch.isfinite(t_o_e) & torch.isfinite(t_o_c)
    assert both.float().mean() > 0.9
    err = (t_o_c - t_o_e)[both].abs()
    assert err.median() < dt and err.max() < 3 * dt


def test_weight_gradients_converge_to_stdbp():
    """Relative error of dL/dW (both layers) falls with dt: < 10% at 200 steps, < 5% at 800."""
    t_in, w1, w2, r = _net()
    errors = {}
    for steps in (25, 200, 800):
        _, t_o_e, w1e, w2e = _event(t_in, w1, w2)
        _, t_o_c, w1c, w2c, _ = _clock(t_in, w1, w2, steps)
        both = torch.isfinite(t_o_e) & torch.isfinite(t_o_c)
        (torch.where(both, t_o_e, 0.0) * r).sum().backward()
        (torch.where(both, t_o_c, 0.0) * r).sum().backward()
        g_e = torch.cat([w1e.grad.flatten(), w2e.grad.flatten()])
        g_c = torch.cat([w1c.grad.flatten(), w2c.grad.flatten()])
        errors[steps] = float((g_c - g_e).norm() / g_e.norm())
    assert errors[25] > errors[200] > errors[800], errors
    assert errors[200] < 0.10 and errors[800] < 0.05, errors


def test_ce_temporal_loss_gradient_is_temporal_cross_entropy_gradient():
    """snnTorch's ce_temporal_loss on the clock neuron's spikes == temporal_cross_entropy on the
    same (step-index) decoding with the exact STDBP gradient of the event-driven layer."""
    from stdbp_plugin.snntorch import ReLPSP

    t_in, w1, _, _ = _net(seed=3, n_hid=6, positive=True)
    target = torch.arange(t_in.shape[0]) % 6
    steps, dt = 40, 0.1
    t_in = torch.floor(t_in / dt) * dt  # on the grid: both models see the same input times
    w_c = w1.clone().requires_grad_()
    neuron = ReLPSP(dt=dt)
    s_in = times_to_spikes(t_in, steps, dt)
    mem = neuron.init_leaky()
    spk_rec = []
    for k in range(steps):
        spk, mem = neuron(s_in[k] @ w_c.T, mem)
        spk_rec.append(spk)
    spk_rec = torch.stack(spk_rec)
    assert (spk_rec.sum(0) == 1).all()  # every output fires inside the window
    snn_functional.ce_temporal_loss()(spk_rec, target).backward()

    w_e = w1.clone().requires_grad_()
    t_e = relpsp_linear(t_in, w_e, None, 1.0, backend="torch")
    index = t_e / dt
    index = index - (index - torch.floor(index)).detach()  # the step index, STDBP gradient
    temporal_cross_entropy(index, target, tau=1.0).backward()
    torch.testing.assert_close(w_c.grad, w_e.grad, rtol=1e-6, atol=1e-9)
