"""Upstream snnTorch and Norse pipelines, re-typed as their users write them, each runnable as
``upstream`` (surrogate gradients, unchanged), ``swap`` (the literal class-name swap to this
package's ReL-PSP neurons plus at most the one documented readout line), ``clock``
(``stdbp_plugin.convert(model, mode="clock")``), ``event`` (``convert(model,
mode="event")``), and ``swap_reinit`` / ``clock_reinit`` (swap / clock plus
``stdbp_plugin.reinit(model, run)`` on the first training batch, before training).
``benchmarks/bench_pipelines.py`` runs the matrix and writes ``docs/pipelines.md``.

Each pipeline module defines NAME, TITLE, SOURCE, INPUT, READOUT, NUM_STEPS, BATCH_SIZE,
CHANGES (variant -> the lines the user changes, as diff text), MODEL_NAME and REINIT_RUN (how
the reinit line names the model and one forward pass) and ``build(variant, budget) -> Setup``;
``run(name, variant, data, budget)`` trains and tests one cell of the matrix.
"""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType

import torch

from pipelines._driver import (
    REINIT_BASE,
    VARIANTS,
    Budget,
    Data,
    NotApplicable,
    Setup,
    train_and_test,
)

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


def reinit_on_first_batch(setup: Setup, data: Data, budget: Budget, **kwargs: object) -> None:
    """``stdbp_plugin.reinit(model, lambda: forward(first batch))``: the batch the training
    loop takes first (same shuffle), before any optimizer step; its report goes to the notes.
    ``kwargs`` (a pipeline's ``REINIT_KWARGS``, shown in its reinit line) are passed on, with
    ``optimizer`` (the pipeline's) when there are any."""
    import stdbp_plugin

    generator = torch.Generator().manual_seed(budget.seed)
    n = len(data.y_train)
    first = torch.randperm(n, generator=generator)[: min(setup.batch_size, n)]
    if kwargs:
        kwargs = {"optimizer": setup.optimizer, **kwargs}
    report = stdbp_plugin.reinit(setup.model, lambda: setup.forward(data.x_train[first]), **kwargs)
    setup.notes.append(str(report))


def changes(module: ModuleType, variant: str) -> list[str]:
    """The lines the user changes for ``variant``: a ``*_reinit`` variant adds one line to its
    base variant's (the pipeline's ``REINIT_RUN`` names its forward pass of one batch)."""
    if variant not in REINIT_BASE:
        return list(module.CHANGES.get(variant) or [])
    base = list(module.CHANGES.get(REINIT_BASE[variant]) or [])
    model = getattr(module, "MODEL_NAME", "model")
    run = getattr(module, "REINIT_RUN", "forward(first_batch)")
    kwargs = getattr(module, "REINIT_KWARGS", {})
    # the pipeline's own reinit arguments, with its optimizer (the learning rate they use)
    extra = "".join(f", {k}={v!r}" for k, v in kwargs.items())
    extra = f", optimizer=optimizer{extra}" if kwargs else ""
    added = (
        []
        if any("import stdbp_plugin as stdbp" in line for line in base)
        else ["+ import stdbp_plugin as stdbp"]
    )
    return (
        added
        + base
        + [f"+ stdbp.reinit({model}, lambda: {run}{extra})   # once, before training (reinit line)"]
    )


def run(name: str, variant: str, data: Data, budget: Budget) -> dict:
    """Build and train one pipeline variant. Raises NotApplicable when the variant cannot
    apply to this pipeline (the reason is the message)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        setup = pipeline(name).build(REINIT_BASE.get(variant, variant), budget)
        if variant in REINIT_BASE:
            kwargs = getattr(pipeline(name), "REINIT_KWARGS", {})
            reinit_on_first_batch(setup, data, budget, **kwargs)
    built = sorted({_describe(w) for w in caught if not issubclass(w.category, _NOISE)})
    result = train_and_test(setup, data, budget, label=f"{name}/{variant}")
    result["warnings"] = built + [w for w in result["warnings"] if w not in built]
    return result


__all__ = [
    "NAMES",
    "REINIT_BASE",
    "VARIANTS",
    "Budget",
    "Data",
    "NotApplicable",
    "Setup",
    "changes",
    "pipeline",
    "run",
    "train_and_test",
]
