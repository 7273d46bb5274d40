"""What STDBPClassifier and SurrogateClassifier share: metrics, logging, optimiser, checks.

Per stage (train / val / test) it logs ``{stage}/loss``, ``{stage}/acc``, ``{stage}/latency``
(mean decision time, in units of the input window), ``{stage}/spikes`` (spikes per sample,
all layers) and ``{stage}/spikes_l{i}`` per layer, and ``{stage}/synops`` (synaptic operations
per sample). All are torchmetrics states summed over DDP processes.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightning as L
import torch
from torch import Tensor

from stdbp_plugin.metrics import (
    DecisionAccuracy,
    DecisionLatency,
    SpikesPerSample,
    SynapticOperations,
)

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
SCHEDULERS = ("none", "cosine", "step")
STAGES = ("train", "val", "test")


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
        for stage in STAGES:
            setattr(self, f"{stage}_acc", self._make_accuracy())
            setattr(self, f"{stage}_latency", DecisionLatency())
            setattr(self, f"{stage}_spikes", SpikesPerSample(num_layers))
            setattr(self, f"{stage}_synops", SynapticOperations())

    def _make_accuracy(self) -> DecisionAccuracy:
        return DecisionAccuracy()

    def _update_accuracy(self, metric: DecisionAccuracy, out: BatchResult, y: Tensor) -> None:
        metric.update(out.prediction, out.decided, y)

    def evaluate(self, x: Tensor, y: Tensor) -> BatchResult:  # pragma: no cover - abstract
        raise NotImplementedError

    def _shared_step(self, batch, stage: str) -> Tensor:
        x, y = batch
        out = self.evaluate(x, y)
        acc = getattr(self, f"{stage}_acc")
        self._update_accuracy(acc, out, y)
        getattr(self, f"{stage}_latency").update(out.latency.detach())
        getattr(self, f"{stage}_spikes").update(out.spike_counts.detach())
        getattr(self, f"{stage}_synops").update(out.synops.detach())
        on_step = stage == "train"
        self.log(f"{stage}/loss", out.loss, on_step=on_step, on_epoch=True, sync_dist=True,
                 batch_size=y.shape[0], prog_bar=True)  # fmt: skip
        self.log(f"{stage}/acc", acc, on_step=False, on_epoch=True, prog_bar=True)
        return out.loss

    def _log_epoch_stats(self, stage: str) -> None:
        latency = getattr(self, f"{stage}_latency")
        spikes = getattr(self, f"{stage}_spikes")
        synops = getattr(self, f"{stage}_synops")
        if spikes.total == 0 and not torch.distributed.is_initialized():
            return
        per_layer = spikes.compute().reshape(-1)  # torchmetrics squeezes a single layer
        values = {
            f"{stage}/latency": latency.compute(),
            f"{stage}/undecided": latency.undecided_fraction(),
            f"{stage}/spikes": per_layer.sum(),
            f"{stage}/synops": synops.compute(),
        }
        values.update({f"{stage}/spikes_l{i}": v for i, v in enumerate(per_layer)})
        self.log_dict({k: v.float() for k, v in values.items()})
        for metric in (latency, spikes, synops):
            metric.reset()

    def training_step(self, batch, batch_idx: int) -> Tensor:
        return self._shared_step(batch, "train")

    def validation_step(self, batch, batch_idx: int) -> None:
        self._shared_step(batch, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._shared_step(batch, "test")

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
