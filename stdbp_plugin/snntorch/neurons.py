"""Drop-in clock-driven ReL-PSP neurons for snnTorch (``import stdbp_plugin.snntorch``).

Each class takes the arguments of the snnTorch neuron it replaces, in the same positions, so
that replacing the class name is enough:

* ``ReLPSP`` for ``snn.Leaky``: ``spk, mem = neuron(cur, mem)``;
* ``ReLPSPSynaptic`` for ``snn.Synaptic``: ``spk, syn, mem = neuron(cur, syn, mem)``;
* ``ReLPSPAlpha`` for ``snn.Alpha``: ``spk, syn_exc, syn_inh, mem = neuron(cur, ...)``;
* ``ReLPSPLapicque`` for ``snn.Lapicque``: ``spk, mem = neuron(cur, mem)``;
* ``ReLPSPRLeaky`` / ``ReLPSPRSynaptic`` for ``snn.RLeaky`` / ``snn.RSynaptic``: constructing
  one raises ``ValueError`` (ReL-PSP networks are feed-forward).

Per step k (docs/design.md, section 2): S += c_k, P += c_k k dt; the neuron fires once, in the
step where S (k+1) dt - P >= theta, at the exact time t* = (theta + P) / S; backward = exact
STDBP through S and P plus the "hat" rule dL/dt* = (dL/ds_{k+1} - dL/ds_k) / dt for the output
spike.

Arguments are handled in one place (:meth:`_ReLPSPState._init_relpsp`): ``threshold``,
``learn_threshold``, ``init_hidden`` and ``output`` keep their snnTorch meaning; LIF-only
arguments (``beta``, ``spike_grad``, ``reset_mechanism``, ...) are stored as snnTorch stores them
(so ``state_dict`` keys match the replaced class) but have no effect, and one
:class:`IgnoredArgumentWarning` per construction names those set to a non-default value;
arguments whose behaviour the neuron cannot honour (``inhibition``, ``state_quant``, graded
spikes) raise ``ValueError``.

Every class subclasses the snnTorch class it replaces, so ``snntorch.utils.reset(net)``, the
``reset_hidden()`` / ``detach_hidden()`` classmethods and ``SpikingNeuron.instances`` treat it
like that class. ``ReLPSPSynaptic`` and ``ReLPSPLapicque`` also subclass ``ReLPSP``.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from typing import Any, ClassVar

import snntorch as snn
import torch
from snntorch._neurons.neurons import LIF
from torch import Tensor

from stdbp_plugin.functional.clock import SILENT_GRAD, ClockState, relpsp_clock_step
from stdbp_plugin.functional.validation import (
    as_bias_parameter,
    check_dt,
    check_has_data,
    check_silent_grad,
)

__all__ = [
    "IgnoredArgumentWarning",
    "ReLPSP",
    "ReLPSPAlpha",
    "ReLPSPLapicque",
    "ReLPSPRLeaky",
    "ReLPSPRSynaptic",
    "ReLPSPSynaptic",
]


class IgnoredArgumentWarning(UserWarning):
    """An snnTorch argument was accepted for drop-in compatibility but has no effect on a
    ReL-PSP neuron. Silence it by dropping the argument, or with
    ``warnings.filterwarnings("ignore", category=IgnoredArgumentWarning)``."""


# ---- how every snnTorch argument is treated (the one place) ------------------------------
#: Arguments that keep their snnTorch meaning.
_KEPT = frozenset({"threshold", "learn_threshold", "init_hidden", "output"})

#: Arguments whose non-default values change behaviour a ReL-PSP neuron cannot honour.
_REFUSED = {
    "inhibition": "winner-take-all firing (only the largest membrane of a layer fires) is not "
    "implemented for ReL-PSP neurons",
    "state_quant": "the spike time is computed exactly from unquantised state",
    "graded_spikes_factor": "ReL-PSP spikes are binary (1 at the spike step)",
    "learn_graded_spikes_factor": "ReL-PSP spikes are binary (1 at the spike step)",
}

#: Why an argument has no meaning for a once-firing, leak-free ReL-PSP neuron (any argument
#: that is neither kept nor refused is ignored; unknown names fall back to a generic reason).
_WHY_IGNORED = {
    "beta": "no membrane leak",
    "alpha": "no synaptic decay",
    "learn_beta": "no leak to learn",
    "learn_alpha": "no decay to learn",
    "spike_grad": "exact spike-time gradients, no surrogate",
    "surrogate_disable": "no surrogate to disable",
    "reset_mechanism": "fires at most once, never resets",
    "reset_delay": "fires at most once, never resets",
    "R": "no RC leak",
    "C": "no RC leak",
    "time_step": "no RC leak; the step size is dt",
}

#: Stored value of a state_dict entry the user did not set (a neuron with no leak).
_NEUTRAL = {"beta": 1.0, "alpha": 1.0, "R": 1.0, "C": float("inf"), "time_step": 1}

#: Entries registered as buffers besides those of SpikingNeuron / LIF (threshold,
#: graded_spikes_factor, reset_mechanism_val, beta), so that state_dict keys match snnTorch's.
_EXTRA_BUFFERS = ("alpha", "R", "C", "time_step")

_EXTRAS = ("dt", "bias", "silent_grad")


@functools.cache
def _snntorch_defaults(replaces: type) -> dict[str, Any]:
    """Parameters of ``replaces.__init__`` in order, with their defaults (None where required)."""
    params = list(inspect.signature(replaces.__init__).parameters.values())[1:]
    return {p.name: (None if p.default is p.empty else p.default) for p in params}


def _is_default(value: Any, default: Any) -> bool:
    """Whether ``value`` means the same as snnTorch's default (flags are read by truthiness)."""
    if value is default:
        return True
    if default is None or callable(value):
        return False
    if isinstance(default, bool):
        if isinstance(value, Tensor):
            return value.numel() == 1 and bool(value) is default
        return bool(value) is default
    if isinstance(default, str) or isinstance(value, str):
        return value == default
    try:
        return bool(torch.all(torch.as_tensor(value) == default))
    except (TypeError, ValueError, RuntimeError):
        return False


