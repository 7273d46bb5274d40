"""``stdbp_plugin.reinit(model, run)``: a ReL-PSP start for the layers that feed ReL-PSP neurons.

A ReL-PSP neuron stepped in a clock loop has no leak: its potential at the end of a window of T
steps is E = sum_k c_k (T - k) (in units of one step's current), which grows like T^2. With the
drop-ins' thresholds (snnTorch ``threshold``, Norse ``v_th``: 1 per step) and PyTorch's default
initialisation (zero-mean weights), E spans tens of thresholds: about half of the neurons never
fire, the others fire in the first steps. Exact spike-time gradients give a firing neuron's
incoming weights one sign, so one Adam step (lr per weight) moves E by lr times the summed input
ramps, again tens of thresholds (Norse README net: E ~ N(0, 17^2), one step 16 thresholds;
docs/pipelines.md). With the threshold matched to the spread of E (below), the same step moves
E by about one threshold.

``reinit`` runs the user's own forward pass on one sample batch and, layer by layer in the
order the data flows, for each ``nn.Linear`` / ``nn.Conv2d`` whose output drives a ReL-PSP
neuron of this package (snnTorch and Norse drop-ins, ``convert`` outputs):

    W ~ N(0, s^2), s = the std of the layer's weights (PyTorch's default init: 1/sqrt(3 fan_in)),
    bias = 0; E = the neuron's end potentials over the sample; U = mean(E) with every weight 1
    (means and spreads over the (sample, neuron) pairs that receive any input);
    theta = std(E) / std,   W <- W + (mean * theta - mean(E)) / U,

and sets the neuron's threshold to theta (the shift is exact in one round when the path from
layer to neuron is linear, e.g. a scale; with a max-pool between them it is corrected, at most
``ROUNDS`` times). The result is ``relpsp_init_``'s distribution, w ~ N(m, s^2) with a positive
mean m, at a scale read from the data: E / theta has the given ``mean`` over the sample and
about the given ``std`` (more where the inputs' total varies much between samples, as raw
pixels do; the report gives the spread reached). Defaults 2 and 2: about 70% of the neurons
fire in the window, at steps spread over all of it (std 1, 2, 3 were measured on the pipelines
matrix: 2 is the best of them there, see docs/pipelines.md).
Hidden layers keep their weights' spread, so the learning rate means what it meant there.
The layers feeding OUTPUT neurons (ReL-PSP neurons that no other learning module follows: the
ones the loss reads) are then scaled by ``output_gain`` (weights and threshold together, so
the spikes stay the same): an Adam step moves each weight by about lr whatever its size, all
of a neuron's weights one way (exact spike-time gradients share one sign per row), so it moves
E by about (lr / s) * sum_i R_i / ||R|| spreads of E (R_i: input i's ramp sum_k x_ik (T - k));
for snnTorch tutorial 6's ``nn.Linear(1024, 10)`` about 2 spreads: one step took its outputs
from 67% firing to 100%. A gain g divides that by g at the output only. Default 10: measured
on tutorial 6 (docs/pipelines.md: +1.8 to +11.9 points over two seeds, both modes). The
revival push of silent outputs (``silent_grad``) acts on the potential, so it is divided by g
with it: the gain is then a change of units, every gradient keeps its direction, and the
output layer's gradients shrink by g (Adam: the same as its own lr / g). Layers that feed
anything else (a Norse ``LICell`` read-out, ...) are left alone.

Opt-in, ``readout_step``: when the loss reads the spikes through a non-spiking read-out only
(no ReL-PSP output neuron: Norse's ``LICell`` / ``LILinearCell`` read-outs), every layer
feeding a ReL-PSP neuron gets the gain that bounds one Adam step's move of E: a step moves
each weight by about lr (the optimizer's, per parameter group; Adam's default 1e-3 without
``optimizer``), a whole row one way, so E moves by lr * U (U = E with every weight 1), and

    g = max(1, lr * U / (theta * readout_step))

Measured (docs/pipelines.md): in Norse's MNIST task that step moves E by 3.4 and 5.5
thresholds in conv2 and fc1; training them at that rate silences half their neurons within
10 steps and ends 16 points below the read-out trained alone (32.8% against 48.8%);
``readout_step=0.2`` (gains 16 and 27) gives 51.0% (upstream 42.0%). It is not the default
because it cost the Norse README net (one hidden layer, 1.9 thresholds per step, gain 9.4)
2-3 points over two seeds (86.95 -> 84.8%, seed 1 86.8 -> 83.7%, upstream 84.1 / 85.1%), and
it never applies with a ReL-PSP output: snnTorch tutorial 6 needs its conv2 trained at its
1.3 thresholds per step (scaled x3.3: 36.2% against 50.9%). Hidden ReL-PSP neurons get
``silent_grad = 0`` (``hidden_silent_grad``), as ``convert`` gives revival to the output layer
only: the drop-ins cannot tell a hidden layer from an output and default to 1.0, and on the
literal swap of snnTorch tutorial 6 and Norse's MNIST task that revival of hidden neurons cost
3.5 and 18 points (docs/pipelines.md). Trained weights are refused (see :func:`reinit`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from stdbp_plugin.functional.validation import check_silent_grad
from stdbp_plugin.nn.init import relpsp_init_

WEIGHT_LAYERS = (nn.Linear, nn.Conv2d)
ROUNDS = 4  # at most this many updates of the weight shift per layer
TOLERANCE = 0.05  # stop when the mean of E / theta is this close (in units of std)


@dataclass
class ReinitLayer:
    """One re-initialised layer: its name, the neuron it feeds, the new threshold (in units
    of one step's input current: the neuron fires when sum_k c_k (n - k) reaches it), the
    shift added to the weights' mean, the mean and spread of E / theta reached on the sample,
    and the share of (sample, neuron) pairs that fire within the window afterwards (pairs that
    receive input; a conv's border may receive none); ``gain``: the output layers' scale
    (``output_gain``; 1 for hidden layers)."""

    layer: str
    neuron: str
    threshold_per_step: float
    weight_shift: float
    mean: float
    std: float
    fire_fraction: float
    gain: float = 1.0
    output: bool = False


@dataclass
class ReinitReport:
    """What :func:`reinit` changed: one :class:`ReinitLayer` per layer, in flow order, and the
    neurons whose ``silent_grad`` it set (name -> new value: ``hidden_silent_grad`` on hidden
    neurons, the old value / ``output_gain`` on output neurons)."""

    layers: list[ReinitLayer] = field(default_factory=list)
    steps: int = 0
    silent_grad: dict[str, float] = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [f"stdbp_plugin.reinit: {len(self.layers)} layer(s), window of {self.steps} steps"]
        for r in self.layers:
            lines.append(
                f"  {r.layer} -> {r.neuron}: threshold {r.threshold_per_step:.4g} per step, "
                f"weight mean {r.weight_shift:+.3g}, bias 0, E / threshold {r.mean:.2f} +- "
                f"{r.std:.2f}, {100 * r.fire_fraction:.0f}% fire"
                + (f", weights x {r.gain:.3g} ({_why(r)})" if r.gain != 1 else "")
            )
        if self.silent_grad:
            named = ", ".join(f"{n} -> {v:g}" for n, v in self.silent_grad.items())
            lines.append(f"  silent_grad (hidden: revival off; output: / output_gain): {named}")
        return "\n".join(lines)


def _why(r: ReinitLayer) -> str:
    return "output" if r.output else "read-out step bound"


def _relpsp_kinds() -> tuple[type, ...]:
    """The clock-driven ReL-PSP neuron classes of this package whose frameworks are loaded."""
    import sys

    kinds: list[type] = []
    if "stdbp_plugin.snntorch.neurons" in sys.modules:
        from stdbp_plugin.snntorch.neurons import _ReLPSPState

        kinds.append(_ReLPSPState)
    if "stdbp_plugin.norse" in sys.modules:
        from stdbp_plugin.norse import _ReLPSPBase

        kinds.append(_ReLPSPBase)
    return tuple(kinds)


def _is_sequence(neuron: nn.Module) -> bool:
    """Norse ``ReLPSP`` takes the whole [T, B, ...] input in one call."""
    import sys

    norse = sys.modules.get("stdbp_plugin.norse")
    return norse is not None and isinstance(neuron, norse.ReLPSP)


def _set_threshold(neuron: nn.Module, theta_step: float) -> None:
    """The neuron fires when dt * sum_k c_k (n - k) >= its functional threshold; set that to
    dt * theta_step (snnTorch ``threshold``; Norse ``p.v_th`` by its gain)."""
    dt = float(neuron.dt)
    if hasattr(neuron, "p"):  # Norse: functional threshold v_th / g (ReLPSPParameters), v_th dt
        from stdbp_plugin.norse import ReLPSPParameters

        p = neuron.p
        if isinstance(p, ReLPSPParameters):
            gain = float(torch.as_tensor(p.tau_mem_inv))
            neuron.p = p._replace(v_th=torch.as_tensor(theta_step * gain * dt))
        else:
            neuron.p = p._replace(v_th=torch.as_tensor(theta_step))
        return
    with torch.no_grad():
        neuron.threshold.copy_(torch.full_like(neuron.threshold, theta_step * dt))


def _default_bound(layer: nn.Module) -> float:
    """PyTorch's default init draws weights from U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    return 1.0 / math.sqrt(layer.weight[0].numel())


def _looks_trained(layer: nn.Module) -> str | None:
    if layer.weight.grad is not None:
        return "it holds a gradient (it has been through backward)"
    bound = _default_bound(layer)
    largest = float(layer.weight.detach().abs().max())
    if largest > bound * (1 + 1e-6):
        return (
            f"its largest |weight| {largest:.4g} exceeds PyTorch's default-init bound "
            f"1/sqrt(fan_in) = {bound:.4g}, as after training or a previous reinit"
        )
    return None


class _Recorder:
    """Forward hooks: call order of weight layers and ReL-PSP neurons, and each neuron's input
    currents of the last ``run()``."""

    def __init__(self, model: nn.Module, kinds: tuple[type, ...]) -> None:
        self.order: list[str] = []
        self.inputs: dict[str, list[Tensor]] = {}
        self.outputs: dict[str, list[Tensor]] = {}
        self.modules = {
            name: m for name, m in model.named_modules() if isinstance(m, (*WEIGHT_LAYERS, *kinds))
        }
        self.neurons = {name for name, m in self.modules.items() if isinstance(m, kinds)}
        self._handles = [
            m.register_forward_pre_hook(self._hook(name), with_kwargs=True)
            for name, m in self.modules.items()
        ]
        self._handles += [
            self.modules[name].register_forward_hook(self._spikes(name)) for name in self.neurons
        ]
        # first calls of every module that learns (own parameters): who comes after a neuron
        self.learners: list[str] = []
        self._handles += [
            m.register_forward_pre_hook(self._learner(name))
            for name, m in model.named_modules()
            if name not in self.modules and any(True for _ in m.parameters(recurse=False))
        ]

    def _learner(self, name: str):
        def record(module: nn.Module, args: tuple) -> None:
            if name not in self.learners:
                self.learners.append(name)
            if name not in self.order:
                self.order.append(name)

        return record

    def hidden(self) -> list[str]:
        """ReL-PSP neurons after which the run calls another learning module (a weight layer,
        a Norse ``LILinearCell`` read-out, ...): every one but an output layer."""
        learns = {*self.learners, *(n for n in self.modules if n not in self.neurons)}
        return [
            n
            for i, n in enumerate(self.order)
            if n in self.neurons and any(m in learns for m in self.order[i + 1 :])
        ]

    def _spikes(self, name: str):
        def record(module: nn.Module, args: tuple, out: Any) -> None:
            spikes = out[0] if isinstance(out, tuple) else out
            self.outputs.setdefault(name, []).append(spikes.detach())

        return record

    def _hook(self, name: str):
        def record(module: nn.Module, args: tuple, kwargs: dict) -> None:
            if name not in self.order:
                self.order.append(name)
            # the input current: first argument (``input_`` / ``input_tensor`` if by keyword)
            given = args[0] if args else kwargs.get("input_", kwargs.get("input_tensor"))
            if name in self.neurons and isinstance(given, Tensor):
                self.inputs.setdefault(name, []).append(given.detach().double())

        return record

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()


def _end_potential(steps: list[Tensor], sequence: bool) -> tuple[Tensor, int]:
    """E = sum_k c_k (T - k) from the currents of one window (T calls of [B, ...] or one call
    of [T, B, ...]); returns E and T."""
    if sequence:
        if len(steps) != 1:
            raise ValueError(f"run() must call each Norse ReLPSP once, it called {len(steps)}")
        currents = steps[0]
    else:
        shapes = {tuple(s.shape) for s in steps}
        if len(shapes) != 1:
            raise ValueError(
                "run() must be one forward pass of one batch: a neuron saw inputs of shapes "
                f"{sorted(shapes)}"
            )
        currents = torch.stack(steps)
    num = currents.shape[0]
    ramp = (num - torch.arange(num, dtype=currents.dtype, device=currents.device)).view(
        -1, *[1] * (currents.ndim - 1)
    )
    return (currents * ramp).sum(0), num


def _measure(
    rec: _Recorder, run: Callable[[], Any], neuron: str, sequence: bool
) -> tuple[Tensor, int, Tensor]:
    """One ``run()``: the end potentials of ``neuron``, the number of steps, and which
    (sample, neuron) pairs spiked in the window (from the neuron's own output)."""
    rec.inputs.clear()
    rec.outputs.clear()
    run()
    if neuron not in rec.inputs:
        raise ValueError(f"reinit: run() did not call {neuron!r}")
    e, steps = _end_potential(rec.inputs[neuron], sequence)
    outs = rec.outputs[neuron]
    spikes = outs[0] if sequence else torch.stack(outs)
    return e, steps, spikes.sum(0) > 0


def _pairs(rec: _Recorder) -> list[tuple[str, str]]:
    """Each ReL-PSP neuron with the weight layer called last before its first call."""
    pairs: list[tuple[str, str]] = []
    last: str | None = None
    for name in rec.order:
        if name not in rec.modules:
            continue  # another learning module (a read-out cell): neither layer nor neuron
        if name in rec.neurons:
            if last is None:
                continue  # no weight layer before it (input neurons): nothing to initialise
            if any(layer == last for layer, _ in pairs):
                other = next(n for layer, n in pairs if layer == last)
                raise ValueError(
                    f"reinit: neurons {other!r} and {name!r} both follow layer {last!r} "
                    "without a weight layer between them; the flow is not a chain of "
                    "layer -> neuron pairs"
                )
            pairs.append((last, name))
        else:
            last = name
    return pairs


@torch.no_grad()
def reinit(
    model: nn.Module,
    run: Callable[[], Any],
    *,
    mean: float = 2.0,
    std: float = 2.0,
    hidden_silent_grad: float | None = 0.0,
    output_gain: float = 10.0,
    optimizer: torch.optim.Optimizer | None = None,
    readout_step: float | None = None,
    force: bool = False,
) -> ReinitReport:
    """Re-initialise, in place, the Linear / Conv2d layers that feed ReL-PSP neurons.

    Args:
        model: a model holding this package's clock-driven ReL-PSP neurons (the literal swap
            or ``convert(..., mode="clock")``).
        run: runs the training loop's own forward pass of ``model`` on ONE sample batch
            (e.g. ``lambda: forward(x[:256])``), resetting the neurons' state as the loop
            does; called once, then 3 to ``ROUNDS`` + 2 times per layer, without gradients
            and in eval mode. Each ReL-PSP neuron is paired with the Linear / Conv2d that
            ``run`` calls last before the neuron's first call (a chain layer -> neuron, with
            pooling, scaling or flattening between them allowed).
        mean, std: target mean and spread of each neuron's end-of-window potential in
            thresholds (see the module docstring).
        hidden_silent_grad: ``silent_grad`` for the hidden ReL-PSP neurons (those after which
            ``run`` calls another learning module), as ``convert`` does: revival of silent
            neurons is for the output layer (the drop-ins default to 1.0 on every layer,
            which a literal swap cannot tell apart; measured in docs/pipelines.md). None:
            leave them as they are.
        output_gain: g > 0 multiplying the weights and the threshold of the layers that feed
            output neurons (no learning module after them), after the draw above: the same
            spikes, with an Adam step moving their end potentials g times less (module
            docstring). 1: no scaling.
        optimizer: the training loop's optimizer (built on ``model``'s parameters), for the
            learning rate of each layer's weight (its parameter group's ``lr``); without it,
            Adam's default 1e-3. Used only with ``readout_step``.
        readout_step: None (default): off. A number b > 0: when the loss reads the spikes
            through non-spiking read-outs only (no ReL-PSP output neuron), b is the largest
            move of a neuron's end potential, in thresholds, by one Adam step (every weight of
            a row moved by lr one way): each layer feeding a ReL-PSP neuron is scaled, weights
            and threshold together (the same spikes), by g = max(1, lr * U / (theta * b))
            (module docstring; 0.2 closes Norse's MNIST task in docs/pipelines.md).
        force: also re-initialise layers that look trained (their weights hold a gradient or
            exceed PyTorch's default-init range); by default that raises ValueError, since the
            weights would be overwritten.

    Returns:
        A :class:`ReinitReport` (printable): per layer, the neuron, its new threshold, the
        weight shift, the mean and spread of E / threshold reached and the share of the
        sample's neurons that now fire in the window.

    Raises:
        ValueError for bad arguments, a model without ReL-PSP neurons, layers that look
        trained (without ``force``), two neurons after one layer, or a neuron whose inputs
        do not vary on the sample; the model is then left as it was.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
    if not callable(run):
        raise ValueError(f"run must be a callable running one forward pass, got {run!r}")
    if hidden_silent_grad is not None:
        check_silent_grad(hidden_silent_grad)
    checks = (("mean", mean, float("-inf")), ("std", std, 0.0), ("output_gain", output_gain, 0.0))
    if readout_step is not None:
        checks = (*checks, ("readout_step", readout_step, 0.0))
    for name, value, low in checks:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name} must be a number, got {value!r}")
        if not math.isfinite(value) or value <= low:
            raise ValueError(f"{name} must be finite" + (" and > 0" if low == 0 else ""))
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise ValueError(f"optimizer must be a torch.optim.Optimizer, got {optimizer!r}")
    kinds = _relpsp_kinds()
    if not kinds or not any(isinstance(m, kinds) for m in model.modules()):
        raise ValueError(
            "reinit: model holds no ReL-PSP neuron of stdbp_plugin (swap the neurons or use "
            "stdbp_plugin.convert(model, mode='clock') first)"
        )
    was_training = model.training
    model.eval()
    rec = _Recorder(model, kinds)
    report = ReinitReport()
    try:
        run()
        pairs = _pairs(rec)
        if not pairs:
            raise ValueError("reinit: run() called no weight layer before a ReL-PSP neuron")
        if not force:
            for layer_name, _ in pairs:
                why = _looks_trained(rec.modules[layer_name])
                if why:
                    raise ValueError(
                        f"reinit: layer {layer_name!r} looks trained ({why}); reinit would "
                        "overwrite its weights. Call it on a freshly built model, before "
                        "training, or pass force=True"
                    )
        restore = _snapshot(
            [(rec.modules[a], rec.modules[b]) for a, b in pairs],
            [rec.modules[n] for n in rec.neurons],
        )
        try:
            outputs = set(rec.neurons) - set(rec.hidden())
            bound = None  # hidden layers' step bound: only without a ReL-PSP output
            if readout_step is not None and not outputs & {n for _, n in pairs}:
                bound = (_learning_rates(optimizer), float(readout_step))
            gains = (float(output_gain), bound)
            _reinit_pairs(rec, pairs, run, mean, std, report, outputs, gains)
            for name in outputs & {n for _, n in pairs}:
                neuron = rec.modules[name]
                if output_gain != 1 and neuron.silent_grad:  # the push on V: in V's units
                    neuron.silent_grad = neuron.silent_grad / float(output_gain)
                    report.silent_grad[name] = neuron.silent_grad
            if hidden_silent_grad is not None:
                for name in rec.hidden():
                    neuron = rec.modules[name]
                    if neuron.silent_grad != hidden_silent_grad:
                        neuron.silent_grad = float(hidden_silent_grad)
                        report.silent_grad[name] = float(hidden_silent_grad)
        except BaseException:
            restore()  # an error on the way leaves the model as it was
            raise
    finally:
        rec.close()
        model.train(was_training)
    return report


def _learning_rates(optimizer: torch.optim.Optimizer | None) -> Callable[[Tensor], float]:
    """The learning rate of a parameter: its group's ``lr`` in ``optimizer`` (Adam's default
    1e-3 without one); a weight the optimizer does not hold does not move (0)."""
    if optimizer is None:
        return lambda _: 1e-3
    rates = {id(p): float(g["lr"]) for g in optimizer.param_groups for p in g["params"]}
    return lambda weight: rates.get(id(weight), 0.0)


def _snapshot(
    pairs: list[tuple[nn.Module, nn.Module]], neurons: list[nn.Module]
) -> Callable[[], None]:
    """What reinit may change (weights, biases, thresholds, silent_grad); returns the function
    restoring it."""
    revival = [(n, n.silent_grad) for n in neurons]
    saved: list[tuple[Tensor, Tensor]] = []
    norse_p: list[tuple[nn.Module, Any]] = []
    for layer, neuron in pairs:
        tensors = [layer.weight, layer.bias, getattr(neuron, "bias", None)]
        if hasattr(neuron, "p"):
            norse_p.append((neuron, neuron.p))
        else:
            tensors.append(neuron.threshold)
        saved += [(t, t.detach().clone()) for t in tensors if isinstance(t, Tensor)]

    def restore() -> None:
        with torch.no_grad():
            for tensor, value in saved:
                tensor.copy_(value)
        for neuron, p in norse_p:
            neuron.p = p
        for neuron, value in revival:
            neuron.silent_grad = value

    return restore


def _reinit_pairs(
    rec: _Recorder,
    pairs: list[tuple[str, str]],
    run: Callable[[], Any],
    mean: float,
    std: float,
    report: ReinitReport,
    outputs: set[str],
    gains: tuple[float, tuple[Callable[[Tensor], float], float] | None],
) -> None:
    """The re-initialisation itself, layer by layer in flow order (see the module docstring);
    the layers feeding ``outputs`` are scaled by ``gains[0]`` at the end; with ``gains[1] =
    (lr_of, bound)``, every layer by max(1, lr * U / (theta * bound))."""
    gain, step_bound = gains
    for layer_name, neuron_name in pairs:
        layer, neuron = rec.modules[layer_name], rec.modules[neuron_name]
        sequence = _is_sequence(neuron)
        weight = layer.weight
        if layer.bias is not None:
            layer.bias.zero_()
        if getattr(neuron, "bias", None) is not None and isinstance(neuron.bias, Tensor):
            neuron.bias.zero_()

        # a fresh zero-mean normal draw with the layer's own weight spread
        scale = float(weight.detach().std()) if weight.numel() > 1 else 0.0
        if not scale > 0:
            scale = _default_bound(layer) / math.sqrt(3.0)
        fan_in = weight[0].numel()
        relpsp_init_(weight, None, 1.0, 0.0, scale * math.sqrt(fan_in))
        e, steps, _ = _measure(rec, run, neuron_name, sequence)
        kept = weight.detach().clone()
        weight.fill_(1.0)
        ones = _measure(rec, run, neuron_name, sequence)[0]
        weight.copy_(kept)
        # (sample, neuron) pairs that receive any input (a conv's empty border: none)
        live = ones != 0
        if not (bool(live.any()) and float(e[live].std()) > 0):
            raise ValueError(
                f"reinit: the inputs of {neuron_name!r} carry no signal on the sample "
                "(its end potentials do not vary)"
            )
        unit = float(ones[live].mean())
        theta = float(e[live].std()) / std
        _set_threshold(neuron, theta)
        # exact in one round when the path layer -> neuron is linear; a max-pool between
        # them raises the mean faster than U, so the shift is corrected a few times
        shift = 0.0
        for _ in range(ROUNDS):
            step = (mean * theta - float(e[live].mean())) / unit
            weight.add_(step)
            shift += step
            e, _, spiked = _measure(rec, run, neuron_name, sequence)
            reached = (float(e[live].mean()) / theta, float(e[live].std()) / theta)
            if abs(reached[0] - mean) <= TOLERANCE * std:
                break
        fired = float(spiked[live].double().mean())
        g = gain if neuron_name in outputs else 1.0
        if step_bound is not None:  # one Adam step (lr per weight, one way) moves E by lr * U
            lr_of, bound = step_bound
            g = max(1.0, lr_of(weight) * unit / (theta * bound))
        if g != 1.0:  # weights and threshold together: E / theta and the spikes unchanged
            weight.mul_(g)
            _set_threshold(neuron, theta * g)
        report.layers.append(
            ReinitLayer(
                layer_name,
                neuron_name,
                theta * g,
                shift * g,
                *reached,
                fired,
                g,
                neuron_name in outputs,
            )  # fmt: skip
        )
        report.steps = steps
