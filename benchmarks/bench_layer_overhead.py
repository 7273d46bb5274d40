"""Per-call overhead of ``relpsp_linear`` around its kernel: host syncs and non-kernel time.

On a GPU every check that reads tensor values (``bool(t.any())``, ``.item()``) waits for the
device; the H200 check (benchmarks/results/gpu_check_h200.json) found the 784-800-10 step at
6.4 ms with the first layer's kernels under 1 ms. This measures, on CPU, what such overhead is
made of, for the layer code of git revision ``--before`` (loaded from git beside the current
code, with that revision's validation, coding and loss modules) and the current one,
interleaved:

- ``syncs``: calls that read a tensor's value on the host (``__bool__``, ``item``, ``__float__``,
  ``__int__``, ``tolist``) during one training step's forward and backward (each is one device
  sync on a GPU), as run on CPU and as the layer runs off the CPU (``sync_is_free`` false);
- ``step``: one training step of 784-800-10 (latency coding, two ``relpsp_linear`` layers
  with bias, ``temporal_cross_entropy``, backward, Adam), median wall time;
- ``kernel``: the time spent inside the numba kernel's ``forward`` / ``backward`` in that step;
  ``overhead = step - kernel`` (Python, autograd, checks, torch ops around the kernel, Adam).

At ``--threads 1`` the times are the calling thread's CPU time (``time.thread_time``: all the
work runs on it, and a loaded machine's preemption does not count), else wall time.

``--model cnn``: the same for a training step of 16C5-P2-32C5-P2-800-128-10 (batch 64; the
kernel time then includes ``conv_order`` or the direct conv walk of ``numba_conv``).

    python benchmarks/bench_layer_overhead.py [--model mlp|cnn] [--threads 1] [--repeats 15]
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch / numba start OpenMP
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import common  # noqa: E402
import torch  # noqa: E402

BEFORE = "229390f"  # the layer code before the overhead work
# at one thread every op runs on the calling thread: its CPU time, which a busy machine's
# preemption does not inflate; else wall time (set in main)
CLOCK = time.perf_counter
SYNC_NAMES = {"__bool__", "item", "__float__", "__int__", "tolist"}


class SyncCounter:
    """Counts host reads of tensor values (one device sync each on a GPU) by wrapping those
    Tensor methods for the duration (seen from any thread, autograd's backward included)."""

    def __enter__(self) -> SyncCounter:
        self.count, self.saved = 0, {n: getattr(torch.Tensor, n) for n in SYNC_NAMES}
        for name, method in self.saved.items():
            setattr(torch.Tensor, name, self._counted(method))
        return self

    def _counted(self, method):
        def wrapper(*args, **kwargs):
            self.count += 1
            return method(*args, **kwargs)

        return wrapper

    def __exit__(self, *exc) -> None:
        for name, method in self.saved.items():
            setattr(torch.Tensor, name, method)


def count_syncs(forward_backward, gpu_path: bool) -> int:
    """Host reads in one forward + backward; ``gpu_path``: as the layer runs off the CPU
    (where it skips the reads that are free on CPU only)."""
    from stdbp_plugin.functional import linear

    free = linear.sync_is_free
    linear.sync_is_free = (lambda device: False) if gpu_path else free
    try:
        with SyncCounter() as counter:
            forward_backward()
    finally:
        linear.sync_is_free = free
    return counter.count


def load_layers(rev: str, where: Path) -> dict:
    """functional/{linear,conv,coding,loss}.py of ``rev``, the layers bound to that revision's
    functional/validation.py (and conv to its linear)."""
    mods = {
        name: common.module_at_revision(rev, f"stdbp_plugin/functional/{name}.py", where, name)
        for name in ("validation", "linear", "conv", "coding", "loss")
    }
    for fn in ("check_spike_times", "check_same", "as_threshold"):
        if hasattr(mods["linear"], fn):
            setattr(mods["linear"], fn, getattr(mods["validation"], fn))
    mods["conv"].check_spike_times = mods["validation"].check_spike_times
    for fn in ("_ReLPSPLinear", "check_linear_args"):
        setattr(mods["conv"], fn, getattr(mods["linear"], fn))
    return {
        "relpsp_linear": mods["linear"].relpsp_linear,
        "relpsp_conv2d": mods["conv"].relpsp_conv2d,
        "earliest_spike_pool2d": mods["conv"].earliest_spike_pool2d,
        "latency_encode": mods["coding"].latency_encode,
        "temporal_cross_entropy": mods["loss"].temporal_cross_entropy,
    }


def current_layers() -> dict:
    from stdbp_plugin import functional as SF

    names = (
        "relpsp_linear",
        "relpsp_conv2d",
        "earliest_spike_pool2d",
        "latency_encode",
        "temporal_cross_entropy",
    )
    return {name: getattr(SF, name) for name in names}


class KernelClock:
    """Wraps the numba kernels' forward / backward (and conv_order) to add up the time spent
    inside them (numba_cpu and, for the CNN, the direct conv walk of numba_conv)."""

    def __init__(self, *kernels) -> None:
        self.total = 0.0
        for kernel in kernels:
            for name in ("forward", "backward", "conv_order"):
                if hasattr(kernel, name):
                    setattr(kernel, name, self._timed(getattr(kernel, name)))

    def _timed(self, fn):
        def wrapper(*args, **kwargs):
            start = CLOCK()
            try:
                return fn(*args, **kwargs)
            finally:
                self.total += CLOCK() - start

        return wrapper


def step_fn(fns: dict, x, y, params):
    linear, encode, loss = (
        fns["relpsp_linear"],
        fns["latency_encode"],
        fns["temporal_cross_entropy"],
    )
    w1, b1, w2, b2 = (p.clone().requires_grad_() for p in params)
    opt = torch.optim.Adam([w1, b1, w2, b2], lr=1e-3)

    def forward_backward():
        h = linear(encode(x), w1, b1, backend="numba")
        out = linear(h, w2, b2, backend="numba")
        loss(out, y).backward()

    def step():
        opt.zero_grad()
        forward_backward()
        opt.step()

    return step, forward_backward


def cnn_step_fn(fns: dict, x, y, params):
    """16C5-P2-32C5-P2-800-128-10 on [B, 1, 28, 28]: the paper's CNN."""
    conv, pool, linear = fns["relpsp_conv2d"], fns["earliest_spike_pool2d"], fns["relpsp_linear"]
    ws = [p.clone().requires_grad_() for p in params]
    bs = [torch.zeros(w.shape[0], requires_grad=True) for w in ws]
    opt = torch.optim.Adam(ws + bs, lr=1e-3)

    def forward_backward():
        h = fns["latency_encode"](x.reshape(-1, 1, 28, 28))
        h = pool(conv(h, ws[0], bs[0], backend="numba"), 2)
        h = pool(conv(h, ws[1], bs[1], backend="numba"), 2).flatten(1)
        for w, b in zip(ws[2:], bs[2:], strict=True):
            h = linear(h, w, b, backend="numba")
        fns["temporal_cross_entropy"](h, y).backward()

    def step():
        opt.zero_grad()
        forward_backward()
        opt.step()

    return step, forward_backward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--before", default=BEFORE, help="git revision of the older layer code")
    parser.add_argument("--batch", type=int, default=None, help="default 128 (mlp), 64 (cnn)")
    parser.add_argument("--model", choices=("mlp", "cnn"), default="mlp")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    common.set_threads(args.threads)
    global CLOCK
    CLOCK = time.thread_time if args.threads == 1 else time.perf_counter

    from stdbp_plugin.kernels import numba_conv, numba_cpu
    from stdbp_plugin.nn import relpsp_init_

    torch.manual_seed(0)
    args.batch = args.batch or (128 if args.model == "mlp" else 64)
    x, y, source = common.mnist_batch(args.batch)
    if args.model == "mlp":
        make = step_fn
        params = (
            relpsp_init_(torch.empty(800, 784)),
            torch.zeros(800),
            relpsp_init_(torch.empty(10, 800)),
            torch.zeros(10),
        )
    else:
        make = cnn_step_fn
        shapes = ((16, 1, 5, 5), (32, 16, 5, 5), (800, 512), (128, 800), (10, 128))
        params = tuple(relpsp_init_(torch.empty(shape)) for shape in shapes)
    clock = KernelClock(numba_cpu, numba_conv)
    with tempfile.TemporaryDirectory() as tmp:
        versions = {"before": load_layers(args.before, Path(tmp)), "now": current_layers()}
        steps, syncs = {}, {}
        for name, fns in versions.items():
            steps[name], forward_backward = make(fns, x, y, params)
            steps[name]()  # warm up (numba compile / cache load)
            syncs[name] = count_syncs(forward_backward, False)
            syncs[name + "_gpu_path"] = count_syncs(forward_backward, True)
        wall = {name: [] for name in versions}
        kern = {name: [] for name in versions}
        names = list(versions)
        for r in range(args.repeats):
            for name in names[r % 2 :] + names[: r % 2]:  # order alternates
                clock.total = 0.0
                start = CLOCK()
                steps[name]()
                wall[name].append(CLOCK() - start)
                kern[name].append(clock.total)
    rows = {}
    for name in names:
        step_ms = 1e3 * statistics.median(wall[name])
        kernel_ms = 1e3 * statistics.median(kern[name])
        overhead = 1e3 * statistics.median(
            w - k for w, k in zip(wall[name], kern[name], strict=True)
        )
        rows[name] = {
            "syncs_per_step": syncs[name],
            "syncs_per_step_gpu_path": syncs[name + "_gpu_path"],
            "step_ms": step_ms,
            "kernel_ms": kernel_ms,
            "overhead_ms": overhead,
        }
    load = os.getloadavg()
    print(
        f"{'784-800-10' if args.model == 'mlp' else '16C5-P2-32C5-P2-800-128-10'}, "
        f"batch {args.batch}, input {source}, {args.threads} thread(s), "
        f"{args.repeats} interleaved repeats, load avg {load[0]:.1f}; before = {args.before}; "
        f"{'thread CPU' if args.threads == 1 else 'wall'} time"
    )
    print(f"{'':<8}{'syncs CPU/GPU':>14}{'step ms':>10}{'kernel ms':>11}{'overhead ms':>13}")
    for name, row in rows.items():
        syncs_text = f"{row['syncs_per_step']}/{row['syncs_per_step_gpu_path']}"
        print(
            f"{name:<8}{syncs_text:>14}{row['step_ms']:>10.2f}"
            f"{row['kernel_ms']:>11.2f}{row['overhead_ms']:>13.2f}"
        )
    if args.out:
        payload = {
            "threads": args.threads,
            "repeats": args.repeats,
            "batch": args.batch,
            "model": args.model,
            "before": args.before,
            "input": source,
            "load_avg": load[0],
            "clock": "thread_time" if args.threads == 1 else "perf_counter",
            "rows": rows,
        }
        args.out.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
