"""The loop shared by every pipeline: train for a budget, time each epoch, test, count spikes.

A pipeline file builds a :class:`Setup` (its model, forward pass, loss, accuracy and
optimizer, written as its upstream tutorial writes them) for one variant; :func:`train_and_test`
runs the zero_grad / backward / step loop that all of them share and measures the result.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

VARIANTS = ("upstream", "swap", "swap_reinit", "clock", "clock_reinit", "event")
#: A ``*_reinit`` variant is its base variant plus one line before training,
#: ``stdbp_plugin.reinit(model, run)`` on the first training batch (conversion/reinit.py).
REINIT_BASE = {"swap_reinit": "swap", "clock_reinit": "clock"}


class NotApplicable(Exception):
    """A variant that the pipeline's architecture or input does not allow (with the reason)."""


def convert_or_not_applicable(convert, model: nn.Module, mode: str) -> nn.Module:
    """``convert(model, mode=mode)``; in event mode a ValueError (convert refusing a model that
    has no event-driven form, e.g. a leaky-integrator read-out) becomes NotApplicable with
    convert's own message. Clock-mode errors stay errors: clock mode must take every model."""
    try:
        return convert(model, mode=mode)
    except ValueError as err:
        if mode != "event":
            raise
        raise NotApplicable(f"convert refuses: {str(err).strip().splitlines()[0]}") from err


