"""The MNIST reproduction's augmentation: shifts move pixels, rotation/zoom keep the digit."""

import importlib.util
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "reproduce_mnist.py"


@pytest.fixture(scope="module")
def repro():
    import sys

    sys.path.insert(0, str(SCRIPT.parent))  # the script imports its sibling `common`
    spec = importlib.util.spec_from_file_location("reproduce_mnist", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _images(n: int = 16) -> torch.Tensor:
    x = torch.zeros(n, 28, 28)
    x[:, 10:18, 12:16] = torch.rand(n, 8, 4)  # a blob away from the border
    return x.reshape(n, -1)


def test_no_augmentation_is_identity(repro):
    x = _images()
    assert torch.equal(repro.augment(x, 0, 0.0, 0.0), x)
    assert torch.allclose(repro.random_rotate_scale(x, 0.0, 0.0), x, atol=1e-5)


def test_shift_moves_whole_pixels_and_keeps_ink(repro):
    x = _images()
    out = repro.random_shift(x, 2)
    assert torch.allclose(out.sum(1), x.sum(1))  # the blob never leaves the frame
    assert set(out.unique().tolist()) <= set(x.unique().tolist())  # no interpolation


def test_rotation_and_zoom_keep_the_ink_roughly_in_place(repro):
    torch.manual_seed(0)
    x = _images(64)
    out = repro.random_rotate_scale(x, 10.0, 0.1)
    assert out.shape == x.shape and out.min() >= 0.0 and out.max() <= 1.0
    ratio = out.sum(1) / x.sum(1)  # a zoom by s scales the ink by about s^2
    assert torch.all((ratio > 0.75) & (ratio < 1.3))
    assert not torch.allclose(out, x, atol=1e-3)
