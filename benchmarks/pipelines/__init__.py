"""Upstream snnTorch and Norse pipelines, re-typed as their users write them, each runnable as
``upstream`` (surrogate gradients, unchanged), ``swap`` (the literal class-name swap to this
package's ReL-PSP neurons plus at most the one documented readout line), ``clock``
(``stdbp_plugin.convert(model, mode="clock")``) and ``event`` (``convert(model,
mode="event")``). ``benchmarks/bench_pipelines.py`` runs the matrix and writes
``docs/pipelines.md``.

Each pipeline module defines NAME, TITLE, SOURCE, INPUT, READOUT, NUM_STEPS, BATCH_SIZE,
CHANGES (variant -> the lines the user changes, as diff text) and ``build(variant, budget)
-> Setup``; ``run(name, variant, data, budget)`` trains and tests one cell of the matrix.
"""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType

from pipelines._driver import VARIANTS, Budget, Data, NotApplicable, Setup, train_and_test

NAMES = (
    "snntorch_tutorial5",
    "snntorch_tutorial5_membrane",
    "snntorch_tutorial6",
    "snntorch_temporal",
    "norse_mnist_task",
    "norse_readme",
    "norse_latency",
)


def pipeline(name: str) -> ModuleType:
    if name not in NAMES:
        raise ValueError(f"unknown pipeline {name!r}; known: {', '.join(NAMES)}")
    return importlib.import_module(f"pipelines.{name}")


# import-time deprecation notices of the frameworks (Norse's torch.jit.script) are not findings
_NOISE = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


def _describe(w: warnings.WarningMessage) -> str:
    return f"{w.category.__name__}: {str(w.message).splitlines()[0][:300]}"


def run(name: str, variant: str, data: Data, budget: Budget) -> dict:
    """Build and train one pipeline variant. Raises NotApplicable when the variant cannot
    apply to this pipeline (the reason is the message)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        setup = pipeline(name).build(variant, budget)
    built = sorted({_describe(w) for w in caught if not issubclass(w.category, _NOISE)})
    result = train_and_test(setup, data, budget, label=f"{name}/{variant}")
    result["warnings"] = built + [w for w in result["warnings"] if w not in built]
    return result


__all__ = [
    "NAMES",
    "VARIANTS",
    "Budget",
    "Data",
    "NotApplicable",
    "Setup",
    "pipeline",
    "run",
    "train_and_test",
]
