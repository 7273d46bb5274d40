"""stdbp_plugin.snntorch.functional: snnTorch's readout names for ReL-PSP outputs."""

import inspect
import time
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

snn = pytest.importorskip("snntorch")
import snntorch.functional as SFo  # noqa: E402
from snntorch import spikegen, utils  # noqa: E402

import stdbp_plugin.snntorch.functional as SF  # noqa: E402
from stdbp_plugin.functional import clock  # noqa: E402
from stdbp_plugin.snntorch import ReLPSP  # noqa: E402


def _random_train(steps=12, batch=9, n=5, p=0.12, seed=0, silent=True):
    """Several spikes per neuron, some neurons silent, some firing first at the last step."""
    g = torch.Generator().manual_seed(seed)
    spk = (torch.rand(steps, batch, n, generator=g) < p).float()
    if silent:
        spk[:, 0, :2] = 0
    spk[:, 1, 0] = 0
    spk[-1, 1, 0] = 1
    return spk, torch.randint(0, n, (batch,), generator=g)


def _onset_train(steps=10, batch=16, n=6, seed=0):
    """Each neuron fires at every step from its onset k on: count = T - k, so the most active
    neuron is the earliest and snnTorch's count readouts agree with first-spike ones."""
    g = torch.Generator().manual_seed(seed)
    k = torch.randint(0, steps - 1, (batch, n), generator=g)
    steps_ = torch.arange(steps).view(-1, 1, 1)
    return (steps_ >= k).float(), k, torch.randint(0, n, (batch,), generator=g)


def _grads(loss_fn, spk, y):
    s = spk.clone().requires_grad_()
    loss = loss_fn(s, y.clone())
    loss.sum().backward()
    return loss.detach(), s.grad


# ---- names and signatures -------------------------------------------------------------------
SAME_SIGNATURE = [
    "ce_temporal_loss",
    "mse_temporal_loss",
    "accuracy_temporal",
    "ce_rate_loss",
    "ce_count_loss",
    "mse_count_loss",
    "accuracy_rate",
    "ce_max_membrane_loss",
    "mse_membrane_loss",
    "l1_rate_sparsity",
]


@pytest.mark.parametrize("name", SAME_SIGNATURE)
def test_same_names_and_signatures_as_snntorch(name):
    ours, theirs = getattr(SF, name), getattr(SFo, name)
    if inspect.isclass(theirs):
        ours, theirs = ours.__init__, theirs.__init__
    p_ours = [(p.name, p.default) for p in inspect.signature(ours).parameters.values()]
    p_theirs = [(p.name, p.default) for p in inspect.signature(theirs).parameters.values()]
    assert p_ours == p_theirs


def test_namespaces_hold_the_relpsp_versions_and_snntorch_neutral_parts():
    assert SF.acc.accuracy_rate is SF.accuracy_rate
    assert SF.acc.accuracy_temporal is SF.accuracy_temporal
    assert SF.loss.ce_count_loss is SF.ce_count_loss
    assert SF.loss.mse_temporal_loss is SF.mse_temporal_loss
    # membrane losses, regularisers, monitors, quantisation: snnTorch's own
    assert SF.ce_max_membrane_loss is SFo.ce_max_membrane_loss
    assert SF.mse_membrane_loss is SFo.mse_membrane_loss
    assert SF.reg is SFo.reg and SF.probe is SFo.probe
    assert SF.l1_rate_sparsity is SFo.l1_rate_sparsity
    assert SF.OutputMonitor is SFo.OutputMonitor
    assert callable(SF.quant.state_quant)
    for name in SF.__all__:
        assert hasattr(SF, name), name
    assert SF.ce_count_loss().__name__ == "ce_count_loss"


