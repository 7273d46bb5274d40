"""The event-driven layer chain behind a model (what ``export`` writes, what ``load`` returns)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from stdbp_plugin.conversion.event import EventDrivenModel
from stdbp_plugin.functional.spike_trains import spikes_to_times
from stdbp_plugin.nn import EarliestSpikePool2d, LatencyEncoder, ReLPSPConv2d, ReLPSPLinear

EVENT_LAYERS = (LatencyEncoder, ReLPSPLinear, ReLPSPConv2d, EarliestSpikePool2d, nn.Flatten)
SKIPPED = (nn.Identity, nn.Dropout)


def _leaves(module: nn.Module, prefix: str) -> list[tuple[str, nn.Module]]:
    if isinstance(module, nn.Sequential):
        out = []
        for key, child in module.named_children():
            out += _leaves(child, f"{prefix}.{key}" if prefix else key)
        return out
    return [(prefix or type(module).__name__, module)]


def _from_spec_network(model: nn.Module) -> nn.Sequential | None:
    """An ``STDBPNetwork`` (Lightning / compare path) as the Sequential it runs: encoder, then its
    layers, with the flatten it does before the first dense layer made explicit."""
    from stdbp_plugin.models.stdbp_network import STDBPNetwork

    if not isinstance(model, STDBPNetwork):
        return None
    layers: list[nn.Module] = [model.encoder]
    flat = False
    for layer in model.layers:
        if isinstance(layer, ReLPSPLinear) and not flat:
            layers.append(nn.Flatten())
            flat = True
        layers.append(layer)
    seq = nn.Sequential(*layers)
    seq.input_shape = tuple(model.input_shape)
    return seq


def is_event_model(model: nn.Module) -> bool:
    """True for an ``EventDrivenModel`` or a (nested) ``nn.Sequential`` holding stdbp_plugin.nn
    layers (any other module in it is then refused by ``event_chain``, not converted)."""
    if isinstance(model, EventDrivenModel):
        return True
    return any(isinstance(m, EVENT_LAYERS[:-1]) for _, m in _leaves(model, ""))


def event_chain(
    model: nn.Module, sample_input: Tensor | None
) -> tuple[list[tuple[str, nn.Module]], float | None, Tensor | None, str]:
    """(named layers in order, dt of the input trains or None, sample as spike times or images,
    where the chain came from). Clock-driven snnTorch / Norse models (drop-in neurons or
    ``convert``'s output) go through ``convert(model, mode="event")`` first."""
    source = "stdbp_plugin.nn"
    net = _from_spec_network(model)
    if net is not None:
        model, source = net, "STDBPNetwork"
        if sample_input is None:
            sample_input = torch.zeros(1, *model.input_shape)
        sample_input = sample_input.reshape(sample_input.shape[0], *model.input_shape)
    elif not is_event_model(model):
        from stdbp_plugin.conversion import convert

        try:
            model = convert(model, mode="event")
        except ValueError as err:
            raise ValueError(
                "export: model must be an event-driven stdbp_plugin.nn model (nn.Sequential of "
                "LatencyEncoder / ReLPSPLinear / ReLPSPConv2d / EarliestSpikePool2d / Flatten) "
                f"or a clock-driven model that convert(mode='event') accepts; convert said: {err}"
            ) from err
        source = "convert(mode='event')"
    dt = None
    if isinstance(model, EventDrivenModel):
        dt = model.dt
        if sample_input is not None:
            if sample_input.ndim < 3:
                raise ValueError(
                    "sample_input must be input spike trains [T, B, ...] for a clock-driven or "
                    f"EventDrivenModel, got shape {tuple(sample_input.shape)}"
                )
            sample_input = spikes_to_times(sample_input, dt)
        model = model.layers
    layers = [(n, m) for n, m in _leaves(model, "") if not isinstance(m, SKIPPED)]
    for i, (name, m) in enumerate(layers):
        if not isinstance(m, EVENT_LAYERS):
            raise ValueError(
                f"export: cannot export {name!r} ({type(m).__name__}): NIR export supports "
                "LatencyEncoder, ReLPSPLinear, ReLPSPConv2d, EarliestSpikePool2d and Flatten"
            )
        if isinstance(m, LatencyEncoder) and i != 0:
            raise ValueError(f"export: the LatencyEncoder {name!r} must be the first layer")
    return layers, dt, sample_input, source
