"""The classifiers log loss and accuracy with the keys and values of a per-step ``self.log``
(epoch means weighted by the batch size, each written step's own loss), from fewer
``self.log`` calls (each costs about 0.8 ms in Lightning 2.6: Lightning issue #20388)."""

from __future__ import annotations

import csv
import math
import warnings

import pytest

L = pytest.importorskip("lightning")
pytestmark = pytest.mark.usefixtures("one_thread_everywhere")
from lightning.pytorch.loggers import CSVLogger  # noqa: E402

from stdbp_plugin.lightning import SpikingDataModule, STDBPClassifier, SurrogateClassifier  # noqa: E402
from stdbp_plugin.lightning.base import BAR_EVERY  # noqa: E402

EPOCHS, STEPS, LOG_EVERY = 2, 10, 5


class LossRecorder(L.Callback):
    """Every loss the module's ``evaluate`` returned, with its batch size, per stage and epoch
    (wrapping ``evaluate`` records the very values the steps used, random input coding
    included), and each training step's loss by global step."""

    STAGES = {"train": "train", "validate": "val", "sanity_check": "val", "test": "test"}

    def __init__(self, module) -> None:
        self.losses: dict[tuple[str, int], list[tuple[float, int]]] = {}
        self.train_steps: dict[int, float] = {}
        evaluate = module.evaluate

        def recorded(x, y):
            out = evaluate(x, y)
            trainer = module.trainer
            key = (self.STAGES[trainer.state.stage.value], trainer.current_epoch)
            self.losses.setdefault(key, []).append((float(out.loss.detach()), y.shape[0]))
            return out

        module.evaluate = recorded

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.train_steps[trainer.global_step - 1] = float(outputs["loss"])

    def mean(self, stage: str, epoch: int) -> float:
        pairs = self.losses[(stage, epoch)]
        return sum(loss * n for loss, n in pairs) / sum(n for _, n in pairs)


def make_model(kind: str):
    if kind == "stdbp":
        return STDBPClassifier("30-10", input_shape=(1, 8, 8), lr=1e-2)
    pytest.importorskip("snntorch")
    return SurrogateClassifier("snntorch", spec="30-10", input_shape=(1, 8, 8), num_steps=10)


@pytest.fixture(params=["stdbp", "surrogate"])
def trained(request, tmp_path):
    L.seed_everything(0, verbose=False)
    model = make_model(request.param)
    calls: list[str] = []
    log = model.log

    def counted_log(name, *args, **kwargs):
        calls.append(name)
        return log(name, *args, **kwargs)

    model.log = counted_log
    recorder = LossRecorder(model)
    tr = L.Trainer(
        accelerator="cpu", devices=1, max_epochs=EPOCHS, limit_train_batches=STEPS,
        limit_val_batches=3, limit_test_batches=3, log_every_n_steps=LOG_EVERY,
        logger=CSVLogger(tmp_path), callbacks=[recorder], enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
    )  # fmt: skip
    data = SpikingDataModule(max_samples=400, batch_size=16, val_split=0.25)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        tr.fit(model, data)
        fit_metrics = dict(tr.callback_metrics)
        test = tr.test(model, data, verbose=False)[0]
    return tr, recorder, calls, fit_metrics, test


def test_epoch_losses_are_the_batch_weighted_means(trained):
    tr, recorder, _, fit, test = trained
    last = EPOCHS - 1
    assert float(fit["train/loss_epoch"]) == pytest.approx(recorder.mean("train", last), rel=1e-5)
    assert float(fit["train/loss"]) == pytest.approx(recorder.mean("train", last), rel=1e-5)
    assert float(fit["val/loss"]) == pytest.approx(recorder.mean("val", last), rel=1e-5)
    assert test["test/loss"] == pytest.approx(recorder.mean("test", tr.current_epoch), rel=1e-5)
    for key in ("train/acc", "val/acc", "train/loss_step"):
        assert key in fit
    assert 0.0 <= test["test/acc"] <= 1.0


def test_written_step_losses_are_those_steps_own(trained):
    tr, recorder, *_ = trained
    with open(f"{tr.logger.log_dir}/metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("train/loss_step")]
    assert [int(r["step"]) for r in rows] == [
        s for s in range(EPOCHS * STEPS) if (s + 1) % LOG_EVERY == 0
    ]
    for r in rows:
        assert float(r["train/loss_step"]) == pytest.approx(recorder.train_steps[int(r["step"])])


def test_self_log_is_called_on_few_steps(trained):
    _, _, calls, *_ = trained
    every = math.gcd(LOG_EVERY, BAR_EVERY)
    per_epoch = 1 + sum((s + 1) % every == 0 for s in range(1, STEPS))  # batch 0, then cadence
    assert calls.count("train/loss") == calls.count("train/acc") == EPOCHS * per_epoch
    assert calls.count("val/loss") == calls.count("val/acc") == EPOCHS  # first batch only
    assert calls.count("test/loss") == 1
