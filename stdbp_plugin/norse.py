"""Clock-driven ReL-PSP neurons for Norse (``import stdbp_plugin.norse``).

Norse style: ``ReLPSPParameters`` / ``ReLPSPState`` NamedTuples, a one-step ``ReLPSPCell`` and
a whole-sequence ``ReLPSP`` over [T, B, ...] (vectorised over time: cumsum, crossing test,
first crossing, closed form; no Python loop). Both take ``state`` so ``SequentialState`` threads it.

Dynamics (docs/design.md, section 2) with Norse's time unit (seconds, dt = 1e-3), gain g:

    V(t) = g * (S t - P),   S = sum_k c_k,   P = sum_k c_k k dt

fire once when V((k+1) dt) >= v_th, at t* = (v_th / g + P) / S; no leak, no reset. The cell
equals an event-driven ReL-PSP layer with threshold theta = v_th / g and times in seconds.

Literal swap: ``LIFCell(p, dt=...)`` -> ``ReLPSPCell(p, dt=...)``, ``LIF(p, dt=...,
record_states=...)`` -> ``ReLPSP(...)``, ``LIFBoxCell(p, dt=...)`` -> ``ReLPSPCell(...)``.
A Norse parameter set (``LIFParameters``, ``LIFBoxParameters``, any NamedTuple with ``v_th``)
gives g = 1/dt and theta = v_th dt: one unit of input current raises V by one unit per step
(Norse's LIF rate tau_mem_inv = 100/s would leave most ReL-PSP neurons of an
nn.Linear-initialised net silent within 30 steps). Its other fields have no meaning here; the
ones set to non-default values are named in one ``UserWarning``. ``ReLPSPParameters(tau_mem_inv,
v_th)`` sets g explicitly. ``bias`` (optional) is an input spike at t = 0; ``silent_grad``
(default 1.0; 0 = plain STDBP) lets a neuron silent through the whole window receive a "fire
earlier" push, leaving every firing neuron's exact gradient alone, see
``stdbp_plugin.functional.clock``.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from stdbp_plugin.functional.clock import (
    SILENT_GRAD,
    ClockState,
    relpsp_clock_sequence,
    relpsp_clock_step,
)
from stdbp_plugin.functional.spike_trains import spikes_to_times
from stdbp_plugin.functional.validation import (
    as_bias_parameter,
    check_dt,
    check_has_data,
    check_silent_grad,
)


class ReLPSPParameters(NamedTuple):
    """tau_mem_inv: gain g of the ReL-PSP kernel g max(0, t - t_i), in 1/s; v_th: threshold."""

    tau_mem_inv: Tensor = torch.as_tensor(1000.0)
    v_th: Tensor = torch.as_tensor(1.0)


class ReLPSPState(NamedTuple):
    """State of ReL-PSP neurons; every field is shaped like the neurons.

    s: slope S (summed input current); p: sum of c_k k dt; t_spike: exact spike time (valid
    where k_spike >= 0); k_spike: step of the spike, -1 = not yet; k: index of the next step
    (one value, broadcast to the neurons' shape, kept on the CPU so that reading it needs no
    device sync); v: V = g (S (k dt) - P) at the end of the last step (Norse's ``state.v``; no
    reset: it keeps integrating after the spike). ``v`` is an output only: a state passed back
    is continued from s, p, t_spike, k_spike, k. ``state.i`` is S, the current with dV/dt = g i.
    """

    s: Tensor
    p: Tensor
    t_spike: Tensor
    k_spike: Tensor
    k: Tensor
    v: Tensor | None = None

    @property
    def i(self) -> Tensor:
        """S: the (non-decaying) input current that drives V, dV/dt = g i."""
        return self.s


# ---------------------------------------------------------------------------------------------
# The argument mapping (one place for cell and sequence)


def _is_default(value: Any, default: Any) -> bool:
    """value equals the field's default (tensors: every element, after broadcasting)."""
    if value is default:
        return True
    if isinstance(value, (Tensor, int, float)) and isinstance(default, (Tensor, int, float)):
        try:
            a = torch.as_tensor(value).detach().cpu()
            b = torch.as_tensor(default).detach().cpu()
            return bool(torch.all(a == b))
        except (RuntimeError, TypeError):
            return False
    try:
        return bool(value == default)
    except (RuntimeError, TypeError, ValueError):
        return False


def _positive(name: str, value: Any, hint: str = "") -> None:
    t = torch.as_tensor(value).detach()
    if not t.is_floating_point() and t.dtype not in (torch.int32, torch.int64):
        raise ValueError(f"p.{name} must be a number or a real tensor, got {value!r}")
    if t.numel() == 0 or not torch.isfinite(t).all() or (t <= 0).any():
        raise ValueError(f"p.{name} must be finite and > 0, got {t}{hint}")


