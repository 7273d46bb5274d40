"""One adapter object per surrogate-gradient framework: neuron, encoder, read-out and loss.

- snnTorch: ``snn.Leaky(beta, spike_grad=surrogate.atan())`` in every layer; rate-coded input
  (``spikegen.rate``); the output layer's spikes are the read-out; class scores = spike counts
  so far; loss ``snntorch.functional.ce_rate_loss``; undecided while no output neuron spiked.
- Norse: ``LIFCell`` in every hidden layer and a non-spiking ``LICell`` read-out; input by a
  ``ConstantCurrentLIFEncoder``; class scores = the running maximum of the read-out membrane;
  loss = cross-entropy of the membrane maxima over time (the Norse MNIST tutorial); always
  decided.

The SurrogateNetwork and SurrogateClassifier ask the adapter and never switch on a name.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class SurrogateAdapter:
    """What a framework contributes. ``weight_gain`` / ``input_scale``: the defaults with which
    the baseline learns digits / MNIST in a few epochs."""

    name: str = ""
    weight_gain: float = 1.0
    input_scale: float = 1.0
    #: the read-out layer spikes (False: it is a membrane, not a spike train)
    readout_spikes: bool = True

    def neuron(
        self, *, is_output: bool, beta: float, tau_mem_inv: float, tau_syn_inv: float,
        v_th: float, dt: float,
    ) -> nn.Module:  # fmt: skip
        raise NotImplementedError

    def step(self, neuron: nn.Module, current: Tensor, state: Any) -> tuple[Tensor, Any]:
        """One time step: (output, new state); ``state`` None on the first step."""
        return neuron(current, state)

    def encoder(self, num_steps: int, dt: float) -> nn.Module:
        """A module: images [B, ...] (already times input_scale) -> input spikes [T, B, ...]."""
        raise NotImplementedError

    def scores_over_time(self, readout: Tensor) -> Tensor:
        """[T, B, C] read-out -> [T, B, C] running class scores."""
        raise NotImplementedError

    def decided(self, scores: Tensor) -> Tensor:
        """[T, B, C] running scores -> [T, B] bool: has the network decided yet."""
        return torch.ones(scores.shape[:2], dtype=torch.bool, device=scores.device)

    def loss(self, readout: Tensor, target: Tensor) -> Tensor:
        raise NotImplementedError


class _RateEncoder(nn.Module):
    """snnTorch's rate code: a spike with probability x (clamped to [0, 1]) at each step."""

    def __init__(self, num_steps: int) -> None:
        super().__init__()
        self.num_steps = num_steps

    def forward(self, x: Tensor) -> Tensor:
        from snntorch import spikegen

        return spikegen.rate(x.clamp(0.0, 1.0), num_steps=self.num_steps)


class SnnTorchAdapter(SurrogateAdapter):
    name = "snntorch"

    def neuron(self, *, is_output, beta, tau_mem_inv, tau_syn_inv, v_th, dt) -> nn.Module:
        import snntorch as snn
        from snntorch import surrogate

        return snn.Leaky(beta=beta, spike_grad=surrogate.atan())

    def step(self, neuron: nn.Module, current: Tensor, state: Any) -> tuple[Tensor, Any]:
        return neuron(current, torch.zeros_like(current) if state is None else state)

    def encoder(self, num_steps: int, dt: float) -> nn.Module:
        return _RateEncoder(num_steps)

    def scores_over_time(self, readout: Tensor) -> Tensor:
        return readout.cumsum(dim=0)

    def decided(self, scores: Tensor) -> Tensor:
        return scores.amax(dim=2) > 0

    def loss(self, readout: Tensor, target: Tensor) -> Tensor:
        import snntorch.functional as sf

        return sf.ce_rate_loss()(readout, target)


class NorseAdapter(SurrogateAdapter):
    name = "norse"
    # with Norse's own defaults the hidden layer barely spikes (see docs/lightning.md)
    weight_gain = 4.0
    input_scale = 5.0
    readout_spikes = False

    def neuron(self, *, is_output, beta, tau_mem_inv, tau_syn_inv, v_th, dt) -> nn.Module:
        import norse.torch as norse

        if is_output:
            p = norse.LIParameters(
                tau_syn_inv=torch.tensor(tau_syn_inv), tau_mem_inv=torch.tensor(tau_mem_inv)
            )
            return norse.LICell(p, dt=dt)
        p = norse.LIFParameters(
            tau_syn_inv=torch.tensor(tau_syn_inv),
            tau_mem_inv=torch.tensor(tau_mem_inv),
            v_th=torch.tensor(v_th),
        )
        return norse.LIFCell(p, dt=dt)

    def encoder(self, num_steps: int, dt: float) -> nn.Module:
        import norse.torch as norse

        return norse.ConstantCurrentLIFEncoder(num_steps, dt=dt)

    def scores_over_time(self, readout: Tensor) -> Tensor:
        return readout.cummax(dim=0).values

    def loss(self, readout: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(readout.max(dim=0).values, target)


ADAPTERS: dict[str, SurrogateAdapter] = {"snntorch": SnnTorchAdapter(), "norse": NorseAdapter()}

#: The surrogate baselines by model name (``stdbp compare --models``): the framework and
#: whether each time step is compiled with ``torch.compile``.
SURROGATE_MODELS: dict[str, dict[str, Any]] = {
    "snntorch": {"framework": "snntorch", "compile": False},
    "norse": {"framework": "norse", "compile": False},
    "snntorch-compile": {"framework": "snntorch", "compile": True},
    "norse-compile": {"framework": "norse", "compile": True},
}


def surrogate_options(model: str) -> dict[str, Any]:
    """``{"framework": ..., "compile": ...}`` of a surrogate model name, e.g. "norse-compile"
    (pass them to SurrogateClassifier / SurrogateNetwork)."""
    if model not in SURROGATE_MODELS:
        raise ValueError(f"model must be one of {tuple(SURROGATE_MODELS)}, got {model!r}")
    return dict(SURROGATE_MODELS[model])


def get_adapter(framework: str) -> SurrogateAdapter:
    if framework not in ADAPTERS:
        raise ValueError(f"framework must be one of {tuple(ADAPTERS)}, got {framework!r}")
    return ADAPTERS[framework]
