"""``export``: an event-driven ReL-PSP model -> ``nir.NIRGraph`` (docs/nir.md has the equations).

compat="exact" (default), per ReL-PSP layer with weights W, bias b, threshold theta:

    Linear(W) -> I(r=1) -> Affine(eye, b) -> IF(r=1, v_threshold=theta, v_reset=-1e9 theta)

I integrates the input spikes (Diracs) into the step current I(t) = sum_i w_i H(t - t_i); the
identity Affine adds the bias as a constant current, which the IF integrates without leak:
V(t) = b t + sum_i w_i (t - t_i)^+, the ReL-PSP potential; IF fires when V crosses theta and
the reset far below theta keeps it from firing again. Earliest-spike pooling is
SumPool2d -> IF(r=1, v_threshold=0.5, v_reset=-1e9): the first input spike of a window
(a jump of at least 1) fires it at once. A LatencyEncoder is not a NIR node: it is recorded
in the graph's metadata and the graph's input is the encoded spike trains.

compat="norse": what Norse 1.1's ``from_nir(graph, dt=dt)`` reads (it has no I node and
ignores v_reset): each layer becomes Affine(W, 0) -> CubaLIF with time constants tau far
beyond the window and the offsets of ``_norse_cuba``; exact up to O(T / tau) leak and the
step quantisation of Norse's simulation.
"""

from __future__ import annotations

import os
from pathlib import Path

import nir
import numpy as np
import torch
from torch import Tensor, nn

import stdbp_plugin
from stdbp_plugin.functional.validation import check_dt, check_number
from stdbp_plugin.nir.layers import event_chain
from stdbp_plugin.nn import EarliestSpikePool2d, LatencyEncoder, ReLPSPConv2d, ReLPSPLinear

FORMAT = "stdbp-relpsp-1"
COMPATS = ("exact", "norse")
RESET_FACTOR = 1e9  # exact: v_reset = -RESET_FACTOR * v_threshold ("fires at most once")
POOL_THRESHOLD = 0.5
FIRES_ONCE = (
    "Every IF of this graph fires at most once: its v_reset lies 1e9 thresholds below "
    "v_threshold, so V never climbs back. A reader that ignores v_reset (resets to 0) lets "
    "a neuron fire again each time V regains v_threshold; those extra spikes add extra "
    "input ramps downstream, so every spike after a neuron's first one, and the downstream "
    "spike times they precede, differ from the ReL-PSP model."
)
NEURON = (
    "ReL-PSP: V(t) = b t + sum_i w_i max(0, t - t_i) = IF(I(sum_i w_i delta(t - t_i)) + b); "
    "spike at the first t with V(t) = theta, at most once"
)


def _np(t: Tensor) -> np.ndarray:
    return t.detach().cpu().to(torch.float32).numpy().copy()


def _theta(layer: nn.Module, shape: tuple[int, ...]) -> np.ndarray:
    theta = layer.threshold.detach().cpu().float()
    if theta.ndim == 1 and len(shape) == 3:
        theta = theta[:, None, None]
    return np.ascontiguousarray(np.broadcast_to(_np(theta), shape)).astype(np.float32)


def _shapes(layers, sample: Tensor | None) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """(input shape, output shape) of every layer without the batch dim."""
    first = layers[0][1]
    if sample is None:
        rest = [m for _, m in layers if not isinstance(m, LatencyEncoder)]
        if not isinstance(rest[0], ReLPSPLinear) or any(
            isinstance(m, (ReLPSPConv2d, EarliestSpikePool2d, nn.Flatten)) for m in rest
        ):
            raise ValueError(
                "export: sample_input is required for a model with Conv2d, pooling or Flatten "
                "layers (one input batch, e.g. images [B, C, H, W], to find the shapes)"
            )
        n_in = rest[0].in_features
        encoder = isinstance(first, LatencyEncoder)
        device = rest[0].weight.device
        sample = torch.full((1, n_in), 0.0 if encoder else float("inf"), device=device)
    out, x = [], sample.detach()
    with torch.no_grad():
        for name, m in layers:
            training = m.training
            try:
                y = m.eval()(x)
            except (ValueError, RuntimeError) as err:
                raise ValueError(
                    f"export: sample_input of shape {tuple(sample.shape)} does not run through "
                    f"{name!r} ({type(m).__name__}): {err}"
                ) from err
            finally:
                m.train(training)
            out.append((tuple(x.shape[1:]), tuple(y.shape[1:])))
            x = y
    return out


def _layer_meta(m: nn.Module) -> dict:
    meta = {"stdbp_plugin.role": "relpsp"}
    if m.horizon is not None:
        meta["stdbp_plugin.horizon"] = float(m.horizon)
    if m.max_inv_slope is not None:
        meta["stdbp_plugin.max_inv_slope"] = float(m.max_inv_slope)
    return meta


