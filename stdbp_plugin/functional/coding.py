"""Latency (time-to-first-spike) encoding and first-spike decoding."""

from __future__ import annotations

import torch
from torch import Tensor

from stdbp_plugin.functional.known_valid import is_known_valid, mark_valid
from stdbp_plugin.functional.validation import check_has_data, check_number, check_spike_times


def latency_encode(x: Tensor, t_max: float = 1.0, x_min: float = 0.0) -> Tensor:
    """t = t_max * (1 - x) for x in [0, 1]; x <= x_min gives no spike (+inf).

    Brighter inputs spike earlier; x = 1 spikes at t = 0. Not differentiable w.r.t. x.
    """
    if not isinstance(x, Tensor):
        raise ValueError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.numel() == 0:
        raise ValueError(f"x is empty (shape {tuple(x.shape)})")
    check_has_data(x, "x")
    check_number(t_max, "t_max")
    check_number(x_min, "x_min", strict=False)
    if not 0.0 <= x_min < 1.0:
        raise ValueError(f"x_min must lie in [0, 1), got {x_min}")
    x = x if x.is_floating_point() else x.float()
    lo, hi = torch.aminmax(x)  # one reduction (one device sync); NaN fails too
    if not bool((lo >= 0) & (hi <= 1)):  # (10x cheaper than (x >= 0) & (x <= 1) then all())
        raise ValueError(
            "x must lie in [0, 1] (normalise the data first); got values outside or NaN"
        )
    t = t_max * (1.0 - x)
    t = torch.where(x <= x_min, torch.full_like(t, float("inf")), t)
    # in [0, t_max] or +inf (t_max finite): the next layer need not read the values again
    return mark_valid(t)


#: The prediction of a sample whose output neurons are all silent: no class, so it never
#: equals a label and counts as wrong (the package's one accuracy convention, docs/design.md).
NO_DECISION = -1


def first_spike_predict(t_out: Tensor) -> Tensor:
    """The class whose output neuron fires first: argmin over the last dim (ties: lowest index);
    ``NO_DECISION`` (-1) where every output neuron is silent, so ``(pred == y)`` counts such a
    sample as wrong, as FirstSpikeAccuracy does.
    """
    if not isinstance(t_out, Tensor) or t_out.ndim < 1:
        raise ValueError("t_out must be a tensor [..., n_classes]")
    check_spike_times(t_out, "t_out", tuple(range(1, 9)), values=not is_known_valid(t_out))
    pred = torch.argmin(t_out, dim=-1)
    return pred.masked_fill(torch.isinf(t_out).all(dim=-1), NO_DECISION)