def check_parameters(p: Any, dt: float) -> tuple[str, ...]:
    """Validate ``p`` and ``dt`` for a ReL-PSP neuron; return the fields of ``p`` that it
    ignores (set to non-default values, meaningless without leak, decay, reset or surrogate).

    ``p`` is ``ReLPSPParameters`` (gain tau_mem_inv, threshold v_th, both > 0) or a Norse
    parameter set with a ``v_th`` field (``LIFParameters``, ``LIFBoxParameters``, ...), whose
    v_th must be > 0. ValueError otherwise.
    """
    check_dt(dt)
    if isinstance(p, ReLPSPParameters):
        _positive("tau_mem_inv", p.tau_mem_inv)
        _positive("v_th", p.v_th)
        return ()
    fields = getattr(p, "_fields", None)
    if not isinstance(p, tuple) or fields is None or "v_th" not in fields:
        raise ValueError(
            "p must be ReLPSPParameters or a Norse parameter set with a v_th field "
            f"(LIFParameters, LIFBoxParameters, ...), got {type(p).__name__}"
        )
    hint = ""
    v_leak = getattr(p, "v_leak", None)
    if v_leak is not None and not _is_default(v_leak, 0.0):
        hint = (
            "; a ReL-PSP neuron rests at V = 0 and has no leak potential: give the threshold "
            "relative to rest, v_th - v_leak"
        )
    _positive("v_th", p.v_th, hint)
    defaults = getattr(type(p), "_field_defaults", {})
    return tuple(
        name
        for name in fields
        if name != "v_th"
        and (name not in defaults or not _is_default(getattr(p, name), defaults[name]))
    )


def gain_and_threshold(p: Any, dt: float, like: Tensor) -> tuple[Tensor, Tensor]:
    """(g, theta) in ``like``'s dtype and device: V = g (S t - P) fires at S t - P = theta.

    ``ReLPSPParameters``: g = tau_mem_inv, theta = v_th / tau_mem_inv. A Norse parameter set
    (``LIFParameters``, ...): g = 1/dt, theta = v_th dt.
    """
    v_th = torch.as_tensor(p.v_th, dtype=like.dtype, device=like.device)
    if isinstance(p, ReLPSPParameters):
        gain = torch.as_tensor(p.tau_mem_inv, dtype=like.dtype, device=like.device)
        return gain, v_th / gain
    return torch.as_tensor(1.0 / dt, dtype=like.dtype, device=like.device), v_th * dt


def _ignored_warning(cls: str, p: Any, ignored: tuple[str, ...]) -> str:
    named = ", ".join(f"{name}={getattr(p, name)!r}" for name in ignored)
    return (
        f"{cls}: ignoring {type(p).__name__} fields {named}. A ReL-PSP neuron has no leak, no "
        "synaptic decay and no reset (it fires once) and learns by exact spike-time gradients, "
        "not a surrogate; it uses only v_th, with gain 1/dt (event-driven threshold v_th * dt). "
        "Use ReLPSPParameters(tau_mem_inv=..., v_th=...) to set the gain."
    )


# ---------------------------------------------------------------------------------------------
# States


def _step_index(k: int | Tensor) -> int:
    """The step counter of a state: a Python int, a 0-d tensor or one broadcast over neurons."""
    if isinstance(k, int):
        return k
    k = torch.as_tensor(k)
    return int(k.reshape(-1)[0]) if k.numel() else 0


def _at_rest(state: tuple, p: Any) -> bool:
    """A Norse state (LIFFeedForwardState(v, i), LIFBoxFeedForwardState(v), ...) at rest:
    v == 0 (or p.v_leak) and every other field 0."""
    rest_v = getattr(p, "v_leak", 0.0)
    for name in state._fields:
        value = getattr(state, name)
        if not isinstance(value, Tensor):
            value = torch.as_tensor(value)
        if value.layout != torch.strided:
            value = value.to_dense()
        value = value.detach()
        if not (bool((value == 0).all()) or (name == "v" and bool((value == rest_v).all()))):
            return False
    return True


def _to_clock(state: Any, p: Any) -> ClockState | None:
    """ReLPSPState -> ClockState; None or a Norse LIF-family state at rest -> None (fresh)."""
    if state is None:
        return None
    if isinstance(state, ReLPSPState):
        return ClockState(state.s, state.p, state.t_spike, state.k_spike, _step_index(state.k))
    fields = getattr(state, "_fields", None)
    if isinstance(state, tuple) and fields is not None and "v" in fields:
        if _at_rest(state, p):
            return None
        raise ValueError(
            f"state: a ReL-PSP neuron cannot continue from a {type(state).__name__} that is not "
            "at rest (no leak, no synaptic current to take over); pass None, a state this "
            "module returned, or a LIF state at rest"
        )
    raise ValueError(f"state must be a ReLPSPState or None, got {type(state).__name__}")