def _short(value: Any) -> str:
    """A short readable form of an argument's value for messages."""
    if callable(value) and not isinstance(value, Tensor):
        name = getattr(value, "__qualname__", type(value).__name__)
        return f"<{name.split('.<locals>')[0]}>"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _as_buffer(value: Any) -> Tensor:
    return torch.as_tensor(value.detach() if isinstance(value, Tensor) else value).clone()


class _ReLPSPState:
    """What every clock-driven ReL-PSP face shares: argument handling, state, one step.

    Mixed in before the snnTorch class a face replaces; the face's ``__init__`` has that
    class's signature and calls :meth:`_init_relpsp` with its arguments.
    """

    #: Names of the state tensors the face returns after ``spk`` (snnTorch's order).
    _STATE: ClassVar[tuple[str, ...]] = ("mem",)

    threshold: Tensor
    init_hidden: bool
    output: bool

    def _init_relpsp(self, replaces: type, args: dict[str, Any]) -> None:
        """Validate, store and report the snnTorch arguments of ``replaces``; set up state."""
        name = type(self).__name__
        defaults = _snntorch_defaults(replaces)
        given = {n: args.get(n, d) for n, d in defaults.items()}
        set_ = {n for n, d in defaults.items() if not _is_default(given[n], d)}

        refused = [n for n in _REFUSED if n in set_]
        if refused:
            reasons = "; ".join(f"{n}={_short(given[n])}: {_REFUSED[n]}" for n in refused)
            raise ValueError(
                f"{name} cannot honour {reasons}. Remove the argument, or keep "
                f"snn.{replaces.__name__} for this layer."
            )
        ignored = [n for n in defaults if n in set_ and n not in _KEPT]

        threshold = given["threshold"]
        if isinstance(threshold, (bool, str)):
            raise ValueError(f"threshold must be a number or a tensor, got {threshold!r}")
        theta = torch.as_tensor(threshold, dtype=torch.get_default_dtype()).detach().clone()
        if not torch.isfinite(theta).all() or (theta <= 0).any():
            raise ValueError(f"threshold must be finite and > 0, got {threshold}")
        dt, bias, silent_grad = (
            args.get("dt", 1.0),
            args.get("bias"),
            args.get("silent_grad", SILENT_GRAD),
        )
        check_dt(dt)
        check_silent_grad(silent_grad)

        def stored(n: str) -> Any:
            return given[n] if n in set_ else _NEUTRAL.get(n, given[n])

        reset_mechanism = given.get("reset_mechanism", "subtract")
        if reset_mechanism not in snn.SpikingNeuron.reset_dict:
            raise ValueError(
                "reset_mechanism must be set to either 'subtract', 'zero', or 'none', got "
                f"{reset_mechanism!r}"
            )

        beta = _as_buffer(stored("beta"))
        if "beta" not in set_ and {"R", "C"} <= set_:  # snn.Lapicque derives beta from R, C
            rc = _as_buffer(given["R"]) * _as_buffer(given["C"])
            beta = torch.exp(torch.ones(1) * (-_as_buffer(given["time_step"]) / rc))
        extra = {n: _as_buffer(stored(n)) for n in _EXTRA_BUFFERS if n in defaults}
        bias = as_bias_parameter(bias)

        # SpikingNeuron.__init__ registers the neuron in the class-level `instances` list that
        # reset_hidden() walks: nothing below may fail and leave a half-built neuron there.
        LIF.__init__(
            self,  # type: ignore[arg-type]
            beta=beta,
            threshold=theta,
            spike_grad=given.get("spike_grad"),
            surrogate_disable=bool(given.get("surrogate_disable", False)),
            init_hidden=bool(given["init_hidden"]),
            learn_threshold=bool(given["learn_threshold"]),
            reset_mechanism=reset_mechanism,
            output=bool(given["output"]),
        )
        if "spike_grad" not in set_:
            # snnTorch's default surrogate is a local closure, which torch.save(model) cannot
            # pickle; a ReL-PSP neuron never calls it, so keep only a surrogate the user gave.
            self.spike_grad = None
        self._clock: ClockState | None = None
        self._mem: Tensor = torch.zeros(0)
        for n, value in extra.items():
            self.register_buffer(n, value)  # type: ignore[attr-defined]
        if "reset_delay" in defaults:
            self.reset_delay = given["reset_delay"]

        self.dt = float(dt)
        self.bias = bias
        self.silent_grad = float(silent_grad)

        if ignored:
            listed = ", ".join(
                f"{n}={_short(given[n])} ({_WHY_IGNORED.get(n, 'no ReL-PSP counterpart')})"
                for n in ignored
            )
            warnings.warn(
                f"{name} ignores {listed}. They are accepted so that {name} can replace "
                f"snn.{replaces.__name__} as it stands, but a ReL-PSP neuron has no leak, fires "
                "at most once and learns by exact spike-time gradients; drop them to silence "
                "this warning.",
                IgnoredArgumentWarning,
                stacklevel=3,
            )

    # ---- state ---------------------------------------------------------------------------
    @property
    def mem(self) -> Tensor:
        """V at the end of the last step (empty before the first step)."""
        return self._mem

    @mem.setter
    def mem(self, value: Tensor) -> None:
        # snnTorch resets a neuron by assigning zeros to its state (reset_hidden, reset_mem):
        # any assignment starts a new sequence.
        self._clock = None
        self._mem = value

    def _zeros(self) -> Tensor:
        return torch.zeros_like(self._mem)

    def _reset_state(self, value: Tensor) -> None:
        """Setter of a derived state tensor (syn, syn_exc, ...): starts a new sequence."""
        self._clock = None

    def _state(self) -> tuple[Tensor, ...]:
        return tuple(getattr(self, n) for n in self._STATE)

    def reset_mem(self) -> Any:
        """Start a new sequence; returns zero state in snnTorch's form (``mem`` or a tuple)."""
        self.mem = self._zeros()
        state = self._state()
        return state[0] if len(state) == 1 else state

    @property
    def spike_time(self) -> Tensor:
        """Exact (sub-step) spike time t* of each neuron so far; +inf where it has not fired."""
        if self._clock is None:
            return torch.full_like(self._mem, float("inf"))
        fired = self._clock.k_spike >= 0
        return torch.where(
            fired, self._clock.t_spike, torch.full_like(self._clock.t_spike, float("inf"))
        )

    @property
    def step(self) -> int:
        """Index of the next step (0 after a reset)."""
        return 0 if self._clock is None else int(self._clock.k)

    @classmethod
    def detach_hidden(cls) -> None:
        """Detach the state of every ReL-PSP neuron from the graph (truncated BPTT)."""
        for neuron in snn.SpikingNeuron.instances:
            if isinstance(neuron, _ReLPSPState):
                neuron._detach()
        super().detach_hidden()  # type: ignore[misc]

    def _detach(self) -> None:
        self._mem = self._mem.detach()
        if self._clock is not None:
            c = self._clock
            self._clock = c._replace(s=c.s.detach(), p=c.p.detach(), t_spike=c.t_spike.detach())

    def _accept_mem(self, mem: Tensor | None) -> None:
        if mem is None or mem is self._mem:
            return
        if not isinstance(mem, Tensor):
            raise ValueError(f"mem must be a tensor, got {type(mem).__name__}")
        same = mem.shape == self._mem.shape and torch.equal(mem.detach(), self._mem.detach())
        if same and self._clock is not None:
            return
        if mem.numel() and (mem != 0).any():
            raise ValueError(
                f"mem must be the tensor this {type(self).__name__} neuron returned at the "
                "previous step, or zeros (reset_mem()) to start a new sequence"
            )
        self._clock = None

    # ---- one step ------------------------------------------------------------------------
    def _step(self, input_: Tensor, mem: Tensor | None) -> Tensor:
        if not isinstance(input_, Tensor) or not input_.is_floating_point():
            raise ValueError("input_ must be a floating-point tensor of input currents")
        check_has_data(input_, "input_")
        if input_.numel() == 0:
            raise ValueError(f"input_ is empty (shape {tuple(input_.shape)})")
        self._accept_mem(mem)
        if self._clock is not None and self._clock.s.shape != input_.shape:
            self._clock = None  # a new batch shape starts a new sequence, as in snnTorch
        current = input_
        if self._clock is None and self.bias is not None:
            current = current + self.bias
        spk, self._mem, self._clock = relpsp_clock_step(
            current, self._clock, self.threshold, self.dt, self.silent_grad
        )
        return spk

    def _forward(self, input_: Tensor, state: tuple[Tensor | None, ...]) -> Any:
        """One step with snnTorch's conventions; ``state`` = the face's state arguments, in
        ``_STATE`` order (only ``mem`` is read: it tells a continued from a new sequence)."""
        if self.init_hidden and any(s is not None for s in state):
            names = "`, `".join(self._STATE)
            raise TypeError(f"`{names}` should not be passed as arguments while `init_hidden=True`")
        spk = self._step(input_, state[-1])
        if self.output or not self.init_hidden:
            return (spk, *self._state())
        return spk

    def extra_repr(self) -> str:
        return f"threshold={self.threshold.tolist()}, dt={self.dt}, init_hidden={self.init_hidden}"


