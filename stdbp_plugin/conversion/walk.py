"""The model's layers and the data flow between them (which layer feeds which neuron).

The flow is known when every container is an ``nn.Sequential`` (or Norse ``SequentialState`` /
``Lift``): then it is the registration order. Otherwise ``torch.fx`` traces ``forward`` with the
layers as leaves and every tensor size read as 2 (so step loops such as
``for k in range(x.size(0))`` unroll); the graph is read for its data flow only. When tracing
fails (data-dependent control flow, ...) the flow is unknown and ``Flow.known`` is False.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import fx, nn

# Layers that carry no spiking dynamics and that convert understands.
WEIGHT_LAYERS = (nn.Linear, nn.Conv2d)
SHAPE_LAYERS = (nn.Flatten, nn.Unflatten, nn.MaxPool2d, nn.AvgPool2d, nn.Dropout, nn.Identity)
# Between a weight layer and its neuron these commute with adding a per-channel bias.
BIAS_SAFE = (nn.MaxPool2d, nn.Identity)


@dataclass
class Leaf:
    """One layer: ``getattr(parent, key) is module``; ``name`` is its dotted path in the model."""

    name: str
    parent: nn.Module
    key: str
    module: nn.Module


def _is_lift(m: nn.Module) -> bool:
    return type(m).__name__ == "Lift" and hasattr(m, "lifted_module")


def iter_leaves(
    model: nn.Module, is_layer: Callable[[nn.Module], bool], prefix: str = ""
) -> list[Leaf]:
    """Neurons, read-outs, weight and shape layers in registration order, looking through
    containers and Norse's ``Lift``. A module that is none of these and holds parameters of its
    own, or has no children, is an unknown layer: ValueError naming it."""
    leaves: list[Leaf] = []
    for key, child in model.named_children():
        name = f"{prefix}{key}"
        if is_layer(child) or isinstance(child, WEIGHT_LAYERS + SHAPE_LAYERS):
            leaves.append(Leaf(name, model, key, child))
        elif len(child._modules) == 0 or any(True for _ in child.parameters(recurse=False)):
            raise ValueError(
                f"convert: cannot convert module {name!r} ({type(child).__name__}): unknown "
                "layer (supported: Linear, Conv2d, Flatten, MaxPool2d, AvgPool2d, Dropout, "
                "Identity, containers, Lift and the framework's LIF-type neurons and LI read-outs)"
            )
        else:
            leaves.extend(iter_leaves(child, is_layer, prefix=f"{name}."))
    return leaves


@dataclass
class Flow:
    """What is known about the data flow.

    known: the flow was determined (``how`` says by what); chain: the layers in data-flow order
    when they form one feed-forward chain (event mode needs it), else None; feeds: neuron name ->
    name of the Linear / Conv2d that alone feeds it (through ``BIAS_SAFE`` layers only) and
    whose output goes nowhere else: the pairs whose bias can become an input spike at t = 0.
    """

    known: bool
    how: str
    chain: list[Leaf] | None = None
    feeds: dict[str, str] = field(default_factory=dict)


def _all_sequential(model: nn.Module, is_layer) -> bool:
    for child in model.children():
        if is_layer(child) or isinstance(child, WEIGHT_LAYERS + SHAPE_LAYERS):
            continue
        if not (isinstance(child, nn.Sequential) or _is_lift(child)):
            return False
        if not _all_sequential(child, is_layer):
            return False
    return True


def _chain_feeds(chain: list[Leaf], is_neuron) -> dict[str, str]:
    feeds = {}
    for index, leaf in enumerate(chain):
        if not is_neuron(leaf.module):
            continue
        for before in reversed(chain[:index]):
            if isinstance(before.module, WEIGHT_LAYERS):
                feeds[leaf.name] = before.name
                break
            if not isinstance(before.module, BIAS_SAFE):
                break
    return feeds


_SIZE = 2  # any tensor size asked for while tracing: enough to unroll a step loop


class _AnySize:
    """``x.shape`` while tracing: every dimension reads as ``_SIZE``."""

    def __getitem__(self, index):
        return _SIZE if isinstance(index, int) else (_SIZE, _SIZE)


class _FlowProxy(fx.Proxy):
    """A proxy whose sizes are concrete, so that ``for k in range(x.size(0))`` unrolls. The
    graph is only read for its data flow, never run."""

    def size(self, dim: int | None = None):
        return _AnySize() if dim is None else _SIZE

    @property
    def shape(self) -> _AnySize:
        return _AnySize()

    def __len__(self) -> int:
        return _SIZE

    def __setitem__(self, key, value) -> None:  # ``rec[k] = v`` in a recording loop
        self.tracer.create_proxy("call_function", operator.setitem, (self, key, value), {})


class _Tracer(fx.Tracer):
    def __init__(self, is_leaf: Callable[[nn.Module], bool]) -> None:
        super().__init__()
        self._is_leaf = is_leaf

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        known = isinstance(m, WEIGHT_LAYERS + SHAPE_LAYERS) or _is_lift(m)
        return known or self._is_leaf(m) or super().is_leaf_module(m, qualname)

    def proxy(self, node: fx.Node) -> fx.Proxy:
        return _FlowProxy(node, self)


_RESHAPE_METHODS = ("view", "reshape", "flatten")


def _fx_flow(model: nn.Module, leaves: list[Leaf], is_neuron, is_layer) -> Flow:
    try:
        graph = _Tracer(is_layer).trace(model)
    except Exception as error:  # noqa: BLE001 - any tracing failure means "flow unknown"
        reason = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        return Flow(False, f"unknown (torch.fx could not trace forward: {reason[:160]})")
    by_name = {leaf.name: leaf for leaf in leaves}
    modules = dict(model.named_modules())

    def leaf_name(node: fx.Node) -> str | None:
        if node.op != "call_module":
            return None
        name = str(node.target)
        if _is_lift(modules[name]):
            name = f"{name}.lifted_module"
        return name if name in by_name else None

    def source(node) -> tuple[fx.Node | None, tuple]:
        """Walk back from a module's input through getitem(., 0), reshapes and F.max_pool2d;
        returns the node reached and the ops passed (in forward order)."""
        ops: list[tuple] = []
        while isinstance(node, fx.Node):
            getitem = node.op == "call_function" and node.target is operator.getitem
            if getitem and (node.args[1] == 0 or _input_step(node)):
                node = node.args[0]
            elif (node.op == "call_method" and node.target in _RESHAPE_METHODS) or (
                node.op == "call_function" and node.target in (torch.flatten, torch.reshape)
            ):
                node = node.args[0]
                ops.insert(0, ("flatten",))
            elif (pool := _functional_pool(node)) is not None:
                node = node.args[0]
                ops.insert(0, pool)
            else:
                return node, tuple(ops)
        return None, tuple(ops)

    feeds: dict[str, set[str | None]] = {}
    edges: dict[str, set[tuple[str, tuple]]] = {}
    for node in graph.nodes:
        name = leaf_name(node)
        if name is None or not node.args:
            continue
        src, ops = source(node.args[0])
        src_name = "<input>" if src is not None and src.op == "placeholder" else None
        if src is not None and src_name is None:
            src_name = leaf_name(src) or f"<{src.op} {getattr(src.target, '__name__', src.target)}>"
        edges.setdefault(name, set()).add((src_name, ops))
        if is_neuron(by_name[name].module):
            feeder = _feeder(src, ops, source, leaf_name, by_name)
            feeds.setdefault(name, set()).add(feeder)

    safe: dict[str, str] = {}
    fed_by: dict[str, list[str]] = {}
    for neuron, sources in feeds.items():
        if len(sources) == 1 and None not in sources:
            (w,) = sources
            fed_by.setdefault(w, []).append(neuron)
    for w, neurons in fed_by.items():
        if len(neurons) == 1 and _only_feeds(graph, w, neurons[0], leaf_name, by_name):
            safe[neurons[0]] = w
    chain = _chain_from(edges, leaves)
    how = "torch.fx trace of forward"
    if chain is None:
        how += (
            "; the layers do not form one chain (a branch, a layer used twice, or ops other "
            "than reshapes and max pooling between layers)"
        )
    return Flow(True, how, chain, safe)


def _input_step(node: fx.Node) -> bool:
    """``x[k]`` on the forward's input: one step of the input, not another output."""
    src, index = node.args
    if isinstance(index, tuple) and index:  # x[k, :] / x[k, ...]
        rest = index[1:]
        if not all(i is Ellipsis or i == slice(None) for i in rest):
            return False
        index = index[0]
    return isinstance(src, fx.Node) and src.op == "placeholder" and isinstance(index, int)


