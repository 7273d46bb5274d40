"""Reading checkpoints safely: weights_only loading and a clear error for a bad file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


def check_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a Lightning checkpoint with ``torch.load(weights_only=True)`` (no arbitrary
    unpickling) and check it holds ``state_dict`` and ``hyper_parameters``.

    Raises ValueError naming the file when it is missing, corrupt, truncated, needs
    unpickling of arbitrary objects, or is not a classifier checkpoint.
    """
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"checkpoint {file} does not exist")
    try:
        ckpt = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises RuntimeError / UnpicklingError / EOFError ...
        raise ValueError(
            f"checkpoint {file} cannot be read safely (corrupt, truncated, or not a "
            f"weights-only PyTorch checkpoint): {type(err).__name__}: {str(err)[:200]}"
        ) from err
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise ValueError(f"checkpoint {file} is not a Lightning checkpoint (no 'state_dict')")
    if "hyper_parameters" not in ckpt:
        raise ValueError(f"checkpoint {file} has no 'hyper_parameters' (save_hyperparameters)")
    return ckpt
