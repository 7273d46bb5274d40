"""stdbp_plugin.norse: cell vs sequence module, Norse conventions, the silent-safe decoder."""

import pytest
import torch

norse = pytest.importorskip("norse.torch")

from stdbp_plugin.functional import relpsp_linear  # noqa: E402
from stdbp_plugin.norse import (  # noqa: E402
    FirstSpikeTimeDecoder,
    ReLPSP,
    ReLPSPCell,
    ReLPSPParameters,
    ReLPSPState,
    potential,
)

INF = float("inf")


def _currents(steps=40, batch=4, n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    spikes = (torch.rand(steps, batch, 10, generator=g) < 0.1).double()
    w = (torch.randn(n, 10, generator=g, dtype=torch.float64) * 0.5 + 0.2).requires_grad_()
    return spikes, w


@pytest.mark.parametrize("silent_grad, with_bias", [(0.0, False), (1.0, True)])
def test_sequence_equals_stepping_the_cell_outputs_and_gradients(silent_grad, with_bias):
    spikes, w = _currents()
    p = ReLPSPParameters(tau_mem_inv=torch.as_tensor(1000.0), v_th=torch.as_tensor(1.0))
    bias = torch.linspace(-0.2, 0.3, 6, dtype=torch.float64) if with_bias else None
    cell = ReLPSPCell(p, bias=bias, silent_grad=silent_grad)
    seq = ReLPSP(p, bias=bias, silent_grad=silent_grad)
    r = torch.randn(40, 4, 6, dtype=torch.float64)

    state, zs = None, []
    for x in spikes:
        z, state = cell(x @ w.T, state)
        zs.append(z)
    z_cell = torch.stack(zs)
    t_cell = state.t_spike
    ((z_cell * r).sum() + torch.where(state.k_spike >= 0, t_cell, 0.0).sum()).backward()
    g_cell, w.grad = w.grad.clone(), None

    z_seq, state_seq = seq(spikes @ w.T)
    loss = (z_seq * r).sum() + torch.where(state_seq.k_spike >= 0, state_seq.t_spike, 0.0).sum()
    loss.backward()
    assert z_cell.sum() > 5  # something fired
    torch.testing.assert_close(z_seq, z_cell)
    torch.testing.assert_close(state_seq.s, state.s)
    torch.testing.assert_close(state_seq.t_spike, state.t_spike)
    assert torch.equal(state_seq.k_spike, state.k_spike) and int(state_seq.k) == 40
    torch.testing.assert_close(w.grad, g_cell, rtol=1e-10, atol=1e-12)


def test_sequence_in_chunks_equals_one_sequence():
    spikes, w = _currents(seed=1)
    seq = ReLPSP()
    z_all, s_all = seq(spikes @ w.T)
    g_all = torch.autograd.grad(torch.where(s_all.k_spike >= 0, s_all.t_spike, 0.0).sum(), w)[0]
    z1, s1 = seq(spikes[:17] @ w.T)
    z2, s2 = seq(spikes[17:] @ w.T, s1)
    g_chunks = torch.autograd.grad(torch.where(s2.k_spike >= 0, s2.t_spike, 0.0).sum(), w)[0]
    torch.testing.assert_close(torch.cat([z1, z2]), z_all)
    torch.testing.assert_close(g_chunks, g_all)


def test_matches_the_event_driven_layer_in_seconds():
    """Gain g, threshold v_th == event layer with threshold v_th / g, times k dt in seconds."""
    torch.manual_seed(0)
    steps, dt = 30, 1e-3
    k_in = torch.randint(0, steps, (5, 10))
    spikes = torch.stack([(k_in == m).double() for m in range(steps)])
    w = torch.randn(4, 10, dtype=torch.float64) * 0.3 + 0.2
    p = ReLPSPParameters(tau_mem_inv=torch.as_tensor(200.0), v_th=torch.as_tensor(0.5))
    _, state = ReLPSP(p, dt)(spikes @ w.T)
    t_ref = relpsp_linear(k_in.double() * dt, w, None, 0.5 / 200.0, backend="torch")
    inside = t_ref < steps * dt
    assert inside.any()
    torch.testing.assert_close(state.t_spike[inside], t_ref[inside])
    assert (state.k_spike[~inside] < 0).all()
    v = potential(state, p, dt)
    assert v.shape == (5, 4)


def test_sequential_state_threads_the_state_and_works_with_norse_encoders():
    torch.manual_seed(0)
    x = torch.rand(3, 8)
    encoder = norse.SpikeLatencyLIFEncoder(20)
    spikes = encoder(5 * x)
    lin = torch.nn.Linear(8, 4)
    torch.nn.init.normal_(lin.weight, 0.3, 0.1)
    model = norse.SequentialState(norse.Lift(lin), ReLPSP())
    z, states = model(spikes)
    assert z.shape == (20, 3, 4) and isinstance(states[1], ReLPSPState)
    stepped = norse.SequentialState(lin, ReLPSPCell())
    state, zs = None, []
    for x_k in spikes:
        z_k, state = stepped(x_k, state)
        zs.append(z_k)
    torch.testing.assert_close(torch.stack(zs), z)
    assert z.sum() > 0


def test_decoder_backward_works_with_silent_neurons_where_norse_fails():
    spikes = torch.zeros(10, 2, 3)
    spikes[4, 0, 0] = 1
    spikes.requires_grad_()
    t = FirstSpikeTimeDecoder(dt=1e-3)(spikes)
    assert t[0, 0].item() == pytest.approx(4e-3) and torch.isinf(t[1]).all()
    t[torch.isfinite(t)].sum().backward()
    assert spikes.grad[4, 0, 0] == pytest.approx(-1e-3)
    filled = FirstSpikeTimeDecoder(dt=1e-3, silent_time=0.05)(spikes)
    assert filled[1, 2].item() == pytest.approx(0.05)
    # Norse 1.1.0's decoder: backward raises as soon as a neuron is silent
    norse_t = norse.SpikesToTimesDecoder()(spikes)
    with pytest.raises(RuntimeError):
        norse_t[torch.isfinite(norse_t)].sum().backward()


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: ReLPSPCell(dt=0.0), "dt"),
        (lambda: ReLPSP(ReLPSPParameters(v_th=torch.as_tensor(-1.0))), "v_th"),
        (lambda: ReLPSP(ReLPSPParameters(tau_mem_inv=torch.as_tensor(0.0))), "tau_mem_inv"),
        (lambda: ReLPSP(p=(1.0, 2.0)), "ReLPSPParameters"),
        (lambda: ReLPSP()(torch.zeros(3)), "input_tensor"),
        (lambda: ReLPSPCell()(torch.zeros(3), state=(1, 2)), "state"),
    ],
)
def test_bad_arguments_raise_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()
