"""snnTorch's readouts for ReL-PSP outputs: ``import stdbp_plugin.snntorch.functional as SF``.

The same public names, constructor arguments and call conventions as ``snntorch.functional``
(time-first records ``spk_rec`` / ``mem_rec`` of shape [T, B, N], class-index ``targets`` [B]),
so that a tutorial switches its readout by changing one import line::

    import snntorch.functional as SF               # before
    import stdbp_plugin.snntorch.functional as SF  # after

Every spike readout here reads the FIRST spike of each output neuron, as a step index
k in {0, ..., T-1}; a neuron that never fires counts as k = T-1 (snnTorch's convention for its
temporal losses). The backward puts -dL/dk at the first-spike step (at step T-1 for a silent
neuron) and 0 elsewhere, vectorised (snnTorch loops over B x N in Python). A clock-driven
ReL-PSP neuron (``stdbp_plugin.snntorch.ReLPSP``, step size dt) turns that into the exact
spike-time gradient through its "hat" rule dL/dt* = (dL/ds_{k+1} - dL/ds_k) / dt:

    dL/dt* = (1 / dt) dL/dk,

i.e. each loss is differentiated as if the step index were the continuous time t* / dt.

- First spike (``ce_temporal_loss``, ``mse_temporal_loss``, ``accuracy_temporal``): the same
  values as snnTorch's, except that the accuracies (``accuracy_temporal``, ``accuracy_rate``)
  order outputs that first fire in the same step by the exact spike times of the ReL-PSP
  neuron that produced the record, where one does (``exact_times.py``).
- Spike counts (``ce_rate_loss``, ``ce_count_loss``, ``mse_count_loss``, ``accuracy_rate``):
  a ReL-PSP neuron fires at most once, so a spike count is 0 or 1 and has no useful gradient.
  Under these names the loss is put on the first-spike step instead: the neuron that fires
  earliest plays the part of the most active one (formulas in each class). The values differ
  from snnTorch's; the arguments are the same.
- Membrane (``ce_max_membrane_loss``, ``mse_membrane_loss``): snnTorch's own, re-exported; on a
  ReL-PSP ``mem`` record (V = S t - P, no reset) they are exact, differentiable readouts.
- ``reg``, ``probe``, ``quant``, ``l1_rate_sparsity``, the monitors and ``LossFunctions``:
  snnTorch's own, unchanged (``l1_rate_sparsity`` counts spikes, so on ReL-PSP it only pushes
  last-step spikes out of the window). ``acc`` and ``loss`` are namespaces holding the versions
  of this module.

See docs/readouts.md for the table of what each name computes.
"""

from __future__ import annotations

import types

import numpy as np
import torch
import torch.nn.functional as F
from snntorch.functional import probe, quant, reg
from snntorch.functional.loss import LossFunctions, ce_max_membrane_loss, mse_membrane_loss
from snntorch.functional.probe import (
    AttributeMonitor,
    BaseMonitor,
    GradInputMonitor,
    GradOutputMonitor,
    InputMonitor,
    OutputMonitor,
)
from snntorch.functional.reg import l1_rate_sparsity
from torch import Tensor

from stdbp_plugin.functional.spike_trains import spikes_to_times
from stdbp_plugin.snntorch.exact_times import recorded_spike_times

__all__ = [
    "ce_temporal_loss",
    "mse_temporal_loss",
    "accuracy_temporal",
    "ce_rate_loss",
    "ce_count_loss",
    "mse_count_loss",
    "accuracy_rate",
    "ce_max_membrane_loss",
    "mse_membrane_loss",
    "first_spike_step",
    "l1_rate_sparsity",
    "LossFunctions",
    "BaseMonitor",
    "OutputMonitor",
    "InputMonitor",
    "AttributeMonitor",
    "GradInputMonitor",
    "GradOutputMonitor",
    "acc",
    "loss",
    "reg",
    "probe",
    "quant",
]


