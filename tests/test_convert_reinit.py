"""stdbp_plugin.reinit: the layers feeding ReL-PSP neurons get a start where most of them fire.

Checked against what the neurons themselves do on the sample after the call (their own spike
trains and Norse's ``state.v``), not against reinit's own bookkeeping.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import stdbp_plugin as stdbp

norse = pytest.importorskip("norse.torch")
snn = pytest.importorskip("snntorch")

T = 20


def _input(batch: int = 64, n: int = 30, seed: int = 0) -> torch.Tensor:
    """[T, B, n] spike trains: each input spikes at a random rate (some never)."""
    g = torch.Generator().manual_seed(seed)
    rate = torch.rand(batch, n, generator=g) * 0.5
    return (torch.rand(T, batch, n, generator=g) < rate).float()


def _norse_net(seed: int = 0) -> nn.Module:
    from stdbp_plugin.norse import ReLPSPCell

    torch.manual_seed(seed)
    return norse.SequentialState(nn.Linear(30, 40), ReLPSPCell(), nn.Linear(40, 5), norse.LICell())


def _run_norse(model: nn.Module, x: torch.Tensor):
    state, outs, states = None, [], []
    for k in range(x.shape[0]):
        out, state = model(x[k], state)
        outs.append(out)
        states.append(state)
    return outs, states


def _snntorch_net(**neuron_kwargs) -> nn.Sequential:
    """snnTorch-style 30-40-8 net of drop-ins (init_hidden), drawn with seed 0."""
    from stdbp_plugin.snntorch import ReLPSP

    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(30, 40),
        ReLPSP(init_hidden=True, **neuron_kwargs),
        nn.Linear(40, 8),
        ReLPSP(init_hidden=True, output=True, **neuron_kwargs),
    )


def _run_snntorch(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The tutorials' loop: reset the hidden states, step T times, stack the output spikes."""
    from snntorch import utils

    utils.reset(net)
    return torch.stack([net(x[k])[0] for k in range(T)])


def test_norse_only_the_layer_feeding_relpsp_changes_and_the_neurons_fire_as_reported():
    model, x = _norse_net(), _input()
    readout_before = {k: v.clone() for k, v in model[2].state_dict().items()}
    report = stdbp.reinit(model, lambda: _run_norse(model, x))
    assert [(r.layer, r.neuron) for r in report.layers] == [("0", "1")]
    for key, value in model[2].state_dict().items():  # Linear -> LICell: untouched
        assert torch.equal(value, readout_before[key])
    assert torch.all(model[0].bias == 0)
    assert model[1].silent_grad == 0.0 and report.silent_grad == {"1": 0.0}  # hidden: LICell after
    theta = report.layers[0].threshold_per_step
    assert float(model[1].p.v_th) == pytest.approx(theta)  # gain 1/dt: v_th per step
    # the cell's own end-of-window potential, in thresholds: about N(2, 2^2) over the sample
    _, states = _run_norse(model, x)
    hidden_state = states[-1][1]
    v_end = hidden_state.v.detach().double() / theta
    assert float(v_end.mean()) == pytest.approx(2.0, abs=0.05)
    assert float(v_end.std()) == pytest.approx(2.0, abs=0.2)
    fired = (hidden_state.k_spike >= 0).double().mean()
    assert float(fired) == pytest.approx(report.layers[0].fire_fraction, abs=1e-9)
    assert 0.6 < float(fired) < 0.85  # P(N(2, 4) >= 1) = 0.69


def test_snntorch_every_layer_feeding_a_relpsp_neuron_in_flow_order():
    net, x = _snntorch_net(dt=0.5), _input()

    def run():
        return _run_snntorch(net, x)

    report = stdbp.reinit(net, run, mean=3.0, std=0.5)
    assert [(r.layer, r.neuron) for r in report.layers] == [("0", "1"), ("2", "3")]
    assert report.steps == T
    # hidden: no revival; output: its revival push (on V) scaled with V by output_gain 10
    assert (net[1].silent_grad, net[3].silent_grad) == (0.0, 0.1)
    assert [r.gain for r in report.layers] == [1.0, 10.0]
    with torch.no_grad():
        spikes = run()
    out_fired = (spikes.sum(0) > 0).double().mean()
    assert float(out_fired) == pytest.approx(report.layers[1].fire_fraction, abs=1e-9)
    # threshold = dt * per-step threshold: the neuron fires when dt * sum_k c_k (n - k) >= it
    assert float(net[3].threshold) == pytest.approx(0.5 * report.layers[1].threshold_per_step)
    assert float(out_fired) > 0.95  # mean 3, std 0.5 thresholds: nearly all fire