def _weight_node(m: nn.Module, shape_in, bias: np.ndarray | None) -> nir.NIRNode:
    if isinstance(m, ReLPSPLinear):
        w = _np(m.weight)
        return nir.Linear(weight=w) if bias is None else nir.Affine(weight=w, bias=bias)
    out_ch = m.out_channels
    stride = (m.stride, m.stride) if isinstance(m.stride, int) else tuple(m.stride)
    pad = (m.padding, m.padding) if isinstance(m.padding, int) else tuple(m.padding)
    return nir.Conv2d(
        input_shape=tuple(shape_in[1:]),
        weight=_np(m.weight),
        stride=stride,
        padding=pad,
        dilation=(1, 1),
        groups=1,
        bias=np.zeros(out_ch, np.float32) if bias is None else bias,
    )


def _bias_node(m: nn.Module, shape_out) -> nir.NIRNode:
    """The identity map plus the bias: a constant current b from t = 0 into the membrane."""
    b = _np(m.bias)
    if isinstance(m, ReLPSPLinear):
        return nir.Affine(weight=np.eye(len(b), dtype=np.float32), bias=b)
    eye = np.eye(len(b), dtype=np.float32)[:, :, None, None]
    return nir.Conv2d(
        input_shape=tuple(shape_out[1:]),
        weight=eye,
        stride=(1, 1),
        padding=(0, 0),
        dilation=(1, 1),
        groups=1,
        bias=b,
    )


def _norse_cuba(m: nn.Module, shape_out, dt: float, tau: float, reset_gap: float):
    """CubaLIF parameters whose Norse 1.1 simulation (``from_nir``: LIBoxCell synapse and
    LIFBoxCell membrane, both starting at and leaking to v_leak = L, reset to 0) computes
    delta_v_k = b t_{k+1} + sum_i w_i (t_{k+1} - t_i)^+ = V(t_{k+1}) (up to the O(T/tau) leak):
    r L / tau = b gives the bias current, r w_in = tau^2 / dt the unit ramp per input spike,
    L = reset_gap * theta puts Norse's reset (to 0) reset_gap thresholds below v_th = L + theta."""
    theta = _theta(m, shape_out)
    if m.bias is None:
        b = np.zeros(shape_out, np.float32)
    else:
        b = _np(m.bias)
        b = b[:, None, None] if len(shape_out) == 3 else b
        b = np.broadcast_to(b, shape_out).astype(np.float32)
    floor = 1e-6 * theta  # r L / tau = b needs b != 0: a bias of 0 becomes 1e-6 theta per unit
    b = np.where(np.abs(b) < floor, floor, b)
    big_l = (reset_gap * theta).astype(np.float64)
    r = b.astype(np.float64) * tau / big_l
    w_in = tau * tau / (dt * r)
    tau_arr = np.full(shape_out, tau, np.float32)
    return nir.CubaLIF(
        tau_syn=tau_arr,
        tau_mem=tau_arr.copy(),
        r=r.astype(np.float32),
        v_leak=big_l.astype(np.float32),
        v_threshold=(big_l + theta).astype(np.float32),
        v_reset=np.zeros(shape_out, np.float32),
        w_in=w_in.astype(np.float32),
        metadata={"stdbp_plugin.role": "relpsp-norse"},
    )


