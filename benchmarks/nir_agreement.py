"""NIR export of a trained 784-800-10 STDBP MLP: round trip and cross-simulator agreement.

    python benchmarks/nir_agreement.py --data-dir /work/shared/data --threads 2

Trains the MLP on MNIST with STDBP (``--epochs``, default 2; cached in --cache, loaded when it
exists), then on the first ``--n-test`` (1,000) MNIST test images measures:

- round trip: export -> NIR file -> load, output spike times and classes against the model,
  for the MLP and for the CNN of the compare / Lightning path (STDBPNetwork
  "16C5-P2-32C5-P2-800-128-10", freshly initialised);
- Norse 1.1's reader: ``norse.torch.from_nir(export(model, compat="norse", dt=dt), dt=dt)``
  stepped clock-driven over the window (1.1 x the latest first output spike of the event
  model: where every class is decided), class = first output step (ties: lowest index),
  agreement with the event-driven class for each dt (float32, and float64 via ``.double()``);
- snnTorch 1.0's reader (``import_from_nir``) on both exports: the error it raises;
- the exact export stepped by ``stdbp_plugin.nir.simulate`` (the NIR node equations, float64)
  for each of ``--reference-dts``: class agreement with the event model.

Writes --out (JSON) and prints a Markdown table for docs/nir.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402  (before torch: it sets OMP_WAIT_POLICY)
import torch  # noqa: E402
from torch import nn  # noqa: E402

import stdbp_plugin.functional as SF  # noqa: E402
import stdbp_plugin.nn as snn  # noqa: E402
from stdbp_plugin.data import load_split  # noqa: E402
from stdbp_plugin.nir import export, first_spike_steps, load, simulate  # noqa: E402


def build() -> nn.Sequential:
    return nn.Sequential(
        snn.LatencyEncoder(), snn.ReLPSPLinear(784, 800), snn.ReLPSPLinear(800, 10)
    )


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, seed: int) -> None:
    """AdamW (lr 1e-3, cosine to 1e-5), batch 128, temporal_cross_entropy(tau=0.0625,
    keep_target_alive=1): the settings of reproduce_mnist.py, without augmentation."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(epochs, 1), eta_min=1e-5)
    for epoch in range(epochs):
        perm, t0, total = torch.randperm(len(x), generator=gen), time.time(), 0.0
        for i in range(0, len(x), 128):
            idx = perm[i : i + 128]
            opt.zero_grad()
            loss = SF.temporal_cross_entropy(model(x[idx]), y[idx], 0.0625, keep_target_alive=1.0)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        sched.step()
        print(f"epoch {epoch + 1}: loss {total / len(x):.4f} ({time.time() - t0:.0f} s)")


