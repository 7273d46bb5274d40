"""``stdbp fit | validate | test | predict``: LightningCLI with the package's checks.

On top of LightningCLI: ``--ckpt_path`` is read weights-only and reconciled with the config
(``checkpoint.reconcile_hparams``: the checkpoint's hyper-parameters define the model; a config
or command-line value that contradicts them is an error); the model's input shape must match
the data's; the logger writes to ``<default_root_dir>/version_N`` (not
``<default_root_dir>/lightning_logs/version_N``); the progress bar counts epochs from 1; and
``fit`` prints where its checkpoints went. ``validate``, ``test`` and ``predict`` write nothing
(no logger unless the config sets one, no ``config.yaml``) and do not warn that the
checkpoint's ``dirpath`` differs from this run's (they save no checkpoint).
"""

from __future__ import annotations

import sys
from typing import Any

from lightning.pytorch.cli import LightningCLI

from stdbp_plugin.compare.options import _one_line
from stdbp_plugin.data import SpikingDataModule
from stdbp_plugin.lightning.base import SpikingClassifier
from stdbp_plugin.lightning.checkpoint import CheckpointError, check_checkpoint, reconcile_hparams

COMMANDS = ("fit", "validate", "test", "predict")
#: --ckpt_path values that name no file (Lightning resolves them itself)
SPECIAL_CKPT = ("last", "best", "hpc", "registry")


def _import(class_path: str) -> type:
    import importlib

    module, _, name = class_path.rpartition(".")
    return getattr(importlib.import_module(module), name)


class ConfigError(ValueError):
    """A config or command-line value the model, data or trainer refuses (one line)."""


def _root_message(err: BaseException) -> str:
    """The message of the innermost cause, on one line (jsonargparse wraps the class's own
    ValueError in a multi-line union report)."""
    while err.__cause__ is not None:
        err = err.__cause__
    return " ".join(str(err).split())


class STDBPCLI(LightningCLI):
    """LightningCLI of SpikingClassifier subclasses and SpikingDataModule."""

    def instantiate_classes(self) -> None:
        try:
            super().instantiate_classes()
        except (ValueError, TypeError) as err:
            raise ConfigError(_root_message(err)) from None

    def _parse_ckpt_path(self) -> None:
        """Replaces LightningCLI's (which lets the checkpoint override the config silently)."""
        sub = self.config.get("subcommand")
        if not sub:
            return
        path = self.config[sub].get("ckpt_path")
        if not path or path in SPECIAL_CKPT:
            return
        ckpt = check_checkpoint(path)
        model = self.config[sub]["model"]
        init_args = model.get("init_args")
        args = {} if init_args is None else dict(init_args.items())
        merged = reconcile_hparams(
            path, ckpt["hyper_parameters"], _import(model["class_path"]), args
        )
        for key, value in merged.items():
            model["init_args"][key] = value

    def _check_shapes(self) -> None:
        expected = getattr(self.model, "hparams", {}).get("input_shape")
        data = getattr(self.datamodule, "input_shape", None)
        if expected is not None and data is not None and tuple(expected) != tuple(data):
            raise CheckpointError(
                f"the model expects input_shape {tuple(expected)} but data "
                f"{self.datamodule.dataset!r} gives {tuple(data)}: use a model (config or "
                "checkpoint) made for this data set"
            )

    def before_fit(self) -> None:
        self._check_shapes()

    def before_validate(self) -> None:
        self._check_shapes()

    def before_test(self) -> None:
        self._check_shapes()

    def before_predict(self) -> None:
        self._check_shapes()

    def after_fit(self) -> None:
        callback = self.trainer.checkpoint_callback
        if callback is None or not self.trainer.is_global_zero:
            return
        for label, file in (("best", callback.best_model_path), ("last", callback.last_model_path)):
            if file:
                print(f"{label} checkpoint: {file}")
        if callback.dirpath:
            print(f"checkpoints in {callback.dirpath}")

    def instantiate_trainer(self, **kwargs: Any):
        """Default logger under ``default_root_dir`` without a second ``lightning_logs``
        folder; an epoch-from-1 progress bar unless the config disables or sets one."""
        from lightning.pytorch.callbacks import ProgressBar

        from stdbp_plugin.lightning.progress import epoch_progress_bar

        trainer = self._get(self.config_init, "trainer", default={})
        if self.subcommand != "fit" and trainer.get("logger") is None and "logger" not in kwargs:
            kwargs["logger"] = False  # an evaluation leaves no new version_N folder
        elif trainer.get("logger") in (None, True) and "logger" not in kwargs:
            kwargs["logger"] = _default_logger(trainer.get("default_root_dir"))
        callbacks = trainer.get("callbacks") or []
        callbacks = list(callbacks) if isinstance(callbacks, list) else [callbacks]
        wants_bar = trainer.get("enable_progress_bar") is not False
        if wants_bar and not any(isinstance(c, ProgressBar) for c in callbacks):
            kwargs.setdefault("callbacks", [*callbacks, epoch_progress_bar()])
        return super().instantiate_trainer(**kwargs)


def _default_logger(root: str | None):
    """Lightning's default choice (TensorBoard if installed, else CSV) at ``root/version_N``."""
    import os

    from lightning.fabric.loggers.tensorboard import _TENSORBOARD_AVAILABLE, _TENSORBOARDX_AVAILABLE
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    save_dir = root or os.getcwd()
    if _TENSORBOARD_AVAILABLE or _TENSORBOARDX_AVAILABLE:
        return TensorBoardLogger(save_dir=save_dir, name="")
    return CSVLogger(save_dir=save_dir, name="")


def run_lightning_cli(argv: list[str]) -> int:
    """``stdbp fit|validate|test|predict ...``. CheckpointError propagates (the caller prints
    it as one line). SIGTERM (which Lightning turns into a clean stop at the next batch) exits
    with 143, not Lightning's 0, so that scripts see the run did not finish."""
    import argparse
    import warnings

    from lightning.pytorch.cli import SaveConfigCallback
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    saved = sys.argv
    sys.argv = ["stdbp"]  # argv is passed as args: LightningCLI then warns if sys.argv has more
    no_exit = {"exit_on_error": False}
    fit = bool(argv) and argv[0] == "fit"
    try:
        with warnings.catch_warnings():
            if not fit:  # ModelCheckpoint's note on restoring its state: moot without saving
                warnings.filterwarnings("ignore", message=r"The dirpath has changed from ")
            STDBPCLI(
                SpikingClassifier,
                SpikingDataModule,
                subclass_mode_model=True,
                args=argv,
                save_config_callback=SaveConfigCallback if fit else None,
                save_config_kwargs={"overwrite": True},
                parser_kwargs={**no_exit, **{name: no_exit for name in COMMANDS}},
            )
    except argparse.ArgumentError as err:
        raise ConfigError(_one_line(str(err), dashes=False)) from None
    except SIGTERMException:
        print(f"stdbp {argv[0]}: terminated (SIGTERM); checkpoints are whole", file=sys.stderr)
        return 143
    finally:
        sys.argv = saved
    return 0