# ---- first spike: snnTorch's values, analytic vectorised gradient ---------------------------
FIRST_SPIKE_CASES = [
    ("ce negate", lambda: SF.ce_temporal_loss(), lambda: SFo.ce_temporal_loss()),
    (
        "ce reciprocal",
        lambda: SF.ce_temporal_loss(inverse="reciprocal"),
        lambda: SFo.ce_temporal_loss(inverse="reciprocal"),
    ),
    (
        "ce weight, none",
        lambda: SF.ce_temporal_loss(reduction="none", weight=torch.arange(1.0, 6.0)),
        lambda: SFo.ce_temporal_loss(reduction="none", weight=torch.arange(1.0, 6.0)),
    ),
    (
        "ce weight, mean",
        lambda: SF.ce_temporal_loss(weight=torch.arange(1.0, 6.0)),
        lambda: SFo.ce_temporal_loss(weight=torch.arange(1.0, 6.0)),
    ),
    (
        "mse on/off",
        lambda: SF.mse_temporal_loss(on_target=2, off_target=9),
        lambda: SFo.mse_temporal_loss(on_target=2, off_target=9),
    ),
    (
        "mse late on, early off",
        lambda: SF.mse_temporal_loss(on_target=8, off_target=3),
        lambda: SFo.mse_temporal_loss(on_target=8, off_target=3),
    ),
    (
        "mse tolerance",
        lambda: SF.mse_temporal_loss(on_target=1, off_target=10, tolerance=2),
        lambda: SFo.mse_temporal_loss(on_target=1, off_target=10, tolerance=2),
    ),
    (
        "mse sum",
        lambda: SF.mse_temporal_loss(on_target=0, off_target=11, reduction="sum"),
        lambda: SFo.mse_temporal_loss(on_target=0, off_target=11, reduction="sum"),
    ),
]


@pytest.mark.parametrize("case", FIRST_SPIKE_CASES, ids=[c[0] for c in FIRST_SPIKE_CASES])
def test_first_spike_losses_equal_snntorch_in_value_and_gradient(case):
    _, ours, theirs = case
    spk, y = _random_train()
    value, grad = _grads(ours(), spk, y)
    value_ref, grad_ref = _grads(theirs(), spk, y)
    torch.testing.assert_close(value, value_ref.reshape(value.shape))
    torch.testing.assert_close(grad, grad_ref)


def test_mse_temporal_loss_with_time_targets_equals_snntorch_and_leaves_targets_alone():
    spk, _ = _random_train()
    times = torch.tensor([[3.0, -1.0, 0.0, 7.0, -4.0]]).expand(spk.shape[1], 5).contiguous()
    kept = times.clone()
    value, grad = _grads(SF.mse_temporal_loss(target_is_time=True, tolerance=1), spk, times)
    assert torch.equal(times, kept)  # snnTorch's writes T + m into the caller's tensor
    value_ref, grad_ref = _grads(
        SFo.mse_temporal_loss(target_is_time=True, tolerance=1), spk, times.clone()
    )
    torch.testing.assert_close(value, value_ref)
    torch.testing.assert_close(grad, grad_ref)


def test_mse_temporal_loss_defaults_follow_snntorch_docs_not_its_all_zero_targets():
    # snnTorch documents "correct at t=0, incorrect at the final step", but its targets_convert
    # clamps the off targets of on_target=0, off_target=-1 to 0 (snntorch PR #361)
    spk, y = _random_train()
    steps = spk.shape[0]
    ours = SF.mse_temporal_loss()(spk, y)
    explicit = SFo.mse_temporal_loss(on_target=0, off_target=steps - 1)(spk, y)
    torch.testing.assert_close(ours, explicit)
    k = SF.first_spike_step(spk)
    target = torch.where(F.one_hot(y, 5).bool(), 0.0, steps - 1.0)
    torch.testing.assert_close(ours, ((k - target) / steps).square().mean())


def test_mse_temporal_loss_weight_weighs_each_sample_by_its_class():
    spk, y = _random_train()
    w = torch.linspace(0.5, 2.0, 5)
    per_entry = SF.mse_temporal_loss(reduction="none")(spk, y)
    weighted = SF.mse_temporal_loss(reduction="none", weight=w)(spk, y)
    torch.testing.assert_close(weighted, per_entry * w[y][:, None])
    torch.testing.assert_close(SF.mse_temporal_loss(weight=w)(spk, y), weighted.mean())


def test_first_spike_step_gradient_is_minus_grad_at_the_first_spike_without_a_loop():
    spk, _ = _random_train(steps=20, batch=64, n=30, p=0.05)
    steps = spk.shape[0]
    s = spk.clone().requires_grad_()
    k = SF.first_spike_step(s)
    fired = spk.any(0)
    first = spk.argmax(0)
    assert torch.equal(k, torch.where(fired, first, steps - 1).float())
    g = torch.randn(k.shape, dtype=torch.float64).float()
    (k * g).sum().backward()
    expected = torch.zeros_like(spk)
    expected.scatter_(0, torch.where(fired, first, steps - 1).unsqueeze(0), -g.unsqueeze(0))
    assert torch.equal(s.grad, expected)


