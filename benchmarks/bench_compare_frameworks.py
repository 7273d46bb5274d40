"""One training step of a 784-800-10 MLP, batch 128: STDBP vs snnTorch vs Norse vs a ReLU ANN.

Contestants (one step = encode + forward + loss + backward + Adam step, same MNIST batch):

- stdbp: LatencyEncoder -> ReLPSPLinear(784, 800) -> ReLPSPLinear(800, 10), event-driven,
  exact spike-time gradients, temporal_cross_entropy(tau=0.5, keep_target_alive=1) as in
  benchmarks/reproduce_mnist.py. No time steps.
- snntorch T: spikegen.latency(T steps, linear, normalize, clip) -> Linear + snn.Leaky(0.95)
  -> Linear + snn.Leaky, stepped T times, BPTT with the atan surrogate, ce_rate_loss.
- norse T: the same input spike train -> Linear (lifted over time) + norse LIF -> Linear + LI
  read-out (membrane max over time, the Norse tutorials' decoding), cross-entropy, BPTT with
  the SuperSpike surrogate.
- ann: Linear(784, 800) -> ReLU -> Linear(800, 10) on the pixels, cross-entropy.
- snntorch-compile T / norse-compile T (``--compile``): the package's surrogate baselines
  (stdbp_plugin.models.SurrogateNetwork, LIFCell + LICell read-out for Norse, Leaky(0.9) for
  snnTorch) with every time step run through ``torch.compile`` (the "norse-compile" /
  "snntorch-compile" models of ``stdbp compare``), on the same latency spike train; the
  compile time is spent in the untimed warm-up step. snntorch-eager T / norse-eager T: the
  same networks without torch.compile, the reference of the compile speed-up.
- exact-snn (``--exact-snn``, only when the optional PyPI package ``exact-snn-nn`` is
  installed): its ExactTTFSLinear(784, 800) -> ExactTTFSLinear(800, 10) (exact IFT gradients
  of a current-based LIF, grid search for the spike times, ``--exact-grid`` points),
  latency_encode(t_max=40), latency_cross_entropy.

Time: median wall time of ``--repeats`` steps, contestants interleaved (one step each per
round, order rotated) so machine load hits all alike. Memory: each contestant in a fresh
subprocess; after one warm-up step, the peak RSS growth during one step (glibc's mmap
threshold fixed so freed tensors leave RSS) and, allocator-independent, the bytes autograd
saved for backward (see common.step_memory). On CUDA: torch.cuda.max_memory_allocated.
Writes benchmarks/results/frameworks.json.

    python benchmarks/bench_compare_frameworks.py [--threads 2] [--repeats 9] [--steps 25 100]
        [--compile] [--exact-snn [--exact-grid 2001]] [--time-only]
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch / numba start OpenMP
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import argparse  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import common  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

RESULTS = common.RESULTS_DIR / "frameworks.json"
PACKAGED = ("snntorch-eager", "norse-eager", "snntorch-compile", "norse-compile")
MODELS = ("stdbp", "snntorch", "norse", "ann", *PACKAGED, "exact-snn")
CLOCKED = ("snntorch", "norse", *PACKAGED)
Step = Callable[[], float]


def latency_spike_train(x: torch.Tensor, num_steps: int) -> torch.Tensor:
    """[T, B, 784] spike train of snnTorch's latency code (one spike per bright pixel)."""
    from snntorch import spikegen

    return spikegen.latency(
        x, num_steps=num_steps, tau=5, threshold=0.01, clip=True, normalize=True, linear=True
    )


def _adam_step(net: nn.Module, loss_of: Callable[[], torch.Tensor]) -> Step:
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step() -> float:
        opt.zero_grad()
        loss = loss_of()
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step


def stdbp_step(x: torch.Tensor, y: torch.Tensor, hidden: int) -> Step:
    from stdbp_plugin import functional as SF
    from stdbp_plugin import nn as snn_e

    net = nn.Sequential(
        snn_e.LatencyEncoder(), snn_e.ReLPSPLinear(784, hidden), snn_e.ReLPSPLinear(hidden, 10)
    ).to(x.device)
    return _adam_step(
        net, lambda: SF.temporal_cross_entropy(net(x), y, tau=0.5, keep_target_alive=1.0)
    )


