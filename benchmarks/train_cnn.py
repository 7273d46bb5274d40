"""Train the paper's STDBP CNN (16C5-P2-32C5-P2-800-128-10) on MNIST, as mnist_cnn.yaml does.

    python benchmarks/train_cnn.py --data-dir ../shared/data --out benchmarks/results/cnn_mnist
    python benchmarks/train_cnn.py --data-dir ../shared/data --epochs 1 --limit-batches 5  # smoke

The same model, data and schedule as ``stdbp fit --config integrations/lightning/mnist_cnn.yaml``
(tau 0.0625, horizon 3, Adam lr 1e-3 with a cosine schedule, batch 64, random shifts of up to
2 pixels, 54k/6k train/validation split of the official training set), written as a plain
script so that it runs from the repository root without the CLI's extras. The test accuracy is
that of the checkpoint with the best *validation* accuracy (no test-set checkpoint picking).
With ``--ema DECAY`` the validation, the checkpoints and the test use an exponential moving
average of the weights (stdbp_plugin.lightning.EMAWeightAveraging, from the second epoch on).
Writes ``<out>.json`` (per-epoch validation accuracy, test accuracy, seconds) and ``<out>.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import lightning as L  # noqa: E402
import torch  # noqa: E402
from lightning.pytorch.callbacks import Callback, ModelCheckpoint  # noqa: E402

from stdbp_plugin.lightning import EMAWeightAveraging, STDBPClassifier  # noqa: E402
from stdbp_plugin.lightning.datamodule import SpikingDataModule  # noqa: E402

SPEC = "16C5-P2-32C5-P2-800-128-10"


class EpochLog(Callback):
    """Records the validation accuracy and wall time of every epoch, and prints one line."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.start = time.perf_counter()

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        acc = float(trainer.callback_metrics.get("val/acc", float("nan")))
        row = {
            "epoch": trainer.current_epoch + 1,
            "val_acc": acc,
            "seconds": time.perf_counter() - self.start,
        }
        self.rows.append(row)
        print(f"epoch {row['epoch']}: val/acc {acc:.4f} ({row['seconds']:.0f} s)", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True, help="folder holding MNIST/raw")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0, help="weights, data split and order")
    p.add_argument("--limit-batches", type=int, default=None, help="smoke runs only")
    p.add_argument(
        "--max-minutes", type=float, default=None, help="stop training cleanly after this long"
    )
    p.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    p.add_argument("--out", default="benchmarks/results/cnn_mnist")
    p.add_argument(
        "--resume",
        default=None,
        help="a checkpoint this script wrote (<out>_ckpt/*.ckpt): continue that run's schedule",
    )
    p.add_argument(
        "--ema",
        type=float,
        default=None,
        metavar="DECAY",
        help="validate, checkpoint and test an exponential moving average of the weights "
        "(e.g. 0.999 per step), updated from the second epoch on (EMAWeightAveraging)",
    )
    args = p.parse_args()

    L.seed_everything(args.seed, verbose=False)
    model = STDBPClassifier(
        SPEC, input_shape=(1, 28, 28), tau=0.0625, horizon=3.0, lr=1e-3, scheduler="cosine"
    )
    data = SpikingDataModule(
        "mnist",
        data_dir=args.data_dir,
        batch_size=args.batch_size,
        val_split=0.0833,
        max_shift=2,
        num_workers=args.workers,
        seed=args.seed,
    )
    log = EpochLog()
    best = ModelCheckpoint(monitor="val/acc", mode="max", dirpath=f"{args.out}_ckpt")
    limit = (
        {}
        if args.limit_batches is None
        else {
            "limit_train_batches": args.limit_batches,
            "limit_val_batches": args.limit_batches,
            "limit_test_batches": args.limit_batches,
        }
    )
    trainer = L.Trainer(
        max_epochs=args.epochs,
        accelerator="auto",
        devices=1,
        callbacks=[log, best] + ([] if args.ema is None else [EMAWeightAveraging(args.ema)]),
        logger=False,
        enable_progress_bar=False,
        max_time=None if args.max_minutes is None else {"minutes": args.max_minutes},
        **limit,
    )
    trainer.fit(model, data, ckpt_path=args.resume)
    test = trainer.test(model, data, ckpt_path="best", verbose=False)[0]
    result = {
        "spec": SPEC,
        "device": str(trainer.strategy.root_device),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "epochs": log.rows,
        "best_val_acc": max(r["val_acc"] for r in log.rows),
        "test_acc_at_best_val": float(test["test/acc"]),
        "train_seconds": log.rows[-1]["seconds"],
        "stopped_early_by_max_minutes": log.rows[-1]["epoch"] < args.epochs,
        "resumed_from": args.resume,
        "ema_decay": args.ema,
        "seed": args.seed,
        "argv": sys.argv[1:],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(f"{args.out}.json").write_text(json.dumps(result, indent=1))
    print(f"test accuracy (best validation checkpoint): {result['test_acc_at_best_val']:.4f}")
    save_curve(result, Path(f"{args.out}.png"))


def save_curve(result: dict, path: Path) -> None:
    """The validation curve, the best-validation epoch marked with the test accuracy it scores;
    the y range covers epochs 2 on (an averaged model's first epoch can sit far below)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    epochs = [r["epoch"] for r in result["epochs"]]
    acc = [100 * r["val_acc"] for r in result["epochs"]]
    best = max(range(len(acc)), key=acc.__getitem__)
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(epochs, acc, "o-", ms=3, label="validation")
    ax.plot(epochs[best], acc[best], "r*", ms=10,
            label=f"best validation: test {100 * result['test_acc_at_best_val']:.2f}%")  # fmt: skip
    low = min(acc[1:] or acc)
    ax.set_ylim(low - 0.2 * (max(acc) - low) - 0.05, max(acc) + 0.1 * (max(acc) - low) + 0.05)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(f"STDBP {result['spec']}, MNIST", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
