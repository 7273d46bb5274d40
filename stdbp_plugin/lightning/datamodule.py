"""SpikingDataModule: the Lightning face of stdbp_plugin.data (train / val / test loaders)."""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

from stdbp_plugin.augment import random_shift
from stdbp_plugin.data import DATASETS, EpochSeededSampler, load_dataset, subset


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
        train = subset(train, self.max_samples, self.seed)
        self.test_set = subset(test, self.max_samples, self.seed + 1)
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
