"""Clock-driven surrogate-gradient baselines built from the same spec: snnTorch and Norse.

Both run T steps of [B, ...] tensors through nn.Linear / nn.Conv2d (+ nn.MaxPool2d on spikes)
followed by a neuron per layer, trained by BPTT through the framework's surrogate gradient.
What differs between the frameworks (neuron, encoder, read-out, loss) is the adapter's
(stdbp_plugin.models.surrogate_adapters).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from stdbp_plugin.models.spec import parse_spec
from stdbp_plugin.models.surrogate_adapters import ADAPTERS, get_adapter
from stdbp_plugin.models.walk import build_layers, run_layers

FRAMEWORKS = tuple(ADAPTERS)


@dataclass
class SpikeTrainRun:
    """readout [T, B, n_classes] (output spikes or membrane); layer_spikes: [T, B, ...] spike
    trains of every neuron layer (the Norse read-out: zeros); spike_counts [B, n_layers];
    synops [B] (input spikes x fan-out over all steps and layers)."""

    readout: Tensor
    layer_spikes: list[Tensor]
    spike_counts: Tensor
    synops: Tensor


class SurrogateNetwork(nn.Module):
    """Weights per spec, one neuron per conv / dense layer, stepped ``num_steps`` times.

    Args:
        framework: "snntorch" or "norse" (see surrogate_adapters.ADAPTERS).
        spec, input_shape: the architecture (see stdbp_plugin.models.spec).
        num_steps: T.
        beta: snnTorch membrane decay per step.
        tau_mem_inv, tau_syn_inv, v_th, dt: Norse LIF parameters (1/s, 1/s, threshold, step s).
        weight_gain: factor on the default PyTorch initialisation of the weights.
        compile: run each time step (all layers) through ``torch.compile``; the weights and
            the state_dict are the same as without.
    """

    def __init__(
        self,
        framework: str,
        spec: str,
        input_shape: tuple[int, int, int],
        num_steps: int = 25,
        beta: float = 0.9,
        tau_mem_inv: float = 100.0,
        tau_syn_inv: float = 200.0,
        v_th: float = 1.0,
        dt: float = 1e-3,
        weight_gain: float = 1.0,
        compile: bool = False,
    ) -> None:
        super().__init__()
        self.adapter = get_adapter(framework)
        if not isinstance(num_steps, int) or isinstance(num_steps, bool) or num_steps < 1:
            raise ValueError(f"num_steps must be a positive int, got {num_steps!r}")
        self.framework, self.num_steps, self.dt = framework, num_steps, dt
        self.layer_specs = parse_spec(spec)
        self.input_shape = tuple(int(v) for v in input_shape)

        def gained(w: nn.Module) -> nn.Module:
            with torch.no_grad():
                w.weight.mul_(weight_gain)
            return w

        self.weights = build_layers(
            self.layer_specs,
            self.input_shape,
            conv=lambda c_in, s: gained(nn.Conv2d(c_in, s.size, s.kernel, padding=s.padding)),
            pool=lambda s: nn.MaxPool2d(s.kernel),
            dense=lambda n_in, s: gained(nn.Linear(n_in, s.size)),
        )
        n_neuron_layers = sum(s.kind != "pool" for s in self.layer_specs)
        neuron_args = dict(beta=beta, tau_mem_inv=tau_mem_inv, tau_syn_inv=tau_syn_inv, v_th=v_th)
        self.neurons = nn.ModuleList(
            self.adapter.neuron(is_output=i == n_neuron_layers - 1, dt=dt, **neuron_args)
            for i in range(n_neuron_layers)
        )

        self.compile_steps = bool(compile)
        self._compiled = None  # built on first use: a module holding it still pickles before

    def _step_function(self):
        if not self.compile_steps:
            return self._step
        if self._compiled is None:
            self._compiled = torch.compile(self._step)
        return self._compiled

    @property
    def num_neuron_layers(self) -> int:
        return len(self.neurons)

    def _step(self, x_t: Tensor, states: list[Any]) -> tuple[list[Tensor], list[Any], Tensor]:
        """One time step through every layer: (outputs of each neuron layer, states, synops)."""
        states, outs = list(states), []

        def neuron(n: int, weight: nn.Module, h: Tensor) -> Tensor:
            out, states[n] = self.adapter.step(self.neurons[n], weight(h), states[n])
            outs.append(out)
            return out

        _, synops = run_layers(
            self.layer_specs, self.weights, x_t, neuron=neuron, spikes=lambda h: h
        )
        return outs, states, synops

    def run(self, spikes_in: Tensor) -> SpikeTrainRun:
        """spikes_in [T, B, C, H, W] (or [T, B, C*H*W]) -> read-out and spike statistics."""
        steps, batch = spikes_in.shape[:2]
        spikes_in = spikes_in.reshape(steps, batch, *self.input_shape)
        states: list[Any] = [None] * len(self.neurons)
        records: list[list[Tensor]] = [[] for _ in self.neurons]
        synops = spikes_in.new_zeros(batch)
        step_fn = self._step_function()
        for step in range(steps):
            # the first step creates the states (None before): eager, so that a compiled step
            # sees one kind of state and does not recompile for it
            fn = step_fn if step > 0 else self._step
            outs, states, step_synops = fn(spikes_in[step], states)
            synops = synops + step_synops
            for record, out in zip(records, outs, strict=True):
                record.append(out)
        trains = [torch.stack(r) for r in records]
        readout = trains[-1]
        if not self.adapter.readout_spikes:  # a membrane read-out, not spikes
            trains[-1] = torch.zeros_like(readout)
        counts = torch.stack([t.detach().flatten(2).sum(dim=(0, 2)) for t in trains], dim=1)
        return SpikeTrainRun(readout, trains, counts, synops)
