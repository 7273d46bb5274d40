"""Augmentation: shifts move whole pixels (checked against every candidate translation),
rotation/zoom keep the digit, the data module shifts training batches only."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch.nn import functional as F

from stdbp_plugin.augment import random_rotate_scale, random_shift
from stdbp_plugin.data import SpikingDataModule
from stdbp_plugin.lightning import STDBPClassifier


def _images(n: int = 16, size: int = 28) -> torch.Tensor:
    x = torch.zeros(n, 1, size, size)
    x[:, :, size // 3 : size // 3 + 8, size // 3 : size // 3 + 4] = torch.rand(n, 1, 8, 4)
    x[:, :, 0, :] = torch.rand(n, 1, size)  # ink on the border: it can leave the frame
    return x


def translations(image: torch.Tensor, s: int) -> list[torch.Tensor]:
    """Every translation of a [C, H, W] image by up to s pixels, by explicit padding/cropping."""
    height, width = image.shape[-2:]
    padded = F.pad(image, (s, s, s, s))
    return [padded[:, dy : dy + height, dx : dx + width] for dy in range(2 * s + 1) for dx in range(2 * s + 1)]  # fmt: skip


@pytest.mark.parametrize("s", [1, 2, 3])
def test_each_image_is_one_of_its_translations(s):
    torch.manual_seed(s)
    x = _images(32)
    out = random_shift(x, s)
    assert out.shape == x.shape
    for image, shifted in zip(x, out, strict=True):
        assert any(torch.equal(shifted, t) for t in translations(image, s))
    assert not torch.equal(out, x)


def test_shift_zero_and_rotation_zero_are_identity():
    x = _images()
    assert torch.equal(random_shift(x, 0), x)
    assert torch.allclose(random_rotate_scale(x, 0.0, 0.0), x, atol=1e-5)


def test_rotation_and_zoom_keep_the_ink_roughly_in_place():
    torch.manual_seed(0)
    x = _images(64)
    x[:, :, 0, :] = 0.0
    out = random_rotate_scale(x, 10.0, 0.1)
    assert out.shape == x.shape and out.min() >= 0.0 and out.max() <= 1.0
    ratio = out.sum((1, 2, 3)) / x.sum((1, 2, 3))  # a zoom by z scales the ink by about z^2
    assert torch.all((ratio > 0.75) & (ratio < 1.3))
    assert not torch.allclose(out, x, atol=1e-3)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: random_shift(torch.zeros(4, 28, 28), 1), "images"),
        (lambda: random_shift(torch.zeros(4, 1, 28, 28), -1), "max_shift"),
        (lambda: random_shift(torch.zeros(4, 1, 28, 28), 1.5), "max_shift"),
        (lambda: random_rotate_scale(torch.zeros(4, 1, 28, 28), 5.0, 1.0), "max_scale"),
        (lambda: SpikingDataModule(max_shift=-2), "max_shift"),
    ],
)
def test_bad_arguments_are_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()


class _Batches(L.Callback):
    def __init__(self) -> None:
        self.train, self.val = [], []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.train.append(batch[0].clone())

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        self.val.append(batch[0].clone())


def test_data_module_shifts_training_batches_only():
    L.seed_everything(0, verbose=False)
    dm = SpikingDataModule("digits", batch_size=64, shuffle=False, max_shift=1)
    dm.setup()
    seen = _Batches()
    trainer = L.Trainer(max_epochs=1, limit_train_batches=2, limit_val_batches=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, callbacks=[seen])  # fmt: skip
    trainer.fit(STDBPClassifier(spec="20-10"), dm)
    raw_train, raw_val = dm.train_set.tensors[0][:64], dm.val_set.tensors[0][:64]
    assert torch.equal(seen.val[0], raw_val)
    assert not torch.equal(seen.train[0], raw_train)
    for image, shifted in zip(raw_train, seen.train[0], strict=True):
        assert any(torch.equal(shifted, t) for t in translations(image, 1))
    test_batch = dm.on_after_batch_transfer((raw_val, torch.zeros(64)), 0)  # trainer not training
    assert torch.equal(test_batch[0], raw_val)
