"""benchmarks/pipelines/one_step_probe.py: the measures behind docs/pipelines.md's diagnosis
(first-spike steps of a 0/1 train, the row coherence of a gradient, the layer recorder),
checked against brute-force loops on small hand-made tensors."""

from __future__ import annotations

import sys

import torch
from conftest import REPO_ROOT
from torch import nn

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

from pipelines.one_step_probe import Recorder, _coherence, _first_steps  # noqa: E402


def test_first_steps_are_the_first_nonzero_step_or_T_when_silent():
    torch.manual_seed(0)
    train = (torch.rand(7, 3, 5) < 0.2).float()
    first = _first_steps(train)
    for b in range(3):
        for n in range(5):
            steps = [k for k in range(7) if train[k, b, n] != 0]
            assert first[b, n] == (steps[0] if steps else 7)


def test_row_coherence_is_the_mean_of_abs_sign_sum_over_nonzero_entries():
    torch.manual_seed(1)
    grad = torch.randn(4, 3, 2, 2)
    grad[0] = grad[0].abs()  # one row moving all one way
    grad[1, 0] = 0.0  # zero entries do not count
    expected = []
    for row in grad.reshape(4, -1):
        signs = [float(torch.sign(g)) for g in row if g != 0]
        expected.append(abs(sum(signs)) / len(signs))
    text = _coherence(grad)
    assert text == f", row coherence {sum(expected) / 4:.2f}"
    assert _coherence(torch.ones(5, 7)) == ", row coherence 1.00"
    assert _coherence(torch.randn(5)) == ""  # biases have no rows


def test_recorder_reports_spike_trains_and_skips_membrane_read_outs():
    from stdbp_plugin.norse import ReLPSPCell

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cell = ReLPSPCell()

        def forward(self, x):
            state, out = None, []
            for x_k in x:
                z, state = self.cell(x_k, state)
                out.append(z)
            return torch.stack(out)

    net = Net()
    rec = Recorder(net)
    x = torch.tensor([[[2.0, 0.0, 0.6]]]).expand(4, 1, 3)  # [T, B, N]
    with torch.no_grad():
        spikes = net(x)
    summary = rec.summary()
    fired = float((spikes.sum(0) > 0).float().mean())
    first = _first_steps(spikes)
    mean = float(first[first < 4].mean())
    assert summary == f"cell: {fired:.2f} fire, step {mean:.1f}"
    rec.trains["cell"] = [torch.full((1, 3), 0.5)]  # a membrane, not a 0/1 train
    assert rec.summary() == ""
