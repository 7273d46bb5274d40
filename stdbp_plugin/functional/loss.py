"""Temporal cross-entropy: the earliest output spike should belong to the target class."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from stdbp_plugin.functional.known_valid import is_known_valid
from stdbp_plugin.functional.validation import check_number, check_spike_times


class _SilentIndicator(torch.autograd.Function):
    """Forward: 1 where t is +inf, else 0. Backward: passes the gradient to silent entries only,
    as if d(indicator)/dt = 1 / tau there (the layer turns it into 'fire earlier', see
    relpsp_linear); 1 / tau is the largest push the cross-entropy gives a spiking target."""

    @staticmethod
    def forward(ctx, t, tau):
        silent = torch.isinf(t)
        ctx.save_for_backward(silent)
        ctx.tau = tau
        return silent.to(t.dtype)

    @staticmethod
    def backward(ctx, grad):
        (silent,) = ctx.saved_tensors
        return grad * silent / ctx.tau, None


def default_silent_time(t_out: Tensor, tau: float) -> Tensor:
    """The latest finite output spike time of the batch plus tau (tau when all are silent)."""
    finite = torch.isfinite(t_out)
    latest = torch.where(finite, t_out, torch.zeros_like(t_out)).max().detach()
    return latest + tau


def temporal_cross_entropy(
    t_out: Tensor,
    target: Tensor,
    tau: float = 1.0,
    t_silent: float | None = None,
    keep_target_alive: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """Cross-entropy over softmax(-t_out / tau): the target neuron should fire first.

    loss = -log( exp(-t_y / tau) / sum_c exp(-t_c / tau) )  [+ keep_target_alive * 1{t_y = inf}]

    Silent outputs (t = +inf) are replaced by ``t_silent`` (default: the batch's latest finite
    output time + tau, so a silent neuron counts as firing after every real spike); the
    replacement is a constant, so a silent output gets no gradient from the cross-entropy.
    ``keep_target_alive > 0`` adds a term equal to that weight for each sample whose target
    neuron is silent; its gradient, keep_target_alive / tau (the cross-entropy's own scale, so
    the same value works whatever the time unit), reaches the silent target and, through the
    layer, raises the weights of the inputs that spiked (dt/dw = -1 for them) until the target
    fires again. This is a heuristic outside exact STDBP (a silent neuron's exact gradient is 0).
    """
    if not isinstance(t_out, Tensor) or t_out.ndim != 2:
        raise ValueError(
            f"t_out must be a [batch, n_classes] tensor, got {getattr(t_out, 'shape', t_out)}"
        )
    # >= 0 or +inf, float, real data (one host read, none for a layer's own output)
    check_spike_times(t_out, "t_out", 2, values=not is_known_valid(t_out))
    if not isinstance(target, Tensor) or target.shape != (t_out.shape[0],):
        raise ValueError(f"target must be a LongTensor of shape ({t_out.shape[0]},)")
    if target.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise ValueError(f"target must hold integer class indices, got {target.dtype}")
    if target.device != t_out.device:
        raise ValueError(f"target is on {target.device} but t_out is on {t_out.device}")
    if not bool(((target >= 0) & (target < t_out.shape[1])).all()):  # one host read
        raise ValueError(f"target holds class indices outside [0, {t_out.shape[1]})")
    check_number(tau, "tau")
    check_number(keep_target_alive, "keep_target_alive", strict=False)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    target = target.long()
    fill = default_silent_time(t_out, tau) if t_silent is None else t_out.new_tensor(t_silent)
    t_eff = torch.where(torch.isinf(t_out), fill, t_out)
    loss = F.cross_entropy(-t_eff / tau, target, reduction="none")
    if keep_target_alive > 0:
        t_target = t_out.gather(1, target[:, None]).squeeze(1)
        loss = loss + keep_target_alive * _SilentIndicator.apply(t_target, tau)
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss
