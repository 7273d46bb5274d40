"""NIR export / import: exact round trips, the NIR-equation simulator, Norse's and snnTorch's
own writers and Norse's reader, and every refused node."""

from __future__ import annotations

import logging
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from torch import nn

nir = pytest.importorskip("nir")

from stdbp_plugin import nn as snn  # noqa: E402
from stdbp_plugin.functional import temporal_cross_entropy, times_to_spikes  # noqa: E402
from stdbp_plugin.nir import export, first_spike_steps, load, simulate  # noqa: E402


def _mlp(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    net = nn.Sequential(
        snn.LatencyEncoder(t_max=1.0, x_min=0.05),
        snn.ReLPSPLinear(30, 16, horizon=3.0),
        snn.ReLPSPLinear(16, 6, per_neuron_threshold=True, max_inv_slope=50.0),
        snn.ReLPSPLinear(6, 4, bias=False, threshold=0.3),
    )
    with torch.no_grad():
        net[2].threshold.uniform_(0.5, 1.5)
    return net


def _cnn(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        snn.LatencyEncoder(),
        snn.ReLPSPConv2d(1, 4, 3, padding=1, per_neuron_threshold=True),
        snn.EarliestSpikePool2d(2),
        snn.ReLPSPConv2d(4, 5, (3, 2), stride=(2, 1)),
        nn.Flatten(),
        snn.ReLPSPLinear(5 * 1 * 2, 3),
    )


def _times(shape, seed: int = 1, p_silent: float = 0.2) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(shape, generator=g)
    return torch.where(torch.rand(shape, generator=g) < p_silent, float("inf"), t)


def _steps(t: torch.Tensor, dt: float, num_steps: int) -> torch.Tensor:
    return torch.where(torch.isinf(t), num_steps, torch.floor(t / dt)).long()


def test_import_stdbp_plugin_does_not_import_nir():
    code = (
        "import sys, stdbp_plugin, stdbp_plugin.nn, stdbp_plugin.functional; "
        "bad = [m for m in ('nir', 'nirtorch', 'stdbp_plugin.nir') if m in sys.modules]; "
        "assert not bad, bad; "
        "assert stdbp_plugin.nir.export and 'nir' in sys.modules"  # the attribute imports it
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("build, shape", [(_mlp, (64, 30)), (_cnn, (32, 1, 6, 6))])
def test_round_trip_through_a_file_gives_identical_spike_times(tmp_path, build, shape):
    net = build()
    with torch.no_grad():
        net[1].threshold.uniform_(0.5, 1.5)  # per neuron (MLP: horizon layer) / per channel
    x = torch.rand(shape)
    path = tmp_path / "net.nir"
    graph = export(net, x[:2], path=path)
    assert isinstance(graph, nir.NIRGraph) and path.is_file()
    back = load(path)
    assert isinstance(back[0], snn.LatencyEncoder)
    expected, got = net(x), back(x)
    assert torch.isfinite(expected).float().mean() > 0.3
    assert torch.equal(expected, got)
    for a, b in zip(net, back, strict=True):
        assert type(a) is type(b)
        if isinstance(a, (snn.ReLPSPLinear, snn.ReLPSPConv2d)):
            assert torch.equal(a.weight, b.weight)
            assert (a.bias is None) == (b.bias is None)
            assert a.horizon == b.horizon and a.max_inv_slope == b.max_inv_slope


def test_round_trip_on_spike_time_inputs_without_encoder():
    torch.manual_seed(3)
    net = nn.Sequential(snn.ReLPSPLinear(12, 9), snn.ReLPSPLinear(9, 3))
    t = _times((40, 12))
    assert torch.equal(load(export(net))(t), net(t))


def test_exact_export_simulated_from_the_nir_equations_matches_the_event_model():
    """The exported graph, stepped by a simulator written from the NIR node equations (not the
    event kernel), fires in the step of the event-driven spike time up to the quantisation of
    the inputs to the step grid (each layer can move a spike by a step)."""
    net = _mlp(2)
    x = torch.rand(16, 30)
    t_in = net[0](x)
    t_out = net[1:](t_in)
    dt, num_steps = 2e-3, 2000
    graph = export(net)
    out = simulate(graph, times_to_spikes(t_in, num_steps, dt), dt)
    steps, ref = first_spike_steps(out), _steps(t_out, dt, num_steps)
    assert torch.isfinite(t_out).float().mean() > 0.5
    assert (steps - ref).abs().max() <= 3
    assert (out.sum(0) <= 1).all()  # fires at most once (the reset far below threshold)


def test_ignoring_v_reset_makes_neurons_fire_again():
    """What the metadata warns about: with v_reset = 0 the same graph fires repeatedly."""
    net = _mlp(2)
    graph = export(net)
    for node in graph.nodes.values():
        if isinstance(node, nir.IF):
            node.v_reset = np.zeros_like(node.v_reset)
    t_in = net[0](torch.rand(8, 30))
    out = simulate(graph, times_to_spikes(t_in, 1500, 2e-3), 2e-3)
    assert (out.sum(0) > 1).any()
    assert "fires at most once" in export(net).metadata["stdbp_plugin.fires_once"]


def test_exact_cnn_export_simulated_matches_including_pooling():
    net = _cnn(4)
    x = torch.rand(6, 1, 6, 6)
    t_in = net[0](x)
    t_out = net[1:](t_in)
    dt, num_steps = 4e-3, 1000
    out = simulate(export(net, x), times_to_spikes(t_in, num_steps, dt), dt)
    assert (first_spike_steps(out) - _steps(t_out, dt, num_steps)).abs().max() <= 4


def _norse_run(graph, trains, dt):
    import norse.torch as norse

    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = norse.from_nir(graph, dt=dt)
        state, outs = None, []
        with torch.no_grad():
            for k in range(trains.shape[0]):
                z, state = model(trains[k], state)
                outs.append(z)
    finally:
        logging.disable(logging.NOTSET)
    return torch.stack(outs)


def test_norse_reader_simulates_the_norse_compat_export_as_the_event_model():
    pytest.importorskip("norse")
    torch.manual_seed(5)
    net = nn.Sequential(snn.ReLPSPLinear(20, 16), snn.ReLPSPLinear(16, 5, bias=False))
    t_in = _times((30, 20), seed=6)
    dt, num_steps = 2e-3, 1500
    graph = export(net, compat="norse", dt=dt)
    out = _norse_run(graph, times_to_spikes(t_in, num_steps, dt), dt)
    t_out = net(t_in)
    assert torch.isfinite(t_out).float().mean() > 0.5
    assert (first_spike_steps(out) - _steps(t_out, dt, num_steps)).abs().max() <= 3
    assert (out.sum(0) <= 1).all()  # Norse resets to 0, far below v_threshold
    # load reads its own compat export back (a bias of 0 became 1e-6 theta per time unit)
    back = load(graph)(t_in)
    assert torch.equal(torch.isinf(back), torch.isinf(t_out))
    fin = torch.isfinite(t_out)
    assert torch.allclose(back[fin], t_out[fin], rtol=1e-4, atol=1e-4)


def test_norse_reader_cannot_read_the_exact_export_but_reads_compat_conv():
    pytest.importorskip("norse")
    torch.manual_seed(7)
    net = nn.Sequential(
        snn.ReLPSPConv2d(1, 3, 3), snn.ReLPSPConv2d(3, 2, 3), nn.Flatten(), snn.ReLPSPLinear(18, 4)
    )
    t_in = _times((4, 1, 7, 7), seed=8, p_silent=0.1)
    dt, num_steps = 2e-3, 1500
    out = _norse_run(
        export(net, t_in, compat="norse", dt=dt), times_to_spikes(t_in, num_steps, dt), dt
    )
    t_out = net(t_in)
    assert torch.isfinite(t_out).float().mean() > 0.3
    assert (first_spike_steps(out) - _steps(t_out, dt, num_steps)).abs().max() <= 3
    # Norse 1.1 has no I node: it drops them, and here fails on the missing module (hence compat)
    import norse.torch as norse

    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings(), pytest.raises(KeyError, match="synapse"):
            warnings.simplefilter("ignore")
            norse.from_nir(export(net, t_in))
    finally:
        logging.disable(logging.NOTSET)


def _trains_with_stdbp(model, t_in, n_out, steps=40):
    target = torch.arange(t_in.shape[0]) % n_out
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = temporal_cross_entropy(model(t_in), target, keep_target_alive=1.0)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.8 * losses[0]


def test_loads_a_norse_to_nir_graph_and_trains_it_with_stdbp():
    norse = pytest.importorskip("norse.torch")
    torch.manual_seed(9)
    src = norse.SequentialState(
        nn.Linear(20, 12), norse.LIFCell(), nn.Linear(12, 4), norse.LIFBoxCell()
    )
    graph = norse.to_nir(src, torch.rand(1, 20))
    model = load(graph, dt=1e-3)
    assert [type(m) for m in model] == [snn.ReLPSPLinear, snn.ReLPSPLinear]
    assert torch.equal(model[0].weight, src[0].weight) and torch.equal(model[1].bias, src[2].bias)
    assert float(model[0].threshold) == pytest.approx(1e-3)  # v_th 1 x dt (convert's rule)
    rep = model.stdbp_conversion_report
    assert any("tau_syn" in s for s in rep.ignored["1"]) and rep.biases
    _trains_with_stdbp(model, _times((16, 20), seed=10) * 1e-2, 4)


def test_loads_norse_conv_and_readout_graphs():
    norse = pytest.importorskip("norse.torch")
    src = norse.SequentialState(
        nn.Conv2d(1, 3, 3), norse.LIFBoxCell(), nn.Conv2d(3, 2, 3), norse.IAFCell()
    )
    model = load(norse.to_nir(src, torch.rand(1, 1, 8, 8)))
    assert isinstance(model[0], snn.ReLPSPConv2d) and torch.equal(model[1].weight, src[2].weight)
    assert model(_times((2, 1, 8, 8))).shape == (2, 2, 4, 4)
    readout = norse.SequentialState(
        nn.Linear(5, 4), norse.LIFCell(), nn.Linear(4, 3), norse.LIBoxCell()
    )
    model = load(norse.to_nir(readout, torch.rand(1, 5)), readout_threshold=2.0)
    assert float(model[1].threshold) == 2.0
    assert any("read-out" in why for _, _, why in model.stdbp_conversion_report.kept)
    flat = norse.SequentialState(nn.Conv2d(1, 2, 3), norse.LIFBoxCell(), nn.Flatten())
    with pytest.raises(ValueError, match=r"node '2' \(None"):
        load(norse.to_nir(flat, torch.rand(1, 1, 5, 5)))


def test_loads_an_snntorch_export_to_nir_graph_and_trains_it_with_stdbp():
    snntorch = pytest.importorskip("snntorch")
    from snntorch.export_nir import export_to_nir

    def full(n, v):
        return torch.full((n,), v)

    torch.manual_seed(11)
    src = nn.Sequential(
        nn.Linear(20, 10),
        snntorch.Leaky(beta=full(10, 0.9), threshold=full(10, 0.7), init_hidden=True),
        nn.Linear(10, 3, bias=False),
        snntorch.Synaptic(
            alpha=full(3, 0.8), beta=full(3, 0.9), threshold=full(3, 1.0), init_hidden=True
        ),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = export_to_nir(src, torch.rand(20))
    model = load(graph)
    assert float(model[0].threshold) == pytest.approx(0.7) and model[1].bias is None
    assert torch.equal(model[0].weight, src[0].weight)
    _trains_with_stdbp(model, _times((16, 20), seed=12), 3)


def test_exports_the_spec_network_of_the_lightning_path():
    from stdbp_plugin.models.stdbp_network import STDBPNetwork

    torch.manual_seed(15)
    net = STDBPNetwork("4C3-P2-6-3", (1, 8, 8), threshold=0.5)
    x = torch.rand(10, 1, 8, 8)
    back = load(export(net))
    assert torch.isfinite(net(x)).any()
    assert torch.equal(back(x), net(x))
    kinds = [snn.LatencyEncoder, snn.ReLPSPConv2d, snn.EarliestSpikePool2d, nn.Flatten]
    assert [type(m) for m in back] == [*kinds, snn.ReLPSPLinear, snn.ReLPSPLinear]


def test_exports_a_norse_model_with_relpsp_cells_through_convert():
    norse = pytest.importorskip("norse.torch")
    from stdbp_plugin.conversion import convert
    from stdbp_plugin.functional import spikes_to_times
    from stdbp_plugin.norse import ReLPSPCell

    torch.manual_seed(16)
    clock = norse.SequentialState(nn.Linear(10, 8), ReLPSPCell(), nn.Linear(8, 3), ReLPSPCell())
    trains = (torch.rand(30, 5, 10) < 0.1).float()
    graph = export(clock, trains)
    event = convert(clock, mode="event")
    assert graph.metadata["stdbp_plugin.input_dt"] == event.dt == 1e-3
    t_out = event(trains)[1]
    assert torch.isfinite(t_out).any()
    assert torch.equal(load(graph)(spikes_to_times(trains, event.dt)), t_out)


def test_exports_a_clock_driven_drop_in_model_through_convert():
    pytest.importorskip("snntorch")
    from stdbp_plugin.conversion import convert
    from stdbp_plugin.snntorch import ReLPSP

    torch.manual_seed(13)
    clock = nn.Sequential(nn.Linear(10, 8), ReLPSP(), nn.Linear(8, 3), ReLPSP())
    trains = (torch.rand(20, 5, 10) < 0.1).float()
    graph = export(clock, trains)
    assert graph.metadata["stdbp_plugin.source"] == "convert(mode='event')"
    event = convert(clock, mode="event")
    from stdbp_plugin.functional import spikes_to_times

    assert torch.equal(load(graph)(spikes_to_times(trains, event.dt)), event(trains)[1])


def _g(*nodes, metadata=None, in_shape=(4,)):
    """A chain graph input -> nodes... -> output (no type check: some nodes lack types)."""
    named = {"input": nir.Input(input_type=np.array(in_shape))}
    edges, prev = [], "input"
    for i, node in enumerate(nodes):
        named[f"n{i}"] = node
        edges.append((prev, f"n{i}"))
        prev = f"n{i}"
    named["output"] = nir.Output(output_type=np.array([3]))
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=named, edges=edges, metadata=metadata or {}, type_check=False)


def _aff(n_out=3, n_in=4):
    return nir.Affine(weight=np.ones((n_out, n_in), np.float32), bias=np.zeros(n_out, np.float32))


def _if(n=3):
    return nir.IF(r=np.ones(n, np.float32), v_threshold=np.ones(n, np.float32))


ones3 = np.ones(3, np.float32)


def test_other_writers_sum_pooling_and_flatten_map_to_earliest_spike_pooling():
    from stdbp_plugin import functional as SF

    rng = np.random.default_rng(0)
    w1, b1 = rng.normal(size=(2, 1, 3, 3)).astype(np.float32), np.full(2, 0.5, np.float32)
    w2, b2 = rng.normal(size=(3, 18)).astype(np.float32), np.zeros(3, np.float32)
    shape = np.array([2, 6, 6])
    lif = nir.LIF(
        tau=np.ones(shape), r=np.ones(shape), v_leak=np.zeros(shape), v_threshold=np.ones(shape)
    )
    graph = _g(
        nir.Conv2d(None, w1, 1, 1, 1, 1, b1),
        lif,
        nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.zeros(2)),
        nir.Flatten(input_type={"input": np.array([2, 3, 3])}, start_dim=0, end_dim=-1),
        nir.Affine(weight=w2, bias=b2),
        nir.IF(r=ones3, v_threshold=0.4 * ones3),
        in_shape=(1, 6, 6),
    )
    model = load(graph, dt=0.5)
    assert [type(m) for m in model] == [
        snn.ReLPSPConv2d,
        snn.EarliestSpikePool2d,
        nn.Flatten,
        snn.ReLPSPLinear,
    ]
    t = _times((5, 1, 6, 6), seed=14, p_silent=0.1)
    h = SF.relpsp_conv2d(t, torch.from_numpy(w1), torch.from_numpy(b1), 0.5, padding=1)
    h = SF.earliest_spike_pool2d(h, 2).flatten(1)
    ref = SF.relpsp_linear(h, torch.from_numpy(w2), torch.from_numpy(b2), 0.2)
    assert torch.equal(model(t), ref)


@pytest.mark.parametrize(
    "graph, match",
    [
        (lambda: _g(_aff(), nir.Delay(delay=ones3)), r"'n0' \(Affine\).*must feed a neuron"),
        (lambda: _g(_aff(), _if(), nir.Delay(delay=ones3)), r"'n2' \(Delay\)"),
        (lambda: _g(_aff(), nir.Threshold(threshold=ones3)), r"'n0'.*'n1' follows"),
        (lambda: _g(nir.Scale(scale=np.ones(4, np.float32))), r"'n0' \(Scale\)"),
        (lambda: _g(_if(4)), r"'n0' \(IF\).*needs a Linear"),
        (
            lambda: _g(
                nir.AvgPool2d(
                    kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])
                )
            ),
            r"'n0' \(AvgPool2d\).*averaging",
        ),
        (
            lambda: _g(_aff(), nir.LI(tau=ones3, r=ones3, v_leak=0 * ones3), _aff(3, 3), _if()),
            r"'n1' \(LI\).*read-out only as the last",
        ),
        (lambda: _g(_aff(), nir.I(r=ones3), _aff(3, 3), _if()), r"'n2' \(Affine\).*identity"),
        (
            lambda: _g(
                _aff(),
                nir.I(r=ones3),
                nir.LIF(tau=ones3, r=ones3, v_leak=0 * ones3, v_threshold=ones3),
            ),
            r"'n2' \(LIF\).*IF must follow",
        ),
        (lambda: _g(nir.I(r=np.ones(4, np.float32))), r"'n0' \(I\)"),
        (
            lambda: _g(
                nir.Conv2d(
                    None, np.ones((2, 1, 3, 3), np.float32), 1, 0, 1, 2, np.zeros(2, np.float32)
                ),
                _if(2),
            ),
            r"'n0' \(Conv2d\).*groups",
        ),
        (
            lambda: _g(_aff(), _if(), nir.NIRGraph(nodes={}, edges=[], type_check=False)),
            r"'n2' \(NIRGraph\)",
        ),
    ],
)
def test_unmappable_nodes_are_refused_by_name(graph, match):
    with pytest.raises(ValueError, match=match):
        load(graph())


