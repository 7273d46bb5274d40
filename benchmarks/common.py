"""Shared helpers of the benchmark scripts: MNIST batches, interleaved median timing, peak
memory of one training step in a fresh subprocess, thread setup, machine info, JSON output.

Import this module BEFORE torch: it sets ``OMP_WAIT_POLICY=PASSIVE`` (unless already set),
without which the spin-waiting OpenMP threads of torch and numba make timings on a busy
machine meaningless (see docs/speed.md).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import importlib.util  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from stdbp_plugin.data import has_raw_files, load_split, resolve_data_dir  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
MEMORY_CHILD_FLAG = "--memory-child"
# A fixed mmap threshold turns off glibc's dynamic threshold, so every large tensor is its own
# mmap that is unmapped when freed: RSS then follows the live tensors instead of malloc's cache.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}


def data_dir() -> Path:
    """$STDBP_DATA_DIR if set, else ../shared/data beside the repository."""
    return resolve_data_dir(None) or REPO_ROOT.parent / "shared" / "data"


def has_mnist(root: Path | None = None) -> bool:
    return has_raw_files("mnist", data_dir() if root is None else root)


def mnist(
    train: bool, n: int | None = None, root: Path | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST images [n, 784] in [0, 1] and labels [n] (official split, the first n, never
    downloaded) from ``root`` (default: :func:`data_dir`), by stdbp_plugin.data.load_split."""
    x, y = load_split("mnist", data_dir() if root is None else root, train, first=n).tensors
    return x.reshape(len(x), -1), y


def mnist_batch(batch: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, str]:
    """The first ``batch`` MNIST training images and labels, or random ones (20% of the pixels
    non-zero, about MNIST's share) when the files are absent; the third value says which."""
    if has_mnist() and batch <= 60000:
        x, y = mnist(True, batch)
        return x, y, "mnist"
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 784, generator=g)
    x = torch.where(torch.rand(batch, 784, generator=g) < 0.2, x, 0.0)
    return x, torch.randint(0, 10, (batch,), generator=g), "random"


def set_threads(threads: int) -> None:
    """torch and numba thread pools to ``threads`` (stdbp_plugin.compare.threads.set_threads)."""
    from stdbp_plugin.compare.threads import set_threads as set_both

    set_both(threads)


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_interleaved(
    steps: dict[str, Callable[[], object]],
    repeats: int,
    device: str = "cpu",
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, list[float]]:
    """Wall times (s) of ``repeats`` calls of every step, one call of each per round, the order
    rotated every round, so that a change of machine load hits every contestant alike.
    Every step is called once before timing (JIT compile, allocator warm-up). ``clock``:
    ``time.thread_time`` measures the calling thread's CPU time instead (all of a step's work
    at one thread; preemption by other processes does not count)."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    for step in steps.values():
        step()
    synchronize(device)
    names = list(steps)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            start = clock()
            steps[name]()
            synchronize(device)
            times[name].append(clock() - start)
    return times


def median_ms(times_s: list[float]) -> float:
    return 1e3 * statistics.median(times_s)


def step_memory(step: Callable[[], object], device: str = "cpu") -> dict[str, float]:
    """Peak memory of ONE call of ``step`` after one warm-up call (weights, optimizer state and
    the input batch already exist and are not counted):

    - peak_mib: CPU: peak RSS growth during the call (VmHWM after resetting it via
      /proc/self/clear_refs, minus VmRSS before); CUDA: torch.cuda.max_memory_allocated growth.
    - saved_for_backward_mib: bytes of the distinct tensors autograd saved for the backward
      pass (saved_tensors_hooks; storages counted once), an allocator-independent figure.
    """
    from stdbp_plugin.compare.memory import PeakRSS

    step()
    synchronize(device)
    seen: dict[tuple[int, int], int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        seen[(storage.data_ptr(), storage.nbytes())] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            step()
            synchronize(device)
            peak = (torch.cuda.max_memory_allocated() - base) / 2**20
        else:
            with PeakRSS() as rss:
                step()
            peak = rss.peak_mib
    return {"peak_mib": peak, "saved_for_backward_mib": sum(seen.values()) / 2**20}


def memory_in_subprocess(script: Path, config: dict, timeout_s: float = 600) -> dict:
    """Run ``python script --memory-child '<config json>'`` in a fresh process (so memory freed
    and cached by earlier configurations cannot hide this one's peak) and return the JSON dict
    it prints on its last stdout line."""
    env = {**os.environ, **MALLOC_ENV, "OMP_WAIT_POLICY": os.environ["OMP_WAIT_POLICY"]}
    proc = subprocess.run(
        [sys.executable, str(script), MEMORY_CHILD_FLAG, json.dumps(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout_s,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"memory child {config} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def memory_child_config(argv: list[str]) -> dict | None:
    """The config passed to a memory child, or None when this is not a child invocation."""
    if len(argv) == 3 and argv[1] == MEMORY_CHILD_FLAG:
        return json.loads(argv[2])
    return None


def machine_info(threads: int, device: str = "cpu") -> dict:
    import numba

    info = {
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "device": device,
        "load_avg_1_5_15min": list(os.getloadavg()),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset)"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numba": numba.__version__,
    }
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name()
    return info


def load_line(info: dict) -> str:
    one, five, _ = info["load_avg_1_5_15min"]
    return (
        f"{info['cpu_count']} CPUs, {info['threads']} threads, device {info['device']}, "
        f"load avg {one:.1f} (1 min) {five:.1f} (5 min), OMP_WAIT_POLICY={info['omp_wait_policy']}"
    )


def write_json(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


def module_at_revision(rev: str, path: str, where: Path, name: str):
    """Import the file ``path`` (relative to the repository) as it was at git revision ``rev``,
    under the private module name ``stdbp_<rev>_<name>`` (its copy is written into ``where``)."""
    src = subprocess.run(
        ["git", "show", f"{rev}:{path}"], cwd=REPO_ROOT, check=True, capture_output=True, text=True
    ).stdout
    file = where / f"stdbp_{rev[:8]}_{name}.py"
    file.write_text(src)
    spec = importlib.util.spec_from_file_location(file.stem, file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