def test_vectorised_backward_is_much_faster_than_snntorchs_loop(one_thread):
    spk, y = _random_train(steps=25, batch=128, n=100, p=0.05, silent=False)

    def timed(fn):
        best = float("inf")
        for _ in range(2):
            s = spk.clone().requires_grad_()
            start = time.perf_counter()
            fn()(s, y).backward()
            best = min(best, time.perf_counter() - start)
        return best

    ours, theirs = timed(SF.ce_temporal_loss), timed(SFo.ce_temporal_loss)
    assert ours * 5 < theirs, (ours, theirs)


def test_accuracy_temporal_equals_snntorch():
    for seed in range(3):
        spk, y = _random_train(steps=10, batch=40, n=5, p=0.1, seed=seed)
        assert SF.accuracy_temporal(spk, y) == SFo.accuracy_temporal(spk, y)
    assert isinstance(SF.accuracy_temporal(spk, y), np.floating)


# ---- spike counts read as first-spike times --------------------------------------------------
@pytest.mark.parametrize("pop", [False, True])
def test_accuracy_rate_agrees_with_snntorch_when_the_earliest_is_the_most_active(pop):
    spk, k, y = _onset_train(n=12)
    kwargs = {"population_code": True, "num_classes": 4} if pop else {}
    best = k.float().view(-1, 4, 3).mean(-1).argmin(1) if pop else k.argmin(1)
    y = torch.where(torch.arange(len(y)) % 2 == 0, best, y % 4 if pop else y)
    ours = SF.accuracy_rate(spk, y, **kwargs)
    assert ours == SFo.accuracy_rate(spk, y, **kwargs)
    assert 0 < ours < 1


def test_ce_count_loss_equals_snntorch_when_count_is_steps_after_onset():
    # count_c = T - k_c, and softmax is shift invariant: CE(count) = CE(-k)
    spk, _, y = _onset_train()
    w = torch.linspace(0.5, 1.5, 6)
    for kw in ({}, {"reduction": "none"}, {"weight": w}):
        torch.testing.assert_close(SF.ce_count_loss(**kw)(spk, y), SFo.ce_count_loss(**kw)(spk, y))
    # with weights snnTorch returns the unreduced terms for reduction="sum"; ours sums them
    terms = SFo.ce_count_loss(weight=w, reduction="sum")(spk, y)
    torch.testing.assert_close(SF.ce_count_loss(weight=w, reduction="sum")(spk, y), terms.sum())


def test_count_losses_are_the_documented_first_spike_formulas():
    spk, y = _random_train(steps=12, batch=9, n=8)
    steps = spk.shape[0]
    k = SF.first_spike_step(spk)
    ce = F.cross_entropy(-k, y, reduction="none")
    torch.testing.assert_close(SF.ce_count_loss(reduction="none")(spk, y), ce)
    torch.testing.assert_close(SF.ce_rate_loss()(spk, y), ce.mean())
    # population code: the mean first-spike step of each class's consecutive outputs
    y4 = y % 4
    kbar = k.view(-1, 4, 2).mean(-1)
    pop = {"population_code": True, "num_classes": 4}
    torch.testing.assert_close(
        SF.ce_count_loss(**pop)(spk, y4), F.cross_entropy(-kbar, y4, reduction="mean")
    )
    # mse_count_loss: target step (1 - rate)(T - 1), squared error over T
    rate = torch.where(F.one_hot(y4, 4).bool(), 0.75, 0.25)
    expected = ((kbar - (1 - rate) * (steps - 1)) ** 2).mean() / steps
    torch.testing.assert_close(SF.mse_count_loss(0.75, 0.25, **pop)(spk, y4), expected)
    w = torch.tensor([1.0, 2.0, 0.5, 1.5])
    terms = SF.mse_count_loss(0.75, 0.25, reduction="none", **pop)(spk, y4)
    assert terms.shape == (spk.shape[1], 4)
    torch.testing.assert_close(
        SF.mse_count_loss(0.75, 0.25, weight=w, **pop)(spk, y4), (terms * w[y4][:, None]).mean()
    )
    assert SF.accuracy_rate(spk, y) == SF.accuracy_temporal(spk, y)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: SF.mse_temporal_loss(multi_spike=True), "fires once"),
        (lambda: SF.mse_count_loss(correct_rate=1.5), "correct_rate"),
        (lambda: SF.ce_temporal_loss(inverse="log"), "inverse"),
        (lambda: SF.mse_temporal_loss(target_is_time=True, weight=torch.ones(5)), "weight"),
    ],
)
def test_bad_arguments_raise_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_inputs_raise_value_error():
    spk, y = _random_train()
    with pytest.raises(ValueError, match="num_steps, batch"):
        SF.ce_temporal_loss()(spk[0], y)
    with pytest.raises(ValueError, match="class indices"):
        SF.ce_count_loss()(spk, y.float())
    with pytest.raises(ValueError, match="outside"):
        SF.ce_temporal_loss()(spk, y + 5)
    with pytest.raises(ValueError, match="num_classes"):
        SF.ce_count_loss(population_code=True)(spk, y)
    with pytest.raises(ValueError, match="multiple"):
        SF.accuracy_rate(spk, y, population_code=True, num_classes=3)


