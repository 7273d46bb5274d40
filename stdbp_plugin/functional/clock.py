"""Clock-driven ReL-PSP dynamics (docs/design.md, section 2): pure step and sequence functions.

Step k covers [k dt, (k+1) dt); the input current c_k arrives at tau_k = k dt. Per neuron:

    S += c_k,   P += c_k tau_k,   V(t) = S t - P   (ReL-PSP kernel, no leak, no reset)

A neuron that has not fired fires in step k when S > 0 and S tau_{k+1} - P >= theta, at the
exact time t* = (theta + P) / S in (tau_k, tau_{k+1}]; its binary output is 1 at step k only.
Autograd through S and P gives dt*/dc_m = (tau_m - t*) / S. The output spike's backward is the
"hat" of :class:`ClockStep`: dL/dt* = (dL/ds_{k+1} - dL/ds_k) / dt.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import torch
from torch import Tensor

from stdbp_plugin.functional.validation import check_dt

# the fused CPU loops of ClockStep; the torch code below is the specification
from stdbp_plugin.kernels import clock_numba as _FUSED

NOT_FIRED = -1

#: The drop-in neurons' default ``silent_grad``: revive neurons silent through the whole window
#: (their STDBP gradient is zero); every neuron that fires keeps its exact gradient. Measured on
#: snnTorch's temporal-loss pipeline, literal swap: 34% with 0 (96% of outputs silent), 81% with 1.
SILENT_GRAD = 1.0


class ClockState(NamedTuple):
    """s: slope S = sum of input currents; p: sum of c_k tau_k; t_spike: exact spike time
    (meaningful where k_spike >= 0); k_spike: step of the spike, -1 = not fired yet;
    k: index of the next step (a Python int or 0-d long tensor)."""

    s: Tensor
    p: Tensor
    t_spike: Tensor
    k_spike: Tensor
    k: int | Tensor


class DenseSpikeTrainLossWarning(UserWarning):
    """A loss counts the spikes of a ReL-PSP output (the same gradient on every step of its
    train, so none on its spike time). Filter it with
    ``warnings.filterwarnings("ignore", category=DenseSpikeTrainLossWarning)``."""


DENSE_LOSS_MESSAGE = (
    "the loss counts the spikes of a ReL-PSP neuron (it sends the same gradient to every time "
    "step of the neuron's output). A ReL-PSP neuron fires once: a spike count does not change "
    "with its spike time, so count and rate losses and accuracies (ce_rate_loss, "
    "ce_count_loss, mse_count_loss, accuracy_rate) give it no timing gradient. Change one line: "
    "`import stdbp_plugin.snntorch.functional as SF` instead of "
    "`import snntorch.functional as SF` (same names, first-spike versions). "
    "See docs/readouts.md."
)


class _Window:
    """The steps of one stepped sequence (from a fresh state on): ``k_spike`` as of its last
    step and the index of that step, read at backward time to tell the neurons that stay silent
    through the whole window and the window's last step."""

    __slots__ = ("k_spike", "last")

    def __init__(self, k_spike: Tensor) -> None:
        self.k_spike, self.last = k_spike, -1


_count_checks_left = 20  # a count loss shows in the first backward steps; then stop looking


def _count_check(read: int, timed: int) -> None:
    """Warn once per process when ``read`` > 0 neurons spiking at a step get a gradient on the
    train from the loss but none of them (``timed`` == 0) on their spike time:
    dL/ds_k = dL/ds_{k+1}, i.e. the loss counts spikes. A hidden layer read by ReL-PSP neurons
    (dL/ds affine in the step) and first-spike readouts do not trigger it. Only the first
    steps with such neurons are checked, so training runs at full speed afterwards."""
    global _count_checks_left
    if read == 0 or _count_checks_left <= 0:
        return
    _count_checks_left -= 1
    if timed == 0:
        _count_checks_left = 0
        warnings.warn(DENSE_LOSS_MESSAGE, DenseSpikeTrainLossWarning, stacklevel=3)


def _count_check_tensors(g_spike: Tensor, g_time: Tensor, spiking: Tensor, dt: float) -> None:
    """:func:`_count_check` on tensors (|dL/dt*| dt <= 1e-5 |dL/ds| counts as none)."""
    if _count_checks_left <= 0:
        return
    read = spiking & (g_spike != 0)
    timed = read & (g_time.abs() * dt > 1e-5 * g_spike.abs())
    _count_check(int(read.sum()), int(timed.sum()))


