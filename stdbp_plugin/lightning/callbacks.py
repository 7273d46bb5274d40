"""Callbacks: per-layer spike statistics each epoch, and wall-clock time per training epoch."""

from __future__ import annotations

import time
import warnings

import lightning as L
import torch


class SpikeStatisticsCallback(L.Callback):
    """After each validation (else training) epoch, log per neuron layer l:

        firing_fraction_l = spikes per sample / neurons in the layer  (STDBP: share that fired)
        silent_l          = share of neurons that fired for no sample of a probe batch

    and warn (UserWarning) when a layer is entirely silent on the probe batch.
    The probe is the first ``probe_size`` samples of the validation (else training) set.
    """

    def __init__(self, probe_size: int = 256) -> None:
        if not isinstance(probe_size, int) or probe_size < 1:
            raise ValueError(f"probe_size must be a positive int, got {probe_size!r}")
        self.probe_size = probe_size
        self.history: list[dict[str, float]] = []

    def _probe(self, trainer: L.Trainer):
        dm = trainer.datamodule
        ds = getattr(dm, "val_set", None) or getattr(dm, "train_set", None)
        if ds is None:
            return None
        x, _ = ds[: self.probe_size]
        return x

    @torch.no_grad()
    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        x = self._probe(trainer)
        if x is None or not hasattr(pl_module, "layer_activity"):
            return
        was_training = pl_module.training
        pl_module.eval()
        fired = pl_module.layer_activity(x.to(pl_module.device))  # list of [B, N] bool
        pl_module.train(was_training)
        stats: dict[str, float] = {"epoch": float(trainer.current_epoch)}
        for i, f in enumerate(fired):
            fraction = f.float().mean().item()
            silent = (~f.any(dim=0)).float().mean().item()
            stats[f"firing_fraction_l{i}"], stats[f"silent_l{i}"] = fraction, silent
            if not f.any():
                warnings.warn(
                    f"layer {i} of {type(pl_module).__name__} is silent: no neuron fired on "
                    f"{x.shape[0]} probe samples at epoch {trainer.current_epoch}; lower the "
                    "threshold, raise the initial weights or the learning rate is too high",
                    UserWarning,
                    stacklevel=2,
                )
        self.history.append(stats)
        pl_module.log_dict(
            {f"spike_stats/{k}": v for k, v in stats.items() if k != "epoch"}, sync_dist=True
        )


class EpochTimer(L.Callback):
    """Wall-clock seconds of each training epoch (excluding validation), in ``self.times``."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._start = self._val_start = self._val_time = 0.0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start, self._val_time = time.perf_counter(), 0.0

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._val_start = time.perf_counter()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._val_time += time.perf_counter() - self._val_start

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.times.append(time.perf_counter() - self._start - self._val_time)
        pl_module.log("train/epoch_time_s", self.times[-1])


class MetricHistory(L.Callback):
    """Values of the named logged metrics at the end of every training epoch (after its
    validation), in ``self.values[name]`` (NaN where a metric was not logged)."""

    def __init__(self, names: tuple[str, ...] = ("val/acc",)) -> None:
        self.names = tuple(names)
        self.values: dict[str, list[float]] = {n: [] for n in self.names}

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for name in self.names:
            value = trainer.callback_metrics.get(name)
            self.values[name].append(float(value) if value is not None else float("nan"))
