"""Reading checkpoints safely, and which of config and checkpoint defines the model.

``check_checkpoint`` loads with ``torch.load(weights_only=True)`` (no arbitrary unpickling) and
turns every failure into one ``CheckpointError`` line naming the file.

``reconcile_hparams``: the rule of ``stdbp fit | validate | test --ckpt_path``. The checkpoint's
hyper-parameters define the model (they are what its weights mean). The config file and the
command line may leave a model argument out (or at its default: it then takes the
checkpoint's value), or repeat the checkpoint's value; a different value is a
``CheckpointError`` naming the argument, never silently ignored nor silently applied.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: missing, unreadable, or contradicting the config."""


def check_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a Lightning checkpoint with ``torch.load(weights_only=True)`` and check it holds
    ``state_dict`` and ``hyper_parameters``.

    Raises CheckpointError (a ValueError) naming the file when it is missing, empty, corrupt,
    truncated, needs unpickling of arbitrary objects, or is not a classifier checkpoint.
    """
    file = Path(path)
    if not file.is_file():
        raise CheckpointError(f"checkpoint {file} does not exist")
    if file.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {file} is empty (0 bytes)")
    try:
        ckpt = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises RuntimeError / UnpicklingError / EOFError ...
        text = str(err)
        if "Unsupported global" in text or "GLOBAL" in text:
            why = (
                "it holds Python objects that only arbitrary unpickling could restore, and "
                "checkpoints are loaded weights-only"
            )
        else:
            why = f"not a readable PyTorch checkpoint (corrupt or truncated: {type(err).__name__})"
        raise CheckpointError(f"checkpoint {file} cannot be read: {why}") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointError(f"checkpoint {file} is not a Lightning checkpoint (no 'state_dict')")
    if "hyper_parameters" not in ckpt:
        raise CheckpointError(
            f"checkpoint {file} has no 'hyper_parameters' (save_hyperparameters was not called)"
        )
    return ckpt


def _same(a: Any, b: Any) -> bool:
    """Equal up to list / tuple and int / float (YAML gives lists, checkpoints tuples)."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _defaults(cls: type) -> dict[str, Any]:
    params = inspect.signature(cls.__init__).parameters.values()
    return {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}


def reconcile_hparams(
    path: str | os.PathLike,
    ckpt_hparams: Mapping[str, Any],
    model_class: type,
    config_args: Mapping[str, Any],
) -> dict[str, Any]:
    """The model arguments to build the checkpoint's model with (the rule in the module doc).

    Args:
        path: the checkpoint (for the messages).
        ckpt_hparams: its ``hyper_parameters`` (Lightning's ``_class_path`` / ``_instantiator``
            entries are ignored).
        model_class: the class the config names.
        config_args: the model's ``init_args`` after the config and the command line.

    Returns:
        ``config_args`` updated with the checkpoint's values.

    Raises:
        CheckpointError naming every argument set to a value other than the checkpoint's, or
        the class, when the checkpoint was saved from another model class.
    """
    hparams = {k: v for k, v in ckpt_hparams.items() if k not in ("_instantiator", "_class_path")}
    saved_class = ckpt_hparams.get("_class_path")
    name = f"{model_class.__module__}.{model_class.__qualname__}"
    if saved_class and saved_class.rsplit(".", 1)[-1] != model_class.__qualname__:
        raise CheckpointError(
            f"checkpoint {path} holds a {saved_class}, the config asks for {name}: use a config "
            "of the checkpoint's model class"
        )
    defaults = _defaults(model_class)
    clashes = []
    for key, saved in hparams.items():
        if key not in config_args:
            continue
        asked = config_args[key]
        at_default = key in defaults and _same(asked, defaults[key])
        if not _same(asked, saved) and not at_default:
            clashes.append(f"{key}={saved!r} (config / command line: {asked!r})")
    if clashes:
        raise CheckpointError(
            f"checkpoint {path} was trained with {'; '.join(clashes)}; the checkpoint's "
            "hyper-parameters define the model: drop these arguments from the config and the "
            "command line, or use a checkpoint trained with them"
        )
    return {**dict(config_args), **{k: v for k, v in hparams.items() if k in config_args}}
