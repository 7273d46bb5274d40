"""Flatten a model into its layers in registration order (the feed-forward chain convert assumes)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

# Layers that carry no spiking dynamics and that convert understands.
WEIGHT_LAYERS = (nn.Linear, nn.Conv2d)
SHAPE_LAYERS = (nn.Flatten, nn.Unflatten, nn.MaxPool2d, nn.AvgPool2d, nn.Dropout, nn.Identity)


@dataclass
class Leaf:
    """One layer: ``parent._modules[key] is module``; ``name`` is its dotted path in the model."""

    name: str
    parent: nn.Module
    key: str
    module: nn.Module


def iter_leaves(model: nn.Module, is_neuron, prefix: str = "") -> list[Leaf]:
    """Neurons, weight and shape layers in registration order, looking through containers and
    Norse's ``Lift``. A module that is none of these and holds parameters of its own, or has no
    children, is an unknown layer: ValueError naming it."""
    leaves: list[Leaf] = []
    for key, child in model._modules.items():
        if child is None:
            continue
        name = f"{prefix}{key}"
        if is_neuron(child) or isinstance(child, WEIGHT_LAYERS + SHAPE_LAYERS):
            leaves.append(Leaf(name, model, key, child))
        elif len(child._modules) == 0 or any(True for _ in child.parameters(recurse=False)):
            raise ValueError(
                f"convert: cannot convert module {name!r} ({type(child).__name__}): unknown "
                "layer (supported: Linear, Conv2d, Flatten, MaxPool2d, AvgPool2d, Dropout, "
                "Identity, containers, Lift and the framework's LIF-type neurons)"
            )
        else:
            leaves.extend(iter_leaves(child, is_neuron, prefix=f"{name}."))
    return leaves