# ---- through ReL-PSP neurons: the exact spike-time gradient ----------------------------------
def _relpsp_net(dtype=torch.float64, dt=1.0, silent_grad=0.0, seed=1, n_in=20, hidden=16):
    torch.manual_seed(seed)
    fc1, fc2 = torch.nn.Linear(n_in, hidden), torch.nn.Linear(hidden, 5)
    for fc in (fc1, fc2):
        torch.nn.init.normal_(fc.weight, 0.05 / dt, 0.3 / dt)
        torch.nn.init.zeros_(fc.bias)
    out = ReLPSP(dt=dt, init_hidden=True, output=True, silent_grad=silent_grad)
    net = torch.nn.Sequential(fc1, ReLPSP(dt=dt, init_hidden=True), fc2, out).to(dtype)
    return net, out


def _step(net, data):
    utils.reset(net)
    spk, mem = zip(*(net(x) for x in data), strict=True)
    return torch.stack(spk), torch.stack(mem)


def _rates(y, on, off):
    """Per-entry rates in float64 (torch.where of two Python floats would round to float32)."""
    on = torch.tensor(on, dtype=torch.float64)
    return torch.where(F.one_hot(y, 5).bool(), on, off)


GRADIENT_LOSSES = {
    "ce_temporal_loss": (SF.ce_temporal_loss(), lambda x, y, T: F.cross_entropy(-x, y)),
    "mse_temporal_loss": (
        SF.mse_temporal_loss(on_target=1, off_target=-2),
        lambda x, y, T: (
            ((x - torch.where(F.one_hot(y, 5).bool(), 1.0, T - 2.0)) / T).square().mean()
        ),
    ),
    "ce_count_loss": (SF.ce_count_loss(), lambda x, y, T: F.cross_entropy(-x, y)),
    "mse_count_loss": (
        SF.mse_count_loss(correct_rate=0.9, incorrect_rate=0.3),
        lambda x, y, T: (x - (1 - _rates(y, 0.9, 0.3)) * (T - 1)).square().mean() / T,
    ),
}


