"""What a Lightning Trainer adds to an STDBP training step, and what logging every step costs.

The 784-800-10 MLP of mnist_mlp.yaml (STDBPClassifier, batch 128, random shifts of up to 2
pixels; MNIST from $STDBP_DATA_DIR, else scikit-learn's digits with an 800-10 net on 8x8) run
three ways, alternated round by round, each from a fresh model:

- ``bare loop``: ``evaluate`` + backward + Adam on the same data loader, no Trainer;
- ``Lightning, self.log every step``: the classifier with its loss and accuracy passed to
  ``self.log`` on every step, as a LightningModule usually does (Lightning 2.6 walks its result
  object on every call: about 0.8 ms each, Lightning issue #20388);
- ``Lightning (package)``: the classifier as shipped, which calls ``self.log`` only on the steps
  whose values a logger writes or the progress bar shows (the same logged values).

Training and validation steps are timed apart (ms per batch, medians over the rounds), with the
default progress bar and CSV logger.

    python benchmarks/bench_lightning_overhead.py [--steps 150] [--val-steps 30] [--rounds 3]
        [--threads 2] [--out benchmarks/results/lightning_overhead.json]
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import common  # noqa: E402
import lightning as L  # noqa: E402
import torch  # noqa: E402

from stdbp_plugin.lightning import SpikingDataModule, STDBPClassifier  # noqa: E402


class LogEveryStep(STDBPClassifier):
    """The classifier with ``self.log`` called on every step (the usual LightningModule)."""

    def _log_now(self, stage: str, batch_idx: int) -> bool:
        return True


class StageTimer(L.Callback):
    """Wall time of the training and the validation batches (data loading included)."""

    def __init__(self) -> None:
        self.seconds = {"train": 0.0, "val": 0.0}

    def on_train_epoch_start(self, trainer, module):
        self._start = time.perf_counter()

    def on_validation_epoch_start(self, trainer, module):
        self.seconds["train"] += time.perf_counter() - self._start
        self._val_start = time.perf_counter()

    def on_validation_epoch_end(self, trainer, module):
        self.seconds["val"] += time.perf_counter() - self._val_start


def setup(cls, mnist: bool):
    """A fresh model of class ``cls`` (the MLP of mnist_mlp.yaml) and its data module."""
    torch.manual_seed(0)
    if mnist:
        kw = dict(spec="800-10", input_shape=(1, 28, 28), tau=0.0625, horizon=4.0)
        data = SpikingDataModule("mnist", str(common.data_dir()), batch_size=128, max_shift=2)
    else:
        kw = dict(spec="800-10", input_shape=(1, 8, 8))
        data = SpikingDataModule("digits", batch_size=128, max_shift=2)
    return cls(**kw, max_inv_slope=5.0, keep_target_alive=1.0, lr=1e-3), data


def run_lightning(cls, mnist: bool, steps: int, val_steps: int, root: str) -> dict[str, float]:
    model, data = setup(cls, mnist)
    timer = StageTimer()
    trainer = L.Trainer(
        max_epochs=1, limit_train_batches=steps, limit_val_batches=val_steps,
        num_sanity_val_steps=0, enable_checkpointing=False, enable_model_summary=False,
        default_root_dir=root, callbacks=[timer],
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(model, data)
    return {  # per batch run (the data may hold fewer than asked)
        "train": 1e3 * timer.seconds["train"] / trainer.num_training_batches,
        "val": 1e3 * timer.seconds["val"] / sum(trainer.num_val_batches),
    }


def run_bare(mnist: bool, steps: int) -> dict[str, float]:
    model, data = setup(STDBPClassifier, mnist)
    data.setup("fit")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    done, start = 0, time.perf_counter()
    for x, y in data.train_dataloader():
        opt.zero_grad()
        model.evaluate(x, y).loss.backward()
        opt.step()
        done += 1
        if done == steps:
            break
    return {"train": 1e3 * (time.perf_counter() - start) / done}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--val-steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    common.set_threads(args.threads)
    mnist = common.has_mnist()
    contestants = {
        "bare loop": lambda root, steps, val_steps: run_bare(mnist, steps),
        "Lightning, self.log every step": lambda root, steps, val_steps: run_lightning(
            LogEveryStep, mnist, steps, val_steps, root
        ),
        "Lightning (package)": lambda root, steps, val_steps: run_lightning(
            STDBPClassifier, mnist, steps, val_steps, root
        ),
    }
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in contestants}
    names = list(contestants)
    with tempfile.TemporaryDirectory() as root:
        for run in contestants.values():  # warm-up: compiled kernels, imports, data files
            run(root, 10, 5)
        for r in range(args.rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                runs[name].append(contestants[name](root, args.steps, args.val_steps))
    medians = {
        name: {k: statistics.median(run[k] for run in rs) for k in rs[0]}
        for name, rs in runs.items()
    }
    print(f"{'mnist' if mnist else 'digits'}, batch 128, {args.threads} thread(s), ms per batch")
    for name, m in medians.items():
        print(f"  {name:<34}" + "  ".join(f"{k} {v:6.2f}" for k, v in m.items()))
    if args.out is not None:
        common.write_json(
            args.out,
            {
                "input": "mnist" if mnist else "digits",
                "steps": args.steps,
                "val_steps": args.val_steps,
                "rounds": args.rounds,
                "statistic": "median over rounds of ms per batch (wall time)",
                "ms_per_batch": medians,
                "runs": runs,
                "machine": common.machine_info(args.threads),
            },
        )


if __name__ == "__main__":
    main()
