"""Event-driven ReL-PSP kernel: numba backend vs the pure-torch reference, side by side.

784 -> 800 neurons, batch 128, latency-encoded real MNIST (about 18% of the pixels spike) when
the raw IDX files are found ($STDBP_DATA_DIR, else ../shared/data), else random times with 20%
active inputs. Reports the median wall time of several runs of the forward pass and of
forward + backward (through ``relpsp_linear``), on 2 threads by default, and writes
benchmarks/results/kernel.json.

    python benchmarks/bench_kernel.py [--threads 2] [--repeats 7]
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch / numba start OpenMP
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import common  # noqa: E402
import torch  # noqa: E402

RESULTS = common.RESULTS_DIR / "kernel.json"


def input_times(batch: int, n_in: int, seed: int) -> tuple[torch.Tensor, str]:
    """Latency-coded MNIST (n_in == 784 and files found) or random pixels, 20% active."""
    from stdbp_plugin.functional import latency_encode

    if n_in == 784:
        pixels, _, source = common.mnist_batch(batch, seed)
    else:
        g = torch.Generator().manual_seed(seed)
        pixels = torch.rand(batch, n_in, generator=g)
        pixels, source = (
            torch.where(torch.rand(batch, n_in, generator=g) < 0.2, pixels, 0.0),
            "random",
        )
    return latency_encode(pixels), source


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up (JIT compile, caches)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return common.median_ms(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--n-in", type=int, default=784)
    parser.add_argument("--n-out", type=int, default=800)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--reference-repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    common.set_threads(args.threads)

    from stdbp_plugin.functional import relpsp_linear
    from stdbp_plugin.kernels import numba_cpu, reference
    from stdbp_plugin.nn import relpsp_init_

    torch.manual_seed(args.seed)
    t_in, source = input_times(args.batch, args.n_in, args.seed)
    weight = relpsp_init_(torch.empty(args.n_out, args.n_in))
    bias = torch.zeros(args.n_out)
    theta = torch.ones(args.n_out)
    out = numba_cpu.forward(t_in, weight, theta)

    def step(backend: str):
        w = weight.clone().requires_grad_()
        b = bias.clone().requires_grad_()
        t_out = relpsp_linear(t_in, w, b, 1.0, backend=backend)
        torch.where(torch.isfinite(t_out), t_out, 0.0).sum().backward()

    rows = {}
    for name, kernel, repeats in (
        ("numba", numba_cpu, args.repeats),
        ("torch", reference, args.reference_repeats),
    ):
        rows[name] = {
            "forward_ms": median_ms(lambda k=kernel: k.forward(t_in, weight, theta), repeats),
            "forward_backward_ms": median_ms(lambda n=name: step(n), repeats),
        }
    result = {
        "shape": {"batch": args.batch, "n_in": args.n_in, "n_out": args.n_out},
        "input": source,
        "active_inputs": float(torch.isfinite(t_in).float().mean()),
        "fired_neurons": float((out.n_causal > 0).float().mean()),
        "mean_causal_inputs": float(out.n_causal.float().mean()),
        "threads": args.threads,
        "repeats": {"numba": args.repeats, "torch": args.reference_repeats},
        "statistic": "median wall time, ms",
        "results": rows,
        "speedup_numba_over_torch": {
            k: rows["torch"][k] / rows["numba"][k] for k in ("forward_ms", "forward_backward_ms")
        },
        "machine": common.machine_info(args.threads),
    }
    print(
        f"{args.batch} x {args.n_in} -> {args.n_out}, input {source}, "
        f"{100 * result['active_inputs']:.1f}% active inputs, {args.threads} threads, "
        f"load avg {result['machine']['load_avg_1_5_15min'][0]:.1f}"
    )
    print(f"{'pass':<22}{'numba ms':>10}{'torch ms':>12}{'torch/numba':>13}")
    for key, label in (("forward_ms", "forward"), ("forward_backward_ms", "forward+backward")):
        nb, ref = rows["numba"][key], rows["torch"][key]
        print(f"{label:<22}{nb:>10.1f}{ref:>12.1f}{ref / nb:>12.1f}x")
    common.write_json(args.out, result)


if __name__ == "__main__":
    main()