@pytest.mark.parametrize("name", list(GRADIENT_LOSSES))
@pytest.mark.parametrize("dt", [1.0, 0.25])
@pytest.mark.parametrize("last_step", [False, True], ids=["interior", "last step"])
def test_gradient_through_relpsp_equals_the_loss_written_on_spike_time(name, dt, last_step):
    """dL/dt* = dL/dk / dt: our readout on the train gives the same weight gradients as the
    same loss written on x = t* / dt (valued at the step index k, derivative 1/dt); float64,
    random two-layer net, silent outputs included, with and without an output spike in the
    window's last step."""
    loss_fn, on_times = GRADIENT_LOSSES[name]
    steps = 30
    g = torch.Generator().manual_seed(1)
    x_in = torch.rand(24, 20, generator=g, dtype=torch.float64)
    data = spikegen.latency(x_in, num_steps=steps, normalize=True, linear=True, clip=True)
    data = data.to(torch.float64)
    y = torch.randint(0, 5, (24,), generator=g)
    net, out = _relpsp_net(dt=dt, seed=0 if last_step else 1)

    spk, _ = _step(net, data)
    loss_fn(spk, y).backward()
    ours = [p.grad.clone() for p in net.parameters()]

    net.zero_grad()
    spk, _ = _step(net, data)
    fired = spk.any(0)
    assert fired.float().mean() > 0.6 and not fired.all()  # silent outputs are covered too
    assert bool(spk[-1].any()) == last_step
    t = out.spike_time / dt
    k = spk.argmax(0).to(t.dtype)
    x = torch.where(fired, k + (t - t.detach()), torch.full_like(t, steps - 1.0))
    on_times(x, y, steps).backward()
    exact = [p.grad.clone() for p in net.parameters()]
    assert any(g.abs().sum() > 0 for g in exact)
    for a, b in zip(ours, exact, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_first_spike_readouts_do_not_trip_the_dense_loss_warning(monkeypatch):
    """Ours stay silent; snnTorch's count loss on the same ReL-PSP output warns and names this
    module. (clock checks the first backward steps of a process only: the check budget,
    ``clock._count_checks_left``, is refilled before each loss.)"""
    torch.manual_seed(0)
    fc = torch.nn.Linear(20, 5)
    torch.nn.init.normal_(fc.weight, 0.05, 0.3)
    net = torch.nn.Sequential(fc, ReLPSP(init_hidden=True, output=True, silent_grad=1.0))
    data = spikegen.latency(torch.rand(8, 20), num_steps=20, normalize=True, linear=True)
    y = torch.arange(8) % 5

    def train(loss_fn):
        monkeypatch.setattr(clock, "_count_checks_left", 20)
        spk, _ = _step(net, data)
        assert spk.any(0).float().mean() > 0.5
        loss_fn(spk, y).backward()

    ours = [SF.ce_temporal_loss(), SF.mse_temporal_loss(), SF.ce_rate_loss()]
    ours += [SF.ce_count_loss(), SF.mse_count_loss(0.8, 0.2)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", clock.DenseSpikeTrainLossWarning)
        for loss_fn in ours:
            train(loss_fn)
    with pytest.warns(clock.DenseSpikeTrainLossWarning) as caught:
        train(SFo.ce_count_loss())
    assert "import stdbp_plugin.snntorch.functional as SF" in str(caught[0].message)


# ---- learning: every readout trains a ReL-PSP network ----------------------------------------
STEPS = 16


def _train_digits(digits, loss_fn, reads_mem, iters=300, lr=5e-3):
    """nn.Linear(64, 10) + ReLPSP stepped over T = 16 steps of latency-coded digits; the
    output neuron revives silent outputs (silent_grad=1), as convert sets it."""
    x, y = digits
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    x, y = x[perm], y[perm]
    torch.manual_seed(0)
    fc = torch.nn.Linear(64, 10)
    torch.nn.init.normal_(fc.weight, 0.0, 0.0625)
    torch.nn.init.zeros_(fc.bias)
    net = torch.nn.Sequential(fc, ReLPSP(init_hidden=True, output=True, silent_grad=1.0))
    opt = torch.optim.Adam(net.parameters(), lr=lr)

    def run(xb):
        data = spikegen.latency(
            xb, num_steps=STEPS, tau=5, threshold=0.01, clip=True, normalize=True, linear=True
        )
        return _step(net, data)

    for it in range(iters):
        i = (it * 64) % 1152
        spk, mem = run(x[i : i + 64])
        loss = loss_fn(mem if reads_mem else spk, y[i : i + 64])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return run(x[1200:]), y[1200:]


LEARNING = {
    "ce_temporal_loss": (lambda: SF.ce_temporal_loss(), False, "temporal"),
    "mse_temporal_loss": (lambda: SF.mse_temporal_loss(), False, "temporal"),
    "ce_rate_loss": (lambda: SF.ce_rate_loss(), False, "rate"),
    "ce_count_loss": (lambda: SF.ce_count_loss(), False, "rate"),
    "mse_count_loss": (
        lambda: SF.mse_count_loss(correct_rate=0.8, incorrect_rate=0.2),
        False,
        "rate",
    ),
    "ce_max_membrane_loss": (lambda: SF.ce_max_membrane_loss(), True, "max mem"),
    "mse_membrane_loss": (lambda: SF.mse_membrane_loss(), True, "last mem"),
}


@pytest.mark.parametrize("name", list(LEARNING))
def test_every_readout_trains_a_relpsp_net_on_digits(digits, name, one_thread):
    make, reads_mem, score = LEARNING[name]
    (spk, mem), y = _train_digits(digits, make(), reads_mem)
    if score == "temporal":
        acc = SF.accuracy_temporal(spk, y)
    elif score == "rate":
        acc = SF.accuracy_rate(spk, y)
    elif score == "max mem":
        acc = float((mem.max(0).values.argmax(1) == y).float().mean())
    else:
        acc = float((mem[-1].argmax(1) == y).float().mean())
    print(f"{name}: test accuracy {acc:.3f}")
    assert acc > 0.5, (name, acc)  # chance is 0.1
