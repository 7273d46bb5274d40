"""Latency coding, first-spike decoding and the temporal cross-entropy."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from stdbp_plugin.functional import (
    first_spike_predict,
    latency_encode,
    relpsp_linear,
    temporal_cross_entropy,
)

INF = float("inf")


def test_latency_encode_formula_and_x_min():
    x = torch.tensor([[0.0, 0.05, 0.1, 0.5, 1.0]])
    torch.testing.assert_close(
        latency_encode(x, t_max=2.0), torch.tensor([[INF, 1.9, 1.8, 1.0, 0.0]])
    )
    torch.testing.assert_close(
        latency_encode(x, t_max=2.0, x_min=0.1), torch.tensor([[INF, INF, INF, 1.0, 0.0]])
    )
    assert latency_encode(x.double()).dtype == torch.float64


def test_first_spike_predict():
    t = torch.tensor([[0.3, 0.1, INF], [INF, INF, 0.9], [0.2, 0.2, 0.5]])
    assert first_spike_predict(t).tolist() == [1, 2, 0]


def test_first_spike_predict_gives_an_all_silent_sample_no_class():
    """Silent = wrong, as FirstSpikeAccuracy counts it: the prediction matches no label."""
    from stdbp_plugin.metrics import FirstSpikeAccuracy

    t = torch.tensor([[INF, INF, INF], [0.4, INF, 0.2], [INF, INF, INF]])
    y = torch.tensor([0, 2, 1])
    pred = first_spike_predict(t)
    assert pred.tolist() == [-1, 2, -1]
    metric = FirstSpikeAccuracy()
    metric.update(t, y)
    assert (pred == y).float().mean().item() == pytest.approx(metric.compute().item())


def test_cross_entropy_equals_softmax_of_negative_times():
    gen = torch.Generator().manual_seed(0)
    t = torch.rand(8, 5, generator=gen, dtype=torch.float64).requires_grad_()
    y = torch.randint(0, 5, (8,), generator=gen)
    for tau in (0.3, 1.0):
        for reduction in ("mean", "sum", "none"):
            got = temporal_cross_entropy(t, y, tau=tau, reduction=reduction)
            torch.testing.assert_close(got, F.cross_entropy(-t / tau, y, reduction=reduction))
    g = torch.autograd.grad(temporal_cross_entropy(t, y, 0.5), t)[0]
    ref = torch.autograd.grad(F.cross_entropy(-t / 0.5, y), t)[0]
    torch.testing.assert_close(g, ref)


def test_silent_outputs_use_t_silent():
    t = torch.tensor([[0.2, INF, 0.7], [INF, INF, INF]], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 1])
    # default: latest finite time of the batch (0.7) + tau
    default = temporal_cross_entropy(t, y, tau=0.5, reduction="none")
    filled = torch.tensor([[0.2, 1.2, 0.7], [1.2, 1.2, 1.2]], dtype=torch.float64)
    torch.testing.assert_close(default, F.cross_entropy(-filled / 0.5, y, reduction="none"))
    explicit = temporal_cross_entropy(t, y, tau=0.5, t_silent=3.0, reduction="none")
    filled = torch.tensor([[0.2, 3.0, 0.7], [3.0, 3.0, 3.0]], dtype=torch.float64)
    torch.testing.assert_close(explicit, F.cross_entropy(-filled / 0.5, y, reduction="none"))
    explicit.sum().backward()
    assert torch.isfinite(t.grad).all()
    assert torch.all(t.grad[torch.isinf(t)] == 0)  # the fill is a constant


def test_all_silent_batch_default_fill():
    t = torch.full((2, 3), INF)
    loss = temporal_cross_entropy(t, torch.tensor([0, 2]))
    assert loss.item() == pytest.approx(torch.log(torch.tensor(3.0)).item())


def test_keep_target_alive_pushes_weights_of_active_inputs_up(backend):
    t_in = torch.tensor([[0.1, 0.4, INF]], dtype=torch.float64)
    weight = torch.tensor(
        [[0.5, -0.6, 2.0], [2.0, 1.0, 0.0]], dtype=torch.float64, requires_grad=True
    )
    t_out = relpsp_linear(t_in, weight, backend=backend)
    assert torch.isinf(t_out[0, 0]) and torch.isfinite(t_out[0, 1])
    loss = temporal_cross_entropy(t_out, torch.tensor([0]), keep_target_alive=1.0)
    plain = temporal_cross_entropy(t_out.detach(), torch.tensor([0]))
    assert loss.item() == pytest.approx(plain.item() + 1.0)
    loss.backward()
    assert torch.all(weight.grad[0, :2] < 0)  # gradient descent raises active weights
    assert weight.grad[0, 2] == 0  # the silent input is untouched


def test_keep_target_alive_revives_a_silent_target(backend):
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(16, 20, generator=gen)
    t_in = latency_encode(x, x_min=0.05)
    hidden_w = (torch.randn(30, 20, generator=gen) * 0.3 + 0.4).requires_grad_()
    out_w = (torch.randn(3, 30, generator=gen) * 0.05 + 0.1).requires_grad_()
    with torch.no_grad():
        out_w[0] = -0.2  # the target neuron is silent on every sample
    target = torch.zeros(16, dtype=torch.long)

    def forward():
        hidden = relpsp_linear(t_in, hidden_w, backend=backend)
        return relpsp_linear(hidden, out_w, backend=backend)

    assert torch.isinf(forward()[:, 0]).all()
    opt = torch.optim.SGD([hidden_w, out_w], lr=0.05)
    for _ in range(20):
        opt.zero_grad()
        temporal_cross_entropy(forward(), target, keep_target_alive=1.0).backward()
        opt.step()
    assert torch.isfinite(forward()[:, 0]).float().mean() > 0.9