class SnnTorchMLP(nn.Module):
    def __init__(self, hidden: int) -> None:
        import snntorch as snn

        super().__init__()
        self.fc1, self.lif1 = nn.Linear(784, hidden), snn.Leaky(beta=0.95)
        self.fc2, self.lif2 = nn.Linear(hidden, 10), snn.Leaky(beta=0.95)

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        batch = spikes.shape[1]
        mem1 = spikes.new_zeros(batch, self.fc1.out_features)
        mem2 = spikes.new_zeros(batch, 10)
        out = []
        for spikes_t in spikes:
            spk1, mem1 = self.lif1(self.fc1(spikes_t), mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            out.append(spk2)
        return torch.stack(out)


def snntorch_step(x: torch.Tensor, y: torch.Tensor, hidden: int, num_steps: int) -> Step:
    import snntorch.functional as snn_f

    net, loss_fn = SnnTorchMLP(hidden).to(x.device), snn_f.ce_rate_loss()
    return _adam_step(net, lambda: loss_fn(net(latency_spike_train(x, num_steps)), y))


class NorseMLP(nn.Module):
    def __init__(self, hidden: int) -> None:
        import norse.torch as norse

        super().__init__()
        self.fc1, self.lif = nn.Linear(784, hidden), norse.LIF()
        self.fc2, self.readout = nn.Linear(hidden, 10), norse.LI()

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        z, _ = self.lif(self.fc1(spikes))  # Linear on [T, B, 784] == Lift(Linear)
        v, _ = self.readout(self.fc2(z))
        return v.max(dim=0).values


def norse_step(x: torch.Tensor, y: torch.Tensor, hidden: int, num_steps: int) -> Step:
    net = NorseMLP(hidden).to(x.device)
    return _adam_step(net, lambda: F.cross_entropy(net(latency_spike_train(x, num_steps)), y))


def packaged_step(
    x: torch.Tensor, y: torch.Tensor, hidden: int, num_steps: int, model: str
) -> Step:
    """The package's surrogate baseline ``model``: "<framework>-compile" (each time step through
    torch.compile) or "<framework>-eager" (the same network without)."""
    from stdbp_plugin.models import SurrogateNetwork

    framework, mode = model.rsplit("-", 1)
    net = SurrogateNetwork(
        framework, f"{hidden}-10", (1, 28, 28), num_steps=num_steps, compile=mode == "compile"
    ).to(x.device)
    adapter = net.adapter
    return _adam_step(
        net, lambda: adapter.loss(net.run(latency_spike_train(x, num_steps)).readout, y)
    )


def exact_snn_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("exact_snn") is not None


def exact_snn_step(x: torch.Tensor, y: torch.Tensor, hidden: int, grid_pts: int) -> Step:
    """exact-snn-nn's TTFS MLP (its README's recipe: t_max 40, bias 1.5), [n_in, B] layout."""
    import exact_snn

    t_max = 40.0
    net = nn.Sequential(
        exact_snn.ExactTTFSLinear(784, hidden, t_max=t_max, grid_pts=grid_pts, device=x.device),
        exact_snn.ExactTTFSLinear(hidden, 10, t_max=t_max, grid_pts=grid_pts, device=x.device),
    )
    t_in = exact_snn.latency_encode(x.T.contiguous(), t_max=t_max)
    return _adam_step(net, lambda: exact_snn.latency_cross_entropy(net(t_in), y, t_max=t_max))


def ann_step(x: torch.Tensor, y: torch.Tensor, hidden: int) -> Step:
    net = nn.Sequential(nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 10)).to(x.device)
    return _adam_step(net, lambda: F.cross_entropy(net(x), y))