def test_convert_outputs_and_the_norse_sequence_module():
    from stdbp_plugin.norse import ReLPSP

    torch.manual_seed(0)
    lif = norse.SequentialState(norse.Lift(nn.Linear(30, 40)), norse.LIF())
    converted = stdbp.convert(lif, mode="clock")
    keys = set(converted.state_dict())
    x = _input()
    report = stdbp.reinit(converted, lambda: converted(x))
    assert set(converted.state_dict()) == keys
    assert [(r.layer, r.neuron) for r in report.layers] == [("0.lifted_module", "1")]
    assert isinstance(converted[1], ReLPSP)
    assert any("stdbp_plugin.reinit" in a for a in converted.stdbp_conversion_report.actions)
    with torch.no_grad():
        z, _ = converted(x)
    fired = (z.sum(0) > 0).double().mean()
    assert float(fired) == pytest.approx(report.layers[0].fire_fraction, abs=1e-9)


def test_refuses_trained_layers_unless_forced():
    model, x = _norse_net(), _input()
    loss = torch.stack(_run_norse(model, x)[0]).sum()
    loss.backward()
    with pytest.raises(ValueError, match="'0' looks trained .*gradient.*force=True"):
        stdbp.reinit(model, lambda: _run_norse(model, x))
    model.zero_grad(set_to_none=True)
    with torch.no_grad():
        model[0].weight.mul_(3.0)  # beyond PyTorch's default-init range
    before = model[0].weight.clone()
    with pytest.raises(ValueError, match="default-init bound"):
        stdbp.reinit(model, lambda: _run_norse(model, x))
    assert torch.equal(model[0].weight, before)  # refused: nothing changed
    stdbp.reinit(model, lambda: _run_norse(model, x), force=True)
    assert not torch.equal(model[0].weight, before)


def test_bad_arguments_name_what_is_expected():
    model, x = _norse_net(), _input()
    with pytest.raises(ValueError, match="std must be finite and > 0"):
        stdbp.reinit(model, lambda: _run_norse(model, x), std=0.0)
    with pytest.raises(ValueError, match="mean must be a number"):
        stdbp.reinit(model, lambda: _run_norse(model, x), mean="2")
    with pytest.raises(ValueError, match="output_gain must be finite and > 0"):
        stdbp.reinit(model, lambda: _run_norse(model, x), output_gain=0.0)
    with pytest.raises(ValueError, match="run must be a callable"):
        stdbp.reinit(model, None)
    plain = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    with pytest.raises(ValueError, match="no ReL-PSP neuron"):
        stdbp.reinit(plain, lambda: plain(torch.ones(1, 3)))


def test_max_pool_between_conv_and_neuron_still_reaches_the_mean():
    """conv -> max-pool -> neuron is not linear in the weights: the shift is corrected until
    the neurons' own end potentials (snnTorch ``mem`` after the last step) average 2 thresholds."""
    from snntorch import utils

    from stdbp_plugin.snntorch import ReLPSP

    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 6, 3),
        nn.MaxPool2d(2),
        ReLPSP(init_hidden=True),
        nn.Flatten(),
        nn.Linear(6 * 3 * 3, 4),
        ReLPSP(init_hidden=True, output=True),
    )
    g = torch.Generator().manual_seed(1)
    x = 0.1 + 0.9 * torch.rand(32, 1, 8, 8, generator=g)  # direct input, every pixel > 0

    def run():
        utils.reset(net)
        return [net(x) for _ in range(T)]

    report = stdbp.reinit(net, run)
    with torch.no_grad():
        run()
    ratio = net[2].mem.double() / net[2].threshold.double()  # V(T) / theta = E / theta
    assert float(ratio.mean()) == pytest.approx(2.0, abs=0.05)
    assert report.layers[0].mean == pytest.approx(float(ratio.mean()), rel=1e-6)


def test_a_custom_module_that_passes_the_current_by_keyword():
    from stdbp_plugin.norse import ReLPSPCell

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(30, 16)
            self.cell = ReLPSPCell()

        def forward(self, x):
            state, out = None, []
            for k in range(x.shape[0]):
                z, state = self.cell(input_tensor=self.fc(x[k]), state=state)
                out.append(z)
            return torch.stack(out)

    torch.manual_seed(0)
    net, x = Net(), _input()
    report = stdbp.reinit(net, lambda: net(x))
    assert [(r.layer, r.neuron) for r in report.layers] == [("fc", "cell")]
    with torch.no_grad():
        fired = (net(x).sum(0) > 0).double().mean()
    assert float(fired) == pytest.approx(report.layers[0].fire_fraction, abs=1e-9)