class ReLPSP(_ReLPSPState, snn.Leaky):
    """Clock-driven ReL-PSP neuron; replaces ``snn.Leaky`` (same arguments, same positions).

    ``spk, mem = neuron(cur, mem)`` per step on [B, ...]; with ``init_hidden=True`` it returns
    ``spk`` (or ``(spk, mem)`` with ``output=True``) and keeps its state on the module.

    ``mem`` is the potential at the end of the step, V((k+1) dt) = S (k+1) dt - P. After the
    spike it keeps following S t - P (no reset): the neuron simply never fires again.
    The explicit-state form ``neuron(cur, mem)`` continues the sequence when ``mem`` is the
    tensor (or an equal copy) this neuron returned at the previous step, and starts a new one
    when ``mem`` is zeros (``reset_mem()`` / ``init_leaky()``); any other ``mem`` is an error.

    Args:
        beta, spike_grad, surrogate_disable, learn_beta, reset_mechanism, reset_delay:
            accepted and stored as snnTorch stores them (``spike_grad`` only when given), no
            effect; one :class:`IgnoredArgumentWarning` names those set. ``beta`` is optional
            here (default None: no warning).
        threshold: theta > 0 (a float or a tensor broadcastable to the input).
        init_hidden, output, learn_threshold: as in ``snn.Leaky``; ``learn_threshold`` makes
            theta an ``nn.Parameter`` (dt*/dtheta = 1/S).
        inhibition, state_quant, graded_spikes_factor, learn_graded_spikes_factor: only their
            defaults are accepted (``ValueError`` otherwise).
        dt: step size; step k stands for t = k dt. Default 1.0: time counted in steps, the
            unit of snnTorch's spikegen and temporal losses.
        bias: optional tensor added to the input current at step 0 only, i.e. an input spike
            at t = 0 (how ``nn.Linear.bias`` maps onto ReL-PSP; ``convert`` hands it over here).
        silent_grad: revival of neurons silent through the whole window (default 1.0): a
            loss that asks such a neuron to fire (a negative gradient on the window's last
            step, where ``ce_temporal_loss`` puts a silent neuron) raises its end-of-window
            potential by this factor. Every neuron that fires gets the exact STDBP gradient
            whatever this is; 0 = plain STDBP (a silent neuron gets no gradient).
    """

    def __init__(
        self,
        beta: float | Tensor | None = None,
        threshold: float | Tensor = 1.0,
        spike_grad: Any = None,
        surrogate_disable: bool = False,
        init_hidden: bool = False,
        inhibition: bool = False,
        learn_beta: bool = False,
        learn_threshold: bool = False,
        reset_mechanism: str = "subtract",
        state_quant: Any = False,
        output: bool = False,
        graded_spikes_factor: float | Tensor = 1.0,
        learn_graded_spikes_factor: bool = False,
        reset_delay: bool = True,
        *,
        dt: float = 1.0,
        bias: Tensor | None = None,
        silent_grad: float = SILENT_GRAD,
    ) -> None:
        self._init_relpsp(snn.Leaky, locals())

    def init_lapicque(self) -> Tensor:
        """Alias of ``reset_mem`` for code written for ``snn.Lapicque``."""
        return self.reset_mem()

    def forward(self, input_: Tensor, mem: Tensor | None = None) -> Any:
        """One step: ``(spk, mem)``, or ``spk`` with ``init_hidden=True`` (``output=False``)."""
        return self._forward(input_, (mem,))


