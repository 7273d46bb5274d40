"""snnTorch tutorial 5: a fully-connected SNN on MNIST with direct (static) input.

Upstream: jeshraghian/snntorch, examples/tutorial_5_FCN.ipynb (docs/tutorials/tutorial_5.rst):
784-1000-10, ``snn.Leaky(beta=0.95)`` with explicit membrane state (``init_leaky``), the
flattened image fed as a current at each of num_steps = 25 steps, Adam(lr=5e-4, betas=(0.9,
0.999)), batch 128. The readout is snnTorch's spike-count pair ``SF.ce_rate_loss()`` /
``SF.accuracy_rate`` (the notebook's own loop sums ``nn.CrossEntropyLoss`` over the output
membrane of every step and scores the spike count; the count readout is the one the issue
measured and the one the functional module documents for this tutorial).
"""

from __future__ import annotations

import torch
from torch import nn

from pipelines._driver import Budget, NotApplicable, Setup

NAME = "snntorch_tutorial5"
TITLE = "snnTorch tutorial 5: FCN 784-1000-10, direct input, ce_rate_loss"
SOURCE = "jeshraghian/snntorch examples/tutorial_5_FCN.ipynb"
INPUT = "direct (image as current, every step)"
READOUT = "SF.ce_rate_loss / SF.accuracy_rate (spike count)"
NUM_STEPS = 25
BATCH_SIZE = 128

num_inputs = 28 * 28
num_hidden = 1000
num_outputs = 10
beta = 0.95

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
        "- import snntorch.functional as SF",
        "+ import stdbp_plugin.snntorch.functional as SF   # readout line",
    ],
    "clock": [
        "+ import stdbp_plugin as stdbp",
        '+ net = stdbp.convert(net, mode="clock")',
        "- import snntorch.functional as SF",
        "+ import stdbp_plugin.snntorch.functional as SF   # readout line",
    ],
    "event": [],
}
EVENT_NOT_APPLICABLE = (
    "direct input: the image enters as an analog current at every step, not as a spike train; "
    "the event-driven model reads input spike times, so it needs a latency-coded input "
    "(a change of encoding, not of a readout line)"
)


class Net(nn.Module):
    """The tutorial's Net, with the neuron class and num_steps as arguments."""

    def __init__(self, Leaky, num_steps: int):
        super().__init__()
        self.num_steps = num_steps
        # Initialize layers
        self.fc1 = nn.Linear(num_inputs, num_hidden)
        self.lif1 = Leaky(beta=beta)
        self.fc2 = nn.Linear(num_hidden, num_outputs)
        self.lif2 = Leaky(beta=beta)

    def forward(self, x):
        # Initialize hidden states at t=0
        mem1 = self.lif1.init_leaky()
        mem2 = self.lif2.init_leaky()

        # Record the final layer
        spk2_rec = []
        mem2_rec = []

        for step in range(self.num_steps):  # noqa: B007 (the tutorial's loop)
            cur1 = self.fc1(x)
            spk1, mem1 = self.lif1(cur1, mem1)
            cur2 = self.fc2(spk1)
            spk2, mem2 = self.lif2(cur2, mem2)
            spk2_rec.append(spk2)
            mem2_rec.append(mem2)

        return torch.stack(spk2_rec, dim=0), torch.stack(mem2_rec, dim=0)


def build(variant: str, budget: Budget) -> Setup:
    if variant == "event":
        raise NotApplicable(EVENT_NOT_APPLICABLE)
    num_steps = budget.num_steps or NUM_STEPS
    batch_size = budget.batch_size or BATCH_SIZE
    torch.manual_seed(budget.seed)
    if variant == "upstream":
        import snntorch as snn
        import snntorch.functional as SF

        net = Net(snn.Leaky, num_steps)
    elif variant == "swap":
        import stdbp_plugin.snntorch.functional as SF
        from stdbp_plugin.snntorch import ReLPSP

        net = Net(ReLPSP, num_steps)
    elif variant == "clock":
        import snntorch as snn

        import stdbp_plugin as stdbp
        import stdbp_plugin.snntorch.functional as SF

        net = Net(snn.Leaky, num_steps)
        net = stdbp.convert(net, mode="clock")
    else:
        raise ValueError(f"unknown variant {variant!r}")

    loss_fn = SF.ce_rate_loss()
    optimizer = torch.optim.Adam(net.parameters(), lr=5e-4, betas=(0.9, 0.999))

    def forward(data):
        return net(data.view(data.size(0), -1))

    def loss(out, targets):
        spk_rec, _ = out
        return loss_fn(spk_rec, targets)

    def correct(out, targets):
        spk_rec, _ = out
        return SF.accuracy_rate(spk_rec, targets) * spk_rec.size(1)

    return Setup(
        model=net,
        forward=forward,
        loss=loss,
        correct=correct,
        optimizer=optimizer,
        batch_size=batch_size,
        num_steps=num_steps,
        output_spikes=lambda out: out[0],
    )
