"""stdbp_plugin.convert: structure, weights, errors, clock vs event, and training on MNIST."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

snn = pytest.importorskip("snntorch")
norse = pytest.importorskip("norse.torch")
from snntorch import functional as SF  # noqa: E402
from snntorch import spikegen, utils  # noqa: E402

import stdbp_plugin as stdbp  # noqa: E402
from stdbp_plugin import norse as relpsp_norse  # noqa: E402
from stdbp_plugin import snntorch as relpsp_snn  # noqa: E402
from stdbp_plugin.conversion import EventDrivenModel, StepZeroBiasLinear  # noqa: E402
from stdbp_plugin.functional import first_spike_predict, temporal_cross_entropy, times_to_spikes  # noqa: E402
from stdbp_plugin.nn import ReLPSPLinear  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
N_TRAIN, N_TEST, N_HIDDEN = 400, 300, 48  # small: the whole file must stay well under 2 min


def test_import_stdbp_plugin_imports_no_framework():
    code = (
        "import stdbp_plugin, sys; assert 'snntorch' not in sys.modules and 'norse' not in "
        "sys.modules; assert callable(stdbp_plugin.convert); "
        "assert 'snntorch' not in sys.modules and 'norse' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def _snn_mlp(n_in=784, n_hid=64, beta=0.9):
    return nn.Sequential(
        nn.Linear(n_in, n_hid),
        snn.Leaky(beta=beta, init_hidden=True),
        nn.Linear(n_hid, 10),
        snn.Leaky(beta=beta, init_hidden=True, output=True),
    )


def test_clock_mode_swaps_neurons_keeps_weights_and_leaves_the_original_alone():
    net = _snn_mlp(20, 8)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    out = stdbp.convert(net, "clock")
    assert isinstance(net[1], snn.Leaky) and not isinstance(net[1], relpsp_snn.ReLPSP)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert isinstance(out[1], relpsp_snn.ReLPSP) and isinstance(out[3], relpsp_snn.ReLPSP)
    assert out[1].init_hidden and out[3].output
    torch.testing.assert_close(out[0].weight, net[0].weight)
    # a Linear's bias becomes the neuron's input spike at t = 0, and stays the Linear's parameter
    assert isinstance(out[0], StepZeroBiasLinear) and torch.equal(out[0].bias, net[0].bias)
    assert "bias" not in dict(out[1].named_parameters())
    assert out[1].silent_grad == 0.0 and out[3].silent_grad == 1.0  # revival: output only
    exact = stdbp.convert(net, "clock", silent_grad=0.0)
    assert exact[1].silent_grad == 0.0 and exact[3].silent_grad == 0.0
    same = stdbp.convert(net, "clock", inplace=True)
    assert same is net and isinstance(net[1], relpsp_snn.ReLPSP)


def test_tutorial_style_module_with_explicit_state_runs_unchanged():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(12, 8)
            self.lif1 = snn.Synaptic(alpha=0.9, beta=0.8)
            self.fc2 = nn.Linear(8, 3)
            self.lif2 = snn.Lapicque(beta=0.9)

        def forward(self, x):
            syn1, mem1 = self.lif1.init_synaptic()
            mem2 = self.lif2.init_lapicque()
            spk_rec = []
            for step in range(x.shape[0]):
                spk1, syn1, mem1 = self.lif1(self.fc1(x[step]), syn1, mem1)
                spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
                spk_rec.append(spk2)
            return torch.stack(spk_rec)

    torch.manual_seed(0)
    net = Net()
    out = stdbp.convert(net)
    assert isinstance(out.lif1, relpsp_snn.ReLPSPSynaptic) and isinstance(
        out.lif2, relpsp_snn.ReLPSP
    )
    spk = out((torch.rand(15, 4, 12) < 0.3).float())
    assert spk.shape == (15, 4, 3) and (spk.sum(0) <= 1).all()


def test_norse_clock_mode_swaps_lif_and_cells():
    model = norse.SequentialState(
        norse.Lift(nn.Linear(10, 6)), norse.LIF(), nn.Linear(6, 3), norse.LIFBoxCell()
    )
    out = stdbp.convert(model)
    assert isinstance(out[1], relpsp_norse.ReLPSP) and isinstance(out[3], relpsp_norse.ReLPSPCell)
    assert out[1].dt == 1e-3 and float(out[1].p.tau_mem_inv) == pytest.approx(1000.0)
    assert isinstance(out[0].lifted_module, StepZeroBiasLinear) and isinstance(
        out[2], StepZeroBiasLinear
    )
    out.load_state_dict(model.state_dict(), strict=True)
    assert isinstance(model[1], norse.LIF)  # original untouched
    cell = stdbp.convert(norse.SequentialState(nn.Linear(4, 2), norse.LIFCell()))
    assert isinstance(cell[1], relpsp_norse.ReLPSPCell)


def test_event_mode_returns_an_event_driven_model_with_the_weights():
    net = _snn_mlp(20, 8)
    event = stdbp.convert(net, "event")
    assert isinstance(event, EventDrivenModel)
    linears = [m for m in event.layers if isinstance(m, ReLPSPLinear)]
    assert len(linears) == 2
    assert torch.equal(linears[0].weight, net[0].weight) and torch.equal(
        linears[1].bias, net[2].bias
    )
    spikes = (torch.rand(12, 5, 20) < 0.2).float()
    train, t_out = event(spikes)
    assert train.shape == (12, 5, 10) and t_out.shape == (5, 10)


@pytest.mark.parametrize(
    "build, mode, match",
    [
        (
            lambda: nn.Sequential(nn.Linear(4, 3), snn.RLeaky(beta=0.9, linear_features=3)),
            "clock",
            "'1'.*recurrent",
        ),
        (
            lambda: nn.Sequential(nn.Linear(4, 3), snn.Alpha(alpha=0.9, beta=0.8)),
            "clock",
            "'1'.*Alpha",
        ),
        (
            lambda: nn.Sequential(nn.Linear(4, 3), snn.Leaky(beta=0.9, graded_spikes_factor=2.0)),
            "clock",
            "'1'.*graded",
        ),
        (
            lambda: nn.Sequential(nn.Linear(4, 3), nn.ReLU(), snn.Leaky(beta=0.9)),
            "clock",
            "'1'.*ReLU",
        ),
        (
            lambda: nn.Sequential(nn.Linear(4, 3), snn.Leaky(beta=0.9), nn.Linear(3, 2)),
            "event",
            "'2'.*not followed",
        ),
        (
            lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.AvgPool2d(2), snn.Leaky(beta=0.9)),
            "event",
            "'1'.*AvgPool2d",
        ),
        (lambda: nn.Sequential(nn.Linear(4, 3)), "clock", "no snnTorch or Norse"),
        (
            lambda: norse.SequentialState(nn.Linear(4, 3), norse.LIFRecurrentCell(3, 3)),
            "clock",
            "'1'.*recurrent",
        ),
        (lambda: _snn_mlp(4, 3), "fast", "mode"),
        (lambda: norse.SequentialState(nn.Linear(4, 3), norse.LICell()), "clock", "no spiking"),
    ],
)
def test_what_cannot_be_converted_raises_naming_the_module(build, mode, match):
    model = build()
    before = [type(m) for m in model.modules()]
    with pytest.raises(ValueError, match=match):
        stdbp.convert(model, mode)
    assert [type(m) for m in model.modules()] == before


def test_conv_pool_model_converts_in_both_modes():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3),
        nn.MaxPool2d(2),
        snn.Leaky(beta=0.9, init_hidden=True),
        nn.Flatten(),
        nn.Linear(4 * 3 * 3, 5),
        snn.Leaky(beta=0.9, init_hidden=True, output=True),
    )
    x = (torch.rand(10, 2, 1, 8, 8) < 0.3).float()
    clock = stdbp.convert(net, "clock")
    utils.reset(clock)
    rec = torch.stack([clock(x[k])[0] for k in range(10)])
    assert rec.shape == (10, 2, 5)
    train, t_out = stdbp.convert(net, "event")(x)
    assert train.shape == (10, 2, 5) and t_out.shape == (2, 5)


# ---------------------------------------------------------------------------------------------
# real MNIST


def _mnist(n):
    root = Path(os.environ.get("STDBP_DATA_DIR", REPO.parent / "shared" / "data"))
    if not (root / "MNIST" / "raw").is_dir():
        pytest.skip(f"MNIST raw files not found under {root} (set STDBP_DATA_DIR)")
    datasets = pytest.importorskip("torchvision.datasets")
    ds = datasets.MNIST(root=str(root), train=True, download=False)
    return ds.data[:n].float().div(255).view(n, -1), ds.targets[:n]


def _latency(x, steps):
    return spikegen.latency(
        x, num_steps=steps, tau=5, threshold=0.01, clip=True, normalize=True, linear=True
    )


def test_event_and_clock_predictions_agree_as_dt_falls():
    x, _ = _mnist(120)
    torch.manual_seed(0)
    net = _snn_mlp(784, 64)
    horizon = 20.0
    t_in = horizon * (1 - x)
    t_in[x < 0.05] = float("inf")
    agreement = {}
    for steps in (10, 100):
        dt = horizon / steps
        spikes = times_to_spikes(t_in, steps, dt)
        clock = stdbp.convert(net, "clock", dt=dt, sample=spikes[:, :100])
        event = stdbp.convert(net, "event", dt=dt, sample=spikes[:, :100])
        with torch.no_grad():
            utils.reset(clock)
            for k in range(steps):
                clock(spikes[k])
            t_clock = clock[3].spike_time
            _, t_event = event(spikes)
        fired = torch.isfinite(t_clock).any(1) & (t_event < horizon).any(1)
        assert fired.float().mean() > 0.9
        agree = first_spike_predict(t_clock) == first_spike_predict(t_event)
        agreement[steps] = float(agree[fired].float().mean())
    assert agreement[100] > agreement[10] and agreement[100] > 0.9, agreement


def _train_snntorch(mode):
    """The snnTorch tutorial loop: latency input, step loop, ce_temporal_loss, Adam."""
    x, y = _mnist(N_TRAIN + N_TEST)
    torch.manual_seed(0)
    steps = 25
    model = stdbp.convert(_snn_mlp(784, N_HIDDEN), mode)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = SF.ce_temporal_loss()

    def forward_pass(data):
        if mode == "event":
            return model(data)[0]
        utils.reset(model)
        spk_rec = []
        for step in range(data.size(0)):
            spk_out, _ = model(data[step])
            spk_rec.append(spk_out)
        return torch.stack(spk_rec)

    losses = []
    for _ in range(2):
        for i in range(0, N_TRAIN, 50):
            spk_rec = forward_pass(_latency(x[i : i + 50], steps))
            loss = loss_fn(spk_rec, y[i : i + 50])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    with torch.no_grad():
        acc = SF.accuracy_temporal(forward_pass(_latency(x[N_TRAIN:], steps)), y[N_TRAIN:])
    return losses, acc


@pytest.mark.parametrize("mode", ["clock", "event"])
def test_snntorch_tutorial_script_trains_after_convert(mode):
    losses, acc = _train_snntorch(mode)
    assert sum(losses[-4:]) / 4 < 0.8 * sum(losses[:4]) / 4, losses
    assert acc > 0.3, acc  # chance is 0.1


def _train_norse(mode):
    """A Norse script: SpikeLatencyLIFEncoder, SequentialState of Lift(Linear) + LIF, decoded by
    first-spike time, temporal cross-entropy."""
    x, y = _mnist(N_TRAIN + N_TEST)
    torch.manual_seed(0)
    steps = 30
    encoder = norse.SpikeLatencyLIFEncoder(steps)
    net = norse.SequentialState(
        norse.Lift(nn.Linear(784, N_HIDDEN)),
        norse.LIF(),
        norse.Lift(nn.Linear(N_HIDDEN, 10)),
        norse.LIF(),
    )
    # exact STDBP gives a neuron silent in the 30-step window no gradient; on this tiny budget
    # the clock model needs the (inexact) revival of silent outputs to leave chance level
    model = stdbp.convert(net, mode, silent_grad=1.0 if mode == "clock" else 0.0)
    decoder = relpsp_norse.FirstSpikeTimeDecoder(dt=1e-3)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)

    def times(data):
        if mode == "event":
            return model(data)[1]  # the exact times (a spike after T dt is just late)
        z, _ = model(data)
        return decoder(z)

    losses = []
    for _ in range(2):
        for i in range(0, N_TRAIN, 50):
            t = times(encoder(5 * x[i : i + 50]))
            loss = temporal_cross_entropy(t, y[i : i + 50], tau=2e-3, keep_target_alive=1.0)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    with torch.no_grad():
        acc = (first_spike_predict(times(encoder(5 * x[N_TRAIN:]))) == y[N_TRAIN:]).float().mean()
    return losses, float(acc)


@pytest.mark.parametrize("mode", ["clock", "event"])
def test_norse_script_trains_after_convert(mode):
    losses, acc = _train_norse(mode)
    assert sum(losses[-4:]) / 4 < 0.8 * sum(losses[:4]) / 4, losses
    assert acc > 0.3, acc


def test_calibration_from_a_sample_makes_a_silent_norse_model_fire():
    x, _ = _mnist(100)
    torch.manual_seed(0)
    encoder = norse.SpikeLatencyLIFEncoder(30)
    spikes = encoder(5 * x)
    net = norse.SequentialState(norse.Lift(nn.Linear(784, 64)), norse.LIF())
    lif_z, _ = net(spikes)
    assert lif_z.sum(0).gt(0).float().mean() < 0.05  # Norse's own LIF: almost silent
    calibrated = stdbp.convert(net, sample=spikes, fire_fraction=0.8)
    z, _ = calibrated(spikes)
    fired = z.sum(0).gt(0).float().mean()
    assert 0.2 < fired < 0.8


def test_convert_after_a_forward_pass_with_hidden_state():
    """A model that has just run (snnTorch keeps a graph-attached ``mem`` on its neurons) converts,
    and the original keeps its state untouched."""
    net = nn.Sequential(
        nn.Linear(6, 5),
        snn.Leaky(beta=0.9, init_hidden=True),
        nn.Linear(5, 3),
        snn.Leaky(beta=0.9, init_hidden=True, output=True),
    )
    net(torch.rand(2, 6))
    mem_before = net[1].mem
    assert not mem_before.is_leaf
    clock = stdbp.convert(net, mode="clock")
    event = stdbp.convert(net, mode="event")
    assert net[1].mem is mem_before
    assert clock is not net and event is not net


# ---------------------------------------------------------------------------------------------
# models people write: registration order, read-outs, checkpoints, round trips, the report


class _Shuffled(nn.Module):
    """Registered in another order than forward calls the layers; a step loop over x.size(0)."""

    def __init__(self, n_in=12, n_hid=8, n_out=3):
        super().__init__()
        self.lif2 = snn.Leaky(beta=0.9)
        self.fc2 = nn.Linear(n_hid, n_out)
        self.lif1 = snn.Leaky(beta=0.9)
        self.fc1 = nn.Linear(n_in, n_hid)

    def forward(self, x):
        mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
        out = []
        for step in range(x.size(0)):
            spk1, mem1 = self.lif1(self.fc1(x[step]), mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            out.append(spk2)
        return torch.stack(out)


def test_custom_module_in_another_order_follows_the_data_flow():
    torch.manual_seed(0)
    net = _Shuffled()
    with torch.no_grad():
        net.fc1.bias.fill_(0.05)
    clock = stdbp.convert(net)
    rep = clock.stdbp_conversion_report
    assert "torch.fx" in rep.flow
    assert clock.fc1._neuron[0] is clock.lif1 and clock.fc2._neuron[0] is clock.lif2
    seq = nn.Sequential(
        net.fc1,
        snn.Leaky(beta=0.9, init_hidden=True),
        net.fc2,
        snn.Leaky(beta=0.9, init_hidden=True, output=True),
    )
    reference = stdbp.convert(seq)
    x = (torch.rand(20, 6, 12) < 0.3).float()
    with torch.no_grad():
        got = clock(x)
        utils.reset(reference)
        want = torch.stack([reference(x[k])[0] for k in range(20)])
    assert want.sum() > 0 and torch.equal(got, want)


def test_unknown_flow_keeps_biases_per_step_and_event_mode_refuses():
    class Dynamic(_Shuffled):
        def forward(self, x):
            mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
            out = []
            for step in range(x.size(0)):
                if x[step].sum() > 0:  # data-dependent control flow: fx cannot trace it
                    spk1, mem1 = self.lif1(self.fc1(x[step]), mem1)
                    spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
                    out.append(spk2)
            return torch.stack(out)

    net = Dynamic()
    clock = stdbp.convert(net)
    rep = clock.stdbp_conversion_report
    assert "unknown" in rep.flow
    assert type(clock.fc1) is nn.Linear and type(clock.fc2) is nn.Linear  # biases not moved
    assert isinstance(clock.lif1, relpsp_snn.ReLPSP) and isinstance(clock.lif2, relpsp_snn.ReLPSP)
    assert any("fc1.bias" in b and "every step" in b for b in rep.biases)
    assert clock(torch.ones(5, 2, 12)).shape == (5, 2, 3)
    with pytest.raises(ValueError, match="flow.*mode='clock'"):
        stdbp.convert(net, "event")


@pytest.mark.parametrize("framework", ["snntorch", "norse_seq", "norse_cells", "custom"])
def test_original_checkpoint_loads_strictly_into_the_converted_model(framework):
    torch.manual_seed(0)
    if framework == "snntorch":
        net = nn.Sequential(
            nn.Conv2d(1, 4, 3),
            nn.MaxPool2d(2),
            snn.Leaky(beta=0.9, init_hidden=True),
            nn.Flatten(),
            nn.Linear(36, 5),
            snn.Synaptic(alpha=0.8, beta=0.9, init_hidden=True, output=True),
        )
    elif framework == "norse_seq":
        net = norse.SequentialState(
            norse.Lift(nn.Linear(10, 6)), norse.LIF(), norse.Lift(nn.Linear(6, 3)), norse.LIF()
        )
    elif framework == "norse_cells":
        net = norse.SequentialState(
            nn.Linear(10, 6), norse.LIFCell(), nn.Linear(6, 3), norse.LICell()
        )
    else:
        net = _Shuffled()
    converted = stdbp.convert(net)
    trained = {
        k: v + 0.01 * torch.randn_like(v) if v.is_floating_point() else v
        for k, v in net.state_dict().items()
    }
    converted.load_state_dict(trained, strict=True)
    assert set(converted.state_dict()) == set(net.state_dict())
    for name, p in converted.named_parameters():
        assert torch.equal(p, trained[name])


def _clock_event_pairs():
    torch.manual_seed(1)
    snn_net = nn.Sequential(
        nn.Linear(16, 12),
        snn.Leaky(beta=0.9, init_hidden=True),
        nn.Linear(12, 5),
        snn.Leaky(beta=0.9, init_hidden=True, output=True),
    )
    norse_net = norse.SequentialState(
        norse.Lift(nn.Linear(16, 12)), norse.LIF(), norse.Lift(nn.Linear(12, 5)), norse.LIF()
    )
    return [snn_net, norse_net, _Shuffled(16, 12, 5)]


@pytest.mark.parametrize("index", [0, 1, 2])
def test_round_trip_clock_then_event_equals_direct_event(index):
    net = _clock_event_pairs()[index]
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Linear):
                m.bias.uniform_(0.0, 0.2)
    x = (torch.rand(15, 4, 16) < 0.3).float()
    direct = stdbp.convert(net, "event")
    via_clock = stdbp.convert(stdbp.convert(net, "clock"), "event")
    assert len(list(direct.parameters())) == len(list(via_clock.parameters()))
    for a, b in zip(direct.parameters(), via_clock.parameters(), strict=True):
        assert torch.equal(a, b)
    with torch.no_grad():
        torch.testing.assert_close(direct(x)[1], via_clock(x)[1])


def test_norse_leaky_integrator_readouts_are_kept_in_clock_mode_and_refused_in_event_mode():
    for readout in (norse.LICell(), norse.LIBoxCell(), norse.LILinearCell(6, 3)):
        layers = [norse.Lift(nn.Linear(10, 6)), norse.LIF()]
        layers += (
            [readout] if isinstance(readout, norse.LILinearCell) else [nn.Linear(6, 3), readout]
        )
        net = norse.SequentialState(*layers)
        clock = stdbp.convert(net)
        assert isinstance(clock[1], relpsp_norse.ReLPSP) and type(clock[-1]) is type(readout)
        assert clock.stdbp_conversion_report.kept[0][1] == type(readout).__name__
        if not isinstance(readout, norse.LILinearCell):
            assert type(clock[2]) is nn.Linear  # the read-out's input keeps its per-step bias
        z, _ = clock[1](clock[0]((torch.rand(12, 2, 10) < 0.3).float()))
        state, rest = None, list(clock)[2:]
        for k in range(12):  # the read-out cells step one at a time
            v = z[k]
            for m in rest[:-1]:
                v = m(v)
            v, state = rest[-1](v, state)
        assert v.shape == (2, 3)
        with pytest.raises(
            ValueError, match=f"'{len(layers) - 1}'.*{type(readout).__name__}.*mode='clock'"
        ):
            stdbp.convert(net, "event")
    seq = norse.SequentialState(
        norse.Lift(nn.Linear(10, 6)), norse.LIF(), norse.Lift(nn.Linear(6, 3)), norse.LI()
    )
    clock = stdbp.convert(seq)
    v, _ = clock((torch.rand(12, 2, 10) < 0.3).float())
    assert v.shape == (12, 2, 3) and isinstance(clock[3], norse.LI)


def test_snntorch_membrane_readout_is_kept():
    net = nn.Sequential(
        nn.Linear(10, 6),
        snn.Leaky(beta=0.9, init_hidden=True),
        nn.Linear(6, 3),
        snn.Leaky(beta=0.9, init_hidden=True, output=True, reset_mechanism="none"),
    )
    clock = stdbp.convert(net)
    assert isinstance(clock[1], relpsp_snn.ReLPSP)
    assert type(clock[3]) is snn.Leaky and type(clock[2]) is nn.Linear
    utils.reset(clock)
    x = (torch.rand(8, 2, 10) < 0.3).float()
    mems = [clock(x[k])[1] for k in range(8)]
    assert mems[-1].shape == (2, 3)
    with pytest.raises(ValueError, match="'3'.*read-out"):
        stdbp.convert(net, "event")
    spiking = stdbp.convert(net, membrane_readout=False)
    assert isinstance(spiking[3], relpsp_snn.ReLPSP)


def test_report_says_what_was_done(capsys):
    net = _snn_mlp(20, 8)
    out = stdbp.convert(net, report=True)
    printed = capsys.readouterr().out
    rep = out.stdbp_conversion_report
    assert rep.replaced == [("1", "Leaky", "ReLPSP"), ("3", "Leaky", "ReLPSP")]
    assert any(a.startswith("beta=0.9") for a in rep.ignored["1"])
    assert rep.thresholds["1"] == "1" and rep.dt == 1.0
    assert any("0.bias" in b for b in rep.biases)
    assert any("ce_temporal_loss" in a for a in rep.actions)
    for text in ("Leaky -> ReLPSP", "beta=0.9", "0.bias", "read-out", "encoding"):
        assert text in printed
    event = stdbp.convert(net, "event")
    assert event.stdbp_conversion_report.mode == "event"


def test_calibration_stops_at_a_kept_readout_and_needs_a_known_flow():
    net = norse.SequentialState(
        norse.Lift(nn.Linear(10, 6)), norse.LIF(), norse.Lift(nn.Linear(6, 3)), norse.LI()
    )
    sample = (torch.rand(20, 8, 10) < 0.3).float()
    clock = stdbp.convert(net, sample=sample)
    assert clock.stdbp_conversion_report.calibrated and isinstance(clock[3], norse.LI)

    class Dynamic(_Shuffled):
        def forward(self, x):
            if x.sum() > 0:
                return self.lif1(self.fc1(x))
            return x

    with pytest.raises(ValueError, match="sample.*flow"):
        stdbp.convert(Dynamic(), sample=sample)


def test_step_zero_bias_gets_the_event_driven_gradient():
    """One layer on spikes on the step grid: the clock model's exact spike times and their
    weight and bias gradients equal the event-driven ones (the bias is one spike at t = 0)."""
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(10, 6), snn.Leaky(beta=0.9, init_hidden=True, output=True))
    net = net.double()
    with torch.no_grad():
        net[0].weight.uniform_(0.0, 0.3)
        net[0].bias.uniform_(0.0, 0.2)
    t_in = torch.randint(0, 20, (3, 10)).double()  # one spike per input, on the step grid
    x = times_to_spikes(t_in, 25, 1.0)
    clock = stdbp.convert(net)
    event = stdbp.convert(net, "event").double()
    utils.reset(clock)
    for k in range(25):
        clock(x[k])
    t_clock = clock[1].spike_time
    _, t_event = event(x)
    fired = torch.isfinite(t_clock) & (t_event < 25)
    assert fired.sum() > 5
    torch.testing.assert_close(t_clock[fired], t_event[fired])
    g = torch.randn_like(t_clock)
    (t_clock[fired] * g[fired]).sum().backward()
    (t_event[fired] * g[fired]).sum().backward()
    layer = event.layers[0]
    torch.testing.assert_close(clock[0].bias.grad, layer.bias.grad)
    torch.testing.assert_close(clock[0].weight.grad, layer.weight.grad)


def test_converted_model_survives_deepcopy_save_and_dtype_moves(tmp_path):
    import copy

    net = _Shuffled()
    clock = stdbp.convert(net)
    x = (torch.rand(6, 2, 12) < 0.4).float()
    with torch.no_grad():  # hidden state with a graph would not deepcopy (as in snnTorch)
        want = clock(x)
        for other in (copy.deepcopy(clock), stdbp.convert(clock)):
            assert other.fc1._neuron[0] is other.lif1
            assert torch.equal(other(x), want)
        torch.save(clock, tmp_path / "m.pt")
        loaded = torch.load(tmp_path / "m.pt", weights_only=False)
        assert torch.equal(loaded(x), want)
        assert clock.double()(x.double()).dtype == torch.float64


def test_tutorial6_style_conv_net_converts_in_both_modes():
    """snnTorch tutorial 6: F.max_pool2d between conv and neuron, a view before the Linear."""
    num_steps = 4

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.lif1 = nn.Conv2d(1, 4, 3), snn.Leaky(beta=0.5)
            self.fc1, self.lif2 = nn.Linear(4 * 3 * 3, 5), snn.Leaky(beta=0.5)

        def forward(self, x):
            mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
            rec = []
            for _ in range(num_steps):
                spk1, mem1 = self.lif1(F.max_pool2d(self.conv1(x), 2), mem1)
                spk2, mem2 = self.lif2(self.fc1(spk1.view(x.size(0), -1)), mem2)
                rec.append(spk2)
            return torch.stack(rec)

    torch.manual_seed(0)
    net = Net()
    clock = stdbp.convert(net)
    assert clock.conv1._neuron[0] is clock.lif1 and clock.fc1._neuron[0] is clock.lif2
    assert clock(torch.rand(2, 1, 8, 8)).shape == (num_steps, 2, 5)
    clock.load_state_dict(net.state_dict(), strict=True)
    event = stdbp.convert(net, "event")
    kinds = [type(m).__name__ for m in event.layers]
    assert kinds == ["ReLPSPConv2d", "EarliestSpikePool2d", "Flatten", "ReLPSPLinear"]
    train, t_out = event((torch.rand(6, 2, 1, 8, 8) < 0.3).float())
    assert t_out.shape == (2, 5)


def test_norse_convnet4_of_the_mnist_task_converts():
    """Norse's own ConvNet4 (task/mnist.py): a step loop, F.relu / F.max_pool2d, ``10 * conv2``,
    an LILinearCell read-out written into a preallocated tensor."""
    conv = pytest.importorskip("norse.torch.models.conv")
    torch.manual_seed(0)
    net = conv.ConvNet4()
    clock = stdbp.convert(net)
    rep = clock.stdbp_conversion_report
    assert [r[0] for r in rep.replaced] == ["lif0", "lif1", "lif2"]
    assert rep.kept == [("out", "LILinearCell", "non-spiking membrane read-out")]
    assert isinstance(clock.conv1, nn.Conv2d) and clock.conv1._neuron[0] is clock.lif0
    assert type(clock.conv2) is nn.Conv2d  # 10 * conv2(z): the bias stays a per-step current
    assert any(b.startswith("conv2.bias: left") for b in rep.biases)
    assert clock(torch.rand(3, 2, 1, 28, 28)).shape == (3, 2, 10)
    clock.load_state_dict(net.state_dict(), strict=True)


def test_a_norse_encoder_inside_the_model_is_kept_in_clock_mode_and_refused_in_event_mode():
    """Norse's MNIST task encodes inside the model (ConstantCurrentLIFEncoder)."""
    norse = pytest.importorskip("norse.torch")

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = norse.ConstantCurrentLIFEncoder(20)
            self.fc, self.lif = nn.Linear(16, 8), norse.LIFCell()
            self.out = norse.LILinearCell(8, 3)

        def forward(self, x):
            z, s, so, vs = self.encoder(x), None, None, []
            for k in range(z.shape[0]):
                h, s = self.lif(self.fc(z[k]), s)
                v, so = self.out(h, so)
                vs.append(v)
            return torch.stack(vs).max(0).values

    torch.manual_seed(0)
    net = Net()
    converted = stdbp.convert(net)
    assert type(converted.encoder) is norse.ConstantCurrentLIFEncoder
    assert type(converted.lif).__name__ == "ReLPSPCell"
    kept = {name: why for name, _, why in converted.stdbp_conversion_report.kept}
    assert kept["encoder"] == "input encoder"
    converted(torch.rand(4, 16)).sum().backward()
    assert converted.fc.weight.grad is not None
    with pytest.raises(ValueError, match="encodes its own input"):
        stdbp.convert(net, mode="event")