# ---- the first-spike step -------------------------------------------------------------------
class _FillSilent(torch.autograd.Function):
    """Forward: +inf -> ``value``, other entries unchanged. Backward: the identity, so that the
    gradient of a silent neuron reaches ``spikes_to_times``, which puts it at step T-1."""

    @staticmethod
    def forward(ctx, t: Tensor, value: float) -> Tensor:
        return torch.where(torch.isinf(t), torch.full_like(t, value), t)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return grad, None


def _check_record(spk_rec: Tensor, name: str = "spk_rec") -> None:
    if not isinstance(spk_rec, Tensor) or spk_rec.ndim != 3:
        raise ValueError(
            f"{name} must be a time-first tensor [num_steps, batch, num_outputs], "
            f"got {getattr(spk_rec, 'shape', type(spk_rec).__name__)}"
        )
    if min(spk_rec.shape) == 0:
        raise ValueError(f"{name} has an empty dimension: shape {tuple(spk_rec.shape)}")


def _check_labels(targets: Tensor, batch: int, num_classes: int) -> Tensor:
    if not isinstance(targets, Tensor) or targets.shape != (batch,):
        raise ValueError(
            f"targets must be class indices of shape ({batch},), "
            f"got {getattr(targets, 'shape', type(targets).__name__)}"
        )
    if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
        raise ValueError(f"targets must hold integer class indices, got {targets.dtype}")
    if (targets < 0).any() or (targets >= num_classes).any():
        raise ValueError(f"targets hold class indices outside [0, {num_classes})")
    return targets.long()


def first_spike_step(spk_rec: Tensor) -> Tensor:
    """First-spike step k of each neuron of a time-first train [T, B, ...] (float; T-1 if silent).

    k = min{m : spk_rec[m] != 0}, or T-1 when the neuron never fires (snnTorch's temporal
    convention). Backward: dL/dspk_rec[m] = -dL/dk at m = k, 0 elsewhere (vectorised);
    through a ReL-PSP neuron with step dt this is the exact dL/dt* = dL/dk / dt.
    """
    if not isinstance(spk_rec, Tensor) or spk_rec.ndim < 2:
        raise ValueError(
            "spk_rec must be a time-first tensor [num_steps, batch, ...], "
            f"got {getattr(spk_rec, 'shape', type(spk_rec).__name__)}"
        )
    t = spikes_to_times(spk_rec, 1.0)
    return _FillSilent.apply(t, float(spk_rec.shape[0] - 1))


def _group_mean(k: Tensor, population_code: bool, num_classes: int | bool) -> Tensor:
    """[B, N] -> [B, C]: the mean over each class's N / C consecutive output neurons
    (snnTorch's population-code grouping); the identity without a population code."""
    if not population_code:
        return k
    if not num_classes:
        raise ValueError("``num_classes`` must be specified if ``population_code=True``.")
    num_outputs = k.shape[-1]
    if num_outputs % num_classes:
        raise ValueError(
            f"the number of outputs {num_outputs} must be a multiple of num_classes {num_classes}"
        )
    return k.reshape(k.shape[0], int(num_classes), -1).mean(-1)


def _rate(value: float, name: str) -> float:
    if not (isinstance(value, (int, float)) and 0 <= value <= 1):
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


# ---- first spike ----------------------------------------------------------------------------
class ce_temporal_loss:
    """Cross-entropy over the negated first-spike step (snnTorch's ``ce_temporal_loss``).

    With k_c the first-spike step of output c (T-1 if silent) and y the target:

        inverse="negate":      loss = CE(-k, y) = -log softmax(-k)_y
        inverse="reciprocal":  loss = CE(1 / (k + 1), y)

    ``reduction`` and ``weight`` (class weights [N]) as in ``nn.CrossEntropyLoss``. Same value
    as snnTorch's; the backward -dL/dk at the first-spike step is vectorised, and a ReL-PSP
    output turns it into the exact dL/dt* = dL/dk / dt.
    """

    def __init__(
        self, inverse: str = "negate", reduction: str = "mean", weight: Tensor | None = None
    ) -> None:
        if inverse not in ("negate", "reciprocal"):
            raise ValueError(
                '`inverse` must be of type string containing either "negate" or "reciprocal".'
            )
        self.inverse = inverse
        self.reduction = reduction
        self.weight = weight
        self.__name__ = "ce_temporal_loss"

    def __call__(self, spk_rec: Tensor, targets: Tensor) -> Tensor:
        _check_record(spk_rec)
        targets = _check_labels(targets, spk_rec.shape[1], spk_rec.shape[2])
        k = first_spike_step(spk_rec)
        logits = -k if self.inverse == "negate" else 1 / (k + 1)
        return F.cross_entropy(logits, targets, weight=self.weight, reduction=self.reduction)


