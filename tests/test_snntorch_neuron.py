"""stdbp_plugin.snntorch.ReLPSP: dynamics against the closed form, snnTorch conventions."""

import inspect
import re
import warnings

import pytest
import torch

snn = pytest.importorskip("snntorch")
from snntorch import functional as SF  # noqa: E402
from snntorch import spikegen, surrogate, utils  # noqa: E402

from stdbp_plugin.functional import relpsp_linear  # noqa: E402
from stdbp_plugin.snntorch import (  # noqa: E402
    IgnoredArgumentWarning,
    ReLPSP,
    ReLPSPAlpha,
    ReLPSPLapicque,
    ReLPSPRLeaky,
    ReLPSPRSynaptic,
    ReLPSPSynaptic,
)

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
    exact = ReLPSP(silent_grad=0.0)
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


# ---- the literal swap: signatures, warnings, refusals --------------------------------------
FACES = [
    (ReLPSP, snn.Leaky),
    (ReLPSPSynaptic, snn.Synaptic),
    (ReLPSPAlpha, snn.Alpha),
    (ReLPSPLapicque, snn.Lapicque),
]


def _construct(factory):
    """Build with every warning recorded; returns (module, list of IgnoredArgumentWarning)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = factory()
    assert all(issubclass(w.category, IgnoredArgumentWarning) for w in caught), caught
    return module, caught


@pytest.mark.parametrize("ours, upstream", FACES)
def test_signature_is_the_snntorch_signature_plus_keyword_only_extras(ours, upstream):
    mine = list(inspect.signature(ours.__init__).parameters.values())[1:]
    theirs = list(inspect.signature(upstream.__init__).parameters.values())[1:]
    assert [p.name for p in mine[: len(theirs)]] == [p.name for p in theirs]
    for p, q in zip(mine[: len(theirs)], theirs, strict=True):
        assert p.kind is q.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        assert p.default == (None if q.default is q.empty else q.default), p.name
    extras = {p.name: p.default for p in mine[len(theirs) :]}
    assert extras == {"dt": 1.0, "bias": None, "silent_grad": 1.0}
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in mine[len(theirs) :])
    assert issubclass(ours, upstream)


@pytest.mark.parametrize(
    "factory",
    [
        ReLPSP,
        ReLPSPSynaptic,
        ReLPSPAlpha,
        ReLPSPLapicque,
        # what convert's adapter passes, by keyword
        lambda: ReLPSP(
            threshold=torch.tensor(0.5),
            learn_threshold=True,
            init_hidden=True,
            output=True,
            dt=0.5,
            bias=torch.zeros(3),
            silent_grad=1.0,
        ),
        lambda: ReLPSPSynaptic(threshold=2.0, init_hidden=True, output=True, dt=0.1),
        # snnTorch's defaults written out
        lambda: ReLPSP(
            None, 1.0, None, False, False, False, False, False, "subtract", False, False, 1.0
        ),
        lambda: ReLPSPAlpha(reset_mechanism="zero", inhibition=False, state_quant=False),
        lambda: ReLPSPLapicque(beta=False, R=False, C=False, time_step=1),
    ],
)
def test_defaults_and_kept_arguments_warn_nothing(factory):
    _, caught = _construct(factory)
    assert caught == []


@pytest.mark.parametrize(
    "factory, ignored",
    [
        # snnTorch tutorials 5/6: snn.Leaky(beta=beta, spike_grad=spike_grad, init_hidden=True)
        (
            lambda: ReLPSP(beta=0.5, spike_grad=surrogate.fast_sigmoid(slope=25), init_hidden=True),
            {"beta", "spike_grad"},
        ),
        (lambda: ReLPSP(0.9), {"beta"}),  # beta is the first positional argument
        (lambda: ReLPSP(0.9, threshold=0.5), {"beta"}),
        (lambda: ReLPSP(torch.rand(10), learn_beta=True), {"beta", "learn_beta"}),
        (
            lambda: ReLPSP(0.9, surrogate_disable=True, reset_mechanism="none", reset_delay=False),
            {"beta", "surrogate_disable", "reset_mechanism", "reset_delay"},
        ),
        (lambda: ReLPSPSynaptic(alpha=0.9, beta=0.8), {"alpha", "beta"}),
        (lambda: ReLPSPSynaptic(0.9, 0.8, learn_alpha=True), {"alpha", "beta", "learn_alpha"}),
        (
            lambda: ReLPSPAlpha(alpha=0.9, beta=0.8, init_hidden=True, output=True),
            {"alpha", "beta"},
        ),
        (lambda: ReLPSPLapicque(beta=0.9), {"beta"}),
        (lambda: ReLPSPLapicque(R=5.1, C=5e-3, time_step=1e-3), {"R", "C", "time_step"}),
    ],
)
def test_one_warning_names_exactly_the_ignored_arguments(factory, ignored):
    neuron, caught = _construct(factory)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert set(re.findall(r"(\w+)=", message)) == ignored
    assert caught[0].filename == __file__  # points at the user's line
    assert type(neuron).__name__ in message


def test_the_swap_keeps_threshold_and_stores_what_it_ignores():
    with pytest.warns(IgnoredArgumentWarning):
        neuron = ReLPSP(0.9, threshold=0.5, learn_threshold=True, reset_mechanism="zero")
    assert isinstance(neuron.threshold, torch.nn.Parameter) and neuron.threshold.item() == 0.5
    assert neuron.beta.item() == pytest.approx(0.9) and neuron.reset_mechanism == "zero"
    # ... but it has no effect: same spikes as a plain ReLPSP(threshold=0.5)
    plain = ReLPSP(threshold=0.5)
    for c in [torch.full((1, 3), v) for v in (0.1, 0.2, 0.0, 0.3)]:
        assert torch.equal(neuron(c)[0], plain(c)[0])
    assert torch.equal(neuron.spike_time, plain.spike_time)


@pytest.mark.parametrize("cls", [ReLPSP, ReLPSPSynaptic, ReLPSPAlpha, ReLPSPLapicque])
@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"inhibition": True}, "inhibition"),
        ({"state_quant": lambda mem: mem.round()}, "state_quant"),
        ({"graded_spikes_factor": 0.5}, "graded_spikes_factor"),
        ({"learn_graded_spikes_factor": True}, "learn_graded_spikes_factor"),
    ],
)
def test_arguments_it_cannot_honour_raise_value_error(cls, kwargs, name):
    if name not in inspect.signature(cls.__init__).parameters:
        with pytest.raises(TypeError):  # as with the snnTorch class it replaces
            cls(**kwargs)
        return
    with pytest.raises(ValueError, match=f"{name}=.*cannot|cannot honour {name}"):
        cls(**kwargs)


def test_invalid_reset_mechanism_raises_as_in_snntorch():
    with pytest.raises(ValueError, match="reset_mechanism"):
        ReLPSP(0.9, reset_mechanism="sometimes")


@pytest.mark.parametrize(
    "factory, upstream",
    [
        (lambda: ReLPSPRLeaky(beta=0.9, linear_features=10), "snn.RLeaky"),
        (lambda: ReLPSPRLeaky(0.9, all_to_all=False, V=0.5), "snn.RLeaky"),
        (lambda: ReLPSPRSynaptic(0.9, 0.8, linear_features=10), "snn.RSynaptic"),
    ],
)
def test_recurrent_neurons_raise_a_clear_error(factory, upstream):
    with pytest.raises(ValueError, match=rf"recurrent.*\({re.escape(upstream)}\).*feed-forward"):
        factory()


# ---- the literal swap in snnTorch's own pipelines ------------------------------------------
def test_tutorial_5_class_net_with_explicit_state():
    beta, num_steps = 0.95, 12

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = torch.nn.Linear(20, 16)
            self.lif1 = ReLPSP(beta=beta)
            self.fc2 = torch.nn.Linear(16, 4)
            self.lif2 = ReLPSP(beta=beta)

        def forward(self, x):
            mem1 = self.lif1.init_leaky()
            mem2 = self.lif2.init_leaky()
            spk2_rec, mem2_rec = [], []
            for step in range(num_steps):
                cur1 = self.fc1(x[step])
                spk1, mem1 = self.lif1(cur1, mem1)
                cur2 = self.fc2(spk1)
                spk2, mem2 = self.lif2(cur2, mem2)
                spk2_rec.append(spk2)
                mem2_rec.append(mem2)
            return torch.stack(spk2_rec, dim=0), torch.stack(mem2_rec, dim=0)

    torch.manual_seed(0)
    with pytest.warns(IgnoredArgumentWarning):
        net = Net()
    torch.nn.init.normal_(net.fc1.weight, 0.3, 0.1)
    torch.nn.init.normal_(net.fc2.weight, 0.3, 0.1)
    x = spikegen.latency(torch.rand(5, 20), num_steps=num_steps, normalize=True, linear=True)
    spk_rec, mem_rec = net(x)
    assert spk_rec.shape == mem_rec.shape == (num_steps, 5, 4)
    loss = SF.ce_temporal_loss()(spk_rec, torch.tensor([0, 1, 2, 3, 0]))
    loss.backward()
    assert torch.isfinite(net.fc1.weight.grad).all() and net.fc1.weight.grad.abs().sum() > 0


def test_tutorial_6_sequential_net_with_init_hidden():
    spike_grad = surrogate.fast_sigmoid(slope=25)
    beta = 0.5
    with pytest.warns(IgnoredArgumentWarning):
        net = torch.nn.Sequential(
            torch.nn.Conv2d(1, 4, 5),
            torch.nn.MaxPool2d(2),
            ReLPSP(beta=beta, spike_grad=spike_grad, init_hidden=True),
            torch.nn.Flatten(),
            torch.nn.Linear(4 * 4 * 4, 3),
            ReLPSP(beta=beta, spike_grad=spike_grad, init_hidden=True, output=True),
        )
    data = torch.rand(6, 2, 1, 12, 12)
    utils.reset(net)
    spk_rec = torch.stack([net(data[step])[0] for step in range(6)])
    assert spk_rec.shape == (6, 2, 3)
    assert net[2].step == 6
    utils.reset(net)
    assert net[2].step == 0 and net[5].step == 0


@pytest.mark.parametrize("ours, upstream", FACES)
def test_snntorch_utils_treat_each_face_like_the_class_it_replaces(ours, upstream):
    torch.manual_seed(0)
    mine = torch.nn.Sequential(torch.nn.Linear(3, 2), ours(init_hidden=True, output=True))
    theirs_kwargs = {"Leaky": (0.9,), "Synaptic": (0.9, 0.8), "Alpha": (0.9, 0.8)}
    args = theirs_kwargs.get(upstream.__name__, ())
    kw = {"beta": 0.9} if upstream is snn.Lapicque else {}
    theirs = torch.nn.Sequential(
        torch.nn.Linear(3, 2), upstream(*args, init_hidden=True, output=True, **kw)
    )
    # snntorch.backprop reads the number of outputs of the last layer from its class
    assert utils._final_layer_check(mine) == utils._final_layer_check(theirs)
    x = torch.rand(4, 3)
    assert len(mine(x)) == len(theirs(x)) == utils._final_layer_check(mine)
    assert mine[1].step == 1
    utils.reset(mine)
    assert mine[1].step == 0
    # a checkpoint of the snnTorch model loads into the swapped one (same state_dict keys)
    mine.load_state_dict(theirs.state_dict())
    assert torch.equal(mine[0].weight, theirs[0].weight)


def test_synaptic_alpha_and_lapicque_fire_like_relpsp():
    torch.manual_seed(0)
    currents = [torch.randn(3, 5) * 0.4 + 0.1 for _ in range(8)]
    ref = ReLPSP()
    syn_n, alpha_n, lap_n = ReLPSPSynaptic(), ReLPSPAlpha(), ReLPSPLapicque()
    syn, mem_s = syn_n.init_synaptic()
    exc, inh, mem_a = alpha_n.init_alpha()
    mem_l = lap_n.init_lapicque()
    mem = ref.init_leaky()
    for c in currents:
        spk, mem = ref(c, mem)
        spk_s, syn, mem_s = syn_n(c, syn, mem_s)
        spk_a, exc, inh, mem_a = alpha_n(c, exc, inh, mem_a)
        spk_l, mem_l = lap_n(c, mem_l)
        assert torch.equal(spk, spk_s) and torch.equal(spk, spk_a) and torch.equal(spk, spk_l)
        assert torch.equal(mem, mem_s) and torch.equal(mem, mem_a) and torch.equal(mem, mem_l)
        torch.testing.assert_close(exc + inh, mem)  # V = S t - P split as syn_exc + syn_inh
    torch.testing.assert_close(syn, sum(currents))  # syn = slope S, no decay
    assert torch.equal(alpha_n.spike_time, ref.spike_time)


def test_init_hidden_refuses_state_arguments_for_every_face():
    x = torch.rand(2, 3)
    for neuron, state in [
        (ReLPSPSynaptic(init_hidden=True), (x, x)),
        (ReLPSPAlpha(init_hidden=True), (x, x, x)),
        (ReLPSPLapicque(init_hidden=True), (x,)),
    ]:
        with pytest.raises(TypeError, match="init_hidden"):
            neuron(x, *state)
        assert isinstance(neuron(x), torch.Tensor)


def test_detach_hidden_and_reset_hidden_reach_every_face():
    w = torch.tensor([[0.2]], requires_grad=True)
    faces = [ReLPSPSynaptic(init_hidden=True), ReLPSPAlpha(init_hidden=True)]
    for neuron in faces:
        for _ in range(3):
            neuron(torch.ones(1, 1) @ w.T)
    ReLPSPAlpha.detach_hidden()  # any face's classmethod detaches every ReL-PSP neuron
    for neuron in faces:
        assert neuron._clock.s.grad_fn is None and not neuron.mem.requires_grad
    snn.Alpha.reset_hidden()  # snnTorch's own classmethods reset the faces of their class
    snn.Synaptic.reset_hidden()
    assert all(neuron.step == 0 for neuron in faces)


@pytest.mark.filterwarnings("ignore::stdbp_plugin.snntorch.IgnoredArgumentWarning")
@pytest.mark.parametrize(
    "kwargs",
    [{"beta": 0.9}, {"R": 5.1, "C": 5e-3, "time_step": 1e-3}, {"beta": 0.9, "R": 2.0}],
)
def test_lapicque_checkpoints_load_whatever_rc_arguments_were_given(kwargs):
    upstream = snn.Lapicque(**kwargs, threshold=0.7)
    neuron = ReLPSPLapicque(**kwargs)
    neuron.load_state_dict(upstream.state_dict())  # strict: same keys and shapes
    assert neuron.threshold.item() == pytest.approx(0.7)


def test_whole_model_torch_save_round_trip(tmp_path):
    net = torch.nn.Sequential(
        torch.nn.Linear(3, 2), ReLPSPSynaptic(init_hidden=True), ReLPSPAlpha(init_hidden=True)
    )
    net(torch.rand(4, 3))
    torch.save(net, tmp_path / "net.pt")  # snnTorch's default surrogate closure is not kept
    loaded = torch.load(tmp_path / "net.pt", weights_only=False)
    assert type(loaded[2]) is ReLPSPAlpha and loaded[1].step == 1
    torch.testing.assert_close(loaded[0].weight, net[0].weight)
