"""The exact spike times behind a recorded ReL-PSP spike train, for the readouts' tie rule.

A first-spike readout of a stepped record ``spk_rec`` [T, B, N] sees integer steps k. Outputs
that first fire in the same step tie there, although the ReL-PSP neurons that produced them
fired at distinct exact times t* in (k dt, (k + 1) dt]. The neuron still holds those times
after the loop (``neuron.spike_time``), and snnTorch keeps every neuron in
``snn.SpikingNeuron.instances`` (the list ``utils.reset`` walks), so the readout can find the
neuron by its spikes without any change to the user's loop:

    source = the ReL-PSP neuron (of this package) whose current sequence is T steps long and
             whose spike steps and silences equal the record's, entry for entry.

A record that is not such a neuron's whole current sequence (a hand-made train, several spikes
per neuron, a window of a longer sequence, a neuron reset or stepped on since, a shape that
differs) has no source, and neither has one that two neurons with different times match: the
readout then keeps its integer steps (ties to the lowest index, as snnTorch's ``argmax``).
"""

from __future__ import annotations

import snntorch as snn
import torch
from torch import Tensor

from stdbp_plugin.snntorch.neurons import _ReLPSPState


def recorded_spike_times(spk_rec: Tensor) -> Tensor | None:
    """Exact first-spike times in steps, t* / dt [B, N] (+inf where silent), of the ReL-PSP
    neuron whose current sequence is the record ``spk_rec`` [T, B, N]; None without one (see
    the module docstring). Detached: for ordering, not for gradients."""
    if not isinstance(spk_rec, Tensor) or spk_rec.ndim != 3:
        return None
    with torch.no_grad():
        spiking = spk_rec != 0
        count = spiking.sum(0)
        if bool((count > 1).any()):
            return None  # a ReL-PSP neuron fires at most once
        fired = count == 1
        step = spiking.to(torch.uint8).argmax(0)
        found: Tensor | None = None
        for neuron in snn.SpikingNeuron.instances:
            times = _times_if_source(neuron, spk_rec.shape[0], fired, step)
            if times is None:
                continue
            if found is not None and not torch.equal(found, times):
                return None  # two neurons match with different times: ambiguous
            found = times
        return found


def _times_if_source(neuron: object, steps: int, fired: Tensor, step: Tensor) -> Tensor | None:
    if not isinstance(neuron, _ReLPSPState):
        return None
    clock = getattr(neuron, "_clock", None)
    if clock is None or int(clock.k) != steps or clock.k_spike.shape != fired.shape:
        return None
    k_spike = clock.k_spike.to(fired.device)
    if not torch.equal(k_spike >= 0, fired) or not torch.equal(k_spike[fired], step[fired]):
        return None
    t = clock.t_spike.detach().to(device=fired.device, dtype=torch.float64) / neuron.dt
    return torch.where(fired, t, torch.full_like(t, float("inf")))
