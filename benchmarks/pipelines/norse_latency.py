"""Norse with latency-coded input, scored by the time of the first output spike.

Upstream: the encoder of Norse's MNIST notebook section 4.1 (norse/notebooks
mnist_classifiers: ``SpikeLatencyLIFEncoder(T=32)`` on the normalised image) into Norse's
sequence modules ``SequentialState(Lift(nn.Linear(784, 100)), LIF(), Lift(nn.Linear(100,
10)), LIF())`` (norse/norse docs: ``Lift`` maps a layer over time, ``LIF`` runs a whole
[T, B, ...] sequence). The output spikes are scored by time, earliest best: each spike at step
k weighs exp(-k dt / tau) with tau = 5 ms (so the first spike dominates the score), then
``log_softmax`` + ``nll_loss`` and argmax; Adam(lr=2e-3), batch 256. Norse's own
``SpikesToTimesDecoder`` is not used: its backward fails as soon as an output is silent.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pipelines._driver import Budget, Setup, convert_or_not_applicable

NAME = "norse_latency"
TITLE = (
    "Norse latency input: SequentialState(Lift(Linear), LIF, Lift(Linear), LIF), first-spike score"
)
SOURCE = (
    "norse/notebooks mnist_classifiers 4.1 (SpikeLatencyLIFEncoder)"
    " + norse SequentialState/Lift/LIF"
)
INPUT = "latency (SpikeLatencyLIFEncoder, 32 steps)"
READOUT = "time-decaying weight of each output spike (first spike wins), log_softmax + nll_loss"
NUM_STEPS = 32
BATCH_SIZE = 256
MEAN, STD = 0.1307, 0.3081
DT = 1e-3
TAU = 5e-3

MODEL_NAME = "model"
REINIT_RUN = "model(encoder(data))"  # one forward pass of the first batch

CHANGES = {
    "upstream": [],
    "swap": [
        "+ from stdbp_plugin.norse import ReLPSP",
        "- LIF(),                                  (x2)",
        "+ ReLPSP(),                               (x2)",
    ],
    "clock": [
        "+ import stdbp_plugin as stdbp",
        '+ model = stdbp.convert(model, mode="clock")',
    ],
    "event": [
        "+ import stdbp_plugin as stdbp",
        '+ model = stdbp.convert(model, mode="event")',
    ],
}


def make_model(LIF) -> nn.Module:
    from norse.torch import Lift, SequentialState

    return SequentialState(
        Lift(nn.Linear(28 * 28, 100)),
        LIF(),
        Lift(nn.Linear(100, 10)),
        LIF(),
    )


def decode(z):
    """Earliest spike scores highest: sum_k z_k exp(-k dt / tau)."""
    t = torch.arange(z.shape[0], dtype=z.dtype, device=z.device) * DT
    weight = torch.exp(-t / TAU)
    score = (z * weight[:, None, None]).sum(0)
    return F.log_softmax(score, dim=1)


def build(variant: str, budget: Budget) -> Setup:
    from norse.torch import LIF, SpikeLatencyLIFEncoder

    T = budget.num_steps or NUM_STEPS
    batch_size = budget.batch_size or BATCH_SIZE
    torch.manual_seed(budget.seed)
    if variant == "upstream":
        model = make_model(LIF)
    elif variant == "swap":
        from stdbp_plugin.norse import ReLPSP

        model = make_model(ReLPSP)
    elif variant in ("clock", "event"):
        import stdbp_plugin as stdbp

        model = make_model(LIF)
        model = convert_or_not_applicable(stdbp.convert, model, variant)
    else:
        raise ValueError(f"unknown variant {variant!r}")
    encoder = SpikeLatencyLIFEncoder(T)

    def forward(data):
        x = encoder(((data - MEAN) / STD).flatten(1))  # [T, B, 784]
        z, _ = model(x)
        return z

    def loss(z, target):
        return F.nll_loss(decode(z), target)

    def correct(z, target):
        pred = decode(z).argmax(dim=1)
        return (pred == target).sum().item()

    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    return Setup(
        model=model,
        forward=forward,
        loss=loss,
        correct=correct,
        optimizer=optimizer,
        batch_size=batch_size,
        num_steps=T,
        output_spikes=lambda z: z,
    )