def norse_first_steps(graph, t_in: torch.Tensor, num_steps: int, dt: float, double: bool):
    """First output step of each neuron (num_steps: none) and the most spikes any output neuron
    fired, for input spikes at steps floor(t_in / dt) (made one step at a time)."""
    import norse.torch as norse

    logging.disable(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = norse.from_nir(graph, dt=dt)
    logging.disable(logging.NOTSET)
    dtype = torch.float64 if double else torch.float32
    if double:
        model = model.double()
    k_in = torch.where(torch.isinf(t_in), -1, torch.floor(t_in / dt)).long()
    state, first, count = None, None, None
    with torch.no_grad():
        for k in range(num_steps):
            z, state = model((k_in == k).to(dtype), state)
            step = torch.where(z != 0, k, num_steps)
            first = step if first is None else torch.minimum(first, step)
            count = (z != 0).long() if count is None else count + (z != 0).long()
    return first, int(count.max())


def reference_first_steps(graph, t_in: torch.Tensor, num_steps: int, dt: float, chunk: int = 250):
    """First output steps of the exact export stepped by ``stdbp_plugin.nir.simulate`` (forward
    Euler of the NIR node equations, float64), input spikes at steps floor(t_in / dt)."""
    k_in = torch.where(torch.isinf(t_in), -1, torch.floor(t_in / dt)).long()
    steps = torch.arange(num_steps)[:, None, None]
    firsts, most = [], 0
    for i in range(0, len(t_in), chunk):
        out = simulate(graph, k_in[i : i + chunk].unsqueeze(0) == steps, dt)
        firsts.append(first_spike_steps(out))
        most = max(most, int(out.sum(0).max()))
    return torch.cat(firsts), most


def predict_from_steps(steps: torch.Tensor) -> torch.Tensor:
    return torch.argmin(steps, dim=-1)  # ties and all-silent: lowest index


def round_trip(net: nn.Module, x: torch.Tensor, sample: torch.Tensor | None = None) -> dict:
    """export -> NIR file -> load; the loaded model's output spike times against net's."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "net.nir"
        export(net, sample, path=path)
        back = load(path)
    with torch.no_grad():
        t_out, t_back = net(x), back(x)
    fin = torch.isfinite(t_out)
    return {
        "identical": bool(torch.equal(t_back, t_out)),
        "max_abs_diff": float((t_back[fin] - t_out[fin]).abs().max()) if fin.any() else 0.0,
        "same_silent": bool(torch.equal(torch.isinf(t_back), fin.logical_not())),
        "class_agreement": float(
            (SF.first_spike_predict(t_back) == SF.first_spike_predict(t_out)).float().mean()
        ),
        "firing_outputs": float(fin.float().mean()),
    }


def cnn_round_trip(x: torch.Tensor, seed: int) -> dict:
    """The round trip of the compare / Lightning CNN (STDBPNetwork "16C5-P2-32C5-P2-800-128-10",
    freshly initialised: the round trip does not depend on the weights' values)."""
    from stdbp_plugin.models.stdbp_network import STDBPNetwork

    torch.manual_seed(seed)
    net = STDBPNetwork("16C5-P2-32C5-P2-800-128-10", (1, 28, 28)).eval()
    return {"spec": "16C5-P2-32C5-P2-800-128-10", **round_trip(net, x)}


def snntorch_reader(graph) -> str:
    try:
        from snntorch.import_nir import import_from_nir

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import_from_nir(graph)
    except Exception as err:  # noqa: BLE001  (we record what the reader says)
        return f"{type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}"
    return "read without error"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=os.environ.get("STDBP_DATA_DIR", "/work/shared/data"))
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--n-test", type=int, default=1000)
    ap.add_argument("--dts", default="0.05,0.02,0.01,0.005,0.002,0.001")
    ap.add_argument("--reference-dts", default="0.01,0.002", help="NIR-equation simulator")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-float64", action="store_true", help="skip the float64 Norse runs")
    ap.add_argument("--cache", default=str(common.RESULTS_DIR / "nir_mlp.pt"))
    ap.add_argument("--out", default=str(common.RESULTS_DIR / "nir_agreement.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    model = build()
    cache = Path(args.cache)
    if cache.exists():
        model.load_state_dict(torch.load(cache))
        print(f"loaded {cache}")
    else:
        tr = load_split("mnist", args.data_dir, train=True)
        x_tr, y_tr = tr.tensors[0].reshape(len(tr), -1), tr.tensors[1]
        train(model, x_tr, y_tr, args.epochs, args.seed)
        cache.parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), cache)
    model.eval()
    te = load_split("mnist", args.data_dir, train=False, first=args.n_test)
    x, y = te.tensors[0].reshape(len(te), -1), te.tensors[1]
    with torch.no_grad():
        t_out = model(x)
    cls = SF.first_spike_predict(t_out)
    res: dict = {
        "n_test": len(x),
        "epochs": args.epochs,
        "accuracy": float((cls == y).float().mean()),
        "silent_samples": int(torch.isinf(t_out).all(-1).sum()),
    }
    print(f"event-driven accuracy on {len(x)} test images: {res['accuracy']:.4f}")

    res["round_trip"] = round_trip(model, x)
    print("round trip:", res["round_trip"])

    res["round_trip_cnn"] = cnn_round_trip(x.reshape(-1, 1, 28, 28), args.seed)
    print("round trip (CNN):", res["round_trip_cnn"])

    t_in = model[0](x)
    decided = t_out.min(-1).values  # the class is decided at the first output spike
    window = (
        1.1 * float(decided[torch.isfinite(decided)].max()) if decided.isfinite().any() else 2.0
    )
    res["window"] = window
    res["snntorch_reader"] = {
        "exact": snntorch_reader(export(model)),
        "norse_compat": snntorch_reader(export(model, compat="norse", dt=0.01)),
    }
    print("snnTorch reader:", res["snntorch_reader"])
    rows = []
    for dt in [float(v) for v in args.dts.split(",")]:
        num_steps = int(window / dt) + 2
        graph = export(model, compat="norse", dt=dt)
        ref = torch.floor(t_out / dt).clamp(max=num_steps).nan_to_num(num_steps).long()
        row = {"dt": dt, "steps": num_steps}
        for double in (False,) if args.no_float64 else (False, True):
            t0 = time.time()
            steps, most = norse_first_steps(graph, t_in, num_steps, dt, double)
            key = "float64" if double else "float32"
            both = (steps < num_steps) & (ref < num_steps)
            row[key] = {
                "class_agreement": float((predict_from_steps(steps) == cls).float().mean()),
                "accuracy": float((predict_from_steps(steps) == y).float().mean()),
                "mean_abs_step_diff": float((steps - ref)[both].abs().float().mean()),
                "same_silent": float(((steps == num_steps) == (ref == num_steps)).float().mean()),
                "max_spikes_per_output_neuron": most,
                "seconds": round(time.time() - t0, 1),
            }
            print(f"dt={dt:g} {key}: {row[key]}")
        rows.append(row)
    res["norse"] = rows
    res["reference"] = []
    exact = export(model)
    for dt in [float(v) for v in args.reference_dts.split(",") if v]:
        num_steps = int(window / dt) + 2
        ref = torch.floor(t_out / dt).clamp(max=num_steps).nan_to_num(num_steps).long()
        t0 = time.time()
        steps, most = reference_first_steps(exact, t_in, num_steps, dt)
        both = (steps < num_steps) & (ref < num_steps)
        row = {
            "dt": dt,
            "steps": num_steps,
            "class_agreement": float((predict_from_steps(steps) == cls).float().mean()),
            "mean_abs_step_diff": float((steps - ref)[both].abs().float().mean()),
            "max_spikes_per_output_neuron": most,
            "seconds": round(time.time() - t0, 1),
        }
        print(f"reference simulator, exact export, dt={dt:g}: {row}")
        res["reference"].append(row)
    res["command"] = " ".join(["python", "benchmarks/nir_agreement.py", *sys.argv[1:]])
    Path(args.out).write_text(json.dumps(res, indent=2))
    print(f"\nwrote {args.out}\n")
    print("| dt | steps | class agreement (float32) | (float64) | mean abs step diff (f32) |")
    print("|---|---|---|---|---|")
    for r in rows:
        f64 = f"{r['float64']['class_agreement']:.1%}" if "float64" in r else "-"
        print(
            f"| {r['dt']:g} | {r['steps']} | {r['float32']['class_agreement']:.1%} | {f64} | "
            f"{r['float32']['mean_abs_step_diff']:.2f} |"
        )


if __name__ == "__main__":
    main()