def _functional_pool(node: fx.Node) -> tuple | None:
    """``F.max_pool2d(x, k[, s])`` without padding or dilation: ("maxpool", k, s)."""
    if node.op != "call_function" or node.target not in (F.max_pool2d, torch.max_pool2d):
        return None
    args = dict(
        zip(("input", "kernel_size", "stride", "padding", "dilation"), node.args, strict=False)
    )
    args.update(node.kwargs)
    if args.get("padding", 0) not in (0, (0, 0)) or args.get("dilation", 1) not in (1, (1, 1)):
        return None
    if args.get("ceil_mode") or args.get("return_indices"):
        return None
    return ("maxpool", args["kernel_size"], args.get("stride") or args["kernel_size"])


def _feeder(src, ops, source, leaf_name, by_name) -> str | None:
    """The weight layer feeding a neuron through max pooling / BIAS_SAFE modules only."""
    while src is not None and all(op[0] == "maxpool" for op in ops):
        name = leaf_name(src)
        if name is None:
            return None
        if isinstance(by_name[name].module, WEIGHT_LAYERS):
            return name
        if not isinstance(by_name[name].module, BIAS_SAFE) or not src.args:
            return None
        src, ops = source(src.args[0])
    return None


def _only_feeds(graph: fx.Graph, weight: str, neuron: str, leaf_name, by_name) -> bool:
    """Every call of ``weight`` reaches only ``neuron`` (through bias-safe steps)."""
    for node in graph.nodes:
        if leaf_name(node) != weight:
            continue
        stack = [node]
        while stack:
            current = stack.pop()
            for user in current.users:
                name = leaf_name(user)
                if name == neuron and user.args and user.args[0] is current:
                    continue
                bias_safe_module = name is not None and isinstance(by_name[name].module, BIAS_SAFE)
                pool = user.op == "call_function" and user.target in (
                    F.max_pool2d,
                    torch.max_pool2d,
                )
                if (bias_safe_module or pool) and user.args[0] is current:
                    stack.append(user)
                else:
                    return False
    return True