class mse_temporal_loss:
    """Mean square error between first-spike steps and target steps (snnTorch's
    ``mse_temporal_loss``), both divided by T:

        loss = mean_{b, c} ((k_bc - k*_bc) / T)^2

    k*_bc = ``on_target`` for the target class and ``off_target`` for the others (class-index
    targets), or ``targets`` itself when ``target_is_time=True`` (steps [B, N] or [N]); a
    negative target step m means T + m (default off_target=-1: the last step). Entries with
    |k - k*| < ``tolerance`` count as k = k* (no loss, no gradient). ``weight`` [N] multiplies
    each sample's terms by weight[target] (snnTorch's intent; its own code broadcasts the
    weights along the neuron axis). ``multi_spike=True`` raises ``ValueError``: a ReL-PSP
    neuron fires once. Same value as snnTorch's otherwise, with a vectorised backward.
    """

    def __init__(
        self,
        target_is_time: bool = False,
        on_target: float = 0,
        off_target: float = -1,
        tolerance: float = 0,
        multi_spike: bool = False,
        reduction: str = "mean",
        weight: Tensor | None = None,
    ) -> None:
        if multi_spike:
            raise ValueError(
                "multi_spike=True asks for several spikes per neuron, but a ReL-PSP neuron "
                "fires once: give one target time (multi_spike=False)"
            )
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        if weight is not None and target_is_time:
            raise ValueError("weight needs class-index targets (target_is_time=False)")
        self.target_is_time = target_is_time
        self.on_target = on_target
        self.off_target = off_target
        self.tolerance = tolerance
        self.multi_spike = multi_spike
        self.reduction = reduction
        self.weight = weight
        self.__name__ = "mse_temporal_loss"

    def __call__(self, spk_rec: Tensor, targets: Tensor) -> Tensor:
        _check_record(spk_rec)
        num_steps, batch, num_outputs = spk_rec.shape
        k = first_spike_step(spk_rec)
        if self.target_is_time:
            target_k = torch.as_tensor(targets, dtype=k.dtype, device=k.device)
        else:
            labels = _check_labels(targets, batch, num_outputs)
            on = F.one_hot(labels, num_outputs).bool()
            target_k = torch.where(
                on, k.new_tensor(float(self.on_target)), k.new_tensor(float(self.off_target))
            )
        target_k = torch.where(target_k < 0, target_k + num_steps, target_k)  # no in-place edit
        if self.tolerance:
            k = torch.where((k - target_k).abs() < self.tolerance, target_k, k)
        err = ((k - target_k) / num_steps).square()
        if self.weight is not None:
            err = err * self.weight.to(err)[labels].unsqueeze(-1)
        if self.reduction == "mean":
            return err.mean()
        return err.sum() if self.reduction == "sum" else err