def _to_norse(state: ClockState, v: Tensor) -> ReLPSPState:
    k = torch.tensor(int(state.k), dtype=torch.long).expand(state.s.shape)
    return ReLPSPState(state.s, state.p, state.t_spike, state.k_spike, k, v)


def _fresh(like: Tensor) -> ClockState | None:
    """Initial state for input ``like``: None (the clock functions start from zeros), or, when
    autograd records but the input needs no gradient, zeros with S a leaf that requires grad.
    That mirrors Norse, whose ``initial_state`` sets ``v.requires_grad = True``: the spikes and
    ``state.v`` then require grad, so ``loss.backward()`` works without any learnable input.
    It costs nothing when the input requires grad (the usual case)."""
    if not torch.is_grad_enabled() or like.requires_grad:
        return None
    zeros = torch.zeros_like(like)
    s = torch.zeros_like(like).requires_grad_()
    return ClockState(s, zeros, zeros, torch.full_like(like, -1, dtype=torch.long), 0)


# ---------------------------------------------------------------------------------------------
# Modules


class _ReLPSPBase(nn.Module):
    """Parameters shared by the cell and the sequence module; see the module docstring."""

    def __init__(
        self,
        p: Any = None,
        dt: float = 1e-3,
        bias: Tensor | None = None,
        silent_grad: float = SILENT_GRAD,
    ) -> None:
        super().__init__()
        if p is None:
            check_dt(dt)
            p = ReLPSPParameters(torch.as_tensor(1.0 / dt), torch.as_tensor(1.0))
        ignored = check_parameters(p, dt)
        if ignored:
            # frames: here, the subclass __init__, the caller
            warnings.warn(_ignored_warning(type(self).__name__, p, ignored), stacklevel=3)
        check_silent_grad(silent_grad)
        self.silent_grad = float(silent_grad)
        self.p, self.dt = p, float(dt)
        self.ignored_parameters: tuple[str, ...] = ignored
        # optional input spike at t = 0 (added to the current of step 0)
        self.bias = as_bias_parameter(bias)

    def _prepare(self, x: Any, min_dim: int) -> tuple[Tensor, bool]:
        """Input as a dense floating-point tensor (bool / integer -> the default float dtype,
        sparse -> dense, as Norse's LIF accepts them); returns it and whether it was sparse."""
        if not isinstance(x, Tensor) or x.ndim < min_dim or x.is_complex():
            raise ValueError(
                f"input_tensor must be a real tensor with >= {min_dim} dims, "
                f"got {getattr(x, 'shape', type(x).__name__)}"
            )
        check_has_data(x, "input_tensor")
        if x.numel() == 0:
            raise ValueError(f"input_tensor is empty (shape {tuple(x.shape)})")
        sparse = x.layout == torch.sparse_coo
        if x.layout != torch.strided:
            x = x.to_dense()
        if not x.is_floating_point():
            x = x.to(torch.get_default_dtype())
        return x, sparse

    def initial_state(self, input_tensor: Tensor) -> ReLPSPState:
        """A fresh state for one step of ``input_tensor`` ([B, ...]): nothing integrated,
        nothing fired, step 0, v = 0 (S requires grad as in ``forward`` with ``state=None``)."""
        x, _ = self._prepare(input_tensor, 1)
        zeros = torch.zeros_like(x)
        clock = _fresh(x) or ClockState(
            zeros, zeros, zeros, torch.full_like(x, -1, dtype=torch.long), 0
        )
        return _to_norse(clock, zeros)

    def extra_repr(self) -> str:
        extra = f", silent_grad={self.silent_grad}" if self.silent_grad else ""
        return f"p={self.p}, dt={self.dt}{extra}"