def export(
    model: nn.Module,
    sample_input: Tensor | None = None,
    *,
    path: str | os.PathLike | None = None,
    compat: str = "exact",
    dt: float | None = None,
    tau: float = 1e4,
    reset_gap: float = 1e3,
) -> nir.NIRGraph:
    """The NIR graph of an event-driven ReL-PSP model (docs/nir.md: the mapping and its proof).

    Args:
        model: ``nn.Sequential`` of stdbp_plugin.nn layers (LatencyEncoder first, ReLPSPLinear,
            ReLPSPConv2d, EarliestSpikePool2d, Flatten), an ``EventDrivenModel``, or a
            clock-driven snnTorch / Norse model with ReL-PSP neurons (``convert`` output or the
            drop-ins; it goes through ``convert(model, mode="event")``).
        sample_input: one input batch (images for a LatencyEncoder model, spike times
            otherwise, spike trains [T, B, ...] for a clock-driven model); needed when the
            model has Conv2d, pooling or Flatten layers (shapes).
        path: also write the graph there (``nir.write``, HDF5).
        compat: "exact" (I + IF, see the module docstring) or "norse" (CubaLIF that Norse 1.1's
            ``from_nir(graph, dt=dt)`` simulates as the ReL-PSP model; needs ``dt``; no pooling).
        dt: "norse" only: the step the reader will simulate with, in the model's time unit.
        tau: "norse" only: synaptic and membrane time constant (model time units); the leak
            changes V by a fraction of about T / tau over a window T.
        reset_gap: "norse" only: Norse resets to 0, reset_gap thresholds below v_threshold.

    Returns:
        the ``nir.NIRGraph`` (metadata: format, the neuron equation, the fires-once encoding,
        the encoder, dt of clock-driven inputs).
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
    if compat not in COMPATS:
        raise ValueError(f"compat must be one of {COMPATS}, got {compat!r}")
    if compat == "norse":
        check_dt(dt)  # the reader's step: a finite number > 0
        check_number(tau, "tau")
        check_number(reset_gap, "reset_gap", low=1.0)
    elif dt is not None:
        raise ValueError("dt is only used with compat='norse' (the reader's step)")
    if sample_input is not None and not isinstance(sample_input, Tensor):
        raise ValueError(f"sample_input must be a tensor or None, got {type(sample_input)}")
    layers, input_dt, sample, source = event_chain(model, sample_input)
    shapes = _shapes(layers, sample)
    meta = {
        "stdbp_plugin.format": FORMAT,
        "stdbp_plugin.compat": compat,
        "stdbp_plugin.version": stdbp_plugin.__version__,
        "stdbp_plugin.source": source,
        "stdbp_plugin.neuron": NEURON,
    }
    if input_dt is not None:
        meta["stdbp_plugin.input_dt"] = float(input_dt)
    enc = layers[0][1]
    if isinstance(enc, LatencyEncoder):
        meta["stdbp_plugin.encoder"] = "latency: t = t_max (1 - x), x <= x_min never spikes"
        meta["stdbp_plugin.encoder_t_max"] = float(enc.t_max)
        meta["stdbp_plugin.encoder_x_min"] = float(enc.x_min)
        layers, shapes = layers[1:], shapes[1:]
    if compat == "exact":
        meta["stdbp_plugin.fires_once"] = FIRES_ONCE
    else:
        meta["stdbp_plugin.dt"] = float(dt)
        meta["stdbp_plugin.reader"] = (
            f"norse.torch.from_nir(graph, dt={float(dt)!r}); CubaLIF with tau = {tau:g}: exact up "
            "to the leak (V off by about T / tau) and the step grid; fires once because Norse "
            f"resets to 0 = {reset_gap:g} thresholds below v_threshold"
        )
    nodes: dict[str, nir.NIRNode] = {"input": nir.Input(input_type=np.array(shapes[0][0]))}
    edges: list[tuple[str, str]] = []
    prev = "input"

    def add(name: str, node: nir.NIRNode) -> None:
        nonlocal prev
        nodes[name] = node
        edges.append((prev, name))
        prev = name

    for (name, m), (shape_in, shape_out) in zip(layers, shapes, strict=True):
        key = name.replace(".", "_")
        if isinstance(m, (ReLPSPLinear, ReLPSPConv2d)):
            ones = np.ones(shape_out, np.float32)
            if compat == "norse":
                zero = np.zeros(m.weight.shape[0], np.float32)
                add(f"{key}.weight", _weight_node(m, shape_in, zero))
                add(f"{key}.neuron", _norse_cuba(m, shape_out, float(dt), tau, reset_gap))
                continue
            add(f"{key}.weight", _weight_node(m, shape_in, None))
            add(f"{key}.synapse", nir.I(r=ones))
            if m.bias is not None:
                add(f"{key}.bias", _bias_node(m, shape_out))
            theta = _theta(m, shape_out)
            neuron = nir.IF(
                r=ones, v_threshold=theta, v_reset=-RESET_FACTOR * theta, metadata=_layer_meta(m)
            )
            add(f"{key}.neuron", neuron)
        elif isinstance(m, EarliestSpikePool2d):
            if compat == "norse":
                raise ValueError(
                    f"export(compat='norse'): cannot export {name!r} (EarliestSpikePool2d): "
                    "Norse 1.1 reads an IF node as IAFCell, which ignores v_reset and fires "
                    "again at every later input spike of the window; use compat='exact'"
                )
            k = m.kernel_size
            k = (k, k) if isinstance(k, int) else tuple(k)
            s = k if m.stride is None else m.stride
            s = (s, s) if isinstance(s, int) else tuple(s)
            pool = nir.SumPool2d(
                kernel_size=np.array(k), stride=np.array(s), padding=np.array([0, 0])
            )
            add(f"{key}.sum", pool)
            th = np.full(shape_out, POOL_THRESHOLD, np.float32)
            neuron = nir.IF(
                r=np.ones(shape_out, np.float32),
                v_threshold=th,
                v_reset=np.full(shape_out, -RESET_FACTOR, np.float32),
                metadata={"stdbp_plugin.role": "earliest_spike_pool"},
            )
            add(f"{key}.neuron", neuron)
        else:  # nn.Flatten: NIR counts dims without the batch
            start = m.start_dim - 1 if m.start_dim > 0 else m.start_dim
            end = m.end_dim - 1 if m.end_dim > 0 else m.end_dim
            if compat == "norse":  # Norse builds torch.nn.Flatten(start_dim, end_dim) as given
                start, end = m.start_dim, m.end_dim
            flat = nir.Flatten(
                input_type={"input": np.array(shape_in)}, start_dim=start, end_dim=end
            )
            if compat == "norse":
                flat.output_type = {"output": np.array(shape_out)}
            add(key, flat)
    add("output", nir.Output(output_type=np.array(shapes[-1][1])))
    try:
        graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta, type_check=compat == "exact")
    except ValueError as err:  # nir 1.0.8 infers Conv2d shapes from the kernel's height only
        meta["stdbp_plugin.type_check"] = f"skipped, nir's type inference failed: {err}"
        graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta, type_check=False)
    if path is not None:
        nir.write(Path(path), graph)
    return graph
