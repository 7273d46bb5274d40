"""Known noise of the libraries, silenced narrowly at the ``stdbp`` command's own entry points.

Filtered (nothing else): torch's ``torch.jit.script`` deprecation warnings (raised when Norse
is imported), torch's ``isinstance(treespec, LeafSpec)`` deprecation (raised inside Lightning's
own ``_pytree``), Lightning's advertising tips ("💡 Tip: ...", litmodels / LitLogger) and its
tensorboardX notices, the "GPU/TPU/HPU available" lines, "Seed set to N" and the normal end
of a fit ("`Trainer.fit` stopped: `max_epochs=N` reached"; other reasons to stop still
show). Warnings and errors about the user's run still show. ``quiet()`` is called by ``stdbp`` and by the child processes
of ``stdbp compare``; importing ``stdbp_plugin`` changes nothing.
"""

from __future__ import annotations

import logging
import warnings

_NOISE = (
    "💡 Tip",
    "tensorboardX",
    "litmodels",
    "LitLogger",
    "GPU available:",
    "TPU available:",
    "HPU available:",
    "Seed set to",
    "`Trainer.fit` stopped: `max_epochs=",
)
_LOGGERS = (
    "lightning.pytorch.utilities.rank_zero",
    "lightning.fabric.utilities.rank_zero",
    "lightning_utilities.core.rank_zero",
    "lightning.fabric.utilities.seed",
)


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(marker in message for marker in _NOISE)


def quiet() -> None:
    """Install the filters (idempotent)."""
    for category in (FutureWarning, DeprecationWarning):
        warnings.filterwarnings(
            "ignore", message=r"`?torch\.jit\.script`? is deprecated", category=category
        )
        warnings.filterwarnings(
            "ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated", category=category
        )
    warnings.filterwarnings(
        "ignore",
        message=r"Starting from v1\.9\.0, `tensorboardX` has been removed",
        category=UserWarning,
    )
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropNoise) for f in logger.filters):
            logger.addFilter(_DropNoise())
