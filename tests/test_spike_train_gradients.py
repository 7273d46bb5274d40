"""The gradient a loss sends through the binary spike train of every clock-driven face equals the
gradient of the same loss on the hat-smoothed train built from the exact spike times (float64).

Reference: a spike at t* = (k + f) dt puts 1 - f on step k and f on step k + 1 (nothing past the
window), so dL/dt* = (dL/ds_{k+1} - dL/ds_k) / dt with dL/ds_T = 0 (stdbp_plugin.functional.clock).
Losses weight the steps non-uniformly; inputs are built so that neurons fire in the first step and
in the last step of the window, and some stay silent.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stdbp_plugin.functional import clock
from stdbp_plugin.functional.clock import DenseSpikeTrainLossWarning, relpsp_clock_sequence

T, B, N_IN, N_OUT = 12, 16, 20, 8
pytestmark = pytest.mark.filterwarnings(
    "ignore::stdbp_plugin.functional.clock.DenseSpikeTrainLossWarning"
)


def _currents_net(seed: int):
    """A Linear layer and latency-like input trains: step-0 inputs make some neurons fire at once."""
    g = torch.Generator().manual_seed(seed)
    fc = nn.Linear(N_IN, N_OUT, bias=False).double()
    with torch.no_grad():
        fc.weight.copy_(torch.randn(N_OUT, N_IN, generator=g, dtype=torch.float64) * 0.25 + 0.06)
        fc.weight[0] = 2.0  # fires in step 0 on any input at t = 0
        fc.weight[1] = -1.0  # never fires
    k_in = torch.randint(0, T, (B, N_IN), generator=g)
    k_in[:, 0] = 0  # every sample has an input spike at t = 0
    x = torch.zeros(T, B, N_IN, dtype=torch.float64)
    x.scatter_(0, k_in.unsqueeze(0), 1.0)
    x[:, torch.rand(B, N_IN, generator=g) < 0.2] = 0.0
    x[0, :, 0] = 1.0
    weights = torch.randn(T, B, N_OUT, generator=g, dtype=torch.float64)  # loss weights per step
    return fc, x, weights


def _hat_train(t_spike: torch.Tensor, k_spike: torch.Tensor, dt: float) -> torch.Tensor:
    """Differentiable [T, ...] train: 1 - f on step k, f on step k + 1 (dropped past the window)."""
    fired = k_spike >= 0
    k = torch.where(fired, k_spike, torch.full_like(k_spike, T + 1))
    f = torch.where(fired, t_spike / dt - k.to(t_spike.dtype), torch.zeros_like(t_spike))
    steps = torch.arange(T).view(-1, *([1] * k.ndim))
    return (steps == k).to(f.dtype) * (1 - f) + (steps == k + 1).to(f.dtype) * f


def _check(fc, spikes, t_spike, k_spike, weights, dt):
    assert (k_spike == 0).any(), "the case must have spikes in the first step"
    assert (k_spike == T - 1).any(), "the case must have spikes in the last step"
    assert (k_spike < 0).any(), "the case must have silent neurons"
    loss = (spikes * weights).sum()
    g_train = torch.autograd.grad(loss, fc.weight, retain_graph=True)[0]
    ref = (_hat_train(t_spike, k_spike, dt) * weights).sum()
    g_ref = torch.autograd.grad(ref, fc.weight)[0]
    torch.testing.assert_close(g_train, g_ref, rtol=1e-9, atol=1e-9)


def _case_with_last_step_spikes():
    """A seed whose trains have spikes in the first and the last step and silent neurons."""
    for seed in range(200):
        fc, x, w = _currents_net(seed)
        k = relpsp_clock_sequence(fc(x).detach(), None, 1.0, 1.0)[2].k_spike
        if (k == T - 1).any() and (k == 0).any() and (k < 0).any():
            return fc, x, w
    raise AssertionError("no case with last-step spikes found")


@pytest.fixture
def case():
    return _case_with_last_step_spikes()


def test_functional_sequence(case):
    fc, x, w = case
    spikes, _, state = relpsp_clock_sequence(fc(x), None, 1.0, 1.0)
    _check(fc, spikes, state.t_spike, state.k_spike, w, 1.0)


@pytest.mark.parametrize("init_hidden", [True, False])
def test_snntorch_stepped(case, init_hidden):
    pytest.importorskip("snntorch")
    from stdbp_plugin.snntorch import ReLPSP

    fc, x, w = case
    neuron = ReLPSP(init_hidden=init_hidden, silent_grad=0.0).double()  # plain STDBP
    mem = None if init_hidden else neuron.init_leaky()
    rec = []
    for k in range(T):
        if init_hidden:
            rec.append(neuron(fc(x[k])))
        else:
            spk, mem = neuron(fc(x[k]), mem)
            rec.append(spk)
    t = neuron.spike_time
    k_spike = torch.where(torch.isfinite(t), neuron._clock.k_spike, -1)
    _check(fc, torch.stack(rec), torch.where(torch.isfinite(t), t, 0.0), k_spike, w, 1.0)


def test_snntorch_converted_leaky_output(case):
    snn = pytest.importorskip("snntorch")
    import stdbp_plugin as stdbp

    fc, x, w = case
    net = nn.Sequential(fc, snn.Leaky(beta=0.9, init_hidden=True, output=True)).double()
    conv = stdbp.convert(net, mode="clock", silent_grad=0.0)  # plain STDBP
    rec = [conv(x[k])[0] for k in range(T)]
    neuron = conv[1]
    t = neuron.spike_time
    k_spike = torch.where(torch.isfinite(t), neuron._clock.k_spike, -1)
    _check(conv[0], torch.stack(rec), torch.where(torch.isfinite(t), t, 0.0), k_spike, w, 1.0)


@pytest.mark.parametrize("face", ["snntorch", "norse cell", "norse sequence"])
def test_the_neurons_default_revival_leaves_every_firing_neuron_exact(case, face):
    """The drop-ins revive neurons silent through the whole window by default; the gradient on
    the currents of every (sample, neuron) that fires equals plain STDBP's, to the bit."""
    fc, x, w = case
    c = fc(x).detach()

    def current_grads(**kwargs):
        currents = c.clone().requires_grad_()
        if face == "snntorch":
            pytest.importorskip("snntorch")
            from stdbp_plugin.snntorch import ReLPSP

            neuron = ReLPSP(init_hidden=True, **kwargs)
            spikes = torch.stack([neuron(currents[k]) for k in range(T)])
            k_spike = neuron._clock.k_spike
        else:
            pytest.importorskip("norse")
            from stdbp_plugin.norse import ReLPSP, ReLPSPCell

            if face == "norse cell":
                cell, state, rec = ReLPSPCell(dt=1.0, **kwargs), None, []
                for k in range(T):
                    z, state = cell(currents[k], state)
                    rec.append(z)
                spikes = torch.stack(rec)
            else:
                spikes, state = ReLPSP(dt=1.0, **kwargs)(currents)
            k_spike = state.k_spike
        return torch.autograd.grad((spikes * w).sum(), currents)[0], k_spike

    default, k_spike = current_grads()
    exact, _ = current_grads(silent_grad=0.0)
    fired = k_spike >= 0
    torch.testing.assert_close(default[:, fired], exact[:, fired], rtol=0, atol=0)
    assert (exact[:, ~fired] == 0).all() and (default[:, ~fired] != 0).any()


