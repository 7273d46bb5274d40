"""Train, time and test one model of the comparison (meant to run in its own process)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch

from stdbp_plugin.compare.options import MODELS


@dataclass
class CompareConfig:
    """Everything one comparison run needs (JSON-friendly)."""

    dataset: str = "digits"
    data_dir: str | None = None
    spec: str | None = None
    epochs: int = 10
    batch_size: int = 32
    max_samples: int | None = None
    num_steps: int = 25
    max_shift: int = 0
    seed: int = 0
    threads: int = 1
    progress: bool = True

    def resolved_spec(self) -> str:
        return self.spec or ("400-10" if self.dataset == "digits" else "800-10")

    def to_dict(self) -> dict:
        return asdict(self)


def build_model(name: str, cfg: CompareConfig, input_shape: tuple[int, int, int]):
    from stdbp_plugin.lightning import STDBPClassifier, SurrogateClassifier

    if name == "stdbp":
        return STDBPClassifier(spec=cfg.resolved_spec(), input_shape=input_shape)
    if name in MODELS:
        from stdbp_plugin.models import surrogate_options

        return SurrogateClassifier(
            **surrogate_options(name),
            spec=cfg.resolved_spec(),
            input_shape=input_shape,
            num_steps=cfg.num_steps,
        )
    raise ValueError(f"model must be one of {MODELS}, got {name!r}")


def _warm_up(model, dm) -> None:
    """One forward + backward before timing (numba compiles its kernels on first use);
    the gradients are dropped, the weights do not change."""
    x, y = next(iter(dm.train_dataloader()))
    model.evaluate(x, y).loss.backward()
    model.zero_grad(set_to_none=True)


def _latencies(model, loader) -> list[float]:
    out = []
    model.eval()
    with torch.no_grad():
        for x, y in loader:
            out += model.evaluate(x, y).latency.tolist()
    return out


def train_one(name: str, cfg: CompareConfig) -> dict:
    """Fit ``name`` on ``cfg.dataset`` with a Lightning Trainer, test it, return the figures."""
    from stdbp_plugin.compare.threads import restore_threads, set_threads

    previous = set_threads(cfg.threads)
    try:
        return _train_one(name, cfg)
    finally:
        restore_threads(previous)


def _train_one(name: str, cfg: CompareConfig) -> dict:
    import lightning as L

    from stdbp_plugin.lightning import SpikingDataModule

    L.seed_everything(cfg.seed, verbose=False)
    dm = SpikingDataModule(
        cfg.dataset,
        cfg.data_dir,
        cfg.batch_size,
        max_samples=cfg.max_samples,
        seed=cfg.seed,
        max_shift=cfg.max_shift,
    )
    dm.setup()
    model = build_model(name, cfg, dm.input_shape)
    return fit_and_measure(name, model, dm, cfg)


def fit_and_measure(name: str, model, dm, cfg: CompareConfig) -> dict:
    """Fit ``model`` (a SpikingClassifier) on the set-up DataModule ``dm`` for ``cfg.epochs``
    on the CPU, test it and return the figures of the report (one row of the table)."""
    import lightning as L

    from stdbp_plugin.compare.memory import PeakRSS
    from stdbp_plugin.lightning import EpochTimer
    from stdbp_plugin.lightning.callbacks import MetricHistory
    from stdbp_plugin.lightning.progress import epoch_progress_bar

    timer, history = EpochTimer(), MetricHistory(("val/acc",))
    callbacks = [timer, history] + ([epoch_progress_bar()] if cfg.progress else [])
    trainer = L.Trainer(
        max_epochs=cfg.epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=cfg.progress,
        callbacks=callbacks,
        num_sanity_val_steps=0,
        deterministic=True,
    )
    _warm_up(model, dm)
    start = time.perf_counter()
    with PeakRSS() as mem:
        trainer.fit(model, dm)
    fit_seconds = time.perf_counter() - start
    test = trainer.test(model, dm, verbose=False)[0]
    sample = next(iter(dm.test_dataloader()))[0][0]
    raster = [(t.tolist(), i.tolist()) for t, i in model.raster(sample)]
    return {
        "model": name,
        "test_acc": test["test/acc"],
        "test_loss": test["test/loss"],
        "epoch_time_s": sum(timer.times) / max(1, len(timer.times)),
        "fit_time_s": fit_seconds,
        "peak_rss_mib": mem.peak_mib,
        "spikes_per_sample": test["test/spikes"],
        "spikes_per_layer": [test[f"test/spikes_l{i}"] for i in range(model.num_layers)],
        "decision_latency": test["test/latency"],
        "undecided": test["test/undecided"],
        "synops_per_sample": test["test/synops"],
        "history": history.values,
        "latencies": _latencies(model, dm.test_dataloader()),
        "raster": raster,
        "n_params": sum(p.numel() for p in model.parameters()),
    }
