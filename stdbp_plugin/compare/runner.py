"""Run the comparison: each model trains in a fresh process (clean peak-memory figures)."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from stdbp_plugin.compare.train_one import MODELS, CompareConfig, train_one


def _exit_with_parent(parent: int, poll_s: float = 0.5) -> None:
    """Stop this process once ``parent`` is no longer its parent (it died or was killed, even
    by SIGKILL, or exited while this child was still starting): no orphan keeps training."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _child(target: Callable[..., dict], args: tuple, out_path: str, parent: int) -> None:
    from stdbp_plugin.compare.quiet import quiet

    _exit_with_parent(parent)
    quiet()
    try:
        result = target(*args)
    except Exception as err:  # reported to the parent, which raises
        result = {"error": f"{type(err).__name__}: {err}", "trace": traceback.format_exc()}
    Path(out_path).write_text(json.dumps(result))


def run_isolated(target: Callable[..., dict], *args, label: str = "training") -> dict:
    """``target(*args)`` in a fresh spawned process; returns its JSON-able dict result.

    ``target`` must be importable (a module-level function) and ``args`` picklable. Raises
    RuntimeError with the child's traceback if it fails or dies. Interrupted (Ctrl-C, SIGTERM
    turned into SystemExit by the caller), it stops the child before passing the interrupt on."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        child_args = (target, args, str(out), os.getpid())
        proc = mp.get_context("spawn").Process(target=_child, args=child_args)
        try:  # an interrupt while the child starts stops it too
            proc.start()
            proc.join()
        finally:
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=10)
            if proc.is_alive():  # a handler kept it from stopping on SIGTERM
                proc.kill()
                proc.join()
        if not out.exists():
            raise RuntimeError(f"{label} died (exit code {proc.exitcode})")
        result = json.loads(out.read_text())
    if "error" in result:
        raise RuntimeError(f"{label} failed: {result['error']}\n{result['trace']}")
    return result


def _train_by_name(name: str, cfg_dict: dict) -> dict:
    return train_one(name, CompareConfig(**cfg_dict))


def run_models(
    models: tuple[str, ...], cfg: CompareConfig, isolate: bool = True, log=print
) -> list[dict]:
    """Train and test each model in turn; with ``isolate`` each in its own spawned process."""
    for name in models:
        if name not in MODELS:
            raise ValueError(f"models must be drawn from {MODELS}, got {name!r}")
    if len(set(models)) != len(models):
        raise ValueError(f"models must not repeat a name, got {models!r}")
    results = []
    for name in models:
        log(f"training {name} ({cfg.epochs} epochs, {cfg.dataset})")
        if not isolate:
            results.append(train_one(name, cfg))
            continue
        results.append(run_isolated(_train_by_name, name, cfg.to_dict(), label=f"training {name}"))
    return results
