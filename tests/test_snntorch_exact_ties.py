"""The first-spike accuracies order outputs that fire in the same step by their exact times."""

import numpy as np
import pytest
import torch

snn = pytest.importorskip("snntorch")
import snntorch.functional as SFo  # noqa: E402
from snntorch import utils  # noqa: E402

import stdbp_plugin as stdbp  # noqa: E402
import stdbp_plugin.snntorch.functional as SF  # noqa: E402
from stdbp_plugin.snntorch import ReLPSP  # noqa: E402
from stdbp_plugin.snntorch.exact_times import recorded_spike_times  # noqa: E402

STEPS = 12


def _tied_pair_net(dt=1.0):
    """Linear(1, 3) + ReLPSP on a constant input: outputs 0 and 1 first fire in the same step,
    output 1 earlier in exact time (larger slope); output 2 later."""
    fc = torch.nn.Linear(1, 3, bias=False)
    with torch.no_grad():
        fc.weight.copy_(torch.tensor([[0.50], [0.52], [0.2]]))
    return torch.nn.Sequential(fc, ReLPSP(init_hidden=True, output=True, dt=dt))


def _record(net, x, steps=STEPS, reset=utils.reset):
    reset(net)
    spk, _ = zip(*(net(x) for _ in range(steps)), strict=True)
    return torch.stack(spk)


@pytest.mark.parametrize("dt", [1.0, 0.5])
def test_a_tie_in_the_step_goes_to_the_earlier_exact_spike(dt):
    net = _tied_pair_net(dt)
    x = torch.ones(4, 1)
    spk = _record(net, x)
    k = SF.first_spike_step(spk)
    t = net[-1].spike_time / dt
    # preconditions: a real tie in the step, broken the other way by exact time
    assert torch.equal(k[:, 0], k[:, 1]) and bool((k[:, 0] < k[:, 2]).all())
    assert bool((t[:, 1] < t[:, 0]).all())
    y = torch.ones(4, dtype=torch.long)
    assert SF.accuracy_rate(spk, y) == 1.0
    assert SF.accuracy_temporal(spk, y) == 1.0
    # snnTorch's rule on the same train (lowest index) says 0
    assert SFo.accuracy_temporal(spk, y) == 0.0
    torch.testing.assert_close(recorded_spike_times(spk), t.double())


def _brute_force_earliest(k, t):
    """Per sample: the smallest step, among those the smallest exact time, then the lowest
    index (a loop, independent of the vectorised code)."""
    out = []
    for kb, tb in zip(k.tolist(), t.tolist(), strict=True):
        out.append(min(range(len(kb)), key=lambda c: (kb[c], tb[c], c)))
    return torch.tensor(out)


@pytest.mark.parametrize("seed", range(4))
def test_accuracies_equal_a_brute_force_order_on_random_relpsp_nets(seed):
    g = torch.Generator().manual_seed(seed)
    fc = torch.nn.Linear(20, 10)
    torch.nn.init.normal_(fc.weight, 0.03, 0.05, generator=g)
    net = torch.nn.Sequential(fc, ReLPSP(init_hidden=True, output=True))
    x = torch.rand(64, 20, generator=g)
    y = torch.randint(0, 10, (64,), generator=g)
    spk = _record(net, x, steps=16)
    k = SF.first_spike_step(spk)
    t = net[-1].spike_time
    t = torch.where(torch.isinf(t), torch.full_like(t, 16.0), t)
    earliest = k == k.amin(1, keepdim=True)
    assert bool(((earliest.sum(1) > 1) & (k.amin(1) < 15)).any())  # step ties exist
    expected = _brute_force_earliest(k, t)
    assert not torch.equal(expected, k.argmin(1))  # the rule changes some answers
    assert SF.accuracy_temporal(spk, y) == np.mean((expected == y).numpy())
    assert SF.accuracy_rate(spk, y) == np.mean((expected == y).numpy())
    # population code: the group means of the steps, ties by the group means of the times
    kbar, tbar = k.view(64, 5, 2).mean(-1), t.view(64, 5, 2).mean(-1)
    y5 = y % 5
    want = np.mean((_brute_force_earliest(kbar, tbar) == y5).numpy())
    assert SF.accuracy_rate(spk, y5, population_code=True, num_classes=5) == want


def test_records_that_are_not_a_neurons_sequence_keep_the_lowest_index_rule():
    net = _tied_pair_net()
    x = torch.ones(4, 1)
    y = torch.ones(4, dtype=torch.long)
    spk = _record(net, x)
    assert recorded_spike_times(spk) is not None
    # a window of the sequence (its first step cut), a copy with an extra spike, a changed
    # spike, the neuron reset or stepped on since: no source, snnTorch's tie rule
    extra = spk.clone()
    extra[-1] = 1.0
    moved = spk.clone()
    moved[:, :, 2] = 0.0
    for other in (spk[1:], extra, moved):
        assert recorded_spike_times(other) is None
        assert SF.accuracy_temporal(other, y) == SFo.accuracy_temporal(other, y)
    net(x)  # one step more: the neuron's sequence is now T + 1 steps long
    assert recorded_spike_times(spk) is None
    assert SF.accuracy_rate(spk, y) == 0.0
    utils.reset(net)
    assert recorded_spike_times(spk) is None


def test_two_neurons_with_the_same_steps_but_other_times_are_ambiguous():
    a, b = _tied_pair_net(), _tied_pair_net()
    with torch.no_grad():
        b[0].weight.copy_(torch.tensor([[0.52], [0.50], [0.2]]))  # same steps, order swapped
    x = torch.ones(4, 1)
    spk = _record(a, x)
    # (utils.reset resets every snnTorch neuron of the process: reset b's neuron alone)
    assert torch.equal(_record(b, x, reset=lambda net: net[-1].reset_mem()), spk)
    assert recorded_spike_times(spk) is None
    assert SF.accuracy_rate(spk, torch.zeros(4, dtype=torch.long)) == 1.0  # lowest index


def test_convert_output_and_the_record_from_a_train_loop_with_grad():
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(20, 10), snn.Leaky(beta=0.9, init_hidden=True, output=True)
    )
    net = stdbp.convert(net, mode="clock")
    with torch.no_grad():
        net[0].weight.normal_(0.03, 0.05)
    x = torch.rand(32, 20)
    utils.reset(net)
    spk = torch.stack([net(x)[0] for _ in range(16)])  # with autograd, as a training loop
    t = net[-1].spike_time
    found = recorded_spike_times(spk)
    assert found is not None and not found.requires_grad
    torch.testing.assert_close(found, t.detach().double())
