"""snnTorch tutorial 6: a convolutional SNN on MNIST with direct (static) input.

Upstream: jeshraghian/snntorch, examples/tutorial_6_CNN.ipynb (docs/tutorials/tutorial_6.rst):
``nn.Sequential`` 12C5-MP2-64C5-MP2-1024-10 with ``snn.Leaky(beta=0.5,
spike_grad=surrogate.fast_sigmoid(slope=25), init_hidden=True)`` (the last with
``output=True``), ``forward_pass`` calling ``utils.reset(net)`` and the net once per step for
num_steps = 50 steps on the static image, batch 128, ``SF.accuracy_rate``. Loss: the
spike-count MSE ``SF.mse_count_loss(correct_rate=0.8, incorrect_rate=0.2)`` with
Adam(lr=2e-3) as snnTorch's quickstart and tutorial 7 write it (tutorial 6 itself uses
``SF.ce_rate_loss()`` at lr 1e-2; tutorial 5 here already covers ``ce_rate_loss``).
"""

from __future__ import annotations

import torch
from torch import nn

from pipelines._driver import Budget, NotApplicable, Setup

NAME = "snntorch_tutorial6"
TITLE = "snnTorch tutorial 6: CNN 12C5-MP2-64C5-MP2-1024-10, direct input, mse_count_loss"
SOURCE = "jeshraghian/snntorch examples/tutorial_6_CNN.ipynb + docs/quickstart.rst (loss)"
INPUT = "direct (image as current, every step)"
READOUT = "SF.mse_count_loss(0.8, 0.2) / SF.accuracy_rate (spike count)"
NUM_STEPS = 50
BATCH_SIZE = 128
beta = 0.5

MODEL_NAME = "net"
REINIT_RUN = "forward_pass(net, num_steps, data)"  # one forward pass of the first batch

CHANGES = {
    "upstream": [],
    "swap": [
        "+ from stdbp_plugin.snntorch import ReLPSP",
        "- snn.Leaky(beta=beta, spike_grad=spike_grad, init_hidden=True),            (x2)",
        "+ ReLPSP(beta=beta, spike_grad=spike_grad, init_hidden=True),               (x2)",
        "- snn.Leaky(beta=beta, spike_grad=spike_grad, init_hidden=True, output=True)",
        "+ ReLPSP(beta=beta, spike_grad=spike_grad, init_hidden=True, output=True)",
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


def make_net(Leaky, spike_grad) -> nn.Sequential:
    """The tutorial's nn.Sequential with the neuron class as an argument."""
    return nn.Sequential(
        nn.Conv2d(1, 12, 5),
        nn.MaxPool2d(2),
        Leaky(beta=beta, spike_grad=spike_grad, init_hidden=True),
        nn.Conv2d(12, 64, 5),
        nn.MaxPool2d(2),
        Leaky(beta=beta, spike_grad=spike_grad, init_hidden=True),
        nn.Flatten(),
        nn.Linear(64 * 4 * 4, 10),
        Leaky(beta=beta, spike_grad=spike_grad, init_hidden=True, output=True),
    )


def build(variant: str, budget: Budget) -> Setup:
    if variant == "event":
        raise NotApplicable(EVENT_NOT_APPLICABLE)
    from snntorch import surrogate, utils

    num_steps = budget.num_steps or NUM_STEPS
    batch_size = budget.batch_size or BATCH_SIZE
    torch.manual_seed(budget.seed)
    spike_grad = surrogate.fast_sigmoid(slope=25)
    if variant == "upstream":
        import snntorch as snn
        import snntorch.functional as SF

        net = make_net(snn.Leaky, spike_grad)
    elif variant == "swap":
        import stdbp_plugin.snntorch.functional as SF
        from stdbp_plugin.snntorch import ReLPSP

        net = make_net(ReLPSP, spike_grad)
    elif variant == "clock":
        import snntorch as snn

        import stdbp_plugin as stdbp
        import stdbp_plugin.snntorch.functional as SF

        net = make_net(snn.Leaky, spike_grad)
        net = stdbp.convert(net, mode="clock")
    else:
        raise ValueError(f"unknown variant {variant!r}")

    def forward_pass(net, num_steps, data):
        mem_rec = []
        spk_rec = []
        utils.reset(net)  # resets hidden states for all LIF neurons in net

        for step in range(num_steps):  # noqa: B007 (the tutorial's loop)
            spk_out, mem_out = net(data)
            spk_rec.append(spk_out)
            mem_rec.append(mem_out)

        return torch.stack(spk_rec), torch.stack(mem_rec)

    loss_fn = SF.mse_count_loss(correct_rate=0.8, incorrect_rate=0.2)
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-3, betas=(0.9, 0.999))

    def loss(out, targets):
        spk_rec, _ = out
        return loss_fn(spk_rec, targets)

    def correct(out, targets):
        spk_rec, _ = out
        return SF.accuracy_rate(spk_rec, targets) * spk_rec.size(1)

    return Setup(
        model=net,
        forward=lambda data: forward_pass(net, num_steps, data),
        loss=loss,
        correct=correct,
        optimizer=optimizer,
        batch_size=batch_size,
        num_steps=num_steps,
        output_spikes=lambda out: out[0],
    )