class ReLPSPLapicque(ReLPSP, snn.Lapicque):
    """ReL-PSP neuron that replaces ``snn.Lapicque`` (its arguments, positions and defaults;
    ``spk, mem = neuron(cur, mem)``). ``beta``, ``R``, ``C`` and ``time_step`` describe the RC
    leak and are ignored (stored for ``state_dict`` compatibility); the step size is ``dt``.
    See :class:`ReLPSP` for the other arguments."""

    def __init__(
        self,
        beta: float | Tensor | bool = False,
        R: float | Tensor | bool = False,
        C: float | Tensor | bool = False,
        time_step: float | Tensor = 1,
        threshold: float | Tensor = 1.0,
        spike_grad: Any = None,
        surrogate_disable: bool = False,
        init_hidden: bool = False,
        inhibition: bool = False,
        learn_beta: bool = False,
        learn_threshold: bool = False,
        reset_mechanism: str = "subtract",
        state_quant: Any = False,
        output: bool = False,
        *,
        dt: float = 1.0,
        bias: Tensor | None = None,
        silent_grad: float = SILENT_GRAD,
    ) -> None:
        self._init_relpsp(snn.Lapicque, locals())


class ReLPSPSynaptic(ReLPSP, snn.Synaptic):
    """ReL-PSP neuron that replaces ``snn.Synaptic`` (``alpha, beta, ...``; both optional here):
    ``spk, syn, mem = neuron(cur, syn, mem)``; ``syn`` is the slope S = dV/dt (the summed input
    current, which never decays in ReL-PSP). ``reset_mem()`` / ``init_synaptic()`` return
    ``(syn, mem)`` zeros and start a new sequence. See :class:`ReLPSP` for the arguments."""

    _STATE = ("syn", "mem")

    def __init__(
        self,
        alpha: float | Tensor | None = None,
        beta: float | Tensor | None = None,
        threshold: float | Tensor = 1.0,
        spike_grad: Any = None,
        surrogate_disable: bool = False,
        init_hidden: bool = False,
        inhibition: bool = False,
        learn_alpha: bool = False,
        learn_beta: bool = False,
        learn_threshold: bool = False,
        reset_mechanism: str = "subtract",
        state_quant: Any = False,
        output: bool = False,
        reset_delay: bool = True,
        *,
        dt: float = 1.0,
        bias: Tensor | None = None,
        silent_grad: float = SILENT_GRAD,
    ) -> None:
        self._init_relpsp(snn.Synaptic, locals())

    @property
    def syn(self) -> Tensor:
        """Slope S = sum of the input currents so far (zeros after a reset)."""
        return self._zeros() if self._clock is None else self._clock.s

    syn = syn.setter(_ReLPSPState._reset_state)  # type: ignore[assignment]

    def forward(  # type: ignore[override]
        self, input_: Tensor, syn: Tensor | None = None, mem: Tensor | None = None
    ) -> Any:
        """One step: ``(spk, syn, mem)``, or ``spk`` with ``init_hidden=True``."""
        return self._forward(input_, (syn, mem))