def test_an_error_on_the_way_leaves_the_model_as_it_was():
    """The input goes silent when reinit measures the second layer, after the first layer
    was re-initialised: reinit fails there and restores every weight, bias and threshold."""
    from snntorch import utils

    net, x = _snntorch_net(), _input()
    calls = {"n": 0}

    def run():
        # passes: 1 finds the layers, 2-4 measure the first layer, 5-6 the second one
        calls["n"] += 1
        utils.reset(net)
        inp = x if calls["n"] < 5 else torch.zeros_like(x)
        return [net(inp[k]) for k in range(T)]

    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(ValueError, match="'3' carry no signal"):
        stdbp.reinit(net, run)
    assert calls["n"] == 6
    assert net[1].silent_grad == 1.0  # restored too
    after = net.state_dict()
    assert set(after) == set(before)
    for key, value in before.items():
        assert torch.equal(after[key], value), key


def test_a_second_call_is_refused_like_trained_weights():
    model, x = _norse_net(), _input()
    stdbp.reinit(model, lambda: _run_norse(model, x))
    with pytest.raises(ValueError, match="'0' looks trained .*previous reinit"):
        stdbp.reinit(model, lambda: _run_norse(model, x))


class _ReadoutTask(nn.Module):
    """Norse's MNIST-task shape: ReL-PSP cells read by an LILinearCell only (no spiking output)."""

    def __init__(self) -> None:
        from stdbp_plugin.norse import ReLPSPCell

        super().__init__()
        self.fc = nn.Linear(30, 16)
        self.cell = ReLPSPCell()
        self.out = norse.LILinearCell(16, 4)

    def forward(self, x):
        s1 = so = None
        states, v = [], None
        for k in range(x.shape[0]):
            z, s1 = self.cell(self.fc(x[k]), s1)
            v, so = self.out(z, so)
            states.append(s1)
        return v, states


def test_hidden_means_a_learning_module_follows_and_none_leaves_silent_grad_alone():
    torch.manual_seed(0)
    net, x = _ReadoutTask(), _input()
    report = stdbp.reinit(net, lambda: net(x))
    assert net.cell.silent_grad == 0.0 and report.silent_grad == {"cell": 0.0}
    assert "silent_grad (hidden: revival off; output: / output_gain): cell -> 0" in str(report)
    torch.manual_seed(0)
    net = _ReadoutTask()
    report = stdbp.reinit(net, lambda: net(x), hidden_silent_grad=None)
    assert net.cell.silent_grad == 1.0 and report.silent_grad == {}
    with pytest.raises(ValueError, match="silent_grad"):
        stdbp.reinit(_ReadoutTask(), lambda: None, hidden_silent_grad=-1.0)


def test_output_gain_is_a_change_of_units_an_adam_step_moves_the_output_g_times_less():
    """output_gain g against g = 1 from the same draw: hidden layers untouched, the output
    layer's weights, bias gradient and threshold in units g times larger (and its revival
    push with them), so the forward is the same and every gradient keeps its direction: the
    hidden layers' gradients are equal, the output layer's are 1/g (its relative change per
    Adam step, lr per weight, is g times smaller). Gradients from the neurons' own backward
    through a first-spike loss with silent outputs (revival active)."""
    import stdbp_plugin.snntorch.functional as SF

    x, y = _input(), torch.arange(64) % 8
    nets, grads, trains = [], [], []
    for gain in (1.0, 10.0):
        net = _snntorch_net()

        def run(net=net):
            return _run_snntorch(net, x)

        torch.manual_seed(1)
        report = stdbp.reinit(net, run, output_gain=gain)
        assert [r.gain for r in report.layers] == [1.0, gain]
        spikes = run()
        assert 0 < float((spikes.sum(0) == 0).double().mean()) < 0.9  # some outputs silent
        SF.mse_count_loss(0.8, 0.2)(spikes, y).backward()
        nets.append(net)
        trains.append(spikes.detach())
        grads.append({n: p.grad.double() for n, p in net.named_parameters()})
    (one, ten), (g1, g10) = nets, grads
    assert torch.equal(trains[0], trains[1])
    assert torch.equal(one[0].weight, ten[0].weight)
    assert torch.allclose(ten[2].weight, 10 * one[2].weight, rtol=1e-6, atol=0)
    assert float(ten[3].threshold) == pytest.approx(10 * float(one[3].threshold), rel=1e-6)
    assert (one[3].silent_grad, ten[3].silent_grad) == (1.0, pytest.approx(0.1))
    for name in ("0.weight", "0.bias"):
        assert torch.allclose(g10[name], g1[name], rtol=1e-4, atol=1e-10), name
    for name in ("2.weight", "2.bias"):
        assert g1[name].abs().sum() > 0
        assert torch.allclose(10 * g10[name], g1[name], rtol=1e-4, atol=1e-10), name