def _revival(grad: Tensor, silent: Tensor, silent_grad: float, dt: float) -> Tensor:
    """dL/dV_{T-1} = silent_grad * min(dL/ds_{T-1}, 0) / dt for neurons silent in the whole
    window (``grad`` is the loss's gradient on the window's last step)."""
    return torch.where(silent, grad.clamp(max=0) * (silent_grad / dt), torch.zeros_like(grad))


class ClockStep(torch.autograd.Function):
    """One fused step m (forward and hand-written backward, no per-op autograd graph).

    Forward: S = S' + c, P = P' + c tau_m, V = S tau_{m+1} - P; a neuron that has not fired
    fires when S > 0 and V >= theta, at t* = (theta + P) / S; the spike s_m = [fires now].
    Backward, with a = dL/dt* / S for the neurons that fire now:
        dL/dt* = dL/dt*_(later steps) + (dL/ds_{m+1} - dL/ds_m) / dt   (the hat rule)
        dL/dS = dL/dS_later + tau_{m+1} dL/dV - a t*,   dL/dP = dL/dP_later - dL/dV + a,
        dL/dc = dL/dS + tau_m dL/dP,   dL/dtheta = a,
    i.e. dt*/dc_k = (tau_k - t*) / S. The hat: a spike at t* = (k + f) dt counts 1 - f on step k
    and f on step k + 1; the loss does not read the step after the window (dL/ds_T = 0), so a
    spike in the last step fades out of the window with dL/dt* = -dL/ds_{T-1} / dt, the loss's
    own jump for a neuron that leaves it. For first-spike readouts (gradient at the spike step
    only, e.g. snnTorch's ``ce_temporal_loss``) this is exactly dL/dt* of the loss written on
    t* / dt, last step included.

    ``silent_grad`` > 0 (off by default): a neuron that stays silent through the whole window
    gets dL/dV_{T-1} += silent_grad * min(dL/ds_{T-1}, 0) / dt, a "fire earlier" push on its
    potential at the end of the window, from the loss's gradient on the last step (where
    snnTorch's temporal losses and ``spikes_to_times`` put a silent neuron). Its exact gradient
    is zero, so every neuron that fires keeps its exact gradient (the event mode's output,
    ``EventDrivenModel``, applies the same rule).
    """

    @staticmethod
    def forward(
        ctx, current, s_prev, p_prev, t_prev, k_prev, threshold, m, dt, silent_grad, window
    ):
        ctx.set_materialize_grads(False)
        ctx.m, ctx.dt, ctx.silent_grad, ctx.window = m, dt, silent_grad, window
        ctx.theta_shape = threshold.shape if isinstance(threshold, Tensor) else None
        ctx.fused = _fused_ok(current, s_prev, p_prev, t_prev)
        if ctx.fused:
            out = _FUSED.forward(current, s_prev, p_prev, t_prev, k_prev, threshold, m, dt)
            spikes, v_end, s, p, t_spike, k_spike = out
            fires = spikes
        else:
            s = s_prev + current
            p = torch.add(p_prev, current, alpha=m * dt)
            v_end = s * ((m + 1) * dt) - p
            fires = (k_prev < 0) & (s > 0) & (v_end >= threshold)
            t_spike = torch.where(fires, (threshold + p) / s, t_prev)
            k_spike = k_prev.masked_fill(fires, m)
            spikes = fires.to(current.dtype)
        ctx.mark_non_differentiable(k_spike)
        ctx.save_for_backward(s, t_spike, fires, k_spike)
        return spikes, v_end, s, p, t_spike, k_spike

    @staticmethod
    def backward(ctx, g_spk, g_v, g_s, g_p, g_t, _g_k):
        if ctx.fused:
            return ClockStep._fused_backward(ctx, g_spk, g_v, g_s, g_p, g_t)
        s, t_spike, fires, k_spike = ctx.saved_tensors
        m, dt = ctx.m, ctx.dt
        if g_spk is not None:
            # the hat: +dL/ds_m for the spikes of step m - 1, -dL/ds_m for those of step m
            hat = torch.where(fires, -g_spk, 0.0)
            if m >= 1:
                hat = torch.where(k_spike == m - 1, g_spk, hat)
            g_t = hat.div_(dt) if g_t is None else torch.add(g_t, hat, alpha=1.0 / dt)
            _count_check_tensors(g_spk, g_t, fires, dt)
            if ctx.silent_grad and m == ctx.window.last:
                push = _revival(g_spk, ctx.window.k_spike < 0, ctx.silent_grad, dt)
                g_v = push if g_v is None else g_v + push
        g_t_prev = a = None
        if g_t is not None:
            a = torch.where(fires, g_t / s, 0.0)  # dL/dt* / S of the neurons firing now
            if ctx.needs_input_grad[3]:
                g_t_prev = torch.where(fires, 0.0, g_t)
            dt_ds = torch.where(fires, t_spike, 0.0)
            g_s = torch.addcmul(g_s, a, dt_ds, value=-1) if g_s is not None else -a * dt_ds
            g_p = a if g_p is None else g_p + a
        if g_v is not None:
            g_s = g_v * ((m + 1) * dt) if g_s is None else torch.add(g_s, g_v, alpha=(m + 1) * dt)
            g_p = -g_v if g_p is None else g_p - g_v
        g_c = None
        if ctx.needs_input_grad[0] and g_s is not None:
            g_c = torch.add(g_s, g_p, alpha=m * dt)
        g_theta = None
        if ctx.needs_input_grad[5] and a is not None:
            g_theta = a.sum_to_size(ctx.theta_shape) if ctx.theta_shape else a.sum()
        return g_c, g_s, g_p, g_t_prev, None, g_theta, None, None, None, None

    @staticmethod
    def _fused_backward(ctx, g_spk, g_v, g_s, g_p, g_t):
        s, t_spike, _, k_spike = ctx.saved_tensors
        m, window = ctx.m, ctx.window
        last = ctx.silent_grad and window is not None and m == window.last
        out = _FUSED.backward(
            g_spk, g_v, g_s, g_p, g_t, s, t_spike, k_spike,
            window.k_spike if last else None, m, ctx.dt, ctx.silent_grad if last else 0.0,
            ctx.needs_input_grad[3], ctx.needs_input_grad[5],
        )  # fmt: skip
        return _fused_grads(ctx, out)