def _earliest(spk_out: Tensor, population_code: bool, num_classes: int | bool) -> Tensor:
    """[B] index of the earliest output (class): argmin_c kbar_c, ties between outputs that
    first fire in the same step broken by the exact spike times when ``spk_out`` is the whole
    record of a ReL-PSP neuron of this package (``recorded_spike_times``; silent: T), else by
    the lowest index (snnTorch's ``argmax`` / ``argmin``)."""
    with torch.no_grad():
        k = _group_mean(first_spike_step(spk_out), population_code, num_classes)
        lowest = k.argmin(1)
        t = recorded_spike_times(spk_out)
        if t is None:
            return lowest
        t = torch.where(torch.isinf(t), torch.full_like(t, float(spk_out.shape[0])), t)
        t = _group_mean(t, population_code, num_classes)
        tied = k == k.amin(1, keepdim=True)
        return torch.where(tied, t, torch.full_like(t, float("inf"))).argmin(1)


def accuracy_temporal(spk_out: Tensor, targets: Tensor) -> np.float64:
    """Fraction of samples whose earliest output is the target: mean_b [argmin_c k_bc = y_b]
    (k = first-spike step, T-1 if silent). As snnTorch's, except for ties: outputs of a
    ReL-PSP neuron that first fire in the same step are ordered by their exact spike times
    (read from the neuron that produced ``spk_out``: ``exact_times.py``); other ties go to
    the lowest index."""
    _check_record(spk_out, "spk_out")
    idx = _earliest(spk_out, False, False)
    return np.mean((targets == idx).detach().cpu().numpy())


