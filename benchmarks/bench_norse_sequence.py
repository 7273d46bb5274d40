"""Norse ReL-PSP: the vectorised sequence module ``ReLPSP`` vs stepping ``ReLPSPCell`` in Python.

Forward + backward of one layer over [T, B, N] input currents, median of several runs.
Run: python benchmarks/bench_norse_sequence.py [--steps 100] [--batch 128] [--neurons 256]
     [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from stdbp_plugin.norse import ReLPSP, ReLPSPCell


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--neurons", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    shape = (args.steps, args.batch, args.neurons)
    currents = (torch.rand(shape) < 0.05).float() * torch.rand(shape)
    currents.requires_grad_()
    seq, cell = ReLPSP(), ReLPSPCell()

    def run_sequence():
        z, state = seq(currents)
        (z.sum() + state.s.sum()).backward()

    def run_cell():
        state, zs = None, []
        for x in currents:
            z, state = cell(x, state)
            zs.append(z)
        (torch.stack(zs).sum() + state.s.sum()).backward()

    t_seq = _time(run_sequence, args.repeats)
    t_cell = _time(run_cell, args.repeats)
    print(f"T={args.steps} B={args.batch} N={args.neurons} threads={torch.get_num_threads()}")
    print(f"sequence module (vectorised) forward+backward: {t_seq * 1e3:8.1f} ms")
    print(f"cell stepped in Python       forward+backward: {t_cell * 1e3:8.1f} ms")
    print(f"speed-up: {t_cell / t_seq:.1f}x")


if __name__ == "__main__":
    main()
