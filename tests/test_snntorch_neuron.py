"""stdbp_plugin.snntorch.ReLPSP: dynamics against the closed form, snnTorch conventions."""

import pytest
import torch

snn = pytest.importorskip("snntorch")
from snntorch import functional as SF  # noqa: E402
from snntorch import spikegen, utils  # noqa: E402

from stdbp_plugin.functional import relpsp_linear  # noqa: E402
from stdbp_plugin.snntorch import ReLPSP, ReLPSPSynaptic  # noqa: E402

INF = float("inf")


def _run(neuron, currents, explicit=True):
    spikes, mems = [], []
    mem = neuron.init_leaky() if explicit else None
    for c in currents:
        if explicit:
            spk, mem = neuron(c, mem)
        else:
            spk, mem = neuron(c)
        spikes.append(spk)
        mems.append(mem)
    return torch.stack(spikes), torch.stack(mems)


def test_constant_current_fires_at_the_hand_computed_time():
    # c = 0.3 per step, dt = 1: V(t) = S t - P; step 2: S = 0.9, P = 0.9, V(3) = 1.8 >= 1
    neuron = ReLPSP()
    spikes, mems = _run(neuron, [torch.full((1, 1), 0.3)] * 5)
    assert spikes[:, 0, 0].tolist() == [0, 0, 1, 0, 0]
    assert neuron.spike_time.item() == pytest.approx(1.9 / 0.9)
    # mem = V at the end of each step, S (k+1) - P, also after the spike (no reset)
    expected = [0.3, 0.6 * 2 - 0.3, 0.9 * 3 - 0.9, 1.2 * 4 - 1.8, 1.5 * 5 - 3.0]
    torch.testing.assert_close(mems[:, 0, 0], torch.tensor(expected))


def test_matches_the_event_driven_layer_on_grid_inputs():
    torch.manual_seed(0)
    steps, dt = 30, 0.1
    t_in = torch.randint(0, steps, (8, 12)).float() * dt
    t_in[torch.rand(8, 12) < 0.2] = INF
    w = torch.randn(5, 12) * 0.4 + 0.3
    k = torch.round(t_in / dt)
    s_in = torch.stack([(k == m).float() for m in range(steps)])
    neuron = ReLPSP(dt=dt)
    spikes, _ = _run(neuron, [s @ w.T for s in s_in])
    t_ref = relpsp_linear(t_in, w, None, 1.0, backend="torch")
    inside = t_ref < steps * dt
    torch.testing.assert_close(neuron.spike_time[inside], t_ref[inside], rtol=1e-5, atol=1e-5)
    assert torch.isinf(neuron.spike_time[~inside]).all()
    first = spikes.argmax(0)
    assert torch.equal(
        first[inside], torch.floor(t_ref[inside] / dt + 1e-5).long().clamp(max=steps - 1)
    )
    assert (spikes.sum(0) <= 1).all()


def test_threshold_gradient_is_one_over_slope():
    neuron = ReLPSP(threshold=1.0, learn_threshold=True)
    assert isinstance(neuron.threshold, torch.nn.Parameter)
    _run(neuron, [torch.full((1, 1), 0.3)] * 5)
    neuron.spike_time.sum().backward()
    assert neuron.threshold.grad.item() == pytest.approx(1 / 0.9)


def test_init_hidden_conventions_and_reset_by_snntorch_utils():
    torch.manual_seed(0)
    lif_out = ReLPSP(init_hidden=True, output=True)
    net = torch.nn.Sequential(
        torch.nn.Linear(4, 3), ReLPSP(init_hidden=True), torch.nn.Linear(3, 2), lif_out
    )
    x = torch.rand(2, 4)
    spk = net[1](net[0](x))
    assert isinstance(spk, torch.Tensor) and spk.shape == (2, 3)
    spk, mem = net(x)
    assert spk.shape == mem.shape == (2, 2)
    assert net[1].step == 2 and lif_out.step == 1
    with pytest.raises(TypeError):
        net[1](x[:, :3], torch.zeros(2, 3))
    utils.reset(net)  # snnTorch's own reset: our neurons are Leaky instances
    assert net[1].step == 0 and lif_out.step == 0
    assert torch.isinf(lif_out.spike_time).all()