class HatSpikeTrain(torch.autograd.Function):
    """Whole train [T, ...]: s_m = [k_spike == m]; dL/dt* = (dL/ds_{k+1} - dL/ds_k) / dt,
    with dL/ds_T = 0 (the loss does not read the step after the window) and steps counted
    from ``k0``; ``silent_grad`` as in :class:`ClockStep`."""

    @staticmethod
    def forward(
        ctx, t_spike, k_spike, v_end, num_steps: int, k0: int, dt: float, silent_grad, window
    ):
        steps = torch.arange(k0, k0 + num_steps, device=k_spike.device)
        steps = steps.view(-1, *([1] * k_spike.ndim))
        ctx.save_for_backward(k_spike, steps)
        ctx.k0, ctx.dt, ctx.silent_grad, ctx.window = k0, dt, silent_grad, window
        return (k_spike.unsqueeze(0) == steps).to(t_spike.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):
        k_spike, steps = ctx.saved_tensors
        num_steps = grad.shape[0]
        padded = torch.cat([grad, grad.new_zeros(1, *grad.shape[1:])])
        local = k_spike - ctx.k0  # index of the spike inside this train
        inside = (local >= 0) & (local < num_steps)
        idx = torch.where(inside, local, torch.zeros_like(local)).unsqueeze(0)
        g_k = padded.gather(0, idx).squeeze(0)
        g_next = padded.gather(0, idx + 1).squeeze(0)
        # a spike fired just before this train (local == -1) still owns step 0's gradient
        before = (k_spike >= 0) & (local == -1)
        g_t = torch.where(inside, g_next - g_k, torch.zeros_like(g_k))
        g_t = g_t + torch.where(before, grad[0], torch.zeros_like(g_k))
        _count_check_tensors(g_k, g_t, inside & (local < num_steps - 1), 1.0)
        grad_v = None
        if ctx.silent_grad and ctx.needs_input_grad[2]:
            grad_v = torch.zeros_like(grad)
            last = ctx.window.last - ctx.k0
            if 0 <= last < num_steps:
                silent = ctx.window.k_spike < 0
                grad_v[last] = _revival(grad[last], silent, ctx.silent_grad, ctx.dt)
        return g_t / ctx.dt, None, grad_v, None, None, None, None, None