def test_convert_default_revival_leaves_every_firing_output_exact(case):
    """convert's default revives outputs silent through the whole window; the gradient on the
    currents of every (sample, neuron) that fires is the exact one."""
    snn = pytest.importorskip("snntorch")
    import stdbp_plugin as stdbp

    fc, x, w = case

    def current_grads(silent_grad):
        net = nn.Sequential(fc, snn.Leaky(beta=0.9, init_hidden=True, output=True)).double()
        kwargs = {} if silent_grad is None else {"silent_grad": silent_grad}
        conv = stdbp.convert(net, mode="clock", **kwargs)
        currents = []
        conv[0].register_forward_hook(lambda m, i, out: currents.append(out))
        rec = torch.stack([conv(x[k])[0] for k in range(T)])
        grads = torch.autograd.grad((rec * w).sum(), currents)
        return torch.stack(grads), conv[1]._clock.k_spike

    default, k_spike = current_grads(None)
    exact, _ = current_grads(0.0)
    fired = k_spike >= 0
    torch.testing.assert_close(default[:, fired], exact[:, fired], rtol=0, atol=0)
    assert (exact[:, ~fired] == 0).all() and (default[:, ~fired] != 0).any()


@pytest.mark.parametrize("face", ["cell", "sequence"])
def test_norse_faces(case, face):
    pytest.importorskip("norse")
    from stdbp_plugin.norse import ReLPSP, ReLPSPCell

    fc, x, w = case
    dt = 1e-3  # gain 1/dt: the same dynamics in seconds
    if face == "cell":
        cell, state, rec = ReLPSPCell(dt=dt, silent_grad=0.0), None, []
        for k in range(T):
            z, state = cell(fc(x[k]), state)
            rec.append(z)
        spikes = torch.stack(rec)
    else:
        spikes, state = ReLPSP(dt=dt, silent_grad=0.0)(fc(x))
    k_spike = state.k_spike
    t = torch.where(k_spike >= 0, state.t_spike, torch.zeros_like(state.t_spike))
    _check(fc, spikes, t, k_spike, w, dt)


