"""How far the forward walk is from the cost of its own float64 arithmetic, and what float32
sums would buy and cost (issue 12's remaining step targets).

On the first layer of the 784-800-10 MLP (batch 128 of latency-coded MNIST, a freshly
initialised ReLPSPLinear(784, 800), bias as input 0) and on the second layer (801 -> 10, the
hidden spike times), each sample's inputs sorted by the kernel's own sort, three walks are
timed side by side on one thread (interleaved, medians):

- ``walk``: the package's walk (``numba_cpu._walk``: float64 S, P, crossing tests per tie group);
- ``updates only``: the same S, P updates of every finite input and nothing else (no crossing
  test, no early stop): the float64 arithmetic the walk cannot avoid;
- ``float32 walk``: the walk with S, P, the weights and the test in float32 (8 AVX2 lanes
  instead of 4), with how far its results are from the float64 walk's: the share of neurons
  whose causal set differs, and the largest relative difference of S and of the spike time
  (theta + P) / S among the neurons that fire in both.

The ReLU layer of the same shape (a float32 matrix product, as the ANN's forward) is timed too.

    python benchmarks/walk_floor.py [--repeats 25] [--out benchmarks/results/walk_floor.json]
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import argparse  # noqa: E402
from pathlib import Path  # noqa: E402

import common  # noqa: E402
import numba  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from stdbp_plugin.kernels.numba_cpu import SORT_DENSITY, _sort_row, _walk  # noqa: E402


@numba.njit(fastmath=False, cache=True)
def _updates_only(row, times, n, weight_t, s, p):
    """S, P updates of every finite input in order: s += w, p += w t (float64), nothing else."""
    s[:] = 0.0
    p[:] = 0.0
    for m in range(n):
        t_m = times[m]
        w_row = weight_t[row[m]]
        for j in range(s.shape[0]):
            w = np.float64(w_row[j])
            s[j] += w
            p[j] += w * t_m


@numba.njit(fastmath=False, cache=True)
def _walk_float32(row, times, n, weight_t, theta, s, p, alive, k_fire):
    """numba_cpu._walk with S, P, the weights and the crossing test in float32."""
    n_out = weight_t.shape[1]
    zero = np.float32(0.0)
    s[:] = 0.0
    p[:] = 0.0
    alive[:] = 1.0
    k_fire[:] = 0.0
    n_fired = 0
    k = 0
    while k < n and n_fired < n_out:
        t_k = np.float32(times[k])
        end = k + 1
        while times[end] == times[k]:
            end += 1
        t_next = np.float32(times[end])
        for m in range(k, end - 1):
            w_row = weight_t[row[m]]
            for j in range(n_out):
                w = w_row[j] * alive[j]
                s[j] += w
                p[j] += w * t_k
        w_row = weight_t[row[end - 1]]
        n_new = 0
        for j in range(n_out):
            a_j = alive[j]
            w = w_row[j] * a_j
            s_j = s[j] + w
            p_j = p[j] + w * t_k
            s[j] = s_j
            p[j] = p_j
            n_new += np.int32((a_j > zero) & (s_j > zero) & (s_j * t_next - p_j >= theta[j]))
        if n_new > 0:
            k_end = np.float32(end)
            for j in range(n_out):
                a_j = alive[j]
                new = np.float32((a_j > zero) & (s[j] > zero) & (s[j] * t_next - p[j] >= theta[j]))
                alive[j] = a_j - new
                k_fire[j] += new * k_end
            n_fired += n_new
        k = end


@numba.njit(cache=True)
def _run(variant, orders, times, counts, weight_t, theta, k_out, s_out, p_out):
    """One variant (0 walk, 1 updates only, 2 float32 walk) over every sample."""
    n_out = weight_t.shape[1]
    s, p = np.empty(n_out), np.empty(n_out)
    alive, k_fire = np.empty(n_out), np.empty(n_out)
    s32, p32 = np.empty(n_out, np.float32), np.empty(n_out, np.float32)
    alive32, k32 = np.empty(n_out, np.float32), np.empty(n_out, np.float32)
    theta32 = theta.astype(np.float32)
    for b in range(orders.shape[0]):
        if variant == 0:
            _walk(orders[b], times[b], counts[b], weight_t, theta, s, p, alive, k_fire)
            k_out[b], s_out[b], p_out[b] = k_fire, s, p
        elif variant == 1:
            _updates_only(orders[b], times[b], counts[b], weight_t, s, p)
        else:
            _walk_float32(orders[b], times[b], counts[b], weight_t, theta32, s32, p32, alive32, k32)
            k_out[b], s_out[b], p_out[b] = k32, s32, p32


def sorted_inputs(t_in: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The kernel's per-sample order, sorted times (+inf after the finite ones) and counts."""
    batch, n_in = t_in.shape
    orders = np.empty((batch, n_in), np.int64)
    times = np.empty((batch, n_in + 1))
    counts = np.empty(batch, np.int64)
    scratch_t, scratch_i = np.empty(n_in), np.empty(n_in, np.int64)
    buckets = np.empty(int(n_in * SORT_DENSITY) + 2, np.int64)
    for b in range(batch):
        counts[b] = _sort_row(
            t_in[b], orders[b], times[b], scratch_t, scratch_i, buckets, SORT_DENSITY
        )
    return orders, times, counts