def _chain_from(edges: dict[str, set[tuple[str, tuple]]], leaves: list[Leaf]) -> list[Leaf] | None:
    """The leaves in flow order if the module-level graph is one path from the input that
    visits every leaf; reshapes and F.max_pool2d on an edge become nn.Flatten / nn.MaxPool2d."""
    by_name = {leaf.name: leaf for leaf in leaves}
    nxt: dict[str, tuple[str, tuple]] = {}
    for name, sources in edges.items():
        if len(sources) != 1:
            return None
        (src, ops) = next(iter(sources))
        if src in nxt:
            return None
        nxt[src] = (name, ops)
    chain: list[Leaf] = []
    current = "<input>"
    while current in nxt:
        current, ops = nxt[current]
        for op in ops:
            module = nn.Flatten() if op[0] == "flatten" else nn.MaxPool2d(op[1], op[2])
            chain.append(Leaf(f"{current}(input {op[0]})", nn.Module(), "", module))
        chain.append(by_name[current])
    names = {leaf.name for leaf in chain}
    return chain if names >= set(by_name) else None


def data_flow(model: nn.Module, leaves: list[Leaf], is_neuron, is_layer) -> Flow:
    """See the module docstring."""
    if _all_sequential(model, is_layer) and isinstance(model, nn.Sequential):
        return Flow(
            True, "registration order (nn.Sequential)", leaves, _chain_feeds(leaves, is_neuron)
        )
    return _fx_flow(model, leaves, is_neuron, is_layer)
