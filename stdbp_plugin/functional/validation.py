"""Argument checks shared by the functional layer: clear ValueErrors, never silent garbage."""

from __future__ import annotations

import numbers

import torch
from torch import Tensor


def check_spike_times(
    t: Tensor, name: str, ndim: int | tuple[int, ...], *, values: bool = True
) -> None:
    """Spike times: a float tensor with ``ndim`` dims, non-empty batch, no NaN, none negative.

    The values cost one reduction (NaN fails t >= 0 too), i.e. one device sync on a GPU;
    ``values=False`` checks the metadata only (for a caller that checks the values itself)."""
    if not isinstance(t, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of spike times, got {type(t).__name__}")
    dims = (ndim,) if isinstance(ndim, int) else ndim
    if t.ndim not in dims:
        raise ValueError(
            f"{name} must have {' or '.join(map(str, dims))} dims, got shape {tuple(t.shape)}"
        )
    if not t.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor of spike times, got {t.dtype}")
    check_has_data(t, name)
    if t.shape[0] == 0:
        raise ValueError(f"{name} has an empty batch (shape {tuple(t.shape)})")
    if values and not bool((t >= 0).all()):
        raise_bad_spike_times(t, name)


def check_has_data(t: Tensor, name: str) -> None:
    """Not on the meta device (shapes only, no values to compute with); no host read."""
    if t.device.type == "meta":
        raise ValueError(f"{name} is on the meta device (shape only, no data); pass real values")


def check_spike_trains(spikes: Tensor, name: str, min_ndim: int = 2) -> None:
    """Time-first spike trains [T, B, ...]: a tensor with T, B >= 1 and real data whose values
    are finite and >= 0 (0: no spike; bool / integer trains too). One reduction (host read)."""
    if not isinstance(spikes, Tensor) or spikes.ndim < min_ndim:
        raise ValueError(
            f"{name} must be a time-first tensor with >= {min_ndim} dims [T, B, ...], got "
            f"{getattr(spikes, 'shape', type(spikes).__name__)}"
        )
    if spikes.shape[0] == 0 or (spikes.ndim > 1 and spikes.shape[1] == 0):
        raise ValueError(f"{name} must have T >= 1 and B >= 1, got shape {tuple(spikes.shape)}")
    check_has_data(spikes, name)
    if spikes.is_floating_point() and not bool(((spikes >= 0) & (spikes < float("inf"))).all()):
        raise ValueError(f"{name} must be finite and >= 0 (0: no spike), got NaN, inf or < 0")
    if not spikes.is_floating_point() and spikes.dtype != torch.bool and bool((spikes < 0).any()):
        raise ValueError(f"{name} must be >= 0 (0: no spike)")


def raise_bad_spike_times(t: Tensor, name: str) -> None:
    """The error for spike times that failed t >= 0: NaN or negative."""
    if torch.isnan(t).any():
        raise ValueError(f"{name} contains NaN spike times (use +inf for 'no spike')")
    raise ValueError(f"{name} contains negative spike times; spike times must be >= 0 or +inf")


def check_same(reference: Tensor, name: str, other: Tensor | None, other_name: str) -> None:
    """``other`` must share ``reference``'s device and dtype."""
    if other is None:
        return
    if not isinstance(other, Tensor):
        raise ValueError(f"{other_name} must be a torch.Tensor, got {type(other).__name__}")
    if other.device != reference.device:
        raise ValueError(f"{other_name} is on {other.device} but {name} is on {reference.device}")
    if other.dtype != reference.dtype:
        raise ValueError(
            f"{other_name} has dtype {other.dtype} but {name} has dtype {reference.dtype}"
        )


def check_finite(t: Tensor, name: str) -> None:
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} must be finite (no NaN or inf)")


def as_threshold(
    threshold: float | Tensor, n_out: int, like: Tensor, *, values: bool = True
) -> Tensor:
    """A scalar or per-neuron threshold as a [n_out] tensor; every entry must be finite, > 0.

    A number is checked on the host; a tensor's values by one reduction (one device sync),
    skipped when ``values=False`` (the caller checks them, see ``threshold_ok``)."""
    if isinstance(threshold, Tensor):
        check_same(like, "t_in", threshold, "threshold")
        if threshold.ndim == 0:
            threshold = threshold.expand(n_out)
        elif threshold.shape != (n_out,):
            raise ValueError(
                f"threshold must be a scalar or have shape ({n_out},), got {tuple(threshold.shape)}"
            )
        if values and not bool(threshold_ok(threshold)):
            raise ValueError("threshold must be finite and > 0")
        return threshold
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise ValueError(f"threshold must be a number or a tensor, got {threshold!r}")
    if not 0 < float(threshold) < float("inf"):
        raise ValueError("threshold must be finite and > 0")
    return torch.full((n_out,), float(threshold), dtype=like.dtype, device=like.device)


def threshold_ok(threshold: Tensor) -> Tensor:
    """0-d bool tensor: every entry finite and > 0 (no host sync until it is read)."""
    return ((threshold > 0) & (threshold < float("inf"))).all()


def check_number(value: float, name: str, *, low: float = 0.0, strict: bool = True) -> None:
    """A finite real number (int, float, numpy scalar; not a bool or a string), > ``low``
    (``strict``) or >= ``low``."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok and value == value and abs(value) != float("inf"):
        ok = value > low if strict else value >= low
    else:
        ok = False
    if not ok:
        raise ValueError(
            f"{name} must be a number {'>' if strict else '>='} {low:g} (finite; not a bool or a "
            f"string), got {value!r}"
        )


def check_dt(dt: float | None, *, optional: bool = False) -> None:
    """The time step: a finite number > 0 (not a bool); None too when ``optional``."""
    if optional and dt is None:
        return
    if isinstance(dt, bool) or not (isinstance(dt, (int, float)) and 0 < dt < float("inf")):
        raise ValueError(f"dt must be a number > 0{' or None' if optional else ''}, got {dt!r}")


def check_silent_grad(silent_grad: float) -> None:
    """The revival gradient of silent neurons: a number >= 0 (0 turns the revival off)."""
    check_number(silent_grad, "silent_grad", strict=False)


def as_bias_parameter(bias: float | Tensor | None) -> torch.nn.Parameter | None:
    """An optional bias as a trainable Parameter (a Parameter is kept as it is)."""
    if bias is None or isinstance(bias, torch.nn.Parameter):
        return bias
    return torch.nn.Parameter(torch.as_tensor(bias))
