"""Clock-driven surrogate-gradient baselines built from the same spec: snnTorch and Norse.

Both run T steps of [B, ...] tensors through nn.Linear / nn.Conv2d (+ nn.MaxPool2d on spikes)
followed by a neuron per layer, trained by BPTT through the framework's surrogate gradient:

- snnTorch: ``snn.Leaky(beta, spike_grad=surrogate.atan())`` in every layer, spikes of the
  output layer are the read-out (spike counts, ``ce_rate_loss``).
- Norse: ``LIFCell`` in every hidden layer and a non-spiking ``LICell`` read-out whose
  membrane, maximised over time, gives the class scores (the Norse tutorials' decoding).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from stdbp_plugin.lightning.counting import conv_synops, dense_synops
from stdbp_plugin.lightning.spec import flat_size, output_shapes, parse_spec

FRAMEWORKS = ("snntorch", "norse")


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
        framework: "snntorch" or "norse".
        spec, input_shape: the architecture (see stdbp_plugin.lightning.spec).
        num_steps: T.
        beta: snnTorch membrane decay per step.
        tau_mem_inv, tau_syn_inv, v_th, dt: Norse LIF parameters (1/s, 1/s, threshold, step s).
        weight_gain: factor on the default PyTorch initialisation of the weights.
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
    ) -> None:
        super().__init__()
        if framework not in FRAMEWORKS:
            raise ValueError(f"framework must be one of {FRAMEWORKS}, got {framework!r}")
        if not isinstance(num_steps, int) or num_steps < 1:
            raise ValueError(f"num_steps must be a positive int, got {num_steps!r}")
        self.framework, self.num_steps, self.dt = framework, num_steps, dt
        self.layer_specs = parse_spec(spec)
        self.input_shape = tuple(int(v) for v in input_shape)
        shapes = output_shapes(self.layer_specs, self.input_shape)
        weights, neurons, shape = [], [], self.input_shape
        for i, (spec_l, out_shape) in enumerate(zip(self.layer_specs, shapes, strict=True)):
            if spec_l.kind == "pool":
                weights.append(nn.MaxPool2d(spec_l.kernel))
            else:
                if spec_l.kind == "conv":
                    w = nn.Conv2d(shape[0], spec_l.size, spec_l.kernel, padding=spec_l.padding)
                else:
                    w = nn.Linear(flat_size(shape), spec_l.size)
                with torch.no_grad():
                    w.weight.mul_(weight_gain)
                weights.append(w)
                is_output = i == len(self.layer_specs) - 1
                neurons.append(self._neuron(is_output, beta, tau_mem_inv, tau_syn_inv, v_th))
            shape = out_shape
        self.weights = nn.ModuleList(weights)
        self.neurons = nn.ModuleList(neurons)

    def _neuron(self, is_output, beta, tau_mem_inv, tau_syn_inv, v_th) -> nn.Module:
        if self.framework == "snntorch":
            import snntorch as snn
            from snntorch import surrogate

            return snn.Leaky(beta=beta, spike_grad=surrogate.atan())
        import norse.torch as norse

        if is_output:
            p = norse.LIParameters(
                tau_syn_inv=torch.tensor(tau_syn_inv), tau_mem_inv=torch.tensor(tau_mem_inv)
            )
            return norse.LICell(p, dt=self.dt)
        p = norse.LIFParameters(
            tau_syn_inv=torch.tensor(tau_syn_inv),
            tau_mem_inv=torch.tensor(tau_mem_inv),
            v_th=torch.tensor(v_th),
        )
        return norse.LIFCell(p, dt=self.dt)

    @property
    def num_neuron_layers(self) -> int:
        return len(self.neurons)

    def _step(self, neuron: nn.Module, current: Tensor, state):
        if self.framework == "snntorch":
            if state is None:
                state = torch.zeros_like(current)
            spikes, mem = neuron(current, state)
            return spikes, mem
        return neuron(current, state)

    def run(self, spikes_in: Tensor) -> SpikeTrainRun:
        """spikes_in [T, B, C, H, W] (or [T, B, C*H*W]) -> read-out and spike statistics."""
        steps, batch = spikes_in.shape[:2]
        spikes_in = spikes_in.reshape(steps, batch, *self.input_shape)
        states: list = [None] * len(self.neurons)
        records: list[list[Tensor]] = [[] for _ in self.neurons]
        synops = spikes_in.new_zeros(batch)
        for step in range(steps):
            h, n = spikes_in[step], 0
            for spec_l, w in zip(self.layer_specs, self.weights, strict=True):
                if spec_l.kind == "pool":
                    h = w(h)
                    continue
                if spec_l.kind == "dense" and h.ndim > 2:
                    h = h.flatten(1)
                fired = h.detach()
                if spec_l.kind == "conv":
                    synops = synops + conv_synops(fired, spec_l.size, spec_l.kernel, spec_l.padding)
                else:
                    synops = synops + dense_synops(fired, spec_l.size)
                h, states[n] = self._step(self.neurons[n], w(h), states[n])
                records[n].append(h)
                n += 1
        trains = [torch.stack(r) for r in records]
        readout = trains[-1]
        if self.framework == "norse":  # LI read-out: membrane, not spikes
            trains[-1] = torch.zeros_like(readout)
        counts = torch.stack([t.detach().flatten(2).sum(dim=(0, 2)) for t in trains], dim=1)
        return SpikeTrainRun(readout, trains, counts, synops)
