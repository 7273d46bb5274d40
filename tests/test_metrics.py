"""torchmetrics metrics and spike counting, against plain-Python references; DDP-style merging."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("torchmetrics")
from stdbp_plugin.lightning.counting import conv_synops, dense_synops, settled_step  # noqa: E402
from stdbp_plugin.metrics import (  # noqa: E402
    DecisionAccuracy,
    DecisionLatency,
    FirstSpikeAccuracy,
    SpikesPerSample,
    SynapticOperations,
)

INF = float("inf")


def random_times(batch, n, seed, silent=0.3):
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(batch, n, generator=g)
    return t.masked_fill(torch.rand(batch, n, generator=g) < silent, INF)


def reference_accuracy(t_out, target):
    hits = 0
    for row, y in zip(t_out.tolist(), target.tolist(), strict=True):
        finite = [(t, c) for c, t in enumerate(row) if math.isfinite(t)]
        hits += bool(finite) and min(finite)[1] == y
    return hits / len(t_out)


def test_first_spike_accuracy_matches_reference_and_counts_silent_as_wrong():
    t = random_times(64, 5, 0)
    t[:4] = INF  # all-silent samples
    y = torch.randint(0, 5, (64,), generator=torch.Generator().manual_seed(1))
    y[:4] = 0  # argmin of an all-inf row is 0: must still count as wrong
    m = FirstSpikeAccuracy()
    m.update(t[:30], y[:30])
    m.update(t[30:], y[30:])
    assert m.compute().item() == pytest.approx(reference_accuracy(t, y))


def test_decision_latency_is_mean_over_decided():
    m = DecisionLatency()
    m.update(torch.tensor([0.5, INF, 1.5]))
    m.update(torch.tensor([1.0]))
    assert m.compute().item() == pytest.approx(1.0)
    assert m.undecided_fraction().item() == pytest.approx(0.25)
    empty = DecisionLatency()
    empty.update(torch.tensor([INF]))
    assert math.isnan(empty.compute().item())


def test_spikes_per_sample_and_synops():
    s = SpikesPerSample(2)
    s.update(torch.tensor([[3, 1], [5, 0]]))
    s.update(torch.tensor([[1, 2]]))
    assert s.compute().tolist() == pytest.approx([3.0, 1.0])
    o = SynapticOperations()
    o.update(torch.tensor([10.0, 20.0]))
    o.update(torch.tensor([60.0]))
    assert o.compute().item() == pytest.approx(30.0)


@pytest.mark.parametrize(
    ("metric", "bad"),
    [
        (FirstSpikeAccuracy(), (torch.zeros(3), torch.zeros(3, dtype=torch.long))),
        (DecisionLatency(), (torch.tensor([float("nan")]),)),
        (SpikesPerSample(2), (torch.zeros(4, 3),)),
        (SynapticOperations(), (torch.tensor([-1.0]),)),
        (DecisionAccuracy(), (torch.zeros(3), torch.ones(2, dtype=torch.bool), torch.zeros(3))),
    ],
)
def test_bad_input_is_a_value_error(metric, bad):
    with pytest.raises(ValueError):
        metric.update(*bad)


def test_spikes_per_sample_needs_layers():
    with pytest.raises(ValueError, match="num_layers"):
        SpikesPerSample(0)


def test_merged_states_give_the_global_value_not_a_mean_of_means():
    """What DDP's sum-reduction does: rank-local states summed == one metric over all data."""
    t = random_times(50, 4, 2, silent=0.2)
    y = torch.randint(0, 4, (50,), generator=torch.Generator().manual_seed(3))
    lat = t.min(dim=1).values
    ranks = [slice(0, 7), slice(7, 50)]  # unequal shards
    for make, args in [
        (FirstSpikeAccuracy, lambda s: (t[s], y[s])),
        (DecisionLatency, lambda s: (lat[s],)),
        (SynapticOperations, lambda s: (t[s].isfinite().sum(1).float() * 3,)),
    ]:
        whole, parts = make(), [make() for _ in ranks]
        whole.update(*args(slice(None)))
        for part, s in zip(parts, ranks, strict=True):
            part.update(*args(s))
        mean_of_means = sum(p.clone().compute() for p in parts) / len(parts)
        parts[0].merge_state(parts[1])
        assert parts[0].compute().item() == pytest.approx(whole.compute().item())
        assert mean_of_means.item() != pytest.approx(whole.compute().item())
        for name, reduce in parts[0]._reductions.items():
            assert reduce.__name__ in ("dim_zero_sum",), name


def test_dense_and_conv_synops_match_loops():
    g = torch.Generator().manual_seed(0)
    s = (torch.rand(2, 3, 6, 5, generator=g) < 0.4).float()
    assert dense_synops(s.flatten(1), 7).tolist() == (s.flatten(1).sum(1) * 7).tolist()
    k, pad, out_ch = 3, 1, 4
    padded = F.pad(s, (pad, pad, pad, pad))
    expect = []
    for b in range(2):
        ops = 0
        for i in range(padded.shape[2] - k + 1):
            for j in range(padded.shape[3] - k + 1):
                ops += padded[b, :, i : i + k, j : j + k].sum().item() * out_ch
        expect.append(ops)
    assert conv_synops(s, out_ch, k, pad).tolist() == pytest.approx(expect)


def test_settled_step_matches_loop():
    g = torch.Generator().manual_seed(5)
    preds = torch.randint(0, 3, (12, 40), generator=g)
    preds[6:, :20] = preds[-1, :20]  # many settle early
    decided = torch.rand(12, 40, generator=g) > 0.1
    decided[:, 30:] = True
    got = settled_step(preds, decided)
    for b in range(40):
        if not decided[-1, b]:
            assert got[b] == INF
            continue
        k = 11
        while k > 0 and preds[k - 1, b] == preds[-1, b] and decided[k - 1, b]:
            k -= 1
        assert got[b] == k, b


def test_value_checks_follow_validate_args():
    """Like torchmetrics: value checks (a device sync each) only while validate_args is on;
    shape checks always."""
    DecisionLatency(validate_args=False).update(torch.tensor([float("nan"), 0.5]))
    SynapticOperations(validate_args=False).update(torch.tensor([-1.0]))
    with pytest.raises(ValueError, match="NaN"):
        DecisionLatency().update(torch.tensor([float("nan")]))
    with pytest.raises(ValueError, match="columns"):
        SpikesPerSample(2, validate_args=False).update(torch.zeros(4, 3))
    lat = DecisionLatency(validate_args=False)
    lat.update(torch.tensor([0.25, float("inf"), 0.75]))
    assert lat.compute().item() == pytest.approx(0.5)
    assert lat.undecided_fraction().item() == pytest.approx(1 / 3)
