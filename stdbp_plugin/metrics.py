"""torchmetrics Metrics of spiking classifiers, reduced correctly across DDP processes.

Every state is a sum (``dist_reduce_fx="sum"``) of counts or totals, so the value over all
processes is total / count of the whole data set, never a mean of per-process means.

- DecisionAccuracy / FirstSpikeAccuracy: fraction of samples whose first output spike is the target's.
- DecisionLatency: mean time at which the decision is made (first output spike).
- SpikesPerSample: spikes per sample in each layer.
- SynapticOperations: synaptic events per sample, sum over layers of (input spikes x fan-out).

Argument checks follow torchmetrics' ``validate_args``: shapes are always checked (no device
sync); the checks that read values (NaN latencies, negative synops) run only while
``validate_args=True`` (the default), since each forces a device sync per batch. The Lightning
classifiers, which produce these inputs themselves, pass ``validate_args=False``.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric

from stdbp_plugin.functional.validation import check_has_data, check_spike_times


def _check_batch(name: str, value: Tensor, ndim: int) -> None:
    """A ``ndim``-D tensor with real data (not on the meta device) and a non-empty batch."""
    if not isinstance(value, Tensor) or value.ndim != ndim:
        raise ValueError(
            f"{name} must be a {ndim}-D tensor, got {getattr(value, 'shape', type(value).__name__)}"
        )
    check_has_data(value, name)
    if value.shape[0] == 0:
        raise ValueError(f"{name} has an empty batch (shape {tuple(value.shape)})")


class DecisionAccuracy(Metric):
    """accuracy = #{prediction == target and decided} / #samples (undecided counts as wrong)."""

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, validate_args: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.validate_args = validate_args
        self.add_state("correct", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("total", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, prediction: Tensor, decided: Tensor, target: Tensor) -> None:
        """prediction [B] classes, decided [B] bool (False: no decision), target [B]."""
        for name, value in (("prediction", prediction), ("decided", decided), ("target", target)):
            _check_batch(name, value, 1)
            if value.shape != target.shape:
                raise ValueError(
                    f"{name} has shape {tuple(value.shape)}, target {tuple(target.shape)}"
                )
        self.correct += ((prediction == target) & decided.bool()).sum()
        self.total += target.numel()

    def compute(self) -> Tensor:
        return self.correct.float() / self.total.clamp(min=1)


class FirstSpikeAccuracy(DecisionAccuracy):
    """accuracy = #{argmin_c t_out[b, c] == target[b] and t_out[b] not all silent} / #samples.

    A sample whose output neurons are all silent counts as wrong (no decision).
    """

    def update(self, t_out: Tensor, target: Tensor) -> None:  # type: ignore[override]
        """t_out [B, n_classes] spike times (+inf: silent), target [B] class indices."""
        _check_batch("t_out", t_out, 2)
        _check_batch("target", target, 1)
        if target.shape[0] != t_out.shape[0]:
            raise ValueError(f"target has {target.shape[0]} samples but t_out {t_out.shape[0]}")
        check_spike_times(t_out, "t_out", 2, values=self.validate_args)
        if target.is_floating_point() or target.dtype == torch.bool:
            raise ValueError(f"target must hold integer class indices, got {target.dtype}")
        if target.device != t_out.device:
            raise ValueError(f"target is on {target.device} but t_out is on {t_out.device}")
        if self.validate_args and not bool(((target >= 0) & (target < t_out.shape[1])).all()):
            raise ValueError(f"target holds class indices outside [0, {t_out.shape[1]})")
        super().update(t_out.argmin(dim=1), torch.isfinite(t_out).any(dim=1), target)


class DecisionLatency(Metric):
    """Mean decision time over the samples that decide: sum_b t_b / #{b : t_b finite}.

    ``update`` takes the decision time of each sample (+inf: undecided, e.g. no output spike);
    ``undecided_fraction()`` gives the share of samples without a decision.
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(self, validate_args: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.validate_args = validate_args
        self.add_state("latency_sum", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("decided", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("total", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, latency: Tensor) -> None:
        """latency [B]: decision time of each sample, +inf where none."""
        _check_batch("latency", latency, 1)
        if self.validate_args and not bool((latency >= 0).all()):  # NaN fails too
            raise ValueError("latency must be >= 0 or +inf ('no decision'), got NaN or < 0")
        finite = torch.isfinite(latency)
        self.latency_sum += torch.where(finite, latency, 0.0).to(torch.float64).sum()
        self.decided += finite.sum()
        self.total += latency.numel()

    def compute(self) -> Tensor:
        if self.decided == 0:
            return torch.tensor(float("nan"))
        return (self.latency_sum / self.decided).float()

    def undecided_fraction(self) -> Tensor:
        return 1.0 - self.decided.float() / self.total.clamp(min=1)


class SpikesPerSample(Metric):
    """Spikes per sample in each of ``num_layers`` layers: sum_b n_spikes[b, l] / #samples."""

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(self, num_layers: int, validate_args: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.validate_args = validate_args
        if not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"num_layers must be a positive int, got {num_layers!r}")
        self.num_layers = num_layers
        zeros = torch.zeros(num_layers, dtype=torch.float64)
        self.add_state("spikes", zeros, dist_reduce_fx="sum")
        self.add_state("total", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, spike_counts: Tensor) -> None:
        """spike_counts [B, num_layers]: spikes of each sample in each layer."""
        _check_batch("spike_counts", spike_counts, 2)
        if spike_counts.shape[1] != self.num_layers:
            raise ValueError(
                f"spike_counts must have {self.num_layers} columns (layers), "
                f"got {spike_counts.shape[1]}"
            )
        self.spikes += spike_counts.to(torch.float64).sum(dim=0)
        self.total += spike_counts.shape[0]

    def compute(self) -> Tensor:
        """[num_layers] spikes per sample; ``.sum()`` is the whole network's."""
        return (self.spikes / self.total.clamp(min=1)).float()


class SynapticOperations(Metric):
    """Synaptic operations per sample (energy proxy): sum_b synops[b] / #samples, where
    synops[b] = sum over layers of (spikes into the layer x the synapses each one drives)."""

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(self, validate_args: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.validate_args = validate_args
        self.add_state("ops", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("total", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, synops: Tensor) -> None:
        """synops [B]: synaptic operations of each sample."""
        _check_batch("synops", synops, 1)
        if self.validate_args and not bool(((synops >= 0) & (synops < float("inf"))).all()):
            raise ValueError("synops must be finite and >= 0")
        self.ops += synops.to(torch.float64).sum()
        self.total += synops.numel()

    def compute(self) -> Tensor:
        return (self.ops / self.total.clamp(min=1)).float()