class ReLPSPCell(_ReLPSPBase):
    """One step of ReL-PSP neurons: ``z, state = cell(input_tensor [B, ...], state)``.

    S += c_k, P += c_k k dt; fires once when g (S (k+1) dt - P) >= v_th, at
    t* = (theta + P) / S (theta = v_th / g), reported in ``state.t_spike``
    (where ``state.k_spike >= 0``). Drop-in for ``LIFCell(p, dt=...)`` and
    ``LIFBoxCell(p, dt=...)``; see the module docstring for what ``p`` may be.
    """

    def __init__(
        self,
        p: Any = None,
        dt: float = 1e-3,
        bias: Tensor | None = None,
        silent_grad: float = SILENT_GRAD,
    ) -> None:
        super().__init__(p, dt, bias, silent_grad)

    def forward(
        self, input_tensor: Tensor, state: ReLPSPState | None = None
    ) -> tuple[Tensor, ReLPSPState]:
        x, sparse = self._prepare(input_tensor, 1)
        clock = _to_clock(state, self.p)
        if clock is None:
            if self.bias is not None:
                x = x + self.bias
            clock = _fresh(x)
        gain, theta = gain_and_threshold(self.p, self.dt, x)
        z, v_end, clock = relpsp_clock_step(x, clock, theta, self.dt, self.silent_grad)
        return (z.to_sparse() if sparse else z), _to_norse(clock, gain * v_end)


class ReLPSP(_ReLPSPBase):
    """Whole sequence: ``z, state = module(input_tensor [T, B, ...], state)``; identical to
    stepping :class:`ReLPSPCell` over dim 0 (outputs and gradients), without a Python loop.

    Drop-in for ``LIF(p, dt=..., record_states=...)``: with ``record_states=True`` the state
    returned holds every step (each field [T, B, ...], stepped like the cell), as Norse's.
    """

    def __init__(
        self,
        p: Any = None,
        dt: float = 1e-3,
        bias: Tensor | None = None,
        silent_grad: float = SILENT_GRAD,
        *,
        record_states: bool = False,
    ) -> None:
        super().__init__(p, dt, bias, silent_grad)
        if not isinstance(record_states, bool):
            raise ValueError(f"record_states must be a bool, got {record_states!r}")
        self.record_states = record_states

    def forward(
        self, input_tensor: Tensor, state: ReLPSPState | None = None
    ) -> tuple[Tensor, ReLPSPState]:
        x, sparse = self._prepare(input_tensor, 2)
        if x.shape[0] == 0:
            raise ValueError("input_tensor must have at least one time step")
        clock = _to_clock(state, self.p)
        if clock is None:
            if self.bias is not None:
                x = torch.cat([x[:1] + self.bias, x[1:]])
            clock = _fresh(x[0])
        gain, theta = gain_and_threshold(self.p, self.dt, x)
        if self.record_states:
            zs, states = [], []
            for x_k in x:
                z_k, v_k, clock = relpsp_clock_step(x_k, clock, theta, self.dt, self.silent_grad)
                zs.append(z_k)
                states.append(_to_norse(clock, gain * v_k))
            z = torch.stack(zs)
            out = ReLPSPState(*(torch.stack(field) for field in zip(*states, strict=True)))
        else:
            z, v_end, clock = relpsp_clock_sequence(x, clock, theta, self.dt, self.silent_grad)
            out = _to_norse(clock, gain * v_end[-1])
        return (z.to_sparse() if sparse else z), out

    def initial_state(self, input_tensor: Tensor) -> ReLPSPState:
        """A fresh state for ``input_tensor`` [T, B, ...] (shaped like one step)."""
        return super().initial_state(input_tensor[0])


def potential(state: ReLPSPState, p: Any, dt: float = 1e-3) -> Tensor:
    """V at the end of the last step: g (S k dt - P) with k = state.k (no reset after a spike);
    g from ``p`` as in :func:`gain_and_threshold`. Equals ``state.v``."""
    gain, _ = gain_and_threshold(p, dt, state.s)
    return gain * (state.s * (_step_index(state.k) * dt) - state.p)


class FirstSpikeTimeDecoder(nn.Module):
    """[T, B, ...] spikes -> [B, ...] first-spike times k dt (Norse units: seconds).

    Unlike Norse 1.1.0's ``SpikesToTimesDecoder`` (whose backward fails with a shape error as
    soon as a neuron is silent), silent neurons give +inf (or ``silent_time`` if set) and
    simply receive no gradient. Backward: dL/ds_k = -dt dL/dt at the first-spike step, which the
    hat rule of the ReL-PSP neurons turns back into the exact dL/dt*.
    """

    def __init__(self, dt: float = 1e-3, silent_time: float | None = None) -> None:
        super().__init__()
        check_dt(dt)
        self.dt, self.silent_time = float(dt), silent_time

    def forward(self, spike_input: Tensor) -> Tensor:
        t = spikes_to_times(spike_input, self.dt)
        if self.silent_time is None:
            return t
        return torch.where(torch.isinf(t), torch.full_like(t, self.silent_time), t)


__all__ = [
    "FirstSpikeTimeDecoder",
    "ReLPSP",
    "ReLPSPCell",
    "ReLPSPParameters",
    "ReLPSPState",
    "check_parameters",
    "gain_and_threshold",
    "potential",
]