def make_step(config: dict) -> Step:
    """config: model (stdbp | snntorch | norse | ann), hidden, batch, num_steps (snntorch,
    norse), device, seed. Builds the network and its Adam optimizer on an MNIST batch."""
    model = config["model"]
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    torch.manual_seed(config.get("seed", 0))
    x, y, _ = common.mnist_batch(config["batch"], config.get("seed", 0))
    x, y = x.to(config["device"]), y.to(config["device"])
    if model == "stdbp":
        return stdbp_step(x, y, config["hidden"])
    if model == "ann":
        return ann_step(x, y, config["hidden"])
    if model == "exact-snn":
        return exact_snn_step(x, y, config["hidden"], config.get("exact_grid", 2001))
    if model in PACKAGED:
        return packaged_step(x, y, config["hidden"], config["num_steps"], model)
    builder = snntorch_step if model == "snntorch" else norse_step
    return builder(x, y, config["hidden"], config["num_steps"])


def label(config: dict) -> str:
    t = f" T={config['num_steps']}" if config["model"] in CLOCKED else ""
    return config["model"] + t


def quiet_imports(models: tuple[str, ...] = MODELS) -> None:
    """Import the frameworks ``models`` need, without Norse's torch.jit.script warnings."""
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)
    if any(m.startswith("norse") for m in models):
        import norse.torch  # noqa: F401
    if any(m in CLOCKED for m in models):  # all use snnTorch's latency encoder
        import snntorch  # noqa: F401


def memory_child(config: dict) -> None:
    """Entry of the fresh subprocess: print the memory figures of one configuration as JSON."""
    import json

    quiet_imports((config["model"],))
    common.set_threads(config["threads"])
    print(json.dumps(common.step_memory(make_step(config), config["device"])))


def measure(configs: list[dict], repeats: int, memory: bool = True) -> dict[str, dict]:
    """Median step time (interleaved) and subprocess memory of every configuration (NaN
    memory figures when ``memory`` is False)."""
    steps = {label(c): make_step(c) for c in configs}
    times = common.time_interleaved(steps, repeats, configs[0]["device"])
    rows = {}
    for c in configs:
        name = label(c)
        mem = {"peak_mib": float("nan"), "saved_for_backward_mib": float("nan")}
        if memory:
            print(f"  memory of {name} (fresh subprocess) ...", flush=True)
            mem = common.memory_in_subprocess(Path(__file__), c)
        rows[name] = {
            "config": c,
            "median_ms": common.median_ms(times[name]),
            "all_ms": [1e3 * t for t in times[name]],
            **mem,
        }
    return rows


def ratios(rows: dict[str, dict], steps: list[int]) -> dict[str, float]:
    s = rows["stdbp"]
    out = {"stdbp_ms_over_ann_ms": s["median_ms"] / rows["ann"]["median_ms"]}
    for fw in CLOCKED:
        for t in steps:
            if f"{fw} T={t}" not in rows:
                continue
            b = rows[f"{fw} T={t}"]
            out[f"{fw}_T{t}_ms_over_stdbp_ms"] = b["median_ms"] / s["median_ms"]
            out[f"stdbp_peak_over_{fw}_T{t}_peak"] = s["peak_mib"] / max(b["peak_mib"], 1e-9)
            out[f"stdbp_saved_over_{fw}_T{t}_saved"] = (
                s["saved_for_backward_mib"] / b["saved_for_backward_mib"]
            )
        eager = fw.replace("-compile", "-eager")
        for t in steps:  # the speed-up of torch.compile on the same network
            if fw.endswith("-compile") and f"{fw} T={t}" in rows and f"{eager} T={t}" in rows:
                out[f"{fw}_T{t}_ms_over_{eager}_ms"] = (
                    rows[f"{fw} T={t}"]["median_ms"] / rows[f"{eager} T={t}"]["median_ms"]
                )
    if "exact-snn" in rows:
        out["exact_snn_ms_over_stdbp_ms"] = rows["exact-snn"]["median_ms"] / s["median_ms"]
    return out