def test_explicit_state_continues_only_with_its_own_mem():
    neuron = ReLPSP()
    mem = neuron.reset_mem()
    _, mem = neuron(torch.full((1, 2), 0.3), mem)
    _, mem2 = neuron(torch.full((1, 2), 0.3), mem.clone())  # an equal copy continues
    assert neuron.step == 2
    _, _ = neuron(torch.full((1, 2), 0.3), torch.zeros(1, 2))  # zeros start a new sequence
    assert neuron.step == 1
    with pytest.raises(ValueError, match="mem"):
        neuron(torch.full((1, 2), 0.3), torch.full((1, 2), 5.0))
    neuron(torch.full((3, 2), 0.3), None)  # a new batch shape starts a new sequence
    assert neuron.step == 1


def test_detach_hidden_cuts_the_graph():
    w = torch.tensor([[0.2]], requires_grad=True)
    neuron = ReLPSP(init_hidden=True)
    for _ in range(3):
        neuron(torch.ones(1, 1) @ w.T)
    ReLPSP.detach_hidden()
    assert not neuron.mem.requires_grad
    assert neuron._clock.s.grad_fn is None


def test_bias_is_an_input_spike_at_time_zero():
    neuron = ReLPSP(bias=torch.tensor([0.5]))
    _run(neuron, [torch.zeros(1, 1)] * 4)
    assert neuron.spike_time.item() == pytest.approx(2.0)  # 0.5 t = 1


def test_synaptic_convention():
    neuron = ReLPSPSynaptic()
    syn, mem = neuron.init_synaptic()
    for _ in range(3):
        spk, syn, mem = neuron(torch.full((1, 1), 0.3), syn, mem)
    assert syn.item() == pytest.approx(0.9) and spk.shape == (1, 1)


def test_silent_grad_pushes_only_silent_neurons_to_fire_earlier():
    w = torch.tensor([[0.01], [0.5]], requires_grad=True)
    neuron = ReLPSP(silent_grad=1.0)
    spikes, _ = _run(neuron, [torch.ones(1, 1) @ w.T] * 4)
    assert spikes[:, 0, 0].sum() == 0 and spikes[:, 0, 1].sum() == 1
    (-spikes[-1].sum()).backward()  # "spike at the last step, please"
    assert w.grad[0, 0] < 0  # descent raises the silent neuron's weight
    w.grad = None
    exact = ReLPSP()
    spikes, _ = _run(exact, [torch.ones(1, 1) @ w.T] * 4)
    (-spikes[-1].sum()).backward()
    assert w.grad[0, 0] == 0  # exact STDBP: no gradient for a silent neuron


def test_works_with_spikegen_latency_and_temporal_losses():
    torch.manual_seed(0)
    x = torch.rand(6, 10)
    data = spikegen.latency(
        x, num_steps=20, tau=5, threshold=0.01, clip=True, normalize=True, linear=True
    )
    fc = torch.nn.Linear(10, 3)
    torch.nn.init.normal_(fc.weight, 0.3, 0.1)
    net = torch.nn.Sequential(fc, ReLPSP(init_hidden=True, output=True))
    target = torch.tensor([0, 1, 2, 0, 1, 2])
    for loss_fn in (SF.ce_temporal_loss(), SF.mse_temporal_loss(target_is_time=False)):
        utils.reset(net)
        rec = torch.stack([net(data[k])[0] for k in range(20)])
        loss = loss_fn(rec, target)
        fc.weight.grad = None
        loss.backward()
        assert torch.isfinite(fc.weight.grad).all() and fc.weight.grad.abs().sum() > 0
    assert 0.0 <= SF.accuracy_temporal(rec, target) <= 1.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"threshold": 0.0}, "threshold"),
        ({"threshold": -1.0}, "threshold"),
        ({"dt": 0}, "dt"),
        ({"silent_grad": -1.0}, "silent_grad"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ReLPSP(**kwargs)


def test_integer_input_raises_value_error():
    with pytest.raises(ValueError, match="input_"):
        ReLPSP()(torch.ones(2, 3, dtype=torch.long))
