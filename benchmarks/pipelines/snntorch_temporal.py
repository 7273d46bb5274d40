"""snnTorch with latency-coded input and its temporal (first-spike) loss.

Upstream: the quickstart's network written as ``nn.Sequential`` (jeshraghian/snntorch
docs/quickstart.rst: 784-300-10, ``snn.Leaky(beta=0.9, spike_grad=surrogate.fast_sigmoid(),
init_hidden=True)``, ``utils.reset(net)`` then one call per step, Adam(lr=2e-3)), fed with
tutorial 1's latency code ``spikegen.latency(data, num_steps=25, tau=5, threshold=0.01,
clip=True, normalize=True, linear=True)`` and trained with ``SF.ce_temporal_loss()`` /
scored with ``SF.accuracy_temporal`` (snntorch.functional's first-spike pair).
"""

from __future__ import annotations

import torch
from torch import nn

from pipelines._driver import Budget, Setup, convert_or_not_applicable

NAME = "snntorch_temporal"
TITLE = "snnTorch latency input + ce_temporal_loss: MLP 784-300-10"
SOURCE = (
    "jeshraghian/snntorch docs/quickstart.rst (net), tutorial_1 (spikegen.latency),"
    " snntorch.functional"
)
INPUT = "latency (spikegen.latency, linear, 25 steps)"
READOUT = "SF.ce_temporal_loss / SF.accuracy_temporal (first spike)"
NUM_STEPS = 25
BATCH_SIZE = 128
beta = 0.9

MODEL_NAME = "net"
REINIT_RUN = "forward_pass(net, num_steps, spk_in)"  # one forward pass of the first batch

CHANGES = {
    "upstream": [],
    "swap": [
        "+ from stdbp_plugin.snntorch import ReLPSP",
        "- snn.Leaky(beta=beta, spike_grad=spike_grad, init_hidden=True),",
        "+ ReLPSP(beta=beta, spike_grad=spike_grad, init_hidden=True),",
        "- snn.Leaky(beta=beta, spike_grad=spike_grad, init_hidden=True, output=True)",
        "+ ReLPSP(beta=beta, spike_grad=spike_grad, init_hidden=True, output=True)",
    ],
    "clock": [
        "+ import stdbp_plugin as stdbp",
        '+ net = stdbp.convert(net, mode="clock")',
    ],
    "event": [
        "+ import stdbp_plugin as stdbp",
        '+ net = stdbp.convert(net, mode="event")',
        "- spk_rec, _ = forward_pass(net, num_steps, spk_in)",
        "+ spk_rec, _ = net(spk_in)      # the event model takes the whole [T, B, ...] train",
    ],
}


def make_net(Leaky, spike_grad) -> nn.Sequential:
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(28 * 28, 300),
        Leaky(beta=beta, spike_grad=spike_grad, init_hidden=True),
        nn.Linear(300, 10),
        Leaky(beta=beta, spike_grad=spike_grad, init_hidden=True, output=True),
    )


def build(variant: str, budget: Budget) -> Setup:
    import snntorch.functional as SF
    from snntorch import spikegen, surrogate, utils

    num_steps = budget.num_steps or NUM_STEPS
    batch_size = budget.batch_size or BATCH_SIZE
    torch.manual_seed(budget.seed)
    spike_grad = surrogate.fast_sigmoid()
    if variant == "upstream":
        import snntorch as snn

        net = make_net(snn.Leaky, spike_grad)
    elif variant == "swap":
        from stdbp_plugin.snntorch import ReLPSP

        net = make_net(ReLPSP, spike_grad)
    elif variant in ("clock", "event"):
        import snntorch as snn

        import stdbp_plugin as stdbp

        net = make_net(snn.Leaky, spike_grad)
        net = convert_or_not_applicable(stdbp.convert, net, variant)
    else:
        raise ValueError(f"unknown variant {variant!r}")

    def forward_pass(net, num_steps, spk_in):
        spk_rec = []
        mem_rec = []
        utils.reset(net)
        for step in range(num_steps):
            spk_out, mem_out = net(spk_in[step])
            spk_rec.append(spk_out)
            mem_rec.append(mem_out)
        return torch.stack(spk_rec), torch.stack(mem_rec)

    def forward(data):
        spk_in = spikegen.latency(
            data, num_steps=num_steps, tau=5, threshold=0.01, clip=True, normalize=True, linear=True
        )
        if variant == "event":
            return net(spk_in)
        return forward_pass(net, num_steps, spk_in)

    loss_fn = SF.ce_temporal_loss()
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-3, betas=(0.9, 0.999))

    def loss(out, targets):
        spk_rec, _ = out
        return loss_fn(spk_rec, targets)

    def correct(out, targets):
        spk_rec, _ = out
        return SF.accuracy_temporal(spk_rec, targets) * spk_rec.size(1)

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
