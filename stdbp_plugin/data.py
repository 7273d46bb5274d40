"""Image classification data for spiking networks: digits (scikit-learn), MNIST, Fashion-MNIST.

Every dataset yields float images x in [0, 1] of shape [C, H, W] and integer labels; the
encoders of the models (latency, rate, constant current) turn them into spikes.
``digits`` is bundled with scikit-learn (8x8, 1797 images, no download); MNIST and
Fashion-MNIST are read by torchvision from ``data_dir`` (or the ``STDBP_DATA_DIR`` environment
variable) and are downloaded only when ``download=True``.
"""

from __future__ import annotations

import os
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, Sampler, TensorDataset

from stdbp_plugin.augment import random_shift

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


def _torchvision(name: str, root: Path | None, download: bool) -> tuple[TensorDataset, ...]:
    from torchvision import datasets

    cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
    folder = cls.__name__
    if root is None:
        raise ValueError(
            f"data_dir is required for dataset={name!r}: pass data_dir (or set STDBP_DATA_DIR) "
            f"to a folder holding {folder}/raw/ with the IDX files"
        )
    splits = []
    for train in (True, False):
        try:
            ds = cls(root=str(root), train=train, download=download)
        except RuntimeError as err:
            raise FileNotFoundError(
                f"{name} not found: torchvision expects the raw IDX files "
                f"(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
                f"t10k-labels-idx1-ubyte, optionally .gz) in {root / folder / 'raw'}. Copy them "
                f"there, or pass download=True (needs internet) to fetch them. ({err})"
            ) from err
        x = ds.data.to(torch.float32).div_(255.0).unsqueeze(1)
        splits.append(TensorDataset(x, ds.targets.clone().long()))
    return tuple(splits)


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
    return _torchvision(dataset, resolve_data_dir(data_dir), download)


def _take(ds: TensorDataset, n: int | None, seed: int) -> TensorDataset:
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


class SpikingDataModule(L.LightningDataModule):
    """Train / val / test loaders of images in [0, 1] for spiking classifiers.

    Args:
        dataset: "digits" (scikit-learn, default, no download), "mnist" or "fashion-mnist".
        data_dir: root holding ``MNIST/raw`` or ``FashionMNIST/raw``; default: $STDBP_DATA_DIR.
        batch_size: samples per batch.
        val_split: fraction of the training set held out for validation, in [0, 1).
        num_workers: DataLoader workers.
        download: let torchvision download missing files (needs internet).
        max_samples: optional cap on the training samples (a fixed random subset), for quick runs;
            the test set is capped at the same number.
        shuffle: shuffle the training set each epoch (reproducibly, see EpochSeededSampler).
        seed: seed of the validation split, the subsets and the shuffling.
        max_shift: augment training batches (only) by random translations of up to this many
            pixels (stdbp_plugin.augment.random_shift, after the transfer to the device).
    """

    def __init__(
        self,
        dataset: str = "digits",
        data_dir: str | None = None,
        batch_size: int = 32,
        val_split: float = 0.1,
        num_workers: int = 0,
        download: bool = False,
        max_samples: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        max_shift: int = 0,
    ) -> None:
        super().__init__()
        if dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if not 0.0 <= val_split < 1.0:
            raise ValueError(f"val_split must lie in [0, 1), got {val_split!r}")
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers must be an int >= 0, got {num_workers!r}")
        if max_samples is not None and (not isinstance(max_samples, int) or max_samples < 2):
            raise ValueError(f"max_samples must be None or an int >= 2, got {max_samples!r}")
        if not isinstance(max_shift, int) or max_shift < 0:
            raise ValueError(f"max_shift must be an int >= 0, got {max_shift!r}")
        self.save_hyperparameters()
        self.dataset, self.data_dir, self.download = dataset, data_dir, download
        self.batch_size, self.val_split, self.num_workers = batch_size, val_split, num_workers
        self.max_samples, self.shuffle, self.seed = max_samples, shuffle, seed
        self.max_shift = max_shift
        self.train_set = self.val_set = self.test_set = None

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """[C, H, W] of one image."""
        return (1, 8, 8) if self.dataset == "digits" else (1, 28, 28)

    @property
    def num_classes(self) -> int:
        return 10

    def prepare_data(self) -> None:
        if self.download:
            load_dataset(self.dataset, self.data_dir, download=True)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        train, test = load_dataset(self.dataset, self.data_dir, download=False)
        train = _take(train, self.max_samples, self.seed)
        self.test_set = _take(test, self.max_samples, self.seed + 1)
        n_val = int(round(self.val_split * len(train)))
        perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(self.seed))
        x, y = train.tensors
        self.val_set = TensorDataset(x[perm[:n_val]], y[perm[:n_val]]) if n_val else None
        self.train_set = TensorDataset(x[perm[n_val:]], y[perm[n_val:]])

    def _loader(self, ds: TensorDataset, train: bool = False) -> DataLoader:
        sampler = EpochSeededSampler(len(ds), self.seed) if train and self.shuffle else None
        return DataLoader(
            ds,
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader | list:
        return self._loader(self.val_set) if self.val_set is not None else []

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """Random shifts of the training batches when ``max_shift > 0``."""
        if self.max_shift and self.trainer is not None and self.trainer.training:
            x, y = batch
            batch = random_shift(x, self.max_shift), y
        return batch
