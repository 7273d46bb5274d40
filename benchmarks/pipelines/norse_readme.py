"""Norse README / docs style: ``SequentialState`` of cells stepped over time, ``LICell`` read-out.

Upstream: norse/norse README.md (``SequentialState(..., LIFCell(), ..., nn.Linear(800, 10),
LICell())`` called once per time step with the state threaded through) written as an MLP,
with the encoder, decoder and training loop of Norse's MNIST notebook (norse/notebooks
mnist_classifiers: ``ConstantCurrentLIFEncoder(T=32)`` on the normalised image, 100 hidden
units, ``decode`` = maximum membrane over time + ``log_softmax``, ``nll_loss``,
Adam(lr=2e-3), batch 256). The notebook's own hidden layer is a ``LIFRecurrentCell``
(recurrent: no ReL-PSP counterpart), the feed-forward ``LIFCell`` of the README is used here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pipelines._driver import Budget, Setup, convert_or_not_applicable

NAME = "norse_readme"
TITLE = "Norse README-style MLP: SequentialState(Linear, LIFCell, Linear, LICell), max over time"
SOURCE = (
    "norse/norse README.md (network) + norse/notebooks mnist_classifiers (encoder, decode, loop)"
)
INPUT = "constant current LIF encoder (rate-like spikes)"
READOUT = "LICell membrane, max over time, log_softmax + nll_loss"
NUM_STEPS = 32
BATCH_SIZE = 256
MEAN, STD = 0.1307, 0.3081

MODEL_NAME = "model"
REINIT_RUN = "forward(data)"  # one forward pass of the first batch (the step loop below)

CHANGES = {
    "upstream": [],
    "swap": [
        "+ from stdbp_plugin.norse import ReLPSPCell",
        "- LIFCell(),                   # Spiking activation layer",
        "+ ReLPSPCell(),                # Spiking activation layer",
    ],
    "clock": [
        "+ import stdbp_plugin as stdbp",
        '+ model = stdbp.convert(model, mode="clock")',
    ],
    "event": [
        "+ import stdbp_plugin as stdbp",
        '+ model = stdbp.convert(model, mode="event")',
        "- for ts in range(T): v, state = model(x[ts], state) ...",
        "+ voltages, _ = model(x)       # the event model takes the whole [T, B, ...] train",
    ],
}


def make_model(LIFCell) -> nn.Module:
    from norse.torch import LICell, SequentialState

    return SequentialState(
        nn.Flatten(),
        nn.Linear(28 * 28, 100),
        LIFCell(),  # Spiking activation layer
        nn.Linear(100, 10),
        LICell(),  # Non-spiking integrator layer
    )


def decode(x):
    x, _ = torch.max(x, 0)
    log_p_y = F.log_softmax(x, dim=1)
    return log_p_y


def build(variant: str, budget: Budget) -> Setup:
    from norse.torch import ConstantCurrentLIFEncoder, LIFCell

    T = budget.num_steps or NUM_STEPS
    batch_size = budget.batch_size or BATCH_SIZE
    torch.manual_seed(budget.seed)
    if variant == "upstream":
        model = make_model(LIFCell)
    elif variant == "swap":
        from stdbp_plugin.norse import ReLPSPCell

        model = make_model(ReLPSPCell)
    elif variant in ("clock", "event"):
        import stdbp_plugin as stdbp

        model = make_model(LIFCell)
        model = convert_or_not_applicable(stdbp.convert, model, variant)
    else:
        raise ValueError(f"unknown variant {variant!r}")
    encoder = ConstantCurrentLIFEncoder(seq_length=T)

    def forward(data):
        x = encoder((data - MEAN) / STD)  # [T, B, 1, 28, 28]
        if variant == "event":
            voltages, _ = model(x)
            return decode(voltages)
        state = None
        voltages = []
        for ts in range(T):
            v, state = model(x[ts], state)
            voltages.append(v)
        return decode(torch.stack(voltages))

    def correct(output, target):
        pred = output.argmax(dim=1, keepdim=True)
        return pred.eq(target.view_as(pred)).sum().item()

    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    return Setup(
        model=model,
        forward=forward,
        loss=lambda output, target: F.nll_loss(output, target),
        correct=correct,
        optimizer=optimizer,
        batch_size=batch_size,
        num_steps=T,
    )
