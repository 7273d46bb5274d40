"""Event-driven ReL-PSP kernel: numba backend vs the pure-torch reference, side by side.

784 -> 800 neurons, batch 128, latency-encoded real MNIST (about 18% of the pixels spike) when
the raw IDX files are found ($STDBP_DATA_DIR, else ../shared/data), else random times with 20%
active inputs. Reports the median wall time of several runs of the forward pass and of
forward + backward (through ``relpsp_linear``), on 2 threads by default, and writes
benchmarks/results/kernel.json.

    python benchmarks/bench_kernel.py [--threads 2] [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "kernel.json"


def data_dir() -> Path:
    env = os.environ.get("STDBP_DATA_DIR")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def load_mnist_pixels(n: int) -> tuple[torch.Tensor | None, str]:
    """The first n MNIST training images as [n, 784] in [0, 1], or None when the files lack."""
    root = data_dir()
    if not (root / "MNIST" / "raw" / "train-images-idx3-ubyte").exists():
        return None, "random"
    from torchvision.datasets import MNIST

    images = MNIST(root=str(root), train=True, download=False).data[:n]
    return images.reshape(n, -1).float() / 255.0, "mnist"


def input_times(batch: int, n_in: int, seed: int) -> tuple[torch.Tensor, str]:
    from stdbp_plugin.functional import latency_encode

    pixels, source = load_mnist_pixels(batch) if n_in == 784 else (None, "random")
    if pixels is None:
        g = torch.Generator().manual_seed(seed)
        pixels = torch.rand(batch, n_in, generator=g)
        pixels = torch.where(torch.rand(batch, n_in, generator=g) < 0.2, pixels, 0.0)
    return latency_encode(pixels), source


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up (JIT compile, caches)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


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

    torch.set_num_threads(args.threads)
    import numba

    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))

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
        "machine": {
            "cpu_count": os.cpu_count(),
            "load_avg_1min": os.getloadavg()[0],
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numba": numba.__version__,
        },
    }
    print(
        f"{args.batch} x {args.n_in} -> {args.n_out}, input {source}, "
        f"{100 * result['active_inputs']:.1f}% active inputs, {args.threads} threads, "
        f"load avg {result['machine']['load_avg_1min']:.1f}"
    )
    print(f"{'pass':<22}{'numba ms':>10}{'torch ms':>12}{'torch/numba':>13}")
    for key, label in (("forward_ms", "forward"), ("forward_backward_ms", "forward+backward")):
        nb, ref = rows["numba"][key], rows["torch"][key]
        print(f"{label:<22}{nb:>10.1f}{ref:>12.1f}{ref / nb:>12.1f}x")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
