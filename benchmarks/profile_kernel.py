"""Per-phase profile of the event-driven CPU kernel, an older version against the current one.

784-800-10 MLP, batch 128, latency-coded real MNIST (random inputs with 20% active pixels when
the raw IDX files are absent). The older kernel and layer (stdbp_plugin/kernels/numba_cpu.py and
functional/linear.py at git revision ``--before``) are loaded from git beside the current ones;
every phase of both versions, and a ReLU ANN step of the same shape, are timed interleaved
(one call of each per round, order rotated) and the medians reported. Phases, on the first layer
(785 inputs with the bias, 800 neurons):

- sort: the per-sample order of the inputs alone (before: argsort of all inputs; now: the
  kernel's own sort of the finite inputs);
- walk: the S, P updates alone over every finite input (no crossing test, no early stop);
- forward compute: the kernel's numba forward on prepared numpy arrays; crossing tests =
  forward compute - sort - walk (now fused with the walk, so only their sum is meaningful);
- forward / backward movement: kernel call minus its numba compute (torch <-> numpy, the
  transposed weight copy, output and buffer allocation, the reduction of per-thread buffers);
- layer overhead: forward + backward through the autograd Function minus the kernel calls
  (bias concatenation, masks, 1/S, autograd bookkeeping);
- step: encode + 784-800-10 forward + temporal_cross_entropy + backward + Adam step.

``--clock thread`` (with ``--threads 1``) times the calling thread's CPU time instead of wall
time: all the work runs on that thread, and other processes on a loaded machine do not count.

    python benchmarks/profile_kernel.py [--threads 1] [--repeats 15] [--before aaa7dc8]
        [--clock wall|thread]
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import common  # noqa: E402
import numba  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

BEFORE = "aaa7dc87b571280d0ce9a3eae2714291f5d5c873"  # the kernel before issue 12's speed work
FILES = {
    "numba_cpu": "stdbp_plugin/kernels/numba_cpu.py",
    "linear": "stdbp_plugin/functional/linear.py",
    "conv": "stdbp_plugin/functional/conv.py",
}


def load_revision(rev: str, where: Path, names: tuple = ("numba_cpu", "linear")) -> dict:
    """Modules of git revision ``rev`` (kernel, layers), imported under private names."""
    return {name: common.module_at_revision(rev, FILES[name], where, name) for name in names}


@numba.njit(cache=True)
def _argsort_all(t_in, order):
    for b in range(t_in.shape[0]):
        order[b] = np.argsort(t_in[b], kind="mergesort")


@numba.njit(cache=True)
def _walk_only(t_in, order, weight_t, s, p):
    """S, P updates over every finite input in sorted order, no crossing test."""
    n_in, n_out = t_in.shape[1], weight_t.shape[1]
    for b in range(t_in.shape[0]):
        s[:] = 0.0
        p[:] = 0.0
        for k in range(n_in):
            i = order[b, k]
            t_k = np.float64(t_in[b, i])
            if not t_k < np.inf:
                break
            w_row = weight_t[i]
            for j in range(n_out):
                w = np.float64(w_row[j])
                s[j] += w
                p[j] += w * t_k


def make_sort_new(kernel):
    """The kernel's own per-sample sort over a batch, as its linear forward calls it: 5
    arguments before the bucket order, 6 with it, 7 with the bucket density (SORT_DENSITY)."""
    sort_row = kernel._sort_row
    n_args = sort_row.py_func.__code__.co_argcount
    density = getattr(kernel, "SORT_DENSITY", 0.5)

    @numba.njit
    def scratch(n_in):
        counts = np.empty(np.int64(n_in * density) + 2, np.int64)
        return np.empty(n_in + 1), np.empty(n_in), np.empty(n_in, np.int64), counts

    if n_args == 5:

        @numba.njit
        def sort_all(t_in, order):
            times, scratch_t, scratch_i, _ = scratch(t_in.shape[1])
            for b in range(t_in.shape[0]):
                sort_row(t_in[b], order[b], times, scratch_t, scratch_i)

    elif n_args == 6:

        @numba.njit
        def sort_all(t_in, order):
            times, scratch_t, scratch_i, counts = scratch(t_in.shape[1])
            for b in range(t_in.shape[0]):
                sort_row(t_in[b], order[b], times, scratch_t, scratch_i, counts)

    else:

        @numba.njit
        def sort_all(t_in, order):
            times, scratch_t, scratch_i, counts = scratch(t_in.shape[1])
            for b in range(t_in.shape[0]):
                sort_row(t_in[b], order[b], times, scratch_t, scratch_i, counts, density)

    return sort_all


def forward_serial_args(kernel, inputs: tuple, outputs: tuple, batch: int) -> tuple:
    """Arguments of the kernel's _forward_serial in the signature of its revision: 9 (plain), 10
    (with the presorted flag of 6542fc5), 11 (with the layer's mask and horizon, now)."""
    n_args = kernel._forward_serial.py_func.__code__.co_argcount
    extra = {9: (), 10: (False,), 11: ()}[n_args]
    if n_args == 11:
        return (*inputs, False, np.float32(np.inf), *outputs, 0, batch)
    return (*inputs, *outputs, *extra, 0, batch)


def phases(mods: dict, data: dict) -> dict:
    """Callables of every phase of one version."""
    kernel, linear = mods["numba_cpu"], mods["linear"]
    tb, wb, theta = data["t_bias"], data["w_bias"], data["theta"]
    t_np, w_t = tb.numpy(), np.ascontiguousarray(wb.numpy().T)
    th64 = theta.numpy().astype(np.float64)
    batch, n_in = t_np.shape
    n_out = w_t.shape[1]
    order = np.empty((batch, n_in), np.int64)
    outs = (np.empty((batch, n_out), np.float32), np.empty((batch, n_out), np.int64))
    slope = np.empty((batch, n_out), np.float32)
    fwd = kernel.forward(tb, wb, theta)
    a = data["a"] * (fwd.n_causal > 0)
    a_np, t_out_np = a.numpy(), fwd.t_out.numpy()
    order_np, nc_np = fwd.order.numpy(), fwd.n_causal.numpy()
    g_in = np.zeros((batch, n_in), np.float32)
    g_w = np.zeros((n_in, n_out), np.float32)
    s, p = np.empty(n_out), np.empty(n_out)
    is_new = hasattr(kernel, "_forward_serial")  # the kernel's API since the speed work
    sort_new = make_sort_new(kernel) if is_new else None
    x, y = data["x"], data["y"]
    w1, b1, w2, b2 = (v.clone().requires_grad_() for v in data["params"])
    opt = torch.optim.Adam([w1, b1, w2, b2], lr=1e-3)
    from stdbp_plugin.functional import latency_encode, temporal_cross_entropy

    def step():
        opt.zero_grad()
        t = latency_encode(x)
        h = linear._ReLPSPLinear.apply(t, w1, b1, data["theta"], kernel, None, None)
        o = linear._ReLPSPLinear.apply(h, w2, b2, data["theta"][:10], kernel, None, None)
        temporal_cross_entropy(o, y).backward()
        opt.step()

    lw = data["params"][0].clone().requires_grad_()
    lb = data["params"][1].clone().requires_grad_()

    def layer():
        t_out = linear._ReLPSPLinear.apply(data["t"], lw, lb, theta, kernel, None, None)
        (t_out.masked_fill(torch.isinf(t_out), 0.0) * data["a"]).sum().backward()

    return {
        "sort": (lambda: sort_new(t_np, order)) if is_new else (lambda: _argsort_all(t_np, order)),
        "walk": lambda: _walk_only(t_np, order_np, w_t, s, p),
        "forward_compute": (
            (
                lambda: kernel._forward_serial(
                    *forward_serial_args(kernel, (t_np, order, w_t, th64), (*outs, slope), batch)
                )
            )
            if is_new
            else (lambda: kernel._forward_range(t_np, order, w_t, th64, 0, batch, *outs, slope))
        ),
        "forward_kernel": lambda: kernel.forward(tb, wb, theta),
        "backward_compute": lambda: kernel._backward_range(
            a_np, t_np, t_out_np, w_t, order_np, nc_np, 0, batch, True, True, g_in, g_w
        ),
        "backward_kernel": lambda: kernel.backward(
            a, tb, fwd.t_out, wb, fwd.order, fwd.n_causal, True, True
        ),
        "layer_forward_backward": layer,
        "step": step,
    }


def ann_step(data: dict):
    net = nn.Sequential(nn.Linear(784, 800), nn.ReLU(), nn.Linear(800, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        nn.functional.cross_entropy(net(data["x"]), data["y"]).backward()
        opt.step()

    return step


def derived(ms: dict) -> dict:
    """Phase breakdown (ms) from the raw medians of one version."""
    fwd_move = ms["forward_kernel"] - ms["forward_compute"]
    bwd_move = ms["backward_kernel"] - ms["backward_compute"]
    overhead = ms["layer_forward_backward"] - ms["forward_kernel"] - ms["backward_kernel"]
    return {
        "sort": ms["sort"],
        "walk": ms["walk"],
        "crossing_tests": ms["forward_compute"] - ms["sort"] - ms["walk"],
        "forward_compute": ms["forward_compute"],
        "forward_movement": fwd_move,
        "backward_compute": ms["backward_compute"],
        "backward_movement": bwd_move,
        "layer_overhead": overhead,
        "layer_forward_backward": ms["layer_forward_backward"],
        "step": ms["step"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--before", default=BEFORE, help="git revision of the older kernel")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--clock", choices=("wall", "thread"), default="wall")
    args = parser.parse_args()
    if args.clock == "thread" and args.threads != 1:
        parser.error("--clock thread measures one thread's CPU time: use it with --threads 1")
    common.set_threads(args.threads)

    from stdbp_plugin.functional import latency_encode
    from stdbp_plugin.functional import linear as linear_now
    from stdbp_plugin.kernels import numba_cpu
    from stdbp_plugin.nn import relpsp_init_

    torch.manual_seed(0)
    x, y, source = common.mnist_batch(args.batch)
    t = latency_encode(x)
    w1 = relpsp_init_(torch.empty(800, 784))
    w2 = relpsp_init_(torch.empty(10, 800))
    b1, b2 = torch.zeros(800), torch.zeros(10)
    data = {
        "x": x,
        "y": y,
        "t": t,
        "t_bias": torch.cat([t.new_zeros(args.batch, 1), t], 1),
        "w_bias": torch.cat([b1[:, None], w1], 1),
        "theta": torch.ones(800),
        "a": torch.randn(args.batch, 800),
        "params": (w1, b1, w2, b2),
    }
    with tempfile.TemporaryDirectory() as tmp:
        versions = {
            "before": load_revision(args.before, Path(tmp)),
            "now": {"numba_cpu": numba_cpu, "linear": linear_now},
        }
        calls = {}
        for name, mods in versions.items():
            for phase, fn in phases(mods, data).items():
                calls[f"{name}/{phase}"] = fn
        calls["ann/step"] = ann_step(data)
        clock = time.thread_time if args.clock == "thread" else time.perf_counter
        times = common.time_interleaved(calls, args.repeats, clock=clock)
    ms = {k: common.median_ms(v) for k, v in times.items()}
    table = {
        v: derived({k.split("/")[1]: t for k, t in ms.items() if k.startswith(v + "/")})
        for v in versions
    }
    load = os.getloadavg()
    print(
        f"784-800-10, batch {args.batch}, input {source}, {args.threads} thread(s), "
        f"{args.repeats} interleaved repeats, {args.clock} clock, load avg {load[0]:.1f}"
    )
    print(f"{'phase (ms, median)':<26}{'before':>10}{'now':>10}{'before/now':>12}")
    for phase in table["before"]:
        b, n = table["before"][phase], table["now"][phase]
        print(f"{phase:<26}{b:>10.2f}{n:>10.2f}{(b / n if n > 0 else float('nan')):>11.2f}x")
    ann = ms["ann/step"]
    print(f"{'ReLU ANN step':<26}{ann:>10.2f}")
    print(
        f"STDBP step / ANN step: before {table['before']['step'] / ann:.2f}x, "
        f"now {table['now']['step'] / ann:.2f}x"
    )
    if args.out is not None:
        common.write_json(
            args.out,
            {
                "shape": "784-800-10",
                "batch": args.batch,
                "input": source,
                "threads": args.threads,
                "repeats": args.repeats,
                "before_revision": args.before,
                "statistic": f"median {args.clock} time, ms, all calls interleaved",
                "phases_ms": table,
                "raw_ms": ms,
                "ann_step_ms": ann,
                "machine": common.machine_info(args.threads),
            },
        )


if __name__ == "__main__":
    main()