# ---- spike counts, read as first-spike times -------------------------------------------------
class _FirstSpikeCountLoss(LossFunctions):
    """Base of the count-named losses: snnTorch's argument handling and reduction."""

    def __init__(self, population_code, num_classes, reduction, weight) -> None:
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        super().__init__(reduction=reduction, weight=weight)
        self.population_code = population_code
        self.num_classes = num_classes
        self.__name__ = type(self).__name__  # snnTorch's losses carry their name

    def _reduce(self, loss: Tensor) -> Tensor:
        # with weights the terms come back unreduced; snnTorch reduces only 'mean' then
        if self.weight is not None and self.reduction != "none":
            return loss.mean() if self.reduction == "mean" else loss.sum()
        return loss

    def _scores(self, spk_out: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        """(group-mean first-spike steps [B, C], class indices [B])."""
        _check_record(spk_out)
        k = _group_mean(first_spike_step(spk_out), self.population_code, self.num_classes)
        return k, _check_labels(targets, k.shape[0], k.shape[1])

    def _cross_entropy(self, spk_out: Tensor, targets: Tensor) -> Tensor:
        k, labels = self._scores(spk_out, targets)
        return F.cross_entropy(
            -k, labels, weight=self.weight, reduction=self._intermediate_reduction()
        )


class ce_rate_loss(_FirstSpikeCountLoss):
    """snnTorch's ``ce_rate_loss`` arguments; for a once-firing ReL-PSP output it is trained on
    the first spike: the earliest neuron plays the part of the most active one.

        loss_b = -log softmax(-kbar_b)_{y_b},   kbar_bc = mean of the first-spike steps
                                                 of class c's outputs (T-1 if silent)

    (the output itself without a population code; with ``population_code=True`` the mean over
    each class's N / num_classes consecutive outputs). Temperature: one time step, as in
    ``ce_temporal_loss``. ``weight`` [C] weighs each sample by weight[y_b]; ``reduction`` as
    in snnTorch (with weights, 'mean' is the plain mean of the weighted terms). Identical to
    ``ce_count_loss`` here: a per-step cross-entropy of a train with one spike per neuron
    rewards the same thing, the target firing first.
    """

    def __init__(
        self,
        population_code: bool = False,
        num_classes: int | bool = False,
        reduction: str = "mean",
        weight: Tensor | None = None,
    ) -> None:
        super().__init__(population_code, num_classes, reduction, weight)

    def _compute_loss(self, spk_out: Tensor, targets: Tensor) -> Tensor:
        return self._cross_entropy(spk_out, targets)


class ce_count_loss(ce_rate_loss):
    """snnTorch's ``ce_count_loss`` arguments; for a once-firing ReL-PSP output, the spike
    count is replaced by the negated first-spike step (earliest = most active):

        loss_b = -log softmax(-kbar_b)_{y_b}

    kbar as in :class:`ce_rate_loss` (first-spike step, T-1 if silent, averaged over a class's
    outputs with ``population_code=True``); the same loss under snnTorch's other name.
    ``weight`` and ``reduction`` as in snnTorch.
    """


class mse_count_loss(_FirstSpikeCountLoss):
    """snnTorch's ``mse_count_loss`` arguments; for a once-firing ReL-PSP output the target
    firing rate r becomes a target first-spike step, early for a high rate, by the linear
    latency code of ``spikegen.latency(normalize=True, linear=True)``:

        k*(r) = (1 - r) (T - 1)        (r = 1: step 0;  r = 0: step T-1, which silence meets)
        loss  = mean_{b, c} (kbar_bc - k*(r_bc))^2 / T

    r_bc = ``correct_rate`` for the target class, ``incorrect_rate`` for the others; kbar as in
    :class:`ce_rate_loss`. The 1/T keeps snnTorch's scale (squared counts over T), so a
    tutorial's learning rate carries over. ``weight`` [C] multiplies sample b's terms by
    weight[y_b]; ``reduction='none'`` returns the [B, C] terms.
    """

    def __init__(
        self,
        correct_rate: float = 1,
        incorrect_rate: float = 0,
        population_code: bool = False,
        num_classes: int | bool = False,
        reduction: str = "mean",
        weight: Tensor | None = None,
    ) -> None:
        super().__init__(population_code, num_classes, reduction, weight)
        self.correct_rate = _rate(correct_rate, "correct_rate")
        self.incorrect_rate = _rate(incorrect_rate, "incorrect_rate")

    def _compute_loss(self, spk_out: Tensor, targets: Tensor) -> Tensor:
        k, labels = self._scores(spk_out, targets)
        num_steps = spk_out.shape[0]
        on = F.one_hot(labels, k.shape[1]).bool()
        rate = torch.where(on, k.new_tensor(self.correct_rate), k.new_tensor(self.incorrect_rate))
        target_k = (1 - rate) * (num_steps - 1)
        loss = F.mse_loss(k, target_k, reduction=self._intermediate_reduction())
        if self.weight is not None:
            loss = loss * self.weight.to(loss)[labels].unsqueeze(-1)
        return loss / num_steps


def accuracy_rate(
    spk_out: Tensor,
    targets: Tensor,
    population_code: bool = False,
    num_classes: int | bool = False,
) -> np.float64:
    """snnTorch's ``accuracy_rate`` arguments, read on the first spike (a ReL-PSP output's
    count is 0 or 1): mean_b [argmin_c kbar_bc = y_b], kbar the first-spike step (T-1 if
    silent), averaged over each class's outputs with ``population_code=True``. Ties in kbar
    are broken by the (group-mean) exact spike times of the ReL-PSP neuron that produced
    ``spk_out`` (silent: T), else by the lowest index, as in :func:`accuracy_temporal`."""
    _check_record(spk_out, "spk_out")
    idx = _earliest(spk_out, population_code, num_classes)
    return np.mean((targets == idx).detach().cpu().numpy())


# ---- `SF.acc.*` and `SF.loss.*` as in snnTorch ------------------------------------------------
def _namespace(name: str, **members) -> types.ModuleType:
    module = types.ModuleType(f"{__name__}.{name}", f"snnTorch's ``{name}`` names, ReL-PSP ready.")
    module.__dict__.update(members)
    return module


acc = _namespace("acc", accuracy_rate=accuracy_rate, accuracy_temporal=accuracy_temporal)
loss = _namespace(
    "loss",
    LossFunctions=LossFunctions,
    ce_rate_loss=ce_rate_loss,
    ce_count_loss=ce_count_loss,
    ce_max_membrane_loss=ce_max_membrane_loss,
    mse_count_loss=mse_count_loss,
    mse_membrane_loss=mse_membrane_loss,
    mse_temporal_loss=mse_temporal_loss,
    ce_temporal_loss=ce_temporal_loss,
)
