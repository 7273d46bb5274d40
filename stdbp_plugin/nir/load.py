"""``load``: a NIR graph -> an event-driven ReL-PSP model (``nn.Sequential`` of stdbp_plugin.nn).

Patterns, walked along the graph's one feed-forward chain:

    W -> I -> [identity + bias] -> IF      this package's exact export: the same layer back
    W -> CubaLIF (role relpsp-norse)        this package's compat="norse" export: the same layer
    W -> LIF | CubaLIF | IF | LI | CubaLI   another writer's neuron -> ReL-PSP, threshold
                                            v_threshold * dt (convert's rule); LI / CubaLI only
                                            as the last layer (read-out -> first-spike output)
    SumPool2d [-> IF]                       EarliestSpikePool2d (the IF of the exact export)
    Flatten                                 nn.Flatten

W is Linear, Affine (its bias: an input spike at t = 0) or Conv2d. Anything else is a
ValueError naming the node.
"""

from __future__ import annotations

import os
from pathlib import Path

import nir
import numpy as np
import torch
from torch import nn

from stdbp_plugin.conversion.report import ConversionReport
from stdbp_plugin.functional.validation import check_dt, check_number
from stdbp_plugin.nn import EarliestSpikePool2d, LatencyEncoder, ReLPSPConv2d, ReLPSPLinear

WEIGHTS = (nir.Linear, nir.Affine, nir.Conv2d)
NEURONS = (nir.LIF, nir.CubaLIF, nir.IF, nir.LI, nir.CubaLI)
READOUTS = (nir.LI, nir.CubaLI)
IGNORED = {
    "LIF": ("tau", "r", "v_leak", "v_reset"),
    "CubaLIF": ("tau_syn", "tau_mem", "r", "w_in", "v_leak", "v_reset"),
    "IF": ("r", "v_reset"),
    "LI": ("tau", "r", "v_leak"),
    "CubaLI": ("tau_syn", "tau_mem", "r", "w_in", "v_leak"),
}
SUPPORTED = "Linear, Affine, Conv2d, I, IF, LIF, CubaLIF, LI, CubaLI, SumPool2d, Flatten"


def _arr(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


def _plain(v):
    if isinstance(v, bytes):
        return v.decode("utf8")
    if isinstance(v, np.ndarray) and v.ndim == 0:
        return v.item()
    return v.item() if isinstance(v, np.generic) else v


def _meta(node) -> dict:
    return {k: _plain(v) for k, v in (getattr(node, "metadata", None) or {}).items()}


def _summary(v) -> str:
    a = _arr(v)
    return f"{float(a.flat[0]):g}" if a.size and np.all(a == a.flat[0]) else f"array{a.shape}"


def _chain(graph: nir.NIRGraph) -> list[tuple[str, object]]:
    """The nodes from the Input to the Output, which must form one chain."""
    inputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Input)]
    if len(inputs) != 1:
        raise ValueError(f"load: the graph must have exactly one Input node, found {inputs}")
    succ: dict[str, list[str]] = {}
    pred: dict[str, list[str]] = {}
    for a, b in graph.edges:
        succ.setdefault(a, []).append(b)
        pred.setdefault(b, []).append(a)
    out, cur, seen = [], inputs[0], set()
    while True:
        seen.add(cur)
        nxt = succ.get(cur, [])
        if len(nxt) != 1:
            if not nxt and isinstance(graph.nodes.get(cur), nir.Output):
                return out
            raise ValueError(
                f"load: node {cur!r} has {len(nxt)} successors {nxt}; only one feed-forward "
                "chain from Input to Output can be mapped"
            )
        cur = nxt[0]
        if cur in seen or len(pred.get(cur, [])) != 1:
            raise ValueError(
                f"load: node {cur!r} has inputs {pred.get(cur)}; only one feed-forward chain "
                "(no recurrence, no merging) can be mapped"
            )
        if cur not in graph.nodes:
            raise ValueError(f"load: edge to {cur!r}, which is not a node of the graph")
        if not isinstance(graph.nodes[cur], nir.Output):
            out.append((cur, graph.nodes[cur]))


