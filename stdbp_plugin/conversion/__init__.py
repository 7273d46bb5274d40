"""``stdbp_plugin.convert(model, mode=...)``: switch an snnTorch or Norse model to ReL-PSP / STDBP.

mode="clock": the same model with every spiking neuron replaced by the clock-driven ReL-PSP
neuron of the same framework, weights kept (the training loop runs unchanged).
mode="event": an :class:`EventDrivenModel` running ``stdbp_plugin.nn`` layers with the same weights.

Biases: a ReL-PSP bias is one input spike at t = 0 (docs/design.md), whereas a Linear in a
stepped loop adds its bias at every step. In clock mode the Linear / Conv2d that alone feeds a
neuron (the data flow tells, see ``walk``) becomes a ``StepZeroBiasLinear`` / ``Conv2d``: same
parameters and ``state_dict`` keys, its bias reaches the neuron at step 0 only. Where the flow is
unknown or the layer's output goes elsewhere too, the bias stays a current added at every step
(what the model computed before), and the report says so.

Every call attaches a :class:`ConversionReport` to the returned model as
``model.stdbp_conversion_report`` (``report=True`` also prints it).
"""

from __future__ import annotations

import copy

from torch import Tensor, nn

from stdbp_plugin.conversion.adapters import adapter_for
from stdbp_plugin.conversion.bias import StepZeroBiasConv2d, StepZeroBiasLinear, step_zero_bias
from stdbp_plugin.conversion.calibrate import calibrate_thresholds
from stdbp_plugin.conversion.event import EventDrivenModel
from stdbp_plugin.conversion.plan import build_event_layers
from stdbp_plugin.conversion.report import ConversionReport
from stdbp_plugin.conversion.walk import Leaf, data_flow, iter_leaves
from stdbp_plugin.functional.spike_trains import spikes_to_times
from stdbp_plugin.functional.validation import (
    check_dt,
    check_number,
    check_silent_grad,
    check_spike_trains,
)

MODES = ("clock", "event")
SILENT_GRAD = 1.0


def copy_model(model: nn.Module) -> nn.Module:
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


def _describe(theta: Tensor) -> str:
    lo, hi = float(theta.min()), float(theta.max())
    return f"{lo:.4g}" if lo == hi else f"{lo:.4g}..{hi:.4g}"


def _keep_checkpoint_keys(old: nn.Module, new: nn.Module) -> None:
    """Entries of the old neuron's state_dict that the new one lacks (snnTorch ``alpha``,
    ``time_step``, ...) become unused buffers, so the original checkpoint still loads."""
    have = new.state_dict()
    for key, value in old.state_dict().items():
        if "." not in key and key not in have:
            new.register_buffer(key, value.detach().clone())


def _actions(adapter, mode: str, kept: list[tuple[str, str, str]]) -> list[str]:
    snn = adapter.name == "snntorch"
    out = []
    if kept:
        out.append(
            "read-out: the kept membrane read-out integrates the ReL-PSP output spikes; "
            "max-membrane / last-step-membrane losses keep working"
        )
    else:
        out.append(
            "read-out: each output neuron fires at most once; train on its first-spike time "
            + (
                "(snntorch.functional.ce_temporal_loss / mse_temporal_loss, accuracy_temporal): "
                "spike-count losses (ce_rate_loss, ce_count_loss, mse_count_loss) cannot"
                if snn
                else "(stdbp_plugin.norse.FirstSpikeTimeDecoder + "
                "stdbp_plugin.functional.temporal_cross_entropy): spike counts cannot"
            )
        )
    out.append(
        "silent outputs: exact STDBP gives a neuron that does not fire in the window no "
        "gradient; the output layer revives such neurons from the loss's last-step gradient "
        "(silent_grad, default 1.0; every neuron that fires keeps its exact gradient; "
        "silent_grad=0 for plain STDBP)"
    )
    if mode == "event":
        out.append(
            "loop: call the model once on the whole [T, B, ...] input (no step loop, no "
            "reset); it returns (output spike trains, exact output spike times [B, N])"
        )
        out.append(
            "encoding: only the first spike of each input counts (latency coding fits; "
            "rate-coded or analog input is read as its first non-zero step)"
        )
    else:
        out.append(
            "encoding: every input spike adds one ReL-PSP kernel; latency coding (one spike "
            "per input) matches the event-driven model, rate or direct input also runs"
        )
        out.append(
            "training from scratch: stdbp_plugin.reinit(model, lambda: <one forward pass of "
            "a batch>) before training gives the layers feeding ReL-PSP neurons a positive-mean "
            "start and thresholds matched to the window (not for trained weights)"
        )
    return out