@dataclass
class Data:
    """MNIST images [N, 1, 28, 28] in [0, 1] and labels [N], train and test."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor


@dataclass
class Budget:
    """What every variant of a pipeline gets. ``num_steps`` / ``batch_size`` None: the
    pipeline's own (its tutorial's) values. ``max_batches``: stop each epoch early (tests).
    ``warmup``: one untimed forward + backward before the first epoch (no weight update)."""

    epochs: int = 1
    num_steps: int | None = None
    batch_size: int | None = None
    max_batches: int | None = None
    seed: int = 0
    progress: bool = True
    warmup: bool = True


@dataclass
class Setup:
    """One pipeline variant, ready to train.

    forward(images [B, 1, 28, 28] in [0, 1]) -> output (whatever the tutorial's forward
    returns); loss(output, targets) -> scalar; correct(output, targets) -> number of correctly
    classified samples (the tutorial's accuracy function times B); output_spikes(output) ->
    the output layer's spike train [T, B, N] or None (for the silent-output diagnosis).
    """

    model: nn.Module
    forward: Callable[[Tensor], Any]
    loss: Callable[[Any, Tensor], Tensor]
    correct: Callable[[Any, Tensor], float]
    optimizer: torch.optim.Optimizer
    batch_size: int
    num_steps: int
    output_spikes: Callable[[Any], Tensor | None] = lambda out: None
    notes: list[str] = field(default_factory=list)


def _batches(n: int, batch_size: int, generator: torch.Generator | None, drop_last: bool):
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    for start in range(0, stop, batch_size):
        yield order[start : start + batch_size]


class SpikeCounter:
    """Counts the spikes every spiking layer of ``model`` emits while active (forward hooks).

    A layer counts when it is a snnTorch ``SpikingNeuron``, a Norse ``SNNCell`` / ``SNN`` or a
    ReL-PSP neuron of this package and its output (first element of a tuple) is a 0/1 train;
    event-driven ReL-PSP layers count their finite output spike times. Leaky-integrator
    read-outs (membrane outputs, not 0/1) are left out, and so are input encoders.
    """

    def __init__(self, model: nn.Module) -> None:
        self.total = 0.0
        self._handles = []
        kinds = _spiking_kinds()
        event_kinds = _event_kinds()
        for module in model.modules():
            if isinstance(module, event_kinds):
                self._handles.append(module.register_forward_hook(self._count_times))
            elif isinstance(module, kinds):
                self._handles.append(module.register_forward_hook(self._count_train))

    def _count_train(self, module, args, out) -> None:
        out = out[0] if isinstance(out, tuple) else out
        binary = isinstance(out, Tensor) and out.is_floating_point()
        if binary and bool(((out == 0) | (out == 1)).all()):
            self.total += float(out.sum())

    def _count_times(self, module, args, out) -> None:
        if isinstance(out, Tensor):
            self.total += float(torch.isfinite(out).sum())

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()


def _spiking_kinds() -> tuple[type, ...]:
    kinds: list[type] = []
    if "snntorch" in sys.modules:
        import snntorch

        kinds.append(snntorch.SpikingNeuron)
    if "norse" in sys.modules:
        from norse.torch.module.snn import SNN, SNNCell

        kinds += [SNN, SNNCell]
    if "stdbp_plugin.norse" in sys.modules:
        from stdbp_plugin import norse as relpsp_norse

        kinds += [relpsp_norse.ReLPSPCell, relpsp_norse.ReLPSP]
    return tuple(kinds)


def _event_kinds() -> tuple[type, ...]:
    from stdbp_plugin.nn import ReLPSPConv2d, ReLPSPLinear

    return (ReLPSPLinear, ReLPSPConv2d)


def _progress(iterable, total: int, desc: str, enabled: bool):
    if not enabled:
        return iterable
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm ships with the test extras
        return iterable
    return tqdm(iterable, total=total, desc=desc, leave=False, file=sys.stderr, mininterval=2.0)


def train_and_test(setup: Setup, data: Data, budget: Budget, label: str = "") -> dict:
    """Train ``budget.epochs`` epochs (shuffled, drop_last, as the tutorials' DataLoaders),
    then test on the whole test set. Returns accuracy (%), s/epoch (training only), spikes per
    test sample, the share of silent (test sample, output neuron) pairs when the output
    spikes, mean training loss of each epoch and whether every loss was finite."""
    generator = torch.Generator().manual_seed(budget.seed)
    n_train = len(data.y_train)
    per_epoch = max(1, n_train // setup.batch_size) if n_train >= setup.batch_size else 1
    if budget.max_batches is not None:
        per_epoch = min(per_epoch, budget.max_batches)
    epoch_s: list[float] = []
    epoch_loss: list[float] = []
    finite = True
    warned: set[str] = set()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if budget.warmup:
            _warm_up(setup, data)
        for epoch in range(budget.epochs):
            setup.model.train()
            losses: list[float] = []
            batches = _batches(n_train, setup.batch_size, generator, drop_last=True)
            bar = _progress(batches, per_epoch, f"{label} epoch {epoch + 1}", budget.progress)
            start = time.perf_counter()
            for i, idx in enumerate(bar):
                if i >= per_epoch:
                    break
                out = setup.forward(data.x_train[idx])
                loss_val = setup.loss(out, data.y_train[idx])
                setup.optimizer.zero_grad()
                loss_val.backward()
                setup.optimizer.step()
                value = float(loss_val.detach().reshape(-1)[0])
                finite = finite and math.isfinite(value)
                losses.append(value)
                if budget.progress and hasattr(bar, "set_postfix"):
                    bar.set_postfix(loss=f"{value:.3f}", refresh=False)
            epoch_s.append(time.perf_counter() - start)
            epoch_loss.append(sum(losses) / max(1, len(losses)))
            if budget.progress:
                print(
                    f"  {label} epoch {epoch + 1}/{budget.epochs}: {len(losses)} batches, "
                    f"{epoch_s[-1]:.1f} s, mean loss {epoch_loss[-1]:.4f}",
                    file=sys.stderr,
                    flush=True,
                )
        test = _test(setup, data, budget)
    for w in caught:
        if not issubclass(
            w.category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning)
        ):
            warned.add(f"{w.category.__name__}: {str(w.message).splitlines()[0][:300]}")
    return {
        "accuracy": test["accuracy"],
        "s_per_epoch": sum(epoch_s) / len(epoch_s) if epoch_s else float("nan"),
        "epoch_s": epoch_s,
        "spikes_per_sample": test["spikes_per_sample"],
        "silent_output_fraction": test["silent_output_fraction"],
        "output_first_step_mean": test["output_first_step_mean"],
        "earliest_tie_fraction": test["earliest_tie_fraction"],
        "epoch_loss": epoch_loss,
        "losses_finite": finite,
        "train_batches_per_epoch": per_epoch,
        "batch_size": setup.batch_size,
        "num_steps": setup.num_steps,
        "warnings": sorted(warned),
        "notes": setup.notes,
    }


def _warm_up(setup: Setup, data: Data) -> None:
    """One untimed forward + backward on a small training batch, gradients then dropped and
    no optimizer step (the weights and the optimizer state stay as built): JIT compilation
    (numba) and allocator warm-up are not charged to the first epoch."""
    setup.model.train()
    n = min(setup.batch_size, len(data.y_train))
    out = setup.forward(data.x_train[:n])
    setup.loss(out, data.y_train[:n]).backward()
    setup.optimizer.zero_grad(set_to_none=True)


@torch.no_grad()
def _test(setup: Setup, data: Data, budget: Budget) -> dict:
    setup.model.eval()
    counter = SpikeCounter(setup.model)
    correct = 0.0
    silent = 0.0
    outputs = 0
    first_steps: list[Tensor] = []
    ties = 0.0
    n = len(data.y_test)
    batches = list(_batches(n, setup.batch_size, None, drop_last=False))
    if budget.max_batches is not None:
        batches = batches[: budget.max_batches]
    seen = 0
    try:
        for idx in batches:
            out = setup.forward(data.x_test[idx])
            correct += float(setup.correct(out, data.y_test[idx]))
            spikes = setup.output_spikes(out)
            if spikes is not None:
                silent += float((spikes.sum(0) == 0).sum())
                outputs += spikes[0].numel()
                steps, tied = _first_steps(spikes)
                first_steps.append(steps[torch.isfinite(steps)])
                ties += float(tied.sum())
            seen += len(idx)
    finally:
        counter.close()
    fired = torch.cat(first_steps) if first_steps else torch.zeros(0)
    return {
        "accuracy": 100.0 * correct / max(1, seen),
        "spikes_per_sample": counter.total / max(1, seen),
        "silent_output_fraction": silent / outputs if outputs else None,
        "output_first_step_mean": float(fired.mean()) if fired.numel() else None,
        "earliest_tie_fraction": ties / seen if outputs else None,
    }


def _first_steps(spikes: Tensor) -> tuple[Tensor, Tensor]:
    """First-spike step of each output [B, N] (+inf if silent) and, per sample, whether the
    earliest step is shared by several outputs or no output fires (a first-spike readout
    cannot decide those: the tie goes to the lowest index)."""
    num_steps = spikes.shape[0]
    idx = torch.arange(num_steps, dtype=torch.float32).view(-1, *([1] * (spikes.ndim - 1)))
    steps = torch.where(spikes != 0, idx, torch.full_like(idx, float("inf"))).amin(0)
    earliest = steps.amin(-1, keepdim=True)
    tied = ((steps == earliest).sum(-1) > 1) | torch.isinf(earliest.squeeze(-1))
    return steps, tied
