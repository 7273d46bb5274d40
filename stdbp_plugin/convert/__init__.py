"""``stdbp_plugin.convert(model, mode=...)``: switch an snnTorch or Norse model to ReL-PSP / STDBP.

mode="clock": the same model with every spiking neuron replaced by the clock-driven ReL-PSP
neuron of the same framework, weights kept (the training loop runs unchanged).
mode="event": an :class:`EventDrivenModel` running ``stdbp_plugin.nn`` layers with the same weights.

Biases: a ReL-PSP bias is one input spike at t = 0 (DESIGN section 1), whereas a Linear in a
stepped loop adds its bias at every step; in clock mode the bias of the Linear / Conv2d that
feeds a neuron is therefore moved into the neuron, which adds it at step 0 only.
"""

from __future__ import annotations

import copy
import sys
import types

from torch import Tensor, nn

from stdbp_plugin.convert.adapters import adapter_for
from stdbp_plugin.convert.calibrate import calibrate_thresholds
from stdbp_plugin.convert.event import EventDrivenModel
from stdbp_plugin.convert.plan import build_event_layers, weight_layer_of
from stdbp_plugin.convert.walk import iter_leaves
from stdbp_plugin.functional.spike_trains import spikes_to_times

MODES = ("clock", "event")
SILENT_GRAD = 1.0


def _copy_model(model: nn.Module) -> nn.Module:
    """A deep copy that also works after a forward pass: hidden state left on the neurons
    (snnTorch's ``mem`` with ``init_hidden=True``) is part of an autograd graph, which
    ``copy.deepcopy`` refuses; the copy gets that state detached instead."""
    memo: dict[int, Tensor] = {}

    def collect(value) -> None:
        if isinstance(value, Tensor):
            if not value.is_leaf:
                memo[id(value)] = value.detach().clone()
        elif isinstance(value, (list, tuple)):
            for item in value:
                collect(item)
        elif isinstance(value, dict):
            for item in value.values():
                collect(item)

    for module in model.modules():
        for name, value in vars(module).items():
            if name != "_modules":
                collect(value)
    return copy.deepcopy(model, memo)


def _move_bias(leaf) -> Tensor | None:
    """Take the bias off a Linear / Conv2d and return it shaped to broadcast over its output."""
    if leaf is None or leaf.module.bias is None:
        return None
    bias = leaf.module.bias
    leaf.module.bias = None
    if isinstance(leaf.module, nn.Conv2d):
        return nn.Parameter(bias.detach().view(-1, 1, 1).clone())
    return bias


def convert(
    model: nn.Module,
    mode: str = "clock",
    *,
    dt: float | None = None,
    sample: Tensor | None = None,
    fire_fraction: float = 0.5,
    silent_grad: float = SILENT_GRAD,
    inplace: bool = False,
) -> nn.Module:
    """Swap the neurons of an snnTorch or Norse feed-forward model for ReL-PSP neurons.

    Args:
        model: an ``nn.Sequential`` / ``SequentialState`` / plain module whose layers, in
            registration order, form a feed-forward chain of Linear / Conv2d / Flatten / pooling
            layers and Leaky / Synaptic / Lapicque (snnTorch) or LIF / LIFCell / LIFBoxCell (Norse)
            neurons.
        mode: "clock" (same structure, ReL-PSP neurons) or "event" (``EventDrivenModel``).
        dt: step size of the input trains. Default: 1.0 for snnTorch (time in steps), the
            neurons' ``dt`` for Norse (1e-3 s).
        sample: optional input batch [T, B, ...] of spike trains. If given, every layer's
            threshold is calibrated so that about ``fire_fraction`` of the neurons that can fire
            within T dt do (see ``calibrate_thresholds``). Without it the neurons keep the
            original threshold (snnTorch ``threshold``; Norse ``v_th`` with gain ``tau_mem_inv``).
        silent_grad: the output layer's revival of silent neurons (see ``ReLPSP``): a loss
            that asks a silent output to fire earlier pushes its potential up by this factor.
            0 = exact STDBP everywhere. Hidden layers always use exact STDBP.
        inplace: modify ``model`` itself (clock mode) instead of a deep copy.

    Raises:
        ValueError naming the module for anything it cannot convert (recurrent or unknown
        neurons, unknown layers); nothing is changed then.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if dt is not None and not (isinstance(dt, (int, float)) and dt > 0):
        raise ValueError(f"dt must be a number > 0 or None, got {dt!r}")
    if not silent_grad >= 0:
        raise ValueError(f"silent_grad must be >= 0, got {silent_grad}")
    if not 0.0 < fire_fraction <= 1.0:
        raise ValueError(f"fire_fraction must lie in (0, 1], got {fire_fraction}")
    adapter = adapter_for(model)
    leaves = iter_leaves(model, adapter.is_neuron)
    neurons = [leaf for leaf in leaves if adapter.is_neuron(leaf.module)]
    for leaf in neurons:
        adapter.check(leaf.name, leaf.module)
    if dt is None:
        dt = adapter.dt_of(neurons[0].module) or adapter.default_dt
    thresholds = {leaf.name: adapter.threshold(leaf.module) for leaf in neurons}
    if sample is not None or mode == "event":
        layers, links = build_event_layers(leaves, adapter.is_neuron, thresholds)
        if sample is not None:
            if not isinstance(sample, Tensor) or sample.ndim < 2:
                raise ValueError("sample must be a [T, B, ...] tensor of input spike trains")
            t_in = spikes_to_times(sample.to(next(model.parameters()).device), dt)
            horizon = sample.shape[0] * dt
            thresholds = calibrate_thresholds(layers, links, t_in, horizon, fire_fraction)
        if mode == "event":
            return EventDrivenModel(layers, dt, silent_grad)
    target = model if inplace else _copy_model(model)
    target_leaves = iter_leaves(target, adapter.is_neuron)
    last = neurons[-1].name
    for index, leaf in enumerate(target_leaves):
        if adapter.is_neuron(leaf.module):
            bias = _move_bias(weight_layer_of(target_leaves, index))
            theta = thresholds[leaf.name]
            revive = silent_grad if leaf.name == last else 0.0
            leaf.parent._modules[leaf.key] = adapter.clock(leaf.module, dt, theta, bias, revive)
    return target


class _CallableModule(types.ModuleType):
    """Importing ``stdbp_plugin.convert`` sets the package attribute ``convert`` to this module;
    making the module callable keeps ``stdbp_plugin.convert(model)`` working either way."""

    def __call__(self, *args, **kwargs):
        return convert(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["EventDrivenModel", "MODES", "convert"]
