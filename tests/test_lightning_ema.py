"""EMAWeightAveraging: the averaged weights follow w_avg <- d w_avg + (1 - d) w from epoch
``start_epoch`` on (checked against an average recomputed from the weights after each step),
and they are what validation, the best checkpoint and ``test(ckpt_path="best")`` see."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

from stdbp_plugin.lightning import EMAWeightAveraging, SpikingDataModule, STDBPClassifier

DECAY = 0.8


class Record(Callback):
    """The trained weights after every optimizer step, and the weights each stage evaluates."""

    def __init__(self) -> None:
        self.steps: list[tuple[int, list[torch.Tensor]]] = []
        self.validated: list[list[torch.Tensor]] = []
        self.tested: list[torch.Tensor] = []

    @staticmethod
    def weights(module) -> list[torch.Tensor]:
        return [p.detach().clone() for p in module.parameters()]

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:
        self.steps.append((trainer.current_epoch, self.weights(pl_module)))

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self.validated.append(self.weights(pl_module))

    def on_test_epoch_start(self, trainer, pl_module) -> None:
        self.tested = self.weights(pl_module)


def expected_average(steps, start_epoch: int) -> list[torch.Tensor] | None:
    avg = None
    for epoch, w in steps:
        if epoch < start_epoch:
            continue
        avg = [x.clone() for x in w] if avg is None else [
            DECAY * a + (1 - DECAY) * x for a, x in zip(avg, w, strict=True)
        ]  # fmt: skip
    return avg


class StopAfter(Callback):
    """Ends the fit after ``epochs`` epochs (an interruption: the schedule still spans all)."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        trainer.should_stop = trainer.current_epoch + 1 >= self.epochs


def fit(tmp_path, start_epoch: int, epochs: int = 2, ckpt_path=None, stop_after=None):
    L.seed_everything(0, verbose=False)
    dm = SpikingDataModule(max_samples=120, batch_size=20, val_split=0.25)
    model = STDBPClassifier()
    ema = EMAWeightAveraging(decay=DECAY, start_epoch=start_epoch)
    # the callback that hooks before EMA swaps weights in sees the trained weights; the one
    # after it, the weights being evaluated
    record, best = Record(), ModelCheckpoint(dirpath=tmp_path)  # no monitor: the latest is best
    trainer = L.Trainer(
        max_epochs=epochs,
        callbacks=[ema, record, best] + ([] if stop_after is None else [StopAfter(stop_after)]),
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_train_batches=3,
    )
    trainer.fit(model, dm, ckpt_path=ckpt_path, weights_only=True)
    return trainer, model, dm, record, best


def assert_same(got, want) -> None:
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-6)


def test_validation_checkpoint_and_test_use_the_average(tmp_path):
    trainer, model, dm, record, best = fit(tmp_path, start_epoch=1)
    assert [e for e, _ in record.steps] == [0, 0, 0, 1, 1, 1]
    avg = expected_average(record.steps, start_epoch=1)
    trained = record.steps[-1][1]
    assert any(not torch.allclose(a, w) for a, w in zip(avg, trained, strict=True))
    # epoch 1 (no update yet) validates the trained weights, epoch 2 the average
    assert_same(record.validated[0], record.steps[2][1])
    assert_same(record.validated[1], avg)
    state = torch.load(best.best_model_path, weights_only=False)["state_dict"]
    names = [n for n, _ in model.named_parameters()]
    assert best.best_model_path.endswith("epoch=1-step=6.ckpt")
    assert_same([state[n] for n in names], avg)  # what that epoch validated
    trainer.test(model, dm, ckpt_path="best", verbose=False)
    assert_same(record.tested, [state[n] for n in names])  # not the raw weights


def test_a_run_shorter_than_start_epoch_keeps_the_trained_weights(tmp_path):
    trainer, model, _, record, best = fit(tmp_path, start_epoch=5, epochs=1)
    assert_same(Record.weights(model), record.steps[-1][1])
    state = torch.load(best.best_model_path, weights_only=False)
    assert "current_model_state" not in state
    assert_same([state["state_dict"][n] for n, _ in model.named_parameters()], record.steps[-1][1])


def test_a_resumed_run_ends_with_the_average_of_an_uninterrupted_one(tmp_path):
    _, whole, *_ = fit(tmp_path / "whole", start_epoch=1, epochs=3)
    _, _, _, _, first = fit(tmp_path / "first", start_epoch=1, epochs=3, stop_after=2)
    _, resumed, _, record, _ = fit(
        tmp_path / "resumed", start_epoch=1, epochs=3, ckpt_path=first.best_model_path
    )
    assert [e for e, _ in record.steps] == [2, 2, 2]  # only the third epoch ran
    assert_same(Record.weights(resumed), Record.weights(whole))


@pytest.mark.parametrize(
    "kwargs, message",
    [({"decay": 1.0}, "decay"), ({"decay": 0}, "decay"), ({"start_epoch": -1}, "start_epoch")],
)
def test_bad_arguments_name_themselves(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EMAWeightAveraging(**kwargs)