def measure(name: str, t_in: np.ndarray, weight_t: np.ndarray, repeats: int) -> dict:
    """Times of the three walks on one layer's inputs, and the float32 walk's differences."""
    orders, times, counts = sorted_inputs(t_in)
    theta = np.ones(weight_t.shape[1])
    shape = (t_in.shape[0], weight_t.shape[1])
    outs = {v: [np.zeros(shape) for _ in range(3)] for v in range(3)}
    calls = {
        "walk (float64, package)": 0,
        "updates only (float64)": 1,
        "float32 walk": 2,
    }
    steps = {
        label: (lambda v=v: _run(v, orders, times, counts, weight_t, theta, *outs[v]))
        for label, v in calls.items()
    }
    ms = {k: common.median_ms(v) for k, v in common.time_interleaved(steps, repeats).items()}
    (k64, s64, p64), (k32, s32, p32) = outs[0], outs[2]
    both = (k64 > 0) & (k32 > 0)
    t64 = (1.0 + p64[both]) / s64[both]
    t32 = (1.0 + p32[both]) / s32[both]
    result = {
        "layer": name,
        "finite_inputs_per_sample": float(counts.mean()),
        "ms": ms,
        "float32_causal_set_differs": float((k64 != k32).mean()),
        "float32_max_rel_diff_S": float(np.max(np.abs(s32[both] - s64[both]) / np.abs(s64[both]))),
        "float32_max_rel_diff_t": float(np.max(np.abs(t32 - t64) / np.abs(t64))),
    }
    print(f"{name}: {result['finite_inputs_per_sample']:.0f} finite inputs per sample")
    for label, value in ms.items():
        print(f"  {label:<28}{value:8.2f} ms")
    print(
        f"  float32 vs float64: causal set differs for {result['float32_causal_set_differs']:.2%}"
        f" of the neurons; largest relative difference of S {result['float32_max_rel_diff_S']:.1e},"
        f" of the spike time {result['float32_max_rel_diff_t']:.1e}"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=25)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    common.set_threads(1)
    from stdbp_plugin import nn as snn_e
    from stdbp_plugin.functional.linear import transposed_rows

    x, _, source = common.mnist_batch(128, 0)
    torch.manual_seed(0)
    encoder, layer1, layer2 = (
        snn_e.LatencyEncoder(),
        snn_e.ReLPSPLinear(784, 800),
        snn_e.ReLPSPLinear(800, 10),
    )
    with torch.no_grad():
        t = encoder(x)
        h = layer1(t)
    zeros = torch.zeros(x.shape[0], 1)  # the bias: an input at t = 0

    def rows(layer) -> np.ndarray:
        return transposed_rows(layer.weight, layer.bias).detach().numpy()

    layers = [
        measure("785 -> 800", torch.cat([zeros, t], 1).numpy(), rows(layer1), args.repeats),
        measure("801 -> 10", torch.cat([zeros, h], 1).numpy(), rows(layer2), args.repeats),
    ]
    weight = layer1.weight.detach().contiguous()
    gemm = common.time_interleaved({"relu": lambda: torch.relu(x @ weight.T)}, args.repeats)
    relu_ms = common.median_ms(gemm["relu"])
    print(f"ReLU layer 784 -> 800 (float32 matrix product): {relu_ms:.2f} ms")
    if args.out is not None:
        common.write_json(
            args.out,
            {
                "input": source,
                "batch": 128,
                "repeats": args.repeats,
                "statistic": "median wall time, ms, 1 thread",
                "layers": layers,
                "relu_layer_784_800_ms": relu_ms,
                "machine": common.machine_info(1),
            },
        )


if __name__ == "__main__":
    main()