class ClockSequence(torch.autograd.Function):
    """A whole sequence [T, ...] in one fused CPU pass forward and one backward
    (stdbp_plugin.kernels.clock_numba): the same maths as stepping :class:`ClockStep`,
    without saving anything per step but S at each neuron's spike."""

    @staticmethod
    def forward(ctx, currents, s0, p0, t0, k0_spike, threshold, k0, dt, silent_grad, window):
        ctx.set_materialize_grads(False)
        out = _FUSED.sequence_forward(currents, s0, p0, t0, k0_spike, threshold, k0, dt)
        spikes, v_end, s, p, t_spike, k_spike, s_fire = out
        ctx.mark_non_differentiable(k_spike)
        ctx.save_for_backward(s_fire, t_spike, k_spike)
        ctx.k0, ctx.dt, ctx.silent_grad, ctx.window = k0, dt, silent_grad, window
        ctx.num_steps = currents.shape[0]
        ctx.theta_shape = threshold.shape if isinstance(threshold, Tensor) else None
        return spikes, v_end, s, p, t_spike, k_spike

    @staticmethod
    def backward(ctx, g_spk, g_v, g_s, g_p, g_t, _g_k):
        s_fire, t_spike, k_spike = ctx.saved_tensors
        window = ctx.window
        revive = ctx.silent_grad if window is not None else 0.0
        out = _FUSED.sequence_backward(
            g_spk, g_v, g_s, g_p, g_t, s_fire, t_spike, k_spike,
            window.k_spike if revive else None, ctx.k0, ctx.num_steps, ctx.dt,
            window.last if revive else -1, revive, ctx.needs_input_grad[5],
        )  # fmt: skip
        return _fused_grads(ctx, out)


def _fused_grads(ctx, out: tuple) -> tuple:
    """The autograd return of a fused backward: (dL/d current, dL/d state..., None, dL/d
    threshold summed to its shape, None...); counts the readouts it saw (_count_check)."""
    g_c, g_s, g_p, g_t, g_theta, read, timed = out
    _count_check(read, timed)
    if g_theta is not None:
        g_theta = g_theta.sum_to_size(ctx.theta_shape) if ctx.theta_shape else g_theta.sum()
    return g_c, g_s, g_p, g_t, None, g_theta, None, None, None, None


def _fused_ok(current: Tensor, *state: Tensor) -> bool:
    """Whether the fused CPU loops take this call (not under torch.compile, which traces and
    fuses the torch code instead). Setting ``_FUSED = None`` runs the torch code everywhere: the
    tests compare the two that way."""
    fused = _FUSED
    return (
        fused is not None and not torch.compiler.is_compiling() and fused.supported(current, *state)
    )


def _window_of(state: ClockState, silent_grad: float) -> _Window | None:
    """The window that ``state`` continues (a new one from a fresh state). It rides on the
    k_spike tensor from step to step, whatever state object (snnTorch module state, Norse
    NamedTuple) carries that tensor. Only tracked when the revival needs it."""
    if not silent_grad:
        return None
    window = getattr(state.k_spike, "_stdbp_window", None) if int(state.k) > 0 else None
    return _Window(state.k_spike) if window is None else window


def _extend_window(window: _Window, k_spike: Tensor, last: int) -> None:
    """The window now ends at step ``last``, which produced ``k_spike``."""
    window.k_spike, window.last = k_spike, last
    k_spike._stdbp_window = window


def clock_initial_state(like: Tensor) -> ClockState:
    """A fresh state (nothing integrated, nothing fired, next step 0) shaped like ``like``."""
    zeros = torch.zeros_like(like)
    return ClockState(zeros, zeros, zeros, torch.full_like(like, NOT_FIRED, dtype=torch.long), 0)


def relpsp_clock_step(
    current: Tensor,
    state: ClockState | None,
    threshold: float | Tensor = 1.0,
    dt: float = 1.0,
    silent_grad: float = 0.0,
) -> tuple[Tensor, Tensor, ClockState]:
    """One step k of clock-driven ReL-PSP neurons: returns (spikes s_k, V(tau_{k+1}), new state).

    S += c_k, P += c_k tau_k; fires (once) when S > 0 and S tau_{k+1} - P >= theta, at
    t* = (theta + P) / S. The returned potential keeps following S tau_{k+1} - P after the
    spike (no reset; the neuron is simply silent from then on).
    """
    check_dt(dt)
    if state is None:
        state = clock_initial_state(current)
    k = int(state.k)
    window = _window_of(state, silent_grad)
    spikes, v_end, s, p, t_spike, k_spike = ClockStep.apply(
        current,
        state.s,
        state.p,
        state.t_spike,
        state.k_spike,
        threshold,
        k,
        dt,
        silent_grad,
        window,
    )
    if window is not None:
        _extend_window(window, k_spike, k)
    return spikes, v_end, ClockState(s, p, t_spike, k_spike, k + 1)


