"""snnTorch tutorial 5 exactly as its notebook trains: cross-entropy of the output membrane at
every step, accuracy by spike count.

Upstream: jeshraghian/snntorch, examples/tutorial_5_FCN.ipynb: the same ``Net`` as
``snntorch_tutorial5`` (784-1000-10, ``snn.Leaky(beta=0.95)``, 25 steps of direct input,
Adam(lr=5e-4, betas=(0.9, 0.999)), batch 128), with the notebook's own loop::

    loss = nn.CrossEntropyLoss()
    loss_val = torch.zeros((1), dtype=dtype, device=device)
    for step in range(num_steps):
        loss_val += loss(mem_rec[step], targets)
    ...
    _, predicted = test_spk.sum(dim=0).max(1)        # test accuracy: the spike count

A ReL-PSP output fires at most once, so its spike count is 0 or 1 and the count cannot rank
the classes: the one readout line the switched variants change is the prediction, to the
membrane at the last step (the quantity the loss trains; docs/readouts.md, membrane readouts).
"""

from __future__ import annotations

import torch
from torch import nn

from pipelines._driver import Budget, NotApplicable, Setup
from pipelines.snntorch_tutorial5 import EVENT_NOT_APPLICABLE, Net

NAME = "snntorch_tutorial5_membrane"
TITLE = "snnTorch tutorial 5 as the notebook trains it: CE of the membrane at every step"
SOURCE = "jeshraghian/snntorch examples/tutorial_5_FCN.ipynb (its own loss and accuracy)"
INPUT = "direct (image as current, every step)"
READOUT = "sum over steps of nn.CrossEntropyLoss(mem_rec[step]); accuracy by spike count"
NUM_STEPS = 25
BATCH_SIZE = 128

_READOUT_LINE = [
    "- _, predicted = test_spk.sum(dim=0).max(1)",
    "+ _, predicted = test_mem[-1].max(1)        # readout line: membrane at the last step",
]
MODEL_NAME = "net"
REINIT_RUN = "net(data.view(batch_size, -1))"  # one forward pass of the first batch

CHANGES = {
    "upstream": [],
    "swap": [
        "+ from stdbp_plugin.snntorch import ReLPSP",
        "- self.lif1 = snn.Leaky(beta=beta)",
        "+ self.lif1 = ReLPSP(beta=beta)",
        "- self.lif2 = snn.Leaky(beta=beta)",
        "+ self.lif2 = ReLPSP(beta=beta)",
        *_READOUT_LINE,
    ],
    "clock": [
        "+ import stdbp_plugin as stdbp",
        '+ net = stdbp.convert(net, mode="clock")',
        *_READOUT_LINE,
    ],
    "event": [],
}


def build(variant: str, budget: Budget) -> Setup:
    if variant == "event":
        raise NotApplicable(EVENT_NOT_APPLICABLE)
    import snntorch as snn

    num_steps = budget.num_steps or NUM_STEPS
    batch_size = budget.batch_size or BATCH_SIZE
    torch.manual_seed(budget.seed)
    if variant == "upstream":
        net = Net(snn.Leaky, num_steps)
    elif variant == "swap":
        from stdbp_plugin.snntorch import ReLPSP

        net = Net(ReLPSP, num_steps)
    elif variant == "clock":
        import stdbp_plugin as stdbp

        net = Net(snn.Leaky, num_steps)
        net = stdbp.convert(net, mode="clock")
    else:
        raise ValueError(f"unknown variant {variant!r}")

    loss = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(net.parameters(), lr=5e-4, betas=(0.9, 0.999))

    def forward(data):
        return net(data.view(data.size(0), -1))

    def loss_fn(out, targets):
        _, mem_rec = out
        # initialize the loss & sum over time
        loss_val = torch.zeros((1), dtype=mem_rec.dtype, device=mem_rec.device)
        for step in range(num_steps):
            loss_val += loss(mem_rec[step], targets)
        return loss_val

    def correct(out, targets):
        test_spk, test_mem = out
        if variant == "upstream":
            _, predicted = test_spk.sum(dim=0).max(1)
        else:
            _, predicted = test_mem[-1].max(1)
        return (predicted == targets).sum().item()

    return Setup(
        model=net,
        forward=forward,
        loss=loss_fn,
        correct=correct,
        optimizer=optimizer,
        batch_size=batch_size,
        num_steps=num_steps,
        output_spikes=lambda out: out[0],
    )
