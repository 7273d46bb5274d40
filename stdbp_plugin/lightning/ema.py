"""EMAWeightAveraging: validate, checkpoint and test an exponential moving average of the weights."""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import WeightAveraging
from lightning.pytorch.trainer.states import TrainerFn
from torch.optim.swa_utils import get_ema_multi_avg_fn


class EMAWeightAveraging(WeightAveraging):
    """After every optimizer step from epoch ``start_epoch`` (0-based) on,

        w_avg <- decay * w_avg + (1 - decay) * w      (w_avg = w at the first update)

    Lightning's ``WeightAveraging`` with an EMA, made safe for the runs this package documents:

    - before the first update, validation and checkpoints use the trained weights (the base
      class would validate and save the initial weights it copied at setup);
    - ``trainer.test(ckpt_path="best")`` / ``validate`` / ``predict`` after ``fit`` evaluate the
      averaged weights that the checkpoint was chosen on (the base class reloads the raw
      weights from a checkpoint it wrote, whenever its average exists);
    - a run shorter than ``start_epoch`` ends with the trained weights, not the initial ones.

    Resuming a fit from a checkpoint restores both the trained and the averaged weights.
    Use it from YAML as ``class_path: stdbp_plugin.lightning.EMAWeightAveraging``.
    """

    def __init__(self, decay: float = 0.999, start_epoch: int = 1) -> None:
        if not isinstance(decay, (int, float)) or not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be a number in (0, 1), got {decay!r}")
        if isinstance(start_epoch, bool) or not isinstance(start_epoch, int) or start_epoch < 0:
            raise ValueError(f"start_epoch must be an int >= 0, got {start_epoch!r}")
        super().__init__(multi_avg_fn=get_ema_multi_avg_fn(float(decay)))
        self.decay, self.start_epoch = float(decay), start_epoch
        self._epoch = 0

    def should_update(self, step_idx: int | None = None, epoch_idx: int | None = None) -> bool:
        return step_idx is not None and self._epoch >= self.start_epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epoch = trainer.current_epoch

    def averaging(self) -> bool:
        """Whether the average holds at least one update (before that it is the initial copy)."""
        model = self._average_model
        return model is not None and int(model.n_averaged) > 0

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.averaging():
            super().on_validation_epoch_start(trainer, pl_module)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.averaging():
            super().on_validation_epoch_end(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.averaging():
            super().on_train_end(trainer, pl_module)

    def on_save_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if self.averaging():
            super().on_save_checkpoint(trainer, pl_module, checkpoint)

    def on_load_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        # Outside fit the checkpoint's state_dict (the averaged weights, already loaded) is
        # what to evaluate. In fit, a checkpoint saved before averaging began holds only the
        # trained weights: the average starts afresh from them at its first update.
        if trainer.state.fn == TrainerFn.FITTING and "current_model_state" in checkpoint:
            super().on_load_checkpoint(trainer, pl_module, checkpoint)
