"""Reproduce the paper's MNIST MLP result (784-800-10, STDBP, official split) with a plain loop.

    python benchmarks/reproduce_mnist.py --threads 1   # 40 epochs, tau 0.0625, shifts <= 2 px: 98.91%

Accuracy counts a test sample without any output spike as wrong (stdbp_plugin's one
convention); the JSON also records the fraction of such samples per epoch ("test_silent").
Its recipe differs from the package defaults in two documented points: max_inv_slope 5 and
horizon 4 (stdbp_plugin.models.defaults: None and 3).

Prints per-epoch train loss / test accuracy / time with a progress bar, writes JSON, plot and
weights to --out (default benchmarks/results/mnist_mlp_tau00625_shift2.{json,png,pt}).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402  (before torch: it sets OMP_WAIT_POLICY)
import torch  # noqa: E402
from torch import nn  # noqa: E402
from tqdm import tqdm  # noqa: E402

import stdbp_plugin.functional as SF  # noqa: E402
import stdbp_plugin.nn as snn  # noqa: E402
from stdbp_plugin.augment import random_rotate_scale, random_shift  # noqa: E402
from stdbp_plugin.models.defaults import TAU  # noqa: E402


def build(
    hidden: list[int],
    t_max: float = 1.0,
    backend: str = "auto",
    max_inv_slope: float | None = None,
    horizon: float | None = None,
    input_dropout: float = 0.0,
    hidden_dropout: float = 0.0,
) -> nn.Sequential:
    """LatencyEncoder, then ReL-PSP layers 784 -> hidden... -> 10 (``max_inv_slope`` and
    ``horizon`` are layer attributes, not part of the state dict). The first layer drops pixel
    spikes with probability ``input_dropout``, the others hidden spikes with ``hidden_dropout``."""
    sizes = [784, *hidden, 10]
    layers: list[nn.Module] = [snn.LatencyEncoder(t_max=t_max)]
    layers += [
        snn.ReLPSPLinear(
            a,
            b,
            max_inv_slope=max_inv_slope,
            horizon=horizon,
            backend=backend,
            input_dropout=hidden_dropout if i else input_dropout,
        )
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True))
    ]
    return nn.Sequential(*layers)


def augment(x: torch.Tensor, shift: int, rotate: float, scale: float) -> torch.Tensor:
    """Flat 28x28 images: random shift (whole pixels), then random rotation and zoom; each step
    only when asked (stdbp_plugin.augment)."""
    images = x.reshape(-1, 1, 28, 28)
    if shift:
        images = random_shift(images, shift)
    if rotate or scale:
        images = random_rotate_scale(images, rotate, scale)
    return images.reshape(len(x), -1)


@torch.no_grad()
def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 1000
) -> tuple[float, float]:
    """(accuracy, fraction of samples without any output spike); a silent sample is wrong
    (first_spike_predict gives it no class, as FirstSpikeAccuracy does)."""
    model.eval()
    correct = silent = 0
    for i in range(0, len(x), batch):
        t_out = model(x[i : i + batch])
        correct += (SF.first_spike_predict(t_out) == y[i : i + batch]).sum().item()
        silent += torch.isinf(t_out).all(dim=1).sum().item()
    return correct / len(x), silent / len(x)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--data-dir",
        default=str(common.data_dir()),
        help="default $STDBP_DATA_DIR or ../shared/data",
    )
    ap.add_argument("--hidden", default="800", help="hidden sizes, e.g. 800 or 800-400")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--lr-min", type=float, default=1e-5, help="cosine schedule floor")
    ap.add_argument("--tau", type=float, default=TAU, help="stdbp_plugin.models.defaults.TAU")
    ap.add_argument("--t-max", type=float, default=1.0)
    ap.add_argument("--keep-target-alive", type=float, default=1.0)
    ap.add_argument("--max-inv-slope", type=float, default=5.0)
    ap.add_argument("--horizon", type=float, default=4.0, help="later spikes count as silent")
    ap.add_argument("--weight-decay", type=float, default=0.0, help="AdamW decoupled decay")
    ap.add_argument("--input-dropout", type=float, default=0.0, help="drop pixel spikes")
    ap.add_argument("--dropout", type=float, default=0.0, help="drop hidden spikes")
    ap.add_argument("--grad-clip", type=float, default=None, help="clip the gradient norm")
    ap.add_argument("--shift", type=int, default=2, help="augment: random shifts up to N pixels")
    ap.add_argument("--rotate", type=float, default=0.0, help="augment: rotations up to N degrees")
    ap.add_argument("--scale", type=float, default=0.0, help="augment: zoom by up to 1 +- this")
    ap.add_argument(
        "--average-from",
        type=int,
        default=None,
        help="from this epoch on, also test the equal-weight average of the end-of-epoch weights",
    )
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--train-samples", type=int, default=None, help="subset for quick runs")
    ap.add_argument("--out", default=str(common.RESULTS_DIR / "mnist_mlp_tau00625_shift2"))
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    x_tr, y_tr = common.mnist(True, root=args.data_dir)
    x_te, y_te = common.mnist(False, root=args.data_dir)
    if args.train_samples:
        x_tr, y_tr = x_tr[: args.train_samples], y_tr[: args.train_samples]
    hidden = [int(h) for h in args.hidden.split("-") if h]
    model = build(
        hidden,
        args.t_max,
        args.backend,
        args.max_inv_slope,
        args.horizon,
        args.input_dropout,
        args.dropout,
    )
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs, eta_min=args.lr_min)
    averaged = None  # stochastic weight averaging (torch.optim.swa_utils), from --average-from
    history = []
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(x_tr))
        start, total, n = time.perf_counter(), 0.0, 0
        bar = tqdm(range(0, len(x_tr), args.batch_size), desc=f"epoch {epoch + 1}", leave=False)
        for i in bar:
            idx = perm[i : i + args.batch_size]
            t_out = model(augment(x_tr[idx], args.shift, args.rotate, args.scale))
            loss = SF.temporal_cross_entropy(
                t_out, y_tr[idx], tau=args.tau, keep_target_alive=args.keep_target_alive
            )
            opt.zero_grad()
            loss.backward()
            if args.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
            opt.step()
            total, n = total + loss.item() * len(idx), n + len(idx)
            bar.set_postfix(loss=f"{total / n:.4f}")
        sched.step()
        epoch_time = time.perf_counter() - start
        acc, silent = evaluate(model, x_te, y_te)
        record = {"epoch": epoch + 1, "train_loss": total / n, "test_acc": acc}
        record["test_silent"] = silent
        line = (
            f"epoch {epoch + 1:3d}  loss {total / n:.4f}  test acc {acc:.4f} (silent {silent:.4f})"
        )
        if args.average_from and epoch + 1 >= args.average_from:
            if averaged is None:
                averaged = torch.optim.swa_utils.AveragedModel(model)
            averaged.update_parameters(model)
            record["avg_test_acc"] = evaluate(averaged.module, x_te, y_te)[0]
            line += f"  averaged {record['avg_test_acc']:.4f}"
        history.append({**record, "epoch_s": epoch_time})
        print(f"{line}  {epoch_time:.1f} s")
        save(Path(args.out), vars(args), history, averaged.module if averaged else model)


def save(out: Path, args: dict, history: list[dict], model: nn.Module) -> None:
    """Write (after every epoch, so an interrupted run keeps its figures) JSON, plot, and the
    weights of ``model`` (the averaged model once weight averaging has started)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.parent.mkdir(parents=True, exist_ok=True)
    best = max(h["test_acc"] for h in history)
    summary = {
        "args": args,
        "history": history,
        "final_test_acc": history[-1]["test_acc"],
        "best_test_acc": best,
    }
    if "avg_test_acc" in history[-1]:
        summary["final_avg_test_acc"] = history[-1]["avg_test_acc"]
    (out.parent / f"{out.name}.json").write_text(json.dumps(summary, indent=2))
    torch.save(model.state_dict(), out.parent / f"{out.name}.pt")
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot([h["epoch"] for h in history], [100 * h["test_acc"] for h in history], label="model")
    avg = [h for h in history if "avg_test_acc" in h]
    if avg:
        ax.plot([h["epoch"] for h in avg], [100 * h["avg_test_acc"] for h in avg], label="averaged")
        ax.legend()
    ax.set(
        xlabel="epoch", ylabel="test accuracy (%)", title=f"STDBP 784-{args['hidden']}-10 on MNIST"
    )
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out.parent / f"{out.name}.png", dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
