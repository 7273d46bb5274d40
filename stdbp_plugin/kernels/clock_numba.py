"""Fused CPU loops of one clock-driven ReL-PSP step (numba, serial, one pass over the neurons).

The same arithmetic as the torch code of :class:`stdbp_plugin.functional.clock.ClockStep`
(the specification; tests compare the two), in one loop instead of a dozen tensor ops:

forward, per neuron:  S = S' + c,  P = P' + c tau_m,  V = S tau_{m+1} - P;
                      fires iff not fired yet, S > 0 and V >= theta: t* = (theta + P) / S, k = m.
backward, per neuron: g_t = dL/dt*_later + hat / dt with hat = dL/ds_m [k = m - 1] - dL/ds_m [k = m];
                      a = g_t / S where k = m (else 0); dL/dS = dL/dS_later - a t* + tau_{m+1} dL/dV;
                      dL/dP = dL/dP_later + a - dL/dV;  dL/dc = dL/dS + tau_m dL/dP;  dL/dtheta = a.

A step of at least ``PARALLEL_MIN`` neurons is split into one chunk per torch thread, run on
torch's own OpenMP team (``stdbp_plugin.kernels.torch_team``, as the event-driven kernel does:
no second thread pool); smaller steps run on the calling thread. The sequence loops run on one
thread.
"""

from __future__ import annotations

import numba
import numpy as np
import torch
from torch import Tensor

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}


@numba.njit(**_JIT)
def _forward(c, s_prev, p_prev, t_prev, k_prev, theta, m, dt, s, p, v, t, k, spk):
    tau = m * dt
    tau_next = (m + 1) * dt
    scalar = theta.size == 1
    th = theta[0]
    for i in range(c.size):
        si = s_prev[i] + c[i]
        pi = p_prev[i] + c[i] * tau
        vi = si * tau_next - pi
        if not scalar:
            th = theta[i]
        s[i] = si
        p[i] = pi
        v[i] = vi
        if k_prev[i] < 0 and si > 0 and vi >= th:
            t[i] = (th + pi) / si
            k[i] = m
            spk[i] = 1
        else:
            t[i] = t_prev[i]
            k[i] = k_prev[i]
            spk[i] = 0


@numba.njit(**_JIT)
def _backward(
    g_spk, g_v, g_s, g_p, g_t, s, t, k, k_final, m, dt, revive,
    g_c, g_s_prev, g_p_prev, g_t_prev, g_theta,
):  # fmt: skip
    """Unused incoming gradients are zero-size arrays. Returns (#neurons spiking now that the
    loss reads, #those whose spike time gets a gradient) for the count-loss check."""
    tau = m * dt
    tau_next = (m + 1) * dt
    inv_dt = 1.0 / dt
    has_spk, has_v = g_spk.size > 0, g_v.size > 0
    has_s, has_p, has_t = g_s.size > 0, g_p.size > 0, g_t.size > 0
    want_t, want_theta = g_t_prev.size > 0, g_theta.size > 0
    read = timed = 0
    for i in range(s.size):
        gt = g_t[i] if has_t else 0.0
        gv = g_v[i] if has_v else 0.0
        now = k[i] == m
        if has_spk:
            gk = g_spk[i]
            if now:
                gt -= gk * inv_dt
                if gk != 0:
                    read += 1
                    if abs(gt) * dt > 1e-5 * abs(gk):
                        timed += 1
            elif m >= 1 and k[i] == m - 1:
                gt += gk * inv_dt
            if revive > 0 and k_final[i] < 0 and gk < 0:
                gv += revive * gk * inv_dt
        gs = g_s[i] if has_s else 0.0
        gp = g_p[i] if has_p else 0.0
        a = 0.0
        if now:
            a = gt / s[i]
            gs -= a * t[i]
            gp += a
            gt = 0.0
        gs += gv * tau_next
        gp -= gv
        g_c[i] = gs + gp * tau
        g_s_prev[i] = gs
        g_p_prev[i] = gp
        if want_t:
            g_t_prev[i] = gt
        if want_theta:
            g_theta[i] = a
    return read, timed


#: Below this many neurons one thread does the step (waking a team costs more than it saves).
PARALLEL_MIN = 1 << 15