def test_snntorch_ce_temporal_loss_gets_the_exact_spike_time_gradient(case):
    """A first-spike readout: equal to the loss written on t* / dt, last-step spikes included."""
    pytest.importorskip("snntorch")
    from snntorch import functional as SF

    fc, x, _ = case
    target = torch.randint(0, N_OUT, (B,), generator=torch.Generator().manual_seed(1))
    spikes, _, state = relpsp_clock_sequence(fc(x), None, 1.0, 1.0)
    loss = SF.ce_temporal_loss()(spikes, target)
    g_train = torch.autograd.grad(loss, fc.weight)[0]
    # the same loss on t* / dt, valued at the step index k (so that the softmax is taken at the
    # same point); silent neurons count as T - 1 (snnTorch's convention)
    spikes, _, state = relpsp_clock_sequence(fc(x), None, 1.0, 1.0)
    fired = state.k_spike >= 0
    t = state.t_spike
    index = torch.where(fired, state.k_spike + (t - t.detach()), torch.full_like(t, T - 1.0))
    ref = nn.functional.cross_entropy(-index, target)
    g_ref = torch.autograd.grad(ref, fc.weight)[0]
    torch.testing.assert_close(g_train, g_ref, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("stepped", [True, False])
def test_revival_pushes_only_neurons_silent_in_the_whole_window(stepped):
    """silent_grad > 0 leaves the exact gradient of every neuron that fires (even late) alone."""
    from stdbp_plugin.functional.clock import relpsp_clock_step

    torch.manual_seed(0)
    scale = torch.rand(1, B, N_OUT, dtype=torch.float64) * 0.08
    c = (torch.rand(T, B, N_OUT, dtype=torch.float64) * scale).requires_grad_()
    w = -torch.rand(T, B, N_OUT, dtype=torch.float64)  # "fire earlier" at every step

    def grads(silent_grad):
        if stepped:
            state, rec = None, []
            for k in range(T):
                s, _, state = relpsp_clock_step(c[k], state, 1.0, 1.0, silent_grad)
                rec.append(s)
            spikes = torch.stack(rec)
        else:
            spikes, _, state = relpsp_clock_sequence(c, None, 1.0, 1.0, silent_grad)
        return torch.autograd.grad((spikes * w).sum(), c)[0], state.k_spike

    exact, k_spike = grads(0.0)
    revived, _ = grads(1.0)
    fired = k_spike >= 0
    assert (fired & (k_spike > 2)).any() and (~fired).any()
    torch.testing.assert_close(revived[:, fired], exact[:, fired], rtol=0, atol=0)
    assert (exact[:, ~fired] == 0).all() and (revived[:, ~fired] < 0).any()


def test_a_count_loss_meeting_a_relpsp_output_warns_once_with_the_line_to_change(monkeypatch):
    """mse_count_loss warns; ce_temporal_loss and a hidden layer read by ReL-PSP neurons do not."""
    pytest.importorskip("snntorch")
    import warnings

    from snntorch import functional as SF

    fc, x, _ = _case_with_last_step_spikes()
    target = torch.zeros(B, dtype=torch.long)
    hidden_read = nn.Linear(N_OUT, 3).double()
    with torch.no_grad():
        hidden_read.weight.uniform_(0.1, 0.5)

    def two_layers(spikes, target):
        out, _, state = relpsp_clock_sequence(hidden_read(spikes), None, 1.0, 1.0)
        return (torch.where(state.k_spike >= 0, state.t_spike, 0.0) * torch.rand(B, 3)).sum()

    cases = ((SF.ce_temporal_loss(), False), (two_layers, False), (SF.mse_count_loss(), True))
    for loss_fn, dense in cases:
        monkeypatch.setattr(clock, "_count_checks_left", 20)
        spikes, _, _ = relpsp_clock_sequence(fc(x), None, 1.0, 1.0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            loss_fn(spikes, target).backward()
        found = [w for w in caught if issubclass(w.category, DenseSpikeTrainLossWarning)]
        assert len(found) == int(dense)
        if dense:
            assert "import stdbp_plugin.snntorch.functional as SF" in str(found[0].message)


def test_fused_step_equals_the_autograd_sequence_for_spikes_potentials_times_and_threshold(
    monkeypatch,
):
    """ClockStep's hand-written backward against relpsp_clock_sequence's torch code (autograd
    through cumsum and the closed form): gradients of currents and of a per-neuron threshold."""
    from stdbp_plugin.functional.clock import relpsp_clock_step

    fc, x, w = _case_with_last_step_spikes()
    c = fc(x).detach().requires_grad_()
    u = torch.randn(T, B, N_OUT, dtype=torch.float64)
    z = torch.randn(B, N_OUT, dtype=torch.float64)

    def grads(stepped: bool):
        theta = torch.linspace(0.8, 1.2, N_OUT, dtype=torch.float64).requires_grad_()
        if stepped:
            state, spikes, mems = None, [], []
            for k in range(T):
                s, v, state = relpsp_clock_step(c[k], state, theta, 1.0)
                spikes.append(s)
                mems.append(v)
            spikes, mems = torch.stack(spikes), torch.stack(mems)
        else:
            spikes, mems, state = relpsp_clock_sequence(c, None, theta, 1.0)
        t = torch.where(state.k_spike >= 0, state.t_spike, torch.zeros_like(state.t_spike))
        loss = (spikes * w).sum() + (mems * u).sum() + (t * z).sum()
        return torch.autograd.grad(loss, (c, theta))

    stepped = grads(True)
    monkeypatch.setattr(clock, "_FUSED", None)  # the sequence's torch code: the specification
    for stepped_grad, sequence_grad in zip(stepped, grads(False), strict=True):
        torch.testing.assert_close(stepped_grad, sequence_grad, rtol=1e-9, atol=1e-9)


def test_a_count_loss_on_a_stepped_face_in_seconds_warns(monkeypatch):
    """The stepped face (Norse cell, dt = 1 ms) detects a count loss through its rounding."""
    pytest.importorskip("norse")
    pytest.importorskip("snntorch")
    import warnings

    from snntorch import functional as SF

    from stdbp_plugin.norse import ReLPSPCell

    fc, x, _ = _case_with_last_step_spikes()
    monkeypatch.setattr(clock, "_count_checks_left", 20)
    cell, state, rec = ReLPSPCell(dt=1e-3), None, []
    for k in range(T):
        z, state = cell(fc(x[k]), state)
        rec.append(z)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        SF.mse_count_loss()(torch.stack(rec), torch.zeros(B, dtype=torch.long)).backward()
    assert any(issubclass(w.category, DenseSpikeTrainLossWarning) for w in caught)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("silent_grad", [0.0, 1.0])
@pytest.mark.parametrize("face", ["step", "sequence in two chunks"])
def test_fused_cpu_loops_equal_the_torch_specification(monkeypatch, dtype, silent_grad, face):
    """stdbp_plugin.kernels.clock_numba against the torch code of ClockStep and
    relpsp_clock_sequence: outputs and gradients of currents and of a learnable per-neuron
    threshold, for losses on spikes, V and t*."""
    from stdbp_plugin.functional.clock import relpsp_clock_step

    fc, x, w = _case_with_last_step_spikes()
    base = fc(x).detach().to(dtype)
    u = torch.randn(T, B, N_OUT, dtype=dtype)

    def run():
        c = base.clone().requires_grad_()
        theta = torch.linspace(0.8, 1.2, N_OUT, dtype=dtype).requires_grad_()
        state, spikes, mems = None, [], []
        if face == "step":
            for k in range(T):
                s, v, state = relpsp_clock_step(c[k], state, theta, 0.5, silent_grad)
                spikes.append(s[None])
                mems.append(v[None])
        else:
            for chunk in (c[:5], c[5:]):
                s, v, state = relpsp_clock_sequence(chunk, state, theta, 0.5, silent_grad)
                spikes.append(s)
                mems.append(v)
        spikes, mems = torch.cat(spikes), torch.cat(mems)
        t = torch.where(state.k_spike >= 0, state.t_spike, torch.zeros_like(state.t_spike))
        loss = (spikes * w.to(dtype)).sum() + (mems * u).sum() + t.sum()
        return (spikes, mems, state.t_spike, state.k_spike, *torch.autograd.grad(loss, (c, theta)))

    fused = run()
    monkeypatch.setattr(clock, "_FUSED", None)
    reference = run()
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 1e-10, "atol": 1e-10}
    for got, want in zip(fused, reference, strict=True):
        torch.testing.assert_close(got, want, **tol)


def test_fused_loops_split_over_torch_threads_equal_the_specification(monkeypatch):
    """The step's loops in chunks on torch's thread team give the torch code's results."""
    from stdbp_plugin.functional.clock import relpsp_clock_step
    from stdbp_plugin.kernels import clock_numba

    fc, x, w = _case_with_last_step_spikes()
    base = fc(x).detach()
    threads = torch.get_num_threads()

    def run():
        c = base.clone().requires_grad_()
        theta = torch.linspace(0.8, 1.2, N_OUT, dtype=base.dtype).requires_grad_()
        state, spikes = None, []
        for k in range(T):
            s, _, state = relpsp_clock_step(c[k], state, theta, 1.0, 1.0)
            spikes.append(s)
        loss = (torch.stack(spikes) * w).sum() + state.s.sum()
        return (torch.stack(spikes), state.t_spike, *torch.autograd.grad(loss, (c, theta)))

    monkeypatch.setattr(clock_numba, "PARALLEL_MIN", 1)
    torch.set_num_threads(2)
    try:
        chunked = run()
    finally:
        torch.set_num_threads(threads)
    monkeypatch.setattr(clock, "_FUSED", None)
    for got, want in zip(chunked, run(), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