def _refuse(name: str, node, why: str = "") -> ValueError:
    kind = (
        "None (the writer exported nothing for that module)"
        if node is None
        else type(node).__name__
    )
    return ValueError(
        f"load: cannot map node {name!r} ({kind}) to a ReL-PSP model{why}; supported: {SUPPORTED}"
    )


def _pair(v, name: str) -> tuple[int, int]:
    a = np.asarray(v).reshape(-1)
    if a.size == 1:
        return int(a[0]), int(a[0])
    if a.size == 2:
        return int(a[0]), int(a[1])
    raise ValueError(f"load: {name} must be one or two integers, got {v!r}")


def _conv_args(name: str, node: nir.Conv2d) -> tuple[tuple[int, int], tuple[int, int]]:
    if int(np.asarray(node.groups)) != 1 or _pair(node.dilation, "dilation") != (1, 1):
        raise _refuse(name, node, ": only groups=1 and dilation=1 have a ReL-PSP counterpart")
    kh, kw = _arr(node.weight).shape[-2:]
    pad = node.padding
    if isinstance(pad, (str, bytes)):
        pad = _plain(pad)
        if pad == "valid":
            pad = (0, 0)
        elif pad == "same" and kh % 2 and kw % 2 and _pair(node.stride, "stride") == (1, 1):
            pad = (kh // 2, kw // 2)
        else:
            raise _refuse(name, node, f": padding {pad!r} (only 'valid', odd-kernel 'same')")
    return _pair(node.stride, "stride"), _pair(pad, "padding")


def _threshold(values: np.ndarray, is_conv: bool, name: str):
    """A float when uniform, else per neuron [N] (Linear) or per channel [C] (Conv2d)."""
    v = np.asarray(values, np.float64)
    if v.size and np.all(v == v.flat[0]):
        return float(v.flat[0])
    if not is_conv:
        return torch.tensor(v.reshape(-1), dtype=torch.float32)
    per_ch = v.reshape(v.shape[0], -1) if v.ndim == 3 else v.reshape(-1, 1)
    if not np.all(per_ch == per_ch[:, :1]):
        raise ValueError(
            f"load: {name!r}: a threshold that varies across positions of a feature map has no "
            "ReLPSPConv2d counterpart (per channel only)"
        )
    return torch.tensor(per_ch[:, 0], dtype=torch.float32)


def _make_layer(name, wnode, bias, theta, meta) -> nn.Module:
    weight = torch.from_numpy(_arr(wnode.weight).copy())
    per_neuron = isinstance(theta, torch.Tensor)
    extra = {
        "horizon": meta.get("stdbp_plugin.horizon"),
        "max_inv_slope": meta.get("stdbp_plugin.max_inv_slope"),
        "per_neuron_threshold": per_neuron,
        "bias": bias is not None,
    }
    if isinstance(wnode, nir.Conv2d):
        stride, pad = _conv_args(name, wnode)
        out_ch, in_ch, kh, kw = weight.shape
        layer = ReLPSPConv2d(in_ch, out_ch, (kh, kw), stride, pad, **extra)
    else:
        if weight.ndim != 2:
            raise _refuse(name, wnode, f": weight of shape {tuple(weight.shape)} is not 2-D")
        layer = ReLPSPLinear(weight.shape[1], weight.shape[0], **extra)
    with torch.no_grad():
        layer.weight.copy_(weight)
        if bias is not None:
            layer.bias.copy_(torch.from_numpy(np.asarray(bias, np.float32).reshape(-1)))
        if per_neuron:
            layer.threshold.copy_(theta)
        else:
            layer.threshold.fill_(theta)
    return layer


def _own_bias(name: str, node) -> np.ndarray:
    """The bias of the identity Affine / 1x1 Conv2d between I and IF (exact export)."""
    w = _arr(node.weight)
    eye = np.eye(w.shape[0], dtype=np.float32)
    ok = w.shape[:2] == eye.shape and (
        np.array_equal(w, eye) if w.ndim == 2 else np.array_equal(w.reshape(eye.shape), eye)
    )
    if not ok or (isinstance(node, nir.Conv2d) and w.shape[2:] != (1, 1)):
        raise _refuse(name, node, ": between I and IF only an identity map with a bias fits")
    return _arr(node.bias)


def _weight_bias(node) -> np.ndarray | None:
    if isinstance(node, nir.Linear):
        return None
    b = getattr(node, "bias", None)
    return None if b is None else _arr(b)


def load(
    graph_or_path,
    *,
    dt: float = 1.0,
    readout_threshold: float = 1.0,
    report: bool = False,
) -> nn.Sequential:
    """An event-driven ReL-PSP model from a NIR graph or file (see the module docstring).

    Args:
        graph_or_path: a ``nir.NIRGraph`` or the path of a NIR (HDF5) file.
        dt: for neurons of other writers: the ReL-PSP threshold is v_threshold * dt (a unit
            input current raises V by one unit per step dt: convert's rule; 1.0 = time in steps).
            Graphs exported by this package keep their own thresholds.
        readout_threshold: threshold (times dt) of the output layer that replaces an LI /
            CubaLI read-out (those have none).
        report: print the ``ConversionReport`` (always attached as ``stdbp_conversion_report``).

    Returns:
        ``nn.Sequential`` of stdbp_plugin.nn layers taking spike times [B, ...] (or images,
        when the graph records a LatencyEncoder), with ``stdbp_conversion_report`` and
        ``stdbp_nir_metadata`` attributes.

    Raises:
        ValueError naming the node for anything without a ReL-PSP counterpart.
    """
    if isinstance(graph_or_path, (str, os.PathLike)):
        path = Path(graph_or_path)
        if not path.is_file():
            raise ValueError(f"graph_or_path: no NIR file at {str(path)!r}")
        try:
            graph = nir.read(path)
        except ValueError:  # nir's type inference fails on non-square Conv2d kernels
            graph = nir.read(path, type_check=False)
    elif isinstance(graph_or_path, nir.NIRGraph):
        graph = graph_or_path
    else:
        raise ValueError(
            f"graph_or_path must be a nir.NIRGraph or a file path, got {type(graph_or_path)}"
        )
    check_dt(dt)
    check_number(readout_threshold, "readout_threshold")
    meta = _meta(graph)
    chain = _chain(graph)
    rep = ConversionReport("event", "nir", float(dt), False, 0.0)
    rep.flow = "NIR chain: " + " -> ".join(["input"] + [n for n, _ in chain] + ["output"])
    layers: list[nn.Module] = []
    if "stdbp_plugin.encoder_t_max" in meta:
        enc = LatencyEncoder(meta["stdbp_plugin.encoder_t_max"], meta["stdbp_plugin.encoder_x_min"])
        layers.append(enc)
        rep.kept.append(("encoder", "LatencyEncoder", "from the graph's metadata"))
    i, n = 0, len(chain)

    def at(k: int):
        return chain[k] if k < n else (None, None)

    while i < n:
        name, node = chain[i]
        if isinstance(node, WEIGHTS):
            nxt_name, nxt = at(i + 1)
            if isinstance(nxt, nir.I):  # W -> I -> [bias] -> IF: the exact export
                if not np.all(_arr(nxt.r) == 1):
                    raise _refuse(nxt_name, nxt, ": the exact pattern needs r = 1")
                wb = _weight_bias(node)
                if wb is not None and np.any(wb != 0):
                    raise _refuse(name, node, ": a bias before I would integrate into a ramp")
                j, bias = i + 2, None
                bname, bnode = at(j)
                if isinstance(bnode, (nir.Affine, nir.Conv2d)):
                    bias, j = _own_bias(bname, bnode), j + 1
                nname, neuron = at(j)
                if not isinstance(neuron, nir.IF):
                    raise _refuse(nname or nxt_name, neuron, ": after W -> I an IF must follow")
                if not np.all(_arr(neuron.r) == 1):
                    raise _refuse(nname, neuron, ": the exact pattern needs r = 1")
                theta = _threshold(_arr(neuron.v_threshold), isinstance(node, nir.Conv2d), nname)
                layer = _make_layer(name, node, bias, theta, _meta(neuron))
                rep.replaced.append((nname, "W -> I -> IF", type(layer).__name__))
                i = j + 1
            elif isinstance(nxt, NEURONS):
                if isinstance(nxt, READOUTS) and i + 2 < n:
                    raise _refuse(nxt_name, nxt, ": a non-spiking read-out only as the last node")
                own = _meta(nxt).get("stdbp_plugin.role") == "relpsp-norse"
                bias = _weight_bias(node)
                conv = isinstance(node, nir.Conv2d)
                if own:  # this package's compat="norse" CubaLIF: invert _norse_cuba
                    lv = _arr(nxt.v_leak).astype(np.float64)
                    theta = _threshold(_arr(nxt.v_threshold) - lv, conv, nxt_name)
                    b = _arr(nxt.r) * lv / _arr(nxt.tau_mem)
                    bias = b.reshape(b.shape[0], -1)[:, 0] if conv else b
                elif isinstance(nxt, READOUTS):
                    theta = float(readout_threshold) * dt
                    rep.kept.append((nxt_name, type(nxt).__name__, "read-out -> ReL-PSP output"))
                else:
                    theta = _threshold(_arr(nxt.v_threshold) * dt, conv, nxt_name)
                layer = _make_layer(name, node, bias, theta, {})
                if not own:
                    rep.ignored[nxt_name] = [
                        f"{k}={_summary(getattr(nxt, k))}"
                        for k in IGNORED[type(nxt).__name__]
                        if getattr(nxt, k, None) is not None
                    ]
                if bias is not None and not own:
                    rep.biases.append(f"{name}.bias: an input spike at t = 0 of {nxt_name!r}")
                rep.replaced.append((nxt_name, type(nxt).__name__, type(layer).__name__))
                i += 2
            else:
                raise _refuse(name, node, f": it must feed a neuron, but {nxt_name!r} follows it")
            th = layer.threshold
            rep.thresholds[rep.replaced[-1][0]] = (
                f"{float(th.min()):.4g}..{float(th.max()):.4g}"
                if th.numel() > 1
                else f"{float(th):.4g}"
            )
            layers.append(layer)
        elif isinstance(node, nir.SumPool2d):
            if _pair(node.padding, "padding") != (0, 0):
                raise _refuse(name, node, ": padded pooling")
            layers.append(
                EarliestSpikePool2d(
                    _pair(node.kernel_size, "kernel_size"), _pair(node.stride, "stride")
                )
            )
            rep.replaced.append((name, "SumPool2d", "EarliestSpikePool2d"))
            nname, nxt = at(i + 1)
            pool_if = isinstance(nxt, nir.IF) and np.all(_arr(nxt.r) == 1)
            if pool_if and np.all((_arr(nxt.v_threshold) > 0) & (_arr(nxt.v_threshold) < 1)):
                i += 1  # the exact export's pooling neuron: fires at the first input spike
            i += 1
        elif isinstance(node, nir.Flatten):
            start, end = int(node.start_dim), int(node.end_dim)
            layers.append(
                nn.Flatten(start + 1 if start >= 0 else start, end + 1 if end >= 0 else end)
            )
            i += 1
        elif isinstance(node, nir.AvgPool2d):
            raise _refuse(
                name,
                node,
                ": averaging has no spike-time equivalent (convert refuses "
                "AvgPool2d too); pool with SumPool2d (earliest spike)",
            )
        elif isinstance(node, NEURONS):
            raise _refuse(name, node, ": a neuron needs a Linear, Affine or Conv2d before it")
        else:
            raise _refuse(name, node)
    if not any(isinstance(m, (ReLPSPLinear, ReLPSPConv2d)) for m in layers):
        raise ValueError("load: the graph has no weight layer feeding a neuron")
    rep.actions = [
        "input: spike times [B, ...] in the graph's time unit (one spike per input; +inf = "
        "none), or images when a LatencyEncoder was recorded",
        "read-out: the class is the output neuron that fires first; train with "
        "stdbp_plugin.functional.temporal_cross_entropy (STDBP: exact spike-time gradients)",
    ]
    model = nn.Sequential(*layers)
    model.stdbp_conversion_report = rep
    model.stdbp_nir_metadata = meta
    if report:
        print(rep)
    return model