def _in_chunks(n: int, chunk) -> None:
    """``chunk(lo, hi)`` over [0, n): on torch's own OpenMP team (one chunk per thread) when
    torch runs several threads and n is large, else in one call on this thread."""
    from stdbp_plugin.kernels.torch_team import team

    threads = torch.get_num_threads()
    found = team() if threads > 1 and n >= PARALLEL_MIN else None
    if found is None:
        chunk(0, n)
        return
    bounds = [n * i // threads for i in range(threads + 1)]
    found.run(threads, lambda c: chunk(bounds[c], bounds[c + 1]))


def supported(current: Tensor, *state: Tensor) -> bool:
    """The fused loops run on CPU for float32/float64 currents and a state of the same shape."""
    return (
        current.device.type == "cpu"
        and current.dtype in (torch.float32, torch.float64)
        and all(x.shape == current.shape and x.device.type == "cpu" for x in state)
    )


def _flat(x: Tensor, like: Tensor) -> np.ndarray:
    return x.detach().expand_as(like).contiguous().view(-1).numpy()


_EMPTY: dict[torch.dtype, np.ndarray] = {}


def _empty(dtype: torch.dtype) -> np.ndarray:
    if dtype not in _EMPTY:
        _EMPTY[dtype] = torch.empty(0, dtype=dtype).numpy()
    return _EMPTY[dtype]


def forward(current, s_prev, p_prev, t_prev, k_prev, threshold, m: int, dt: float):
    """(spikes, V, S, P, t_spike, k_spike) of step m, shaped like ``current``."""
    like = current
    theta = torch.as_tensor(threshold, dtype=current.dtype).detach()
    theta = theta.reshape(1) if theta.numel() == 1 else theta.expand_as(like).contiguous()
    spk, v, s, p, t = (torch.empty(like.shape, dtype=like.dtype) for _ in range(5))
    k = torch.empty(like.shape, dtype=torch.int64)
    per_neuron = (
        _flat(current, like), _flat(s_prev, like), _flat(p_prev, like), _flat(t_prev, like),
        k_prev.expand_as(like).contiguous().view(-1).numpy(),
    )  # fmt: skip
    theta_np = theta.view(-1).numpy()
    outs = tuple(x.view(-1).numpy() for x in (s, p, v, t, k, spk))

    def chunk(lo: int, hi: int) -> None:
        th = theta_np if theta_np.size == 1 else theta_np[lo:hi]
        _forward(*(a[lo:hi] for a in per_neuron), th, m, dt, *(o[lo:hi] for o in outs))

    _in_chunks(like.numel(), chunk)
    return spk, v, s, p, t, k


def backward(g_spk, g_v, g_s, g_p, g_t, s, t, k, k_final, m, dt, revive, want_t, want_theta):
    """(dL/dc, dL/dS', dL/dP', dL/dt*' or None, per-neuron dL/dtheta or None, read, timed)."""
    dtype = s.dtype

    def arr(g):
        return _empty(dtype) if g is None else _flat(g, s)

    g_c, g_s_prev, g_p_prev = (torch.empty_like(s) for _ in range(3))
    g_t_prev = torch.empty_like(s) if want_t else None
    g_theta = torch.empty_like(s) if want_theta else None
    k_fin = _empty(torch.int64) if k_final is None else k_final.contiguous().view(-1).numpy()
    grads_in = tuple(arr(g) for g in (g_spk, g_v, g_s, g_p, g_t))
    saved = (s.view(-1).numpy(), t.view(-1).numpy(), k.view(-1).numpy())
    outs = tuple(
        _empty(dtype) if x is None else x.view(-1).numpy()
        for x in (g_c, g_s_prev, g_p_prev, g_t_prev, g_theta)
    )
    counts: list[tuple[int, int]] = []

    def chunk(lo: int, hi: int) -> None:
        def part(a):  # unused gradients and outputs are zero-size arrays
            return a[lo:hi] if a.size else a

        counts.append(
            _backward(
                *(part(g) for g in grads_in),
                *(a[lo:hi] for a in saved),
                part(k_fin),
                m,
                dt,
                revive,
                *(part(o) for o in outs),
            )  # fmt: skip
        )

    _in_chunks(s.numel(), chunk)
    read = sum(c[0] for c in counts)
    timed = sum(c[1] for c in counts)
    return g_c, g_s_prev, g_p_prev, g_t_prev, g_theta, read, timed


# ---- a whole sequence [T, N] in one call (Norse's ReLPSP module, relpsp_clock_sequence) -------


@numba.njit(**_JIT)
def _seq_forward(c, s, p, t, k, theta, k0, dt, spk, v, s_fire):
    """c, spk, v: [T, N]; s, p, t, k: [N] state, updated in place to the end of the sequence;
    s_fire[i] = S at the spike of neuron i if it fires in this sequence."""
    scalar = theta.size == 1
    th = theta[0]
    for m in range(c.shape[0]):
        step = k0 + m
        tau = step * dt
        tau_next = (step + 1) * dt
        for i in range(c.shape[1]):
            ci = c[m, i]
            si = s[i] + ci
            pi = p[i] + ci * tau
            vi = si * tau_next - pi
            s[i] = si
            p[i] = pi
            v[m, i] = vi
            if not scalar:
                th = theta[i]
            if k[i] < 0 and si > 0 and vi >= th:
                t[i] = (th + pi) / si
                k[i] = step
                s_fire[i] = si
                spk[m, i] = 1
            else:
                spk[m, i] = 0


@numba.njit(**_JIT)
def _seq_backward(
    g_spk, g_v, g_s, g_p, g_t, s_fire, t, k, k_final, k0, dt, revive_at, revive,
    g_c, g_theta,
):  # fmt: skip
    """Reverse walk over the steps. g_s, g_p, g_t ([N], gradients of the final state) are
    updated in place into the gradients of the initial state. Returns (read, timed)."""
    num_steps, n = g_c.shape
    inv_dt = 1.0 / dt
    has_spk, has_v = g_spk.size > 0, g_v.size > 0
    want_theta = g_theta.size > 0
    read = timed = 0
    for m in range(num_steps - 1, -1, -1):
        step = k0 + m
        tau = step * dt
        tau_next = (step + 1) * dt
        for i in range(n):
            ki = k[i]
            gt = g_t[i]
            gv = g_v[m, i] if has_v else 0.0
            if has_spk:
                gk = g_spk[m, i]
                if ki == step:
                    gt -= gk * inv_dt
                    if gk != 0 and m < num_steps - 1:
                        read += 1
                        if abs(gt) * dt > 1e-5 * abs(gk):
                            timed += 1
                elif step >= 1 and ki == step - 1:
                    gt += gk * inv_dt
                if step == revive_at and k_final[i] < 0 and gk < 0:
                    gv += revive * gk * inv_dt
            gs = g_s[i]
            gp = g_p[i]
            if ki == step:
                a = gt / s_fire[i]
                gs -= a * t[i]
                gp += a
                gt = 0.0
                if want_theta:
                    g_theta[i] += a
            gs += gv * tau_next
            gp -= gv
            g_c[m, i] = gs + gp * tau
            g_s[i] = gs
            g_p[i] = gp
            g_t[i] = gt
    return read, timed


def sequence_forward(currents, s0, p0, t0, k0_spike, threshold, k0: int, dt: float):
    """(spikes [T, ...], V [T, ...], S, P, t_spike, k_spike, s_fire) after the sequence."""
    like = currents[0]
    num_steps = currents.shape[0]
    theta = torch.as_tensor(threshold, dtype=currents.dtype).detach()
    theta = theta.reshape(1) if theta.numel() == 1 else theta.expand_as(like).contiguous()
    s, p, t = (_flat(x, like).copy() for x in (s0, p0, t0))
    k = k0_spike.expand_as(like).contiguous().view(-1).numpy().copy()
    spk = torch.empty(currents.shape, dtype=currents.dtype)
    v = torch.empty(currents.shape, dtype=currents.dtype)
    s_fire = np.ones(like.numel(), dtype=s.dtype)
    c = currents.detach().contiguous().view(num_steps, -1).numpy()
    _seq_forward(
        c, s, p, t, k, theta.view(-1).numpy(), k0, dt,
        spk.view(num_steps, -1).numpy(), v.view(num_steps, -1).numpy(), s_fire,
    )  # fmt: skip
    shape = like.shape
    out = (torch.from_numpy(x).view(shape) for x in (s, p, t, k, s_fire))
    return (spk, v, *out)


def sequence_backward(
    g_spk, g_v, g_s, g_p, g_t, s_fire, t, k, k_final, k0, num_steps, dt, revive_at, revive,
    want_theta,
):  # fmt: skip
    """(dL/dcurrents [T, ...], dL/dS0, dL/dP0, dL/dt0, per-neuron dL/dtheta or None, read, timed)."""
    like = s_fire
    dtype = s_fire.dtype

    def state_grad(g):
        return (
            np.zeros(like.numel(), dtype=s_fire.numpy().dtype)
            if g is None
            else _flat(g, like).copy()
        )

    def seq(g):
        if g is None:
            return torch.empty(0, 0, dtype=dtype).numpy()
        return g.detach().contiguous().view(num_steps, -1).numpy()

    gs, gp, gt = state_grad(g_s), state_grad(g_p), state_grad(g_t)
    g_c = torch.empty((num_steps, *like.shape), dtype=dtype)
    g_theta = torch.zeros(like.shape, dtype=dtype) if want_theta else None
    k_fin = _empty(torch.int64) if k_final is None else k_final.contiguous().view(-1).numpy()
    read, timed = _seq_backward(
        seq(g_spk), seq(g_v), gs, gp, gt, s_fire.view(-1).numpy(), t.view(-1).numpy(),
        k.view(-1).numpy(), k_fin, k0, dt, revive_at, revive,
        g_c.view(num_steps, -1).numpy(),
        _empty(dtype) if g_theta is None else g_theta.view(-1).numpy(),
    )  # fmt: skip
    shape = like.shape
    grads = (torch.from_numpy(x).view(shape) for x in (gs, gp, gt))
    return (g_c, *grads, g_theta, read, timed)