def convert(
    model: nn.Module,
    mode: str = "clock",
    *,
    dt: float | None = None,
    sample: Tensor | None = None,
    fire_fraction: float = 0.5,
    silent_grad: float = SILENT_GRAD,
    membrane_readout: bool = True,
    inplace: bool = False,
    report: bool = False,
) -> nn.Module:
    """Swap the neurons of an snnTorch or Norse feed-forward model for ReL-PSP neurons.

    Args:
        model: a feed-forward model of Linear / Conv2d / Flatten / pooling layers and Leaky /
            Synaptic / Lapicque (snnTorch) or LIF / LIFCell / LIFBoxCell (Norse) neurons, as an
            ``nn.Sequential`` / ``SequentialState`` or a custom module (its ``forward`` is
            traced with ``torch.fx`` to follow the data flow; see ``walk``).
        mode: "clock" (same structure, ReL-PSP neurons) or "event" (``EventDrivenModel``; needs
            the flow to be one known chain).
        dt: step size of the input trains. Default: 1.0 for snnTorch (time in steps), the
            neurons' ``dt`` for Norse (1e-3 s).
        sample: optional input batch [T, B, ...] of spike trains. If given, every layer's
            threshold is calibrated so that about ``fire_fraction`` of the neurons that can fire
            within T dt do (see ``calibrate_thresholds``). Without it the neurons keep the
            original threshold (snnTorch ``threshold``; Norse ``v_th`` with gain 1/dt).
        silent_grad: revival of the output layer's silent neurons (default 1.0). Every neuron
            that fires gets the exact STDBP gradient whatever this is. An output that stays
            silent through the whole window has exact gradient 0; with ``silent_grad`` > 0 a
            loss that asks it to fire (a negative gradient on the window's last step, where
            snnTorch's temporal losses and ``spikes_to_times`` put a silent neuron) raises its
            end-of-window potential by this factor. Without it converted networks trained from
            scratch lose their outputs (measured on MNIST subsets: 7-11% against 39-42%).
            0 = plain STDBP everywhere.
        membrane_readout: keep the last neuron as it is when it is an snnTorch ``Leaky`` with
            ``reset_mechanism="none"`` (the usual membrane read-out). Norse ``LICell``,
            ``LILinearCell``, ``LIBoxCell`` and ``LI`` are non-spiking and always kept.
            False: convert such a Leaky like any other.
        inplace: modify ``model`` itself (clock mode) instead of a deep copy.
        report: print the :class:`ConversionReport` (always attached to the result as
            ``stdbp_conversion_report``).

    Raises:
        ValueError naming the module for anything it cannot convert (recurrent or unknown
        neurons, unknown layers, read-outs or an unknown flow in event mode); nothing is
        changed then.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    check_dt(dt, optional=True)
    check_silent_grad(silent_grad)
    check_number(fire_fraction, "fire_fraction")
    if not 0.0 < fire_fraction <= 1.0:
        raise ValueError(f"fire_fraction must lie in (0, 1], got {fire_fraction}")
    if sample is not None:  # [T, B, ...] spike trains: finite, >= 0 (0: no spike), real data
        check_spike_trains(sample, "sample", 2)
    adapter = adapter_for(model)

    def is_layer(m: nn.Module) -> bool:
        return adapter.is_neuron(m) or adapter.is_readout(m) or adapter.is_encoder(m)

    target = model if (inplace and mode == "clock") else copy_model(model)
    leaves = iter_leaves(target, is_layer)
    spiking = [leaf for leaf in leaves if adapter.is_neuron(leaf.module)]
    flow = data_flow(target, leaves, adapter.is_neuron, is_layer)
    order = flow.chain or leaves
    last_neuron = [leaf for leaf in order if adapter.is_neuron(leaf.module)][-1:]
    kept_readouts = {
        leaf.name
        for leaf in last_neuron
        if membrane_readout and adapter.membrane_readout(leaf.module) and len(spiking) > 1
    }
    neurons = [leaf for leaf in spiking if leaf.name not in kept_readouts]
    if not neurons:
        raise ValueError("convert: the model has no spiking neuron to convert (read-outs only)")
    for leaf in neurons:
        adapter.check(leaf.name, leaf.module)

    def readout(m: nn.Module) -> bool:
        return adapter.is_readout(m) or any(
            m is leaf.module for leaf in last_neuron if leaf.name in kept_readouts
        )

    def converting(m: nn.Module) -> bool:
        return adapter.is_neuron(m) and not readout(m)

    if dt is None:
        dt = adapter.dt_of(neurons[0].module) or adapter.default_dt
    thresholds = {leaf.name: adapter.threshold(leaf.module) for leaf in neurons}
    rep = ConversionReport(
        mode, adapter.name, float(dt), sample is not None, float(silent_grad), flow.how
    )
    rep.kept = [
        (leaf.name, type(leaf.module).__name__, "non-spiking membrane read-out")
        for leaf in leaves
        if readout(leaf.module)
    ]
    encoders = [leaf for leaf in leaves if adapter.is_encoder(leaf.module)]
    rep.kept += [(leaf.name, type(leaf.module).__name__, "input encoder") for leaf in encoders]
    if sample is not None or mode == "event":
        if encoders:
            what = "convert(mode='event')" if mode == "event" else "convert(sample=...)"
            raise ValueError(
                f"{what}: the model encodes its own input ({encoders[0].name!r}, "
                f"{type(encoders[0].module).__name__}); take the encoder out of the model and "
                "pass the encoded spike trains, or use mode='clock' without sample"
            )
        if flow.chain is None:
            what = "convert(mode='event')" if mode == "event" else "convert(sample=...)"
            raise ValueError(
                f"{what}: the data flow of this model is not one known feed-forward chain "
                f"({flow.how}); write it as nn.Sequential / SequentialState or make forward "
                "traceable by torch.fx"
                + (", or use mode='clock'" if mode == "event" else ", or convert without sample")
            )
        if mode == "clock":
            order = _up_to_readout(order, converting, readout)
        layers, links = build_event_layers(order, converting, readout, thresholds)
        if sample is not None:
            device = next(model.parameters()).device
            dtype = next(model.parameters()).dtype  # a float64 / int / bool train: the model's
            t_in = spikes_to_times(sample.to(device=device, dtype=dtype), dt)
            horizon = sample.shape[0] * dt
            thresholds = calibrate_thresholds(layers, links, t_in, horizon, fire_fraction)
        if mode == "event":
            result = EventDrivenModel(layers, dt, silent_grad)
            rep.replaced = [
                (leaf.name, type(leaf.module).__name__, "ReLPSP layer") for leaf in neurons
            ]
            rep.biases = ["of every Linear / Conv2d: an input spike at t = 0 of its ReL-PSP layer"]
            return _finish(result, rep, adapter, neurons, thresholds, report)

    output = (
        last_neuron[0].name if last_neuron and last_neuron[0].name not in kept_readouts else None
    )
    new_neurons: dict[str, nn.Module] = {}
    for leaf in neurons:
        revive = silent_grad if leaf.name == output else 0.0
        new = adapter.clock(leaf.module, dt, thresholds[leaf.name], revive)
        _keep_checkpoint_keys(leaf.module, new)
        setattr(leaf.parent, leaf.key, new)
        new_neurons[leaf.name] = new
        rep.replaced.append((leaf.name, type(leaf.module).__name__, type(new).__name__))
    by_name = {leaf.name: leaf for leaf in leaves}
    handled = set()
    for neuron, weight in flow.feeds.items():
        leaf = by_name[weight]
        if neuron not in new_neurons or leaf.module.bias is None:
            continue
        setattr(leaf.parent, leaf.key, step_zero_bias(leaf.module, new_neurons[neuron], neuron))
        handled.add(weight)
        rep.biases.append(
            f"{weight}.bias: input spike at t = 0 of {neuron!r} (added at step 0 only)"
        )
    for leaf in leaves:
        if isinstance(leaf.module, (nn.Linear, nn.Conv2d)) and leaf.module.bias is not None:
            if leaf.name in handled:
                continue
            if isinstance(leaf.module, (StepZeroBiasLinear, StepZeroBiasConv2d)):
                continue
            why = (
                "the data flow is unknown"
                if not flow.known
                else "it does not feed one spiking neuron alone, directly or through max pooling"
            )
            rep.biases.append(f"{leaf.name}.bias: left as a current added at every step ({why})")
    return _finish(target, rep, adapter, neurons, thresholds, report)


def _up_to_readout(order: list[Leaf], converting, readout) -> list[Leaf]:
    """The chain up to its last converted neuron and before any read-out (what calibration
    can simulate event-driven)."""
    cut = next((i for i, leaf in enumerate(order) if readout(leaf.module)), len(order))
    order = order[:cut]
    last = max((i for i, leaf in enumerate(order) if converting(leaf.module)), default=-1)
    return order[: last + 1]


def _finish(result, rep, adapter, neurons: list[Leaf], thresholds, report: bool) -> nn.Module:
    rep.ignored = {leaf.name: adapter.ignored(leaf.module) for leaf in neurons}
    rep.thresholds = {name: _describe(theta) for name, theta in thresholds.items()}
    rep.actions = _actions(adapter, rep.mode, rep.kept)
    result.stdbp_conversion_report = rep
    if report:
        print(rep)
    return result


__all__ = [
    "ConversionReport",
    "copy_model",
    "EventDrivenModel",
    "MODES",
    "StepZeroBiasConv2d",
    "StepZeroBiasLinear",
    "convert",
]
