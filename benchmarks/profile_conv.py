"""Per-phase CPU time of the two ReL-PSP conv layers of 16C5-P2-32C5-P2-800-128-10 (batch 64 of
latency-coded MNIST): the unfold path (the numba kernel of revision ``--unfold`` on unfolded
rows) against the direct walk of kernels/numba_conv.py.

Unfold path: unfold the fields into rows, prepend the bias column, ``conv_order`` (one sort
per sample's map), the kernel's forward and backward on the rows, fold the rows' input
gradients back into the map. Direct walk: ``numba_conv.forward`` / ``backward`` (which include
the ordering and the scatter into the map); its backward once with a random gradient at every
output (as the unfold path's row) and once with what training sends (a gradient at each 2x2
pooling window's winner that fired). Each phase is timed by ``time.thread_time`` (one
thread; the other jobs' preemption does not count), the phases interleaved per round, medians.

    python benchmarks/profile_conv.py [--repeats 7]
    python benchmarks/profile_conv.py --step [--repeats 7]   # phases of the training step

``--step``: where one training step's CPU time goes (bench_cnn_step's STDBP step, one thread):
each autograd function's forward and backward (the two conv layers, the two poolings, the three
fully connected layers) and Adam's step are timed by ``time.thread_time`` inside the step
(wrapped, not edited), the rest of the step is everything else (encoder, loss, autograd, checks).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import common  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from bench_cnn_step import SPEC, UNFOLD  # noqa: E402
from profile_kernel import load_revision  # noqa: E402


def conv_inputs(batch: int, seed: int) -> list[tuple[torch.Tensor, torch.nn.Module]]:
    """(input map, layer) of each conv layer of a freshly initialised network."""
    from stdbp_plugin.lightning.stdbp_network import STDBPNetwork
    from stdbp_plugin.nn import ReLPSPConv2d

    x, _, _ = common.mnist_batch(batch, seed)
    torch.manual_seed(seed)
    net = STDBPNetwork(SPEC, (1, 28, 28))
    found = []
    with torch.no_grad():
        t = net.encoder(x.reshape(-1, 1, 28, 28))
        for layer in net.layers:
            if isinstance(layer, ReLPSPConv2d):
                found.append((t, layer))
            elif len(found) == 2 and not isinstance(layer, torch.nn.MaxPool2d):
                break
            t = layer(t)
    return found


def phases(t_map: torch.Tensor, layer, old) -> dict:
    """Zero-argument callables, one per phase, for one conv layer."""
    from stdbp_plugin.kernels import numba_conv

    weight, bias = layer.weight.detach(), layer.bias.detach()
    out_ch, channels, kh, kw = weight.shape
    theta = layer.threshold.detach().expand(out_ch).contiguous()
    size = t_map.shape[2:]
    w_cols = torch.cat([bias[None], weight.reshape(out_ch, -1).t()]).contiguous()

    def unfold():
        return F.unfold(t_map, (kh, kw)).transpose(1, 2).reshape(-1, channels * kh * kw)

    rows = unfold()
    rows_b = torch.cat([rows.new_zeros(rows.shape[0], 1), rows], 1)
    order = old.conv_order(t_map, (kh, kw), (1, 1), True)
    res = old.forward(rows_b, w_cols.t(), theta, order)
    a = torch.randn(res.t_out.shape) * torch.isfinite(res.t_out)
    grad_rows = torch.randn(rows.shape).reshape(t_map.shape[0], -1, rows.shape[1]).transpose(1, 2)
    direct = numba_conv.forward(t_map, w_cols, theta, (kh, kw), (1, 1), True)
    grad_out = torch.randn(direct.t_out.shape)
    # what training sends: a gradient at each 2x2 pooling window's winner, if it fired
    _, winners = F.max_pool2d(-direct.t_out, 2, return_indices=True)
    at_winners = torch.zeros_like(grad_out).flatten(2)
    at_winners.scatter_(2, winners.flatten(2), torch.randn(winners.flatten(2).shape))
    at_winners = torch.where(direct.t_out.isfinite(), at_winners.reshape(grad_out.shape), 0.0)
    return {
        "unfold: unfold + reshape": unfold,
        "unfold: bias column": lambda: torch.cat([rows.new_zeros(rows.shape[0], 1), rows], 1),
        "unfold: conv_order": lambda: old.conv_order(t_map, (kh, kw), (1, 1), True),
        "unfold: kernel forward": lambda: old.forward(rows_b, w_cols.t(), theta, order),
        "unfold: kernel backward": lambda: old.backward(
            a, rows_b, res.t_out, w_cols.t(), order, res.n_causal
        ),
        "unfold: fold": lambda: F.fold(grad_rows, size, (kh, kw)),
        "direct: forward": lambda: numba_conv.forward(t_map, w_cols, theta, (kh, kw), (1, 1), True),
        "direct: backward": lambda: numba_conv.backward(
            grad_out, t_map, direct.t_out, w_cols, direct
        ),
        "direct: backward (pool winners)": lambda: numba_conv.backward(
            at_winners, t_map, direct.t_out, w_cols, direct
        ),
    }


def timed_autograd(cls, label: str, acc: dict, shape_of) -> None:
    """Wrap cls.forward / cls.backward (an autograd.Function) to add their thread CPU time to
    acc[(label + the input's shape, "forward" / "backward")]."""
    fwd, bwd = cls.forward, cls.backward

    def forward(ctx, *args):
        start = time.thread_time()
        out = fwd(ctx, *args)
        ctx._profile_key = f"{label} {shape_of(args)}"
        key = (ctx._profile_key, "forward")
        acc[key] = acc.get(key, 0.0) + time.thread_time() - start
        return out

    def backward(ctx, *grads):
        start = time.thread_time()
        out = bwd(ctx, *grads)
        key = (ctx._profile_key, "backward")
        acc[key] = acc.get(key, 0.0) + time.thread_time() - start
        return out

    cls.forward, cls.backward = staticmethod(forward), staticmethod(backward)


def step_phases(repeats: int, seed: int) -> dict:
    """Per-phase means over ``repeats`` steps (ms of thread CPU time per step)."""
    from bench_cnn_step import stdbp_step

    from stdbp_plugin.functional import conv, linear, relpsp_conv2d, relpsp_linear

    acc: dict = {}
    timed_autograd(conv._ReLPSPConv2d, "conv", acc, lambda a: tuple(a[1].shape))
    timed_autograd(conv._EarliestSpikePool2d, "pool", acc, lambda a: tuple(a[0].shape[1:]))
    timed_autograd(linear._ReLPSPLinear, "linear", acc, lambda a: tuple(a[1].shape))
    x, y, _ = common.mnist_batch(64, seed)
    step = stdbp_step(relpsp_conv2d, relpsp_linear, x, y, seed)
    adam = torch.optim.Adam.step

    def timed_adam(self, *args, **kwargs):
        start = time.thread_time()
        out = adam(self, *args, **kwargs)
        acc[("Adam", "step")] = acc.get(("Adam", "step"), 0.0) + time.thread_time() - start
        return out

    torch.optim.Adam.step = timed_adam
    for _ in range(2):  # compile, warm up
        step()
    acc.clear()
    totals = []
    for _ in range(repeats):
        start = time.thread_time()
        step()
        totals.append(time.thread_time() - start)
    ms = {f"{k[0]}: {k[1]}": 1e3 * v / repeats for k, v in acc.items()}
    ms["rest (encoder, loss, autograd, checks)"] = 1e3 * sum(totals) / repeats - sum(ms.values())
    ms["step (mean)"] = 1e3 * sum(totals) / repeats
    ms["step (median)"] = 1e3 * statistics.median(totals)
    return ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--step", action="store_true", help="phases of the training step")
    parser.add_argument("--unfold", default=UNFOLD, help="git revision of the row kernel")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    common.set_threads(1)
    if args.step:
        ms = step_phases(args.repeats, args.seed)
        print(f"{SPEC} training step, batch 64, 1 thread, CPU ms per step, {args.repeats} steps")
        for key, value in ms.items():
            print(f"  {key:<46}{value:>8.2f}")
        print(f"load average {os.getloadavg()[0]:.1f}")
        if args.out is not None:
            common.write_json(
                args.out,
                {
                    "network": SPEC,
                    "batch": 64,
                    "statistic": "mean thread CPU time per step and phase, ms",
                    "phase_ms": ms,
                    "machine": common.machine_info(1),
                },
            )
        return
    with tempfile.TemporaryDirectory() as tmp:
        old = load_revision(args.unfold, Path(tmp), ("numba_cpu",))["numba_cpu"]
        result = {}
        for t_map, layer in conv_inputs(64, args.seed):
            name = f"conv {tuple(layer.weight.shape)} on {tuple(t_map.shape)}"
            calls = phases(t_map, layer, old)
            times = {k: [] for k in calls}
            for _ in range(args.repeats + 1):  # the first round compiles / warms up
                for key, call in calls.items():
                    start = time.thread_time()
                    call()
                    times[key].append(time.thread_time() - start)
            ms = {k: 1e3 * statistics.median(v[1:]) for k, v in times.items()}
            unfold_total = sum(v for k, v in ms.items() if k.startswith("unfold"))
            direct_total = ms["direct: forward"] + ms["direct: backward"]
            print(f"{name}, medians of {args.repeats}, CPU ms (1 thread)")
            for key, value in ms.items():
                print(f"  {key:<34}{value:>8.2f}")
            print(f"  unfold path total {unfold_total:.2f}, direct total {direct_total:.2f}")
            result[name] = ms
    load = os.getloadavg()[0]
    print(f"load average {load:.1f}")
    if args.out is not None:
        common.write_json(
            args.out,
            {
                "network": SPEC,
                "batch": 64,
                "unfold_revision": args.unfold,
                "statistic": "median thread CPU time per phase, ms",
                "phase_ms": result,
                "machine": common.machine_info(1),
            },
        )


if __name__ == "__main__":
    main()