def print_table(rows: dict[str, dict]) -> None:
    print(f"{'contestant':<24}{'median ms':>11}{'x STDBP':>9}{'peak MiB':>10}{'saved MiB':>11}")
    base = rows["stdbp"]["median_ms"]
    for name, r in rows.items():
        print(
            f"{name:<24}{r['median_ms']:>11.1f}{r['median_ms'] / base:>9.2f}"
            f"{r['peak_mib']:>10.1f}{r['saved_for_backward_mib']:>11.1f}"
        )


def main() -> None:
    child = common.memory_child_config(sys.argv)
    if child is not None:
        return memory_child(child)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=800)
    parser.add_argument("--steps", type=int, nargs="+", default=[25, 100], help="T values")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--compile", action="store_true", help="add the package's baselines, eager and compiled"
    )
    parser.add_argument(
        "--exact-snn", action="store_true", help="add exact-snn-nn (skipped when not installed)"
    )
    parser.add_argument("--exact-grid", type=int, default=2001, help="exact-snn grid points")
    parser.add_argument(
        "--time-only", action="store_true", help="skip the memory subprocesses (NaN memory)"
    )
    args = parser.parse_args()
    if 25 not in args.steps:
        raise ValueError(f"--steps must include 25 (the targets are set at T=25), got {args.steps}")

    quiet_imports()
    common.set_threads(args.threads)
    base = {"batch": args.batch, "hidden": args.hidden, "device": args.device}
    base.update(seed=args.seed, threads=args.threads)
    configs = [{**base, "model": "stdbp"}, {**base, "model": "ann"}]
    configs += [{**base, "model": m, "num_steps": t} for t in args.steps for m in MODELS[1:3]]
    if args.compile:
        configs += [{**base, "model": m, "num_steps": t} for t in args.steps for m in PACKAGED]
    if args.exact_snn and not exact_snn_available():
        print("exact-snn-nn is not installed (pip install exact-snn-nn): skipping it")
    elif args.exact_snn:
        configs.append({**base, "model": "exact-snn", "exact_grid": args.exact_grid})
    info_before = common.machine_info(args.threads, args.device)
    print(f"784-{args.hidden}-10, batch {args.batch}; {common.load_line(info_before)}")
    rows = measure(configs, args.repeats, memory=not args.time_only)
    info = common.machine_info(args.threads, args.device)
    r = ratios(rows, args.steps)
    print(f"after: {common.load_line(info)}")
    print_table(rows)
    targets = {
        "snntorch_T25_at_least_3x_slower": r["snntorch_T25_ms_over_stdbp_ms"] >= 3,
        "stdbp_peak_at_most_half_snntorch_T25": r["stdbp_peak_over_snntorch_T25_peak"] <= 0.5,
        "stdbp_within_10x_ann": r["stdbp_ms_over_ann_ms"] <= 10,
    }
    print(
        f"snnTorch T=25 / STDBP time: {r['snntorch_T25_ms_over_stdbp_ms']:.2f}x (target >= 3)\n"
        f"STDBP / snnTorch T=25 peak memory: {r['stdbp_peak_over_snntorch_T25_peak']:.3f} "
        f"(target <= 0.5); saved-for-backward: {r['stdbp_saved_over_snntorch_T25_saved']:.3f}\n"
        f"Norse T=25 / STDBP time: {r['norse_T25_ms_over_stdbp_ms']:.2f}x\n"
        f"STDBP / ANN time: {r['stdbp_ms_over_ann_ms']:.2f}x (target <= 10)\n"
        f"targets met: {targets}"
    )
    common.write_json(
        args.out,
        {
            "network": f"784-{args.hidden}-10",
            "batch": args.batch,
            "input": common.mnist_batch(1)[2],
            "repeats": args.repeats,
            "time": "median wall time of one training step, ms, contestants interleaved",
            "memory": common.step_memory.__doc__.split("\n\n", 1)[1].strip(),
            "results": rows,
            "ratios": r,
            "targets_met": targets,
            "machine_before": info_before,
            "machine_after": info,
        },
    )


if __name__ == "__main__":
    main()
