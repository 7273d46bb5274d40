"""A run stopped part-way and resumed from its last checkpoint ends exactly like an
uninterrupted run; corrupt or mismatched checkpoints give clear errors."""

from __future__ import annotations

import pytest
import torch

L = pytest.importorskip("lightning")
pytestmark = pytest.mark.usefixtures("one_thread_everywhere")
from lightning.pytorch.callbacks import ModelCheckpoint  # noqa: E402

from stdbp_plugin.lightning import SpikingDataModule, STDBPClassifier  # noqa: E402
from stdbp_plugin.lightning.checkpoint import check_checkpoint  # noqa: E402

EPOCHS = 3


class CrashAt(L.Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.epoch:
            raise RuntimeError("simulated crash")


def run(ckpt_dir, seed=0, crash_at=None, resume=None, spec="100-10"):
    L.seed_everything(seed, verbose=False)
    dm = SpikingDataModule(max_samples=120, batch_size=16, val_split=0.2, seed=5)
    model = STDBPClassifier(spec)
    callbacks = [ModelCheckpoint(dirpath=ckpt_dir, save_last=True, save_top_k=-1)]
    if crash_at is not None:
        callbacks.append(CrashAt(crash_at))
    trainer = L.Trainer(
        max_epochs=EPOCHS, accelerator="cpu", devices=1, logger=False, callbacks=callbacks,
        enable_progress_bar=False, enable_model_summary=False, deterministic=True,
        num_sanity_val_steps=0,
    )  # fmt: skip
    trainer.fit(model, dm, ckpt_path=resume, weights_only=True if resume else None)
    return model, {k: float(v) for k, v in trainer.callback_metrics.items()}


def test_resume_matches_uninterrupted_run(tmp_path):
    straight, metrics = run(tmp_path / "a")
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(tmp_path / "b", crash_at=2)
    last = tmp_path / "b" / "last.ckpt"
    assert check_checkpoint(last)["epoch"] == 1
    resumed, metrics_resumed = run(tmp_path / "b", seed=123, resume=last)  # other init seed
    for (k, a), (_, b) in zip(
        straight.state_dict().items(), resumed.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), k
    assert metrics_resumed == metrics
    assert metrics["train/acc"] > 0.2  # above chance (0.1): the run did train


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    _, _ = run(tmp_path / "ok")
    good = (tmp_path / "ok" / "last.ckpt").read_bytes()
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(good[: len(good) // 2])
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint at all")
    for bad in (truncated, garbage):
        with pytest.raises(ValueError, match=f"checkpoint {bad}.*cannot be read"):
            check_checkpoint(bad)
    with pytest.raises(ValueError, match="does not exist"):
        check_checkpoint(tmp_path / "missing.ckpt")
    not_lightning = tmp_path / "plain.ckpt"
    torch.save({"weights": torch.zeros(3)}, not_lightning)
    with pytest.raises(ValueError, match="not a Lightning checkpoint"):
        check_checkpoint(not_lightning)


def test_mismatched_checkpoint_is_a_clear_error(tmp_path):
    run(tmp_path / "small")
    with pytest.raises(ValueError, match="saved with spec='100-10'.*'40-10'"):
        run(tmp_path / "big", resume=tmp_path / "small" / "last.ckpt", spec="40-10")
