"""SpikingDataModule and load_dataset: digits splits, MNIST from local files, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("lightning")
from stdbp_plugin.data import EpochSeededSampler, SpikingDataModule, load_dataset  # noqa: E402


def test_digits_split_matches_sklearn():
    from sklearn.datasets import load_digits

    images, labels = load_digits(return_X_y=True)
    tr, te = load_dataset("digits")
    assert len(tr) + len(te) == len(labels) == 1797
    assert len(te) == 360
    x, y = tr.tensors
    assert x.shape[1:] == (1, 8, 8) and x.dtype == torch.float32
    assert x.min() >= 0.0 and x.max() <= 1.0
    # every split image is one of sklearn's images / 16, with its own label
    table = {tuple(np.round(img / 16.0, 6)): lab for img, lab in zip(images, labels, strict=True)}
    for img, lab in zip(x[:50], y[:50], strict=True):
        key = tuple(np.round(img.flatten().numpy().astype(np.float64), 6))
        assert table[key] == lab
    # stratified: each class is ~20% of the test set
    counts = torch.bincount(te.tensors[1], minlength=10)
    assert counts.min() >= 34 and counts.max() <= 38


def test_datamodule_splits_are_disjoint_and_reproducible():
    dm = SpikingDataModule(batch_size=16, val_split=0.2, seed=3)
    dm.setup()
    assert len(dm.train_set) + len(dm.val_set) == 1437
    assert len(dm.val_set) == round(0.2 * 1437)
    train_rows = {tuple(r.tolist()) for r in dm.train_set.tensors[0].flatten(1)}
    overlap = sum(tuple(r.tolist()) in train_rows for r in dm.val_set.tensors[0].flatten(1))
    assert overlap <= 5  # digits holds a few duplicate images; the split itself is disjoint
    dm2 = SpikingDataModule(batch_size=16, val_split=0.2, seed=3)
    dm2.setup()
    assert torch.equal(dm.val_set.tensors[0], dm2.val_set.tensors[0])
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (16, 1, 8, 8) and y.shape == (16,)
    assert dm.input_shape == (1, 8, 8) and dm.num_classes == 10


def test_max_samples_caps_train_and_test():
    dm = SpikingDataModule(max_samples=100, val_split=0.1)
    dm.setup()
    assert len(dm.train_set) == 90 and len(dm.val_set) == 10 and len(dm.test_set) == 100


def test_epoch_seeded_sampler_is_a_reproducible_permutation():
    s = EpochSeededSampler(50, seed=1)
    s.set_epoch(2)
    a = list(s)
    s.set_epoch(3)
    b = list(s)
    s.set_epoch(2)
    assert sorted(a) == list(range(50)) and list(s) == a and a != b


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dataset": "cifar"},
        {"batch_size": 0},
        {"val_split": 1.0},
        {"val_split": -0.1},
        {"num_workers": -1},
        {"max_samples": 1},
    ],
)
def test_bad_arguments_raise_value_error(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        SpikingDataModule(**kwargs)


def test_missing_mnist_says_where_and_how(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_dataset("mnist", tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "MNIST" / "raw") in msg and "download=True" in msg


def test_mnist_without_data_dir_is_a_value_error(monkeypatch):
    monkeypatch.delenv("STDBP_DATA_DIR", raising=False)
    with pytest.raises(ValueError, match="data_dir"):
        load_dataset("mnist")


def test_mnist_from_local_files_via_env(monkeypatch, mnist_root):
    root = mnist_root
    monkeypatch.setenv("STDBP_DATA_DIR", str(root))
    dm = SpikingDataModule("mnist", max_samples=500, val_split=0.2)
    dm.setup()
    x, y = dm.train_set.tensors
    assert dm.input_shape == (1, 28, 28) and x.shape == (400, 1, 28, 28)
    assert x.min() >= 0.0 and x.max() <= 1.0 and x.max() > 0.99
    assert set(y.tolist()) <= set(range(10)) and len(set(y.tolist())) == 10
    train, test = load_dataset("mnist", root)
    assert len(train) == 60000 and len(test) == 10000


def test_split_loader_and_raw_file_check(mnist_root, tmp_path):
    from stdbp_plugin.data import has_raw_files, load_split, subset

    assert has_raw_files("mnist", mnist_root) and not has_raw_files("mnist", tmp_path)
    first = load_split("mnist", mnist_root, train=False, first=7)
    x, y = first.tensors
    assert x.shape == (7, 1, 28, 28) and y.dtype == torch.long
    full_x, full_y = load_split("mnist", mnist_root, train=False).tensors
    assert torch.equal(x, full_x[:7]) and torch.equal(y, full_y[:7])
    assert x.untyped_storage().nbytes() == x.numel() * 4  # no view into the whole split
    picked = subset(first, 3, seed=0)
    assert len(picked) == 3 and subset(first, None, seed=0) is first
    with pytest.raises(ValueError, match="first"):
        load_split("mnist", mnist_root, first=0)
    with pytest.raises(ValueError, match="dataset"):
        has_raw_files("digits", mnist_root)
