"""Where one STDBP training step's time goes, phase by phase, beside the ReLU ANN's step.

784-800-10 MLP, batch 128, latency-coded MNIST (random inputs with 20% active pixels when the
raw IDX files are absent), the step of bench_train_step.py: LatencyEncoder -> ReLPSPLinear(784,
800) -> ReLPSPLinear(800, 10), temporal_cross_entropy, backward, Adam. Each phase is timed by
the calling thread's CPU time (``time.thread_time``; one thread, so all the work runs on it and
other processes do not count) around the step's parts and around the numba kernel's entry
points (layer_forward / layer_backward of each layer); "torch around" = the part minus its
kernel call. The per-sample sort inside each layer's forward is timed apart, on that layer's
own inputs of the same step. STDBP and ANN steps alternate; medians over the rounds.

    python benchmarks/profile_step.py [--repeats 41] [--threads 1] [--out FILE]

With ``--threads N`` > 1 the phases are timed by the wall clock instead (the thread's CPU time
would miss the other threads' work); the per-layer sorts still run on the calling thread.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch / numba start OpenMP
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import argparse  # noqa: E402
import collections  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import common  # noqa: E402
import numba  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from stdbp_plugin.kernels.numba_cpu import _sort_row  # noqa: E402

clock = time.thread_time  # wall clock with --threads > 1 (main)


@numba.njit(cache=True)
def _sort_all(t_in, density):
    """The kernel's per-sample sort of every row (as its forward runs it)."""
    n_in = t_in.shape[1]
    order = np.empty(n_in, np.int64)
    times = np.empty(n_in + 1)
    scratch_t, scratch_i = np.empty(n_in), np.empty(n_in, np.int64)
    counts = np.empty(np.int64(n_in * density) + 2, np.int64)
    for b in range(t_in.shape[0]):
        _sort_row(t_in[b], order, times, scratch_t, scratch_i, counts, density)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=41)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    common.set_threads(args.threads)
    if args.threads > 1:
        global clock
        clock = time.perf_counter
    from bench_train_step import ann_step_fn

    from stdbp_plugin import functional as SF
    from stdbp_plugin import nn as snn_e
    from stdbp_plugin.kernels import numba_cpu as kernel

    x, y, source = common.mnist_batch(128, 0)
    torch.manual_seed(0)
    enc, l1, l2 = snn_e.LatencyEncoder(), snn_e.ReLPSPLinear(784, 800), snn_e.ReLPSPLinear(800, 10)
    net = nn.Sequential(enc, l1, l2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    spent = collections.defaultdict(float)
    inputs = {}
    fwd, bwd = kernel.layer_forward, kernel.layer_backward

    def timed_forward(t_in, weight, threshold, horizon):
        start = clock()
        result = fwd(t_in, weight, threshold, horizon)
        spent[f"kernel forward {t_in.shape[1]}-{weight.shape[0]}"] += clock() - start
        inputs[weight.shape[0]] = t_in.detach().numpy()
        return result

    def timed_backward(*args):
        start = clock()
        result = bwd(*args)
        spent[f"kernel backward {args[3].shape[1]}-{args[5].shape[0]}"] += clock() - start
        return result

    kernel.layer_forward, kernel.layer_backward = timed_forward, timed_backward

    def stdbp_step() -> dict:
        spent.clear()
        marks = [clock()]
        opt.zero_grad()
        marks.append(clock())
        t = enc(x)
        marks.append(clock())
        h = l1(t)
        marks.append(clock())
        out = l2(h)
        marks.append(clock())
        loss = SF.temporal_cross_entropy(out, y)
        marks.append(clock())
        loss.backward()
        marks.append(clock())
        opt.step()
        marks.append(clock())
        parts = ("zero_grad", "encode", "layer 1", "layer 2", "loss", "backward", "Adam")
        row = {p: marks[i + 1] - marks[i] for i, p in enumerate(parts)}
        row["step"] = marks[-1] - marks[0]
        row.update(spent)
        for n_out, density in ((800, kernel.SORT_DENSITY), (10, kernel.SORT_DENSITY)):
            start = clock()
            _sort_all(inputs[n_out], density)
            row[f"sort {inputs[n_out].shape[1]}-{n_out} (in its kernel forward)"] = clock() - start
        return row

    ann = ann_step_fn(800)
    for _ in range(3):
        stdbp_step()
        ann(x, y)
    rows, ann_times = [], []
    for _ in range(args.repeats):
        rows.append(stdbp_step())
        start = clock()
        ann(x, y)
        ann_times.append(clock() - start)
    ms = {k: 1e3 * statistics.median(r[k] for r in rows) for k in rows[0]}
    ms["torch around layer 1 forward"] = ms["layer 1"] - ms["kernel forward 785-800"]
    ms["torch around layer 2 forward"] = ms["layer 2"] - ms["kernel forward 801-10"]
    ms["backward outside the kernels"] = (
        ms["backward"] - ms["kernel backward 785-800"] - ms["kernel backward 801-10"]
    )
    ms["ReLU ANN step"] = 1e3 * statistics.median(ann_times)
    load = os.getloadavg()[0]
    what = "CPU time" if args.threads == 1 else "wall time"
    print(
        f"784-800-10, batch 128, input {source}, {args.threads} thread(s), {what}, load avg {load:.1f}"
    )
    for k, v in ms.items():
        print(f"{k:<48}{v:>8.2f} ms")
    print(f"STDBP step / ANN step: {ms['step'] / ms['ReLU ANN step']:.2f}x")
    if args.out is not None:
        common.write_json(
            args.out,
            {
                "network": "784-800-10",
                "batch": 128,
                "input": source,
                "repeats": args.repeats,
                "statistic": f"median {what}, ms, {args.threads} thread(s)",
                "phases_ms": ms,
                "machine": common.machine_info(args.threads),
            },
        )


if __name__ == "__main__":
    main()
