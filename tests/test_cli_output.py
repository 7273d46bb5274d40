"""Output details of the command line: epochs counted from 1 in the progress bars, integer
epoch ticks in the report's plots, the known library noise filtered (and nothing else)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pytest
import torch

L = pytest.importorskip("lightning")
from stdbp_plugin.compare import report  # noqa: E402
from stdbp_plugin.compare.quiet import quiet  # noqa: E402
from stdbp_plugin.lightning.progress import (  # noqa: E402
    EpochRichProgressBar,
    EpochTQDMProgressBar,
)


class Tiny(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch, _):
        return self.layer(batch[0]).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self):
        data = torch.utils.data.TensorDataset(torch.randn(8, 2))
        return torch.utils.data.DataLoader(data, batch_size=4)


@pytest.mark.parametrize("bar_class", [EpochTQDMProgressBar, EpochRichProgressBar])
def test_progress_bar_counts_epochs_from_one(bar_class, tmp_path):
    seen = []

    class Spy(bar_class):
        def on_train_epoch_start(self, trainer, *args):
            super().on_train_epoch_start(trainer, *args)
            if isinstance(self, EpochTQDMProgressBar):
                seen.append(self.train_progress_bar.desc)
            else:
                seen.append(self.progress.tasks[self.train_progress_bar_id].description.strip())

    trainer = L.Trainer(max_epochs=3, callbacks=[Spy()], logger=False, default_root_dir=tmp_path,
                        enable_checkpointing=False, enable_model_summary=False)  # fmt: skip
    trainer.fit(Tiny())
    assert [s.split(":")[0].strip() for s in seen] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]


@pytest.mark.parametrize("epochs", [1, 2, 3])
def test_accuracy_plot_has_integer_epoch_ticks(epochs, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    ticks = []
    real_savefig = matplotlib.figure.Figure.savefig

    def spy(fig, path, *args, **kwargs):
        fig.canvas.draw()
        ticks.extend(t for t in fig.axes[0].get_xticks() if fig.axes[0].get_xlim()[0] <= t
                     <= fig.axes[0].get_xlim()[1])  # fmt: skip
        return real_savefig(fig, path, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", spy)
    result = {"model": "stdbp", "history": {"val/acc": [0.5 + 0.1 * i for i in range(epochs)]}}
    report._plot_accuracy([result], tmp_path / "acc.png")
    assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_quiet_filters_only_known_noise(caplog):
    quiet()
    logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    with caplog.at_level(logging.INFO, logger=logger.name):
        logger.info("💡 Tip: For seamless cloud uploads and versioning, try installing litmodels")
        logger.info("GPU available: False, used: False")
        logger.info("`Trainer.fit` stopped: `max_epochs=2` reached.")
        logger.info("Restoring states from the checkpoint path at x.ckpt")
    assert [r.getMessage() for r in caplog.records] == [
        "Restoring states from the checkpoint path at x.ckpt"
    ]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet()  # after simplefilter: the filters go in front again
        warnings.warn(
            "`torch.jit.script` is deprecated. Please switch", FutureWarning, stacklevel=1
        )
        warnings.warn("Starting from v1.9.0, `tensorboardX` has been removed", stacklevel=1)
        warnings.warn("something about your run", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["something about your run"]


def test_stdbp_test_is_quiet_and_writes_nothing(tmp_path, monkeypatch, capsys):
    """An evaluation run (``stdbp test``) leaves no new version folder or config.yaml and does
    not repeat ModelCheckpoint's "dirpath has changed" note; ``fit`` still logs."""
    from stdbp_plugin.cli import main

    config = str(Path(__file__).resolve().parents[1] / "integrations/lightning/digits_mlp.yaml")
    common = ["--config", config, "--trainer.enable_progress_bar=false",
              "--data.max_samples=64", f"--trainer.default_root_dir={tmp_path}"]  # fmt: skip
    monkeypatch.chdir(tmp_path)
    fit = ["--trainer.max_epochs=1", "--trainer.limit_train_batches=1",
           "--trainer.limit_val_batches=1", "--trainer.enable_model_summary=false"]  # fmt: skip
    assert main(["fit", *common, *fit]) == 0
    last = tmp_path / "version_0" / "checkpoints" / "last.ckpt"
    assert last.is_file() and (tmp_path / "version_0" / "config.yaml").is_file()
    before = sorted(tmp_path.rglob("*"))
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["test", *common, f"--ckpt_path={last}"]) == 0
    out = capsys.readouterr()
    assert "test/acc" in out.out
    assert sorted(tmp_path.rglob("*")) == before
    messages = [str(w.message) for w in caught] + [out.err]
    assert not any("dirpath has changed" in m for m in messages), messages
