"""What STDBPClassifier and SurrogateClassifier share: metrics, logging, optimiser, checks.

Per stage (train / val / test) it logs ``{stage}/loss``, ``{stage}/acc``, ``{stage}/latency``
(mean decision time, in units of the input window), ``{stage}/spikes`` (spikes per sample,
all layers) and ``{stage}/spikes_l{i}`` per layer, and ``{stage}/synops`` (synaptic operations
per sample). All are torchmetrics states summed over DDP processes, held per stage in one
``MetricCollection`` with the prefix ``"{stage}/"`` (``self.stage_metrics(stage)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import lightning as L
import torch
from torch import Tensor
from torchmetrics import MeanMetric, MetricCollection

from stdbp_plugin.metrics import (
    DecisionAccuracy,
    DecisionLatency,
    SpikesPerSample,
    SynapticOperations,
)

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
SCHEDULERS = ("none", "cosine", "step")
STAGES = ("train", "val", "test")
#: the training loss goes to the progress bar at least every this many steps (see _log_now)
BAR_EVERY = 10


@dataclass
class BatchResult:
    """What one forward pass gives the metrics: loss, predicted class [B], decision time [B]
    (+inf: undecided), spike counts [B, n_layers], synaptic operations [B]."""

    loss: Tensor
    prediction: Tensor
    decided: Tensor
    latency: Tensor
    spike_counts: Tensor
    synops: Tensor
    t_out: Tensor | None = None


def check_optim_args(optimizer: str, lr: float, weight_decay: float, scheduler: str) -> None:
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {tuple(OPTIMIZERS)}, got {optimizer!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    if not weight_decay >= 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
    if scheduler not in SCHEDULERS:
        raise ValueError(f"scheduler must be one of {SCHEDULERS}, got {scheduler!r}")


class SpikingClassifier(L.LightningModule):
    """Base class: subclasses set ``self.net`` and implement ``evaluate(x, y) -> BatchResult``."""

    #: hyper-parameters that fix the shapes of the weights: a checkpoint must agree on them.
    ARCHITECTURE_KEYS: tuple[str, ...] = ("spec", "input_shape")

    def _setup_metrics(self, num_layers: int) -> None:
        self.num_layers = num_layers
        self.train_metrics = self._stage_collection("train", num_layers)
        self.val_metrics = self._stage_collection("val", num_layers)
        self.test_metrics = self._stage_collection("test", num_layers)

    def _stage_collection(self, stage: str, num_layers: int) -> MetricCollection:
        return MetricCollection(
            {
                "acc": self._make_accuracy(),
                "loss": MeanMetric(nan_strategy="disable"),  # weighted by the batch size
                "latency": DecisionLatency(validate_args=False),
                "spikes": SpikesPerSample(num_layers, validate_args=False),
                "synops": SynapticOperations(validate_args=False),
            },
            prefix=f"{stage}/",
            compute_groups=False,
        )

    def stage_metrics(self, stage: str) -> MetricCollection:
        """The MetricCollection of ``stage`` ("train", "val" or "test")."""
        return {"train": self.train_metrics, "val": self.val_metrics, "test": self.test_metrics}[
            stage
        ]

    def _make_accuracy(self) -> DecisionAccuracy:
        return DecisionAccuracy(validate_args=False)

    def _update_accuracy(self, metric: DecisionAccuracy, out: BatchResult, y: Tensor) -> None:
        metric.update(out.prediction, out.decided, y)

    def evaluate(self, x: Tensor, y: Tensor) -> BatchResult:  # pragma: no cover - abstract
        raise NotImplementedError

    def _shared_step(self, batch, stage: str, batch_idx: int) -> Tensor:
        x, y = batch
        out = self.evaluate(x, y)
        metrics = self.stage_metrics(stage)
        self._update_accuracy(metrics["acc"], out, y)
        metrics["latency"].update(out.latency.detach())
        metrics["spikes"].update(out.spike_counts.detach())
        metrics["synops"].update(out.synops.detach())
        loss = out.loss.detach()
        if not self._log_now(stage, batch_idx):
            metrics["loss"].update(loss, y.shape[0])
            return out.loss
        # The loss and the accuracy are torchmetrics states that every step updates; Lightning
        # computes, logs and resets them at the end of the epoch. self.log itself costs about
        # 0.8 ms a call (Lightning walks its result object on every call, Lightning issue
        # #20388), so it is called only on the steps whose value someone reads (see _log_now).
        metrics["loss"](loss, y.shape[0])  # forward: also this step's value, for on_step
        self.log(f"{stage}/loss", metrics["loss"], on_step=stage == "train", on_epoch=True,
                 prog_bar=True)  # fmt: skip
        self.log(f"{stage}/acc", metrics["acc"], on_step=False, on_epoch=True, prog_bar=True)
        return out.loss

    def _log_now(self, stage: str, batch_idx: int) -> bool:
        """Whether this step calls self.log: the first batch of every epoch and stage (which
        registers the epoch values), and for training every step whose step loss a logger
        writes (every ``log_every_n_steps``) or the progress bar shows (at least every
        BAR_EVERY steps)."""
        if batch_idx == 0:
            return True
        if stage != "train":
            return False
        every = self._trainer.log_every_n_steps if self._trainer is not None else 1
        return (self.global_step + 1) % math.gcd(every, BAR_EVERY) == 0

    def _log_epoch_stats(self, stage: str) -> None:
        """The epoch's latency, undecided share, spikes (all and per layer) and synops."""
        metrics = self.stage_metrics(stage)
        latency, spikes = metrics["latency"], metrics["spikes"]
        if spikes.total == 0 and not torch.distributed.is_initialized():
            return
        stats = [name for name in metrics.keys(keep_base=True) if name not in ("acc", "loss")]
        values = {metrics.prefix + name: metrics[name].compute() for name in stats}
        per_layer = values.pop(f"{stage}/spikes").reshape(-1)  # torchmetrics squeezes 1 layer
        values[f"{stage}/spikes"] = per_layer.sum()
        values[f"{stage}/undecided"] = latency.undecided_fraction()
        values.update({f"{stage}/spikes_l{i}": v for i, v in enumerate(per_layer)})
        self.log_dict({k: v.float() for k, v in values.items()})
        for name in stats:
            metrics[name].reset()

    def training_step(self, batch, batch_idx: int) -> Tensor:
        return self._shared_step(batch, "train", batch_idx)

    def validation_step(self, batch, batch_idx: int) -> None:
        self._shared_step(batch, "val", batch_idx)

    def test_step(self, batch, batch_idx: int) -> None:
        self._shared_step(batch, "test", batch_idx)

    def on_train_epoch_end(self) -> None:
        self._log_epoch_stats("train")

    def on_validation_epoch_end(self) -> None:
        self._log_epoch_stats("val")

    def on_test_epoch_end(self) -> None:
        self._log_epoch_stats("test")

    def configure_optimizers(self):
        hp = self.hparams
        opt = OPTIMIZERS[hp.optimizer](self.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
        if hp.scheduler == "none":
            return opt
        if hp.scheduler == "cosine":
            epochs = max(1, int(self.trainer.max_epochs or 1)) if self._trainer else 1
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
        else:
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Refuse a checkpoint of another architecture with a clear ValueError, before the
        state_dict load would fail on a size mismatch."""
        saved = checkpoint.get("hyper_parameters")
        if not isinstance(saved, dict) or not isinstance(checkpoint.get("state_dict"), dict):
            raise ValueError(
                "checkpoint lacks 'hyper_parameters' or 'state_dict': not saved by this classifier"
            )
        for key in self.ARCHITECTURE_KEYS:
            mine, theirs = self.hparams.get(key), saved.get(key)
            if _normal(mine) != _normal(theirs):
                raise ValueError(
                    f"checkpoint does not match the model: it was saved with {key}={theirs!r}, "
                    f"the model has {key}={mine!r}"
                )
        own = self.state_dict()
        theirs = checkpoint["state_dict"]
        problems = [f"missing {k}" for k in own if k not in theirs]
        problems += [f"unexpected {k}" for k in theirs if k not in own]
        problems += [
            f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
            for k, v in theirs.items()
            if k in own and hasattr(v, "shape") and tuple(v.shape) != tuple(own[k].shape)
        ]
        if problems:
            raise ValueError(
                "checkpoint does not match the model architecture "
                f"(spec={self.hparams.get('spec')!r}): " + "; ".join(problems[:5])
            )


def _normal(value):
    return list(value) if isinstance(value, (tuple, list)) else value