class ReLPSPAlpha(_ReLPSPState, snn.Alpha):
    """ReL-PSP neuron that replaces ``snn.Alpha`` (``alpha, beta, ...``; both optional here):
    ``spk, syn_exc, syn_inh, mem = neuron(cur, syn_exc, syn_inh, mem)``.

    V(t) = S t - P is split as in ``snn.Alpha`` into a rising and a falling part:
    ``syn_exc`` = S (k+1) dt, ``syn_inh`` = -P, ``mem`` = syn_exc + syn_inh. ``reset_mem()`` /
    ``init_alpha()`` return zeros and start a new sequence. Not a :class:`ReLPSP` subclass (so
    snnTorch counts its four outputs), and ``convert`` does not take it. See :class:`ReLPSP`
    for the arguments.
    """

    _STATE = ("syn_exc", "syn_inh", "mem")

    def __init__(
        self,
        alpha: float | Tensor | None = None,
        beta: float | Tensor | None = None,
        threshold: float | Tensor = 1.0,
        spike_grad: Any = None,
        surrogate_disable: bool = False,
        init_hidden: bool = False,
        inhibition: bool = False,
        learn_alpha: bool = False,
        learn_beta: bool = False,
        learn_threshold: bool = False,
        reset_mechanism: str = "zero",
        state_quant: Any = False,
        output: bool = False,
        *,
        dt: float = 1.0,
        bias: Tensor | None = None,
        silent_grad: float = SILENT_GRAD,
    ) -> None:
        self._init_relpsp(snn.Alpha, locals())

    @property
    def syn_exc(self) -> Tensor:
        """Rising part S (k+1) dt of the potential at the end of the last step."""
        c = self._clock
        return self._zeros() if c is None else c.s * (c.k * self.dt)

    syn_exc = syn_exc.setter(_ReLPSPState._reset_state)  # type: ignore[assignment]

    @property
    def syn_inh(self) -> Tensor:
        """Falling part -P of the potential at the end of the last step."""
        return self._zeros() if self._clock is None else -self._clock.p

    syn_inh = syn_inh.setter(_ReLPSPState._reset_state)  # type: ignore[assignment]

    def forward(  # type: ignore[override]
        self,
        input_: Tensor,
        syn_exc: Tensor | None = None,
        syn_inh: Tensor | None = None,
        mem: Tensor | None = None,
    ) -> Any:
        """One step: ``(spk, syn_exc, syn_inh, mem)``, or ``spk`` with ``init_hidden=True``."""
        return self._forward(input_, (syn_exc, syn_inh, mem))


class _FeedForwardOnly:
    """A recurrent snnTorch neuron's name: constructing it raises a ValueError that says why."""

    _replaces: ClassVar[str] = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        name = type(self).__name__
        raise ValueError(
            f"{name}: recurrent neurons ({self._replaces}) have no ReL-PSP counterpart "
            "(feed-forward only): a ReL-PSP neuron fires once, and its exact spike-time "
            "gradient assumes no spike feeds back into its own layer. Use ReLPSP / "
            "ReLPSPSynaptic in a feed-forward model, or keep "
            f"{self._replaces} with its surrogate gradient."
        )


class ReLPSPRLeaky(_FeedForwardOnly):
    """Stands where ``snn.RLeaky`` stands; construction raises ``ValueError`` (feed-forward only)."""

    _replaces = "snn.RLeaky"


class ReLPSPRSynaptic(_FeedForwardOnly):
    """Stands where ``snn.RSynaptic`` stands; construction raises ``ValueError`` (feed-forward
    only)."""

    _replaces = "snn.RSynaptic"