def _cumsum_time(x: Tensor) -> Tensor:
    """cumsum over dim 0, computed along the last dim of a transposed copy (several times
    faster on CPU than ``torch.cumsum(x, 0)``, whose scan over a strided dim is slow)."""
    flat = x.reshape(x.shape[0], -1)
    return torch.cumsum(flat.T.contiguous(), 1).T.contiguous().view(x.shape)


class _TimeCumsum(torch.autograd.Function):
    """y_m = sum_{k<=m} x_k over dim 0; backward: dL/dx_k = sum_{m>=k} g_m = total - cumsum + g."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        return _cumsum_time(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return grad.sum(0, keepdim=True) - _cumsum_time(grad) + grad


def relpsp_clock_sequence(
    currents: Tensor,
    state: ClockState | None,
    threshold: float | Tensor = 1.0,
    dt: float = 1.0,
    silent_grad: float = 0.0,
) -> tuple[Tensor, Tensor, ClockState]:
    """The same as stepping :func:`relpsp_clock_step` over dim 0 of ``currents`` [T, ...],
    without a Python loop: cumsum over time, the crossing test, the first crossing step,
    the closed form t* = (theta + P_k) / S_k. Returns (spikes [T, ...], V [T, ...], state)."""
    check_dt(dt)
    if not isinstance(currents, Tensor) or currents.ndim < 1 or currents.shape[0] == 0:
        raise ValueError("currents must be a tensor [T, ...] with T >= 1")
    num_steps = currents.shape[0]
    if state is None:
        state = clock_initial_state(currents[0])
    k0 = int(state.k)
    if _fused_ok(currents[0], state.s, state.p, state.t_spike):
        window = _window_of(state, silent_grad)
        spikes, v_end, s, p, t_spike, k_spike = ClockSequence.apply(
            currents, state.s, state.p, state.t_spike, state.k_spike, threshold, k0, dt,
            silent_grad, window,
        )  # fmt: skip
        if window is not None:
            _extend_window(window, k_spike, k0 + num_steps - 1)
        return spikes, v_end, ClockState(s, p, t_spike, k_spike, k0 + num_steps)
    view = (-1,) + (1,) * (currents.ndim - 1)
    steps = torch.arange(k0, k0 + num_steps, device=currents.device).view(view)
    tau = steps.to(currents.dtype) * dt
    s = _TimeCumsum.apply(currents)
    p = _TimeCumsum.apply(currents * tau)
    if state.k != 0 or state.s.requires_grad or state.s.any() or state.p.any():
        s, p = s + state.s, p + state.p  # (skipped for a fresh state: adding zeros is exact)
    v_end = s * ((steps + 1).to(currents.dtype) * dt) - p
    crosses = (v_end >= threshold) & (s > 0)
    not_fired = state.k_spike < 0
    if not bool(not_fired.all()):
        crosses = crosses & not_fired.unsqueeze(0)
    fired = crosses.any(0)
    first = crosses.to(torch.uint8).argmax(0, keepdim=True)
    s_k = s.gather(0, first).squeeze(0)
    p_k = p.gather(0, first).squeeze(0)
    t_new = (threshold + p_k) / torch.where(fired, s_k, torch.ones_like(s_k))
    t_spike = torch.where(fired, t_new, state.t_spike)
    k_new = first.squeeze(0) + k0
    k_spike = torch.where(fired, k_new, state.k_spike)
    window = _window_of(state, silent_grad)
    if window is not None:
        _extend_window(window, k_spike, k0 + num_steps - 1)
    spikes = HatSpikeTrain.apply(t_spike, k_spike, v_end, num_steps, k0, dt, silent_grad, window)
    new_state = ClockState(s[-1], p[-1], t_spike, k_spike, k0 + num_steps)
    return spikes, v_end, new_state