def test_branching_graph_and_bad_arguments_are_refused(tmp_path):
    g = _g(_aff(), _if())
    g.edges.append(("input", "output"))
    with pytest.raises(ValueError, match="'input' has 2 successors"):
        load(g)
    with pytest.raises(ValueError, match="graph_or_path: no NIR file"):
        load(tmp_path / "missing.nir")
    with pytest.raises(ValueError, match="graph_or_path must be"):
        load(42)
    with pytest.raises(ValueError, match="dt must be"):
        load(_g(_aff(), _if()), dt=0)


@pytest.mark.parametrize(
    "model, kwargs, match",
    [
        (lambda: nn.Sequential(snn.ReLPSPLinear(4, 3), nn.ReLU()), {}, r"ReLU"),
        (lambda: nn.Sequential(snn.ReLPSPLinear(4, 3), snn.LatencyEncoder()), {}, "first layer"),
        (lambda: nn.Sequential(snn.ReLPSPConv2d(1, 2, 3)), {}, "sample_input is required"),
        (
            lambda: nn.Sequential(snn.ReLPSPConv2d(1, 2, 3), snn.EarliestSpikePool2d(2)),
            {"sample_input": torch.rand(1, 1, 6, 6), "compat": "norse", "dt": 0.01},
            r"'1' \(EarliestSpikePool2d\)",
        ),
        (lambda: nn.Sequential(snn.ReLPSPLinear(4, 3)), {"compat": "norse"}, "dt must be"),
        (lambda: nn.Sequential(snn.ReLPSPLinear(4, 3)), {"dt": 0.1}, "only used with"),
        (lambda: nn.Sequential(snn.ReLPSPLinear(4, 3)), {"compat": "loihi"}, "compat must be"),
        (lambda: nn.Sequential(nn.Linear(4, 3)), {}, "convert said"),
        (
            lambda: nn.Sequential(snn.ReLPSPLinear(4, 3)),
            {"sample_input": torch.rand(2, 7)},
            r"does not run through '0' \(ReLPSPLinear\)",
        ),
    ],
)
def test_export_refuses_what_it_cannot_write(model, kwargs, match):
    with pytest.raises(ValueError, match=match):
        export(model(), **kwargs)
