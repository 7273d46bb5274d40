"""Inference of a trained STDBP 784-800-10 MLP on the MNIST test set (10,000 images): decision
latency, spikes per sample, synaptic operations, accuracy and wall-clock cost.

The model is nn.Sequential(LatencyEncoder(t_max), ReLPSPLinear(784, 800), ReLPSPLinear(800, 10))
with the state dict of benchmarks/results/mnist_mlp_tau00625_shift2.pt (written by
reproduce_mnist.py with its defaults; t_max and horizon read from the .json beside it). Without
that file it is trained here briefly (--train-epochs, default 1) and the output says so: the
figures are then those of an under-trained model.

Figures (stdbp_plugin.metrics):
- decision latency: time of the first output spike, the time at which the class is known
  (DecisionLatency: mean over decided samples; also median / 90th percentile, and the share of
  samples decided before their last input spike arrived), in the units of t_max;
- spikes per sample in the input (encoder), hidden and output layers (SpikesPerSample);
- synaptic operations per sample, sum over layers of input spikes x fan-out (SynapticOperations);
- first-spike accuracy (FirstSpikeAccuracy; a sample with no output spike counts as wrong);
- wall time: ms per batch of --eval-batch and per single-sample call (batch 1).
Writes benchmarks/results/inference.json.

    python benchmarks/bench_inference.py [--threads 2] [--model PATH.pt]
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch / numba start OpenMP
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import common  # noqa: E402
import reproduce_mnist  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import stdbp_plugin.functional as SF  # noqa: E402
from stdbp_plugin.metrics import (  # noqa: E402
    DecisionLatency,
    FirstSpikeAccuracy,
    SpikesPerSample,
    SynapticOperations,
)
from stdbp_plugin.models.counting import dense_synops  # noqa: E402

MODEL = common.RESULTS_DIR / "mnist_mlp_tau00625_shift2.pt"
RESULTS = common.RESULTS_DIR / "inference.json"


def build(t_max: float, horizon: float | None = None) -> nn.Sequential:
    """The reproduce_mnist.py model: encoder, 784 -> 800 -> 10 ReL-PSP layers."""
    return reproduce_mnist.build([800], t_max, horizon=horizon)


def train_briefly(
    model: nn.Sequential, epochs: int, samples: int | None, batch: int, seed: int
) -> float:
    """Adam, lr 1e-3, temporal_cross_entropy(tau=0.0625, keep_target_alive=1) on the first
    ``samples`` training images (all if None); returns the seconds it took."""
    torch.manual_seed(seed)
    x, y = common.mnist(train=True, n=samples)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.perf_counter()
    for epoch in range(epochs):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), batch):
            idx = perm[i : i + batch]
            loss = SF.temporal_cross_entropy(
                model(x[idx]), y[idx], tau=0.0625, keep_target_alive=1.0
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(
            f"  trained epoch {epoch + 1}/{epochs}, last batch loss {loss.item():.4f}", flush=True
        )
    return time.perf_counter() - start


def load_model(path: Path, args: argparse.Namespace) -> tuple[nn.Sequential, str]:
    """The trained model and a line saying where it came from."""
    if path.exists():
        meta_path = path.with_suffix(".json")
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        run = meta.get("args", {})
        if str(run.get("hidden", "800")) != "800":
            raise ValueError(f"{path} holds a 784-{run['hidden']}-10 model; expected 784-800-10")
        t_max, horizon = run.get("t_max", 1.0), run.get("horizon")
        model = build(t_max, horizon)
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        epochs = len(meta.get("history", [])) or "unknown"
        return model, (
            f"loaded {path} (t_max={t_max}, horizon={horizon}, epochs trained: {epochs}, "
            f"test acc at save: {meta.get('final_test_acc', 'unknown')})"
        )
    print(f"NOTE: {path} not found; training briefly ({args.train_epochs} epoch(s)) instead")
    model = build(1.0)
    seconds = train_briefly(model, args.train_epochs, args.train_samples, 128, args.seed)
    samples = args.train_samples or 60000
    return model, (
        f"{path} not found: trained here for {args.train_epochs} epoch(s) on {samples} training "
        f"images in {seconds:.0f} s (seed {args.seed}); an under-trained model"
    )


@torch.no_grad()
def evaluate(model: nn.Sequential, x: torch.Tensor, y: torch.Tensor, batch: int) -> dict:
    encoder, hidden, output = model
    acc, lat, spikes, synops = (
        FirstSpikeAccuracy(),
        DecisionLatency(),
        SpikesPerSample(3),
        SynapticOperations(),
    )
    decisions, before_last, batch_s = [], 0, []
    for i in range(0, len(x), batch):
        xb, yb = x[i : i + batch], y[i : i + batch]
        start = time.perf_counter()
        t_in = encoder(xb)
        t_hid = hidden(t_in)
        t_out = output(t_hid)
        batch_s.append(time.perf_counter() - start)
        decision = t_out.min(dim=1).values
        acc.update(t_out, yb)
        lat.update(decision)
        layers = [torch.isfinite(t) for t in (t_in, t_hid, t_out)]
        spikes.update(torch.stack([f.sum(dim=1) for f in layers], dim=1))
        synops.update(dense_synops(layers[0].float(), 800) + dense_synops(layers[1].float(), 10))
        last_input = torch.where(layers[0], t_in, torch.zeros_like(t_in)).max(dim=1).values
        before_last += int((decision < last_input).sum())
        decisions.append(decision)
    decision = torch.cat(decisions)
    decided = decision[torch.isfinite(decision)]
    per_layer = spikes.compute()
    return {
        "samples": len(x),
        "first_spike_accuracy": float(acc.compute()),
        "decision_latency_mean": float(lat.compute()),
        "decision_latency_median": float(decided.median()) if len(decided) else float("nan"),
        "decision_latency_p90": float(decided.quantile(0.9)) if len(decided) else float("nan"),
        "undecided_fraction": float(lat.undecided_fraction()),
        "decided_before_last_input_fraction": before_last / len(x),
        "spikes_per_sample": {
            "input": float(per_layer[0]),
            "hidden": float(per_layer[1]),
            "output": float(per_layer[2]),
            "total_neurons": float(per_layer[1:].sum()),
        },
        "synaptic_ops_per_sample": float(synops.compute()),
        "dense_ann_macs_per_sample": 784 * 800 + 800 * 10,
        "wall_ms_per_batch_median": common.median_ms(batch_s),
        "wall_us_per_sample": 1e6 * sum(batch_s) / len(x),
    }


@torch.no_grad()
def single_sample_ms(model: nn.Sequential, x: torch.Tensor, n: int) -> float:
    """Median wall time of a batch-1 forward pass (decision of one image), over n images."""
    model(x[:1])
    times = []
    for i in range(n):
        start = time.perf_counter()
        model(x[i : i + 1])
        times.append(time.perf_counter() - start)
    return common.median_ms(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--train-epochs", type=int, default=1)
    parser.add_argument("--train-samples", type=int, default=None, help="fallback training subset")
    parser.add_argument("--eval-batch", type=int, default=1000)
    parser.add_argument("--single-samples", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.train_epochs < 1 or args.eval_batch < 1 or args.single_samples < 1:
        raise ValueError("--train-epochs, --eval-batch and --single-samples must be >= 1")
    if not common.has_mnist():
        raise SystemExit(f"MNIST raw files not found under {common.data_dir() / 'MNIST'}")

    common.set_threads(args.threads)
    info_before = common.machine_info(args.threads)
    print(common.load_line(info_before))
    model, source = load_model(args.model, args)
    model.eval()
    x, y = common.mnist(train=False)
    figures = evaluate(model, x, y, args.eval_batch)
    figures["wall_ms_single_sample_median"] = single_sample_ms(model, x, args.single_samples)
    info = common.machine_info(args.threads)
    t_max = model[0].t_max
    s = figures["spikes_per_sample"]
    print(f"model: {source}")
    print(f"MNIST test set, {figures['samples']} images; after: {common.load_line(info)}")
    print(
        f"first-spike accuracy          {100 * figures['first_spike_accuracy']:.2f} %\n"
        f"decision latency (t_max={t_max:g})  mean {figures['decision_latency_mean']:.3f}, "
        f"median {figures['decision_latency_median']:.3f}, "
        f"90% {figures['decision_latency_p90']:.3f}; "
        f"undecided {100 * figures['undecided_fraction']:.2f} %; decided before the last "
        f"input spike {100 * figures['decided_before_last_input_fraction']:.1f} %\n"
        f"spikes per sample             input {s['input']:.1f}, hidden {s['hidden']:.1f}, "
        f"output {s['output']:.2f}\n"
        f"synaptic ops per sample       {figures['synaptic_ops_per_sample']:.0f} "
        f"(dense ANN: {figures['dense_ann_macs_per_sample']} MACs)\n"
        f"wall time                     {figures['wall_ms_per_batch_median']:.1f} ms per batch "
        f"of {args.eval_batch} ({figures['wall_us_per_sample']:.1f} us/sample), "
        f"{figures['wall_ms_single_sample_median']:.2f} ms per single image"
    )
    common.write_json(
        args.out,
        {
            "network": "784-800-10",
            "model": source,
            "t_max": t_max,
            "figures": figures,
            "machine_before": info_before,
            "machine_after": info,
        },
    )


if __name__ == "__main__":
    main()
