"""Progress bars that count epochs from 1: "Epoch 10/10" on the last of 10 epochs.

Lightning's bars print the 0-based ``trainer.current_epoch`` ("Epoch 9/9" on the last of 10
epochs). ``epoch_progress_bar()`` returns the bar Lightning would pick (rich if installed,
else tqdm) with the description counted from 1.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch.callbacks import RichProgressBar, TQDMProgressBar


def _label(trainer) -> str:
    """ "Epoch e/E", e = 1..E (just "Epoch e" without max_epochs)."""
    total = trainer.max_epochs
    label = f"Epoch {trainer.current_epoch + 1}"
    return label + (f"/{total}" if total is not None and total > 0 else "")


class EpochTQDMProgressBar(TQDMProgressBar):
    """TQDMProgressBar whose description reads "Epoch e/E" with e = 1..E."""

    def on_train_epoch_start(self, trainer, *args: Any) -> None:
        super().on_train_epoch_start(trainer, *args)
        self.train_progress_bar.set_description(_label(trainer))


class EpochRichProgressBar(RichProgressBar):
    """RichProgressBar whose description reads "Epoch e/E" with e = 1..E."""

    def on_train_epoch_start(self, trainer, *args: Any) -> None:
        super().on_train_epoch_start(trainer, *args)
        if self.progress is not None and self.train_progress_bar_id is not None:
            label = f"{_label(trainer):{len(self.validation_description)}}"
            self.progress.update(self.train_progress_bar_id, description=label)


def epoch_progress_bar():
    """The rich bar if rich is installed (Lightning's own choice), else the tqdm bar."""
    from lightning.pytorch.utilities.imports import _RICH_AVAILABLE

    return EpochRichProgressBar() if _RICH_AVAILABLE else EpochTQDMProgressBar()
