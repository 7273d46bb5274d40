"""Image classification data for spiking networks: digits (scikit-learn), MNIST, Fashion-MNIST.

Every dataset yields float images x in [0, 1] of shape [C, H, W] and integer labels; the
encoders of the models (latency, rate, constant current) turn them into spikes.
``digits`` is bundled with scikit-learn (8x8, 1797 images, no download); MNIST and
Fashion-MNIST are read by torchvision from ``data_dir`` (or the ``STDBP_DATA_DIR`` environment
variable) and are downloaded only when ``download=True``.

Plain torch, no Lightning: the LightningDataModule over these is
stdbp_plugin.lightning.SpikingDataModule (also importable from here, loaded on first use).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch.utils.data import Sampler, TensorDataset

DATASETS = ("digits", "mnist", "fashion-mnist")
DIGITS_TEST_FRACTION = 0.2
SPLIT_SEED = 0


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path | None:
    """``data_dir`` if given, else the ``STDBP_DATA_DIR`` environment variable, else None."""
    if data_dir is not None:
        return Path(data_dir)
    env = os.environ.get("STDBP_DATA_DIR")
    return Path(env) if env else None


def _digits() -> tuple[TensorDataset, TensorDataset]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    images, labels = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        images / 16.0,
        labels,
        test_size=DIGITS_TEST_FRACTION,
        random_state=SPLIT_SEED,
        stratify=labels,
    )

    def as_set(x, y) -> TensorDataset:
        return TensorDataset(
            torch.tensor(x, dtype=torch.float32).reshape(-1, 1, 8, 8), torch.tensor(y)
        )

    return as_set(x_train, y_train), as_set(x_test, y_test)


_FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
_TRAIN_IMAGES = "train-images-idx3-ubyte"


def has_raw_files(dataset: str, data_dir: str | os.PathLike | None = None) -> bool:
    """Whether ``data_dir`` (default: $STDBP_DATA_DIR) holds the raw IDX files of ``dataset``
    ("mnist" or "fashion-mnist"), so that it loads without a download."""
    if dataset not in _FOLDERS:
        raise ValueError(f"dataset must be one of {tuple(_FOLDERS)}, got {dataset!r}")
    root = resolve_data_dir(data_dir)
    if root is None:
        return False
    raw = root / _FOLDERS[dataset] / "raw"
    return (raw / _TRAIN_IMAGES).exists() or (raw / f"{_TRAIN_IMAGES}.gz").exists()


def load_split(
    dataset: str, data_dir: str | os.PathLike | None = None, train: bool = True,
    download: bool = False, first: int | None = None,
) -> TensorDataset:  # fmt: skip
    """One split of "mnist" / "fashion-mnist" (torchvision, from the raw IDX files under
    ``data_dir`` or $STDBP_DATA_DIR): images [N, 1, 28, 28] in [0, 1] and labels [N];
    ``first``: only the first that many samples (None: all)."""
    if first is not None and (not isinstance(first, int) or first < 1):
        raise ValueError(f"first must be None or a positive int, got {first!r}")
    from torchvision import datasets

    if dataset not in _FOLDERS:
        raise ValueError(f"dataset must be one of {tuple(_FOLDERS)}, got {dataset!r}")
    folder = _FOLDERS[dataset]
    root = resolve_data_dir(data_dir)
    if root is None:
        raise ValueError(
            f"data_dir is required for dataset={dataset!r}: pass data_dir (or set "
            f"STDBP_DATA_DIR) to a folder holding {folder}/raw/ with the IDX files"
        )
    cls = getattr(datasets, folder)
    try:
        ds = cls(root=str(root), train=train, download=download)
    except RuntimeError as err:
        raise FileNotFoundError(
            f"{dataset} not found: torchvision expects the raw IDX files "
            f"(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
            f"t10k-labels-idx1-ubyte, optionally .gz) in {root / folder / 'raw'}. Copy them "
            f"there, or pass download=True (needs internet) to fetch them. ({err})"
        ) from err
    images, labels = ds.data[:first], ds.targets[:first]
    return TensorDataset(images.to(torch.float32).div_(255.0).unsqueeze(1), labels.clone().long())


def load_dataset(
    dataset: str = "digits", data_dir: str | os.PathLike | None = None, download: bool = False
) -> tuple[TensorDataset, TensorDataset]:
    """(train, test) TensorDatasets of images [N, C, H, W] in [0, 1] and labels [N].

    digits: a fixed stratified 80/20 split (seed 0) of scikit-learn's 1797 8x8 images.
    mnist / fashion-mnist: the official 60k / 10k splits, 28x28.
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    if dataset == "digits":
        return _digits()
    return tuple(load_split(dataset, data_dir, train, download) for train in (True, False))


def subset(ds: TensorDataset, n: int | None, seed: int) -> TensorDataset:
    """A fixed random subset of ``n`` samples (seeded), or ``ds`` itself if n is None or >= len."""
    if n is None or n >= len(ds):
        return ds
    idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))[:n]
    return TensorDataset(*(t[idx] for t in ds.tensors))


class EpochSeededSampler(Sampler[int]):
    """A random permutation drawn from ``seed + epoch``: the order of every epoch is
    reproducible, so a run resumed from a checkpoint sees the same batches (Lightning calls
    ``set_epoch`` at the start of each epoch, also through its DDP sampler wrapper)."""

    def __init__(self, n: int, seed: int = 0) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n


def __getattr__(name: str):
    """``stdbp_plugin.data.SpikingDataModule`` (the old place) without importing Lightning
    until it is asked for."""
    if name == "SpikingDataModule":
        from stdbp_plugin.lightning.datamodule import SpikingDataModule

        return SpikingDataModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