def _end_ratio(net: _ReadoutTask, x: torch.Tensor) -> torch.Tensor:
    """The cell's own end-of-window potential in thresholds (Norse ``state.v`` / ``v_th``)."""
    with torch.no_grad():
        _, states = net(x)
    return states[-1].v.double() / float(net.cell.p.v_th)


def test_readout_step_bounds_the_move_of_one_adam_step_when_a_non_spiking_readout_reads():
    """No ReL-PSP output (an LILinearCell reads the spikes): one Adam step, every weight of a
    row moved by the optimizer's lr one way, moves each neuron's end potential by
    readout_step thresholds on average (measured on the cell's state.v, the row moved by
    hand); the scaling is a change of units: the same spikes as without the bound."""
    x = _input()
    trains, nets = [], []
    for bound in (None, 0.2):
        torch.manual_seed(0)
        net = _ReadoutTask()
        optimizer = torch.optim.Adam(net.parameters(), lr=0.05)
        torch.manual_seed(1)
        report = stdbp.reinit(net, lambda net=net: net(x), optimizer=optimizer, readout_step=bound)
        with torch.no_grad():
            _, states = net(x)
        trains.append(torch.stack([s.k_spike for s in states]))
        nets.append((net, report))
    assert torch.equal(trains[0], trains[1])
    (free, free_report), (bounded, report) = nets
    gain = report.layers[0].gain
    assert free_report.layers[0].gain == 1.0 and gain > 2.0
    assert "weights x" in str(report) and "read-out step bound" in str(report)
    assert torch.allclose(bounded.fc.weight, gain * free.fc.weight, rtol=1e-5, atol=0)
    before = _end_ratio(bounded, x)
    with torch.no_grad():
        bounded.fc.weight.add_(0.05)  # Adam's first step: lr * sign(g), a whole row one way
    moved = _end_ratio(bounded, x) - before
    assert float(moved.mean()) == pytest.approx(0.2, rel=1e-3)
    # the same step without the bound moves the potentials `gain` times as far
    before = _end_ratio(free, x)
    with torch.no_grad():
        free.fc.weight.add_(0.05)
    assert float((_end_ratio(free, x) - before).mean()) == pytest.approx(0.2 * gain, rel=1e-3)


def test_readout_step_follows_the_optimizer_and_leaves_spiking_outputs_alone():
    x = _input()
    gains = []
    for lr in (0.05, 0.1, 1e-6):
        torch.manual_seed(0)
        net = _ReadoutTask()
        groups = [
            {"params": [net.fc.weight], "lr": lr},
            {"params": [net.fc.bias, net.out.input_weights]},
        ]
        optimizer = torch.optim.SGD(groups, lr=0.5)  # the weight's own group's lr counts
        torch.manual_seed(1)
        report = stdbp.reinit(net, lambda net=net: net(x), optimizer=optimizer, readout_step=0.2)
        gains.append(report.layers[0].gain)
    assert gains[1] == pytest.approx(2 * gains[0], rel=1e-6) and gains[2] == 1.0
    torch.manual_seed(0)
    net = _ReadoutTask()  # off by default, whatever the optimizer
    default = stdbp.reinit(net, lambda: net(x), optimizer=torch.optim.Adam(net.parameters(), 1.0))
    assert default.layers[0].gain == 1.0
    # a ReL-PSP output layer: no step bound (output_gain only), whatever the optimizer
    net = _snntorch_net()
    big = torch.optim.Adam(net.parameters(), lr=1.0)
    report = stdbp.reinit(net, lambda: _run_snntorch(net, x), optimizer=big, readout_step=0.2)
    assert [r.gain for r in report.layers] == [1.0, 10.0]
    with pytest.raises(ValueError, match="readout_step must be finite and > 0"):
        stdbp.reinit(_ReadoutTask(), lambda: None, readout_step=0.0)
    with pytest.raises(ValueError, match="optimizer must be a torch.optim.Optimizer"):
        stdbp.reinit(_ReadoutTask(), lambda: None, optimizer="adam")
