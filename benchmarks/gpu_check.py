"""One short GPU check: the Triton backend against the reference on CUDA, and training-step times.

    python benchmarks/gpu_check.py --out $OUT/gpu.json           # on a CUDA machine, < 5 min
    python benchmarks/gpu_check.py --device cpu --dry-run --out /tmp/gpu.json   # test the script

Runs from the repository root without installing the package (the root is put on sys.path).
Each section runs in its own subprocess with a time limit, so a failure, crash or hang loses
only that section: its error (traceback, or the tail of its output) is recorded in the JSON,
which is rewritten after every section. Sections, most important first:

- environment: versions of python, torch, triton, numba, snntorch, norse, lightning; the GPU.
- equivalence: 784-800-10 layers at batch 128 (and a 5x5 convolution), float32 and float64,
  backend="triton" against backend="torch" (the reference) on the same device: causal counts
  and input order equal, spike times, slopes and every gradient close (max differences stored).
- step_stdbp_triton / step_stdbp_torch: one training step (encode + forward + loss + backward +
  Adam) of LatencyEncoder -> ReLPSPLinear(784, 800) -> ReLPSPLinear(800, 10), batch 128,
  temporal_cross_entropy(tau=0.5, keep_target_alive=1).
- step_snntorch_leaky_T25: spikegen.latency(T=25) -> Linear + snn.Leaky(0.95) -> Linear +
  snn.Leaky(0.95), ce_rate_loss, BPTT.
- step_norse_lif_T25: the same spike train -> Linear + norse LIF -> Linear + LI read-out
  (max over time), cross-entropy.
- step_cnn_triton / step_cnn_torch: STDBP 16C5-P2-32C5-P2-800-128-10 on 28x28, batch 128.
- pytest_triton: tests/test_triton_backend.py with STDBP_TEST_DEVICE (the compiled kernels).
- step_norse_lif_T25_compile: the Norse network through torch.compile (compile time reported).

Times: median (and min, all) wall time of ``--repeats`` steps after ``--warmup`` steps, each
step ended by torch.cuda.synchronize(); the first step's time (Triton / Inductor compilation
included) and the peak of torch.cuda.max_memory_allocated are stored too. The input is a
synthetic MNIST-like batch (19% of the pixels bright, fixed seed): no data set is needed.
A missing framework (snntorch, norse) skips its section with a note.

Exit status: 0 all sections ran, 1 a section failed (the JSON says which), 2 no CUDA device
(one line is printed; nothing is run; ``--device cpu`` runs the sections on the CPU, with the
Triton backend under Triton's interpreter, and ``--dry-run`` shrinks every size).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

FULL = {
    "batch": 128,
    "hidden": 800,
    "num_steps": 25,
    "repeats": 20,
    "warmup": 3,
    "cnn_batch": 128,
    "cnn_dense": [800, 128],
    "cnn_side": 28,
    "equiv_batch": 128,
    "bright": 0.19,
}
DRY = {
    "batch": 4,
    "hidden": 24,
    "num_steps": 3,
    "repeats": 2,
    "warmup": 1,
    "cnn_batch": 1,
    "cnn_warmup": 0,  # the interpreter's CNN step takes ~1 min on a busy CPU
    "cnn_repeats": 1,
    "cnn_dense": [20, 12],
    "cnn_side": 16,  # 16x16 -> 12 -> 6 -> 2 -> 1: few programs for the interpreter
    "equiv_batch": 3,
    "bright": 0.03,  # few spikes: the Triton interpreter walks them one by one
}
# name, seconds at most (the whole run is capped by --budget as well)
SECTIONS = [
    ("environment", 60),
    ("equivalence", 90),
    ("step_stdbp_triton", 60),
    ("step_stdbp_torch", 60),
    ("step_snntorch_leaky_T25", 60),
    ("step_norse_lif_T25", 60),
    ("step_cnn_triton", 60),
    ("step_cnn_torch", 60),
    ("pytest_triton", 150),
    ("step_norse_lif_T25_compile", 180),
]


def log(msg: str) -> None:
    print(msg, flush=True)


# ----------------------------------------------------------------------------- the sections


def synthetic_batch(batch: int, device: str, seed: int = 0, bright: float = 0.19):
    """MNIST-like x [B, 784] in [0, 1] (a fraction ``bright`` of the pixels > 0), labels y [B]."""
    import torch

    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 784, generator=g) * (torch.rand(batch, 784, generator=g) < bright)
    y = torch.randint(0, 10, (batch,), generator=g)
    return x.to(device), y.to(device)


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_steps(step, device: str, sizes: dict) -> dict:
    """First step (compilation included), then warm-up, then ``repeats`` timed steps."""
    import torch

    cuda = device.startswith("cuda")
    sync(device)
    start = time.perf_counter()
    first_loss = step()
    sync(device)
    first_s = time.perf_counter() - start
    for _ in range(sizes["warmup"]):
        step()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times, loss = [], first_loss
    for _ in range(sizes["repeats"]):
        sync(device)
        start = time.perf_counter()
        loss = step()
        sync(device)
        times.append(time.perf_counter() - start)
    ordered = sorted(times)
    out = {
        "median_ms": 1e3 * ordered[len(ordered) // 2],
        "min_ms": 1e3 * ordered[0],
        "all_ms": [round(1e3 * t, 4) for t in times],
        "first_step_s": first_s,
        "first_loss": first_loss,
        "last_loss": loss,
    }
    if cuda:
        out["peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    if not all(v == v and abs(v) != float("inf") for v in (first_loss, loss)):
        out["ok"] = False  # the times stay recorded
        out["error"] = f"non-finite loss: first {first_loss}, last {loss}"
    return out


def adam_step(net, loss_of):
    import torch

    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step() -> float:
        opt.zero_grad()
        loss = loss_of()
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step


def stdbp_mlp_step(device: str, sizes: dict, backend: str):
    import torch
    from torch import nn

    from stdbp_plugin import functional as SF
    from stdbp_plugin import nn as snn_e

    torch.manual_seed(0)
    x, y = synthetic_batch(sizes["batch"], device, 0, sizes["bright"])
    hidden = sizes["hidden"]
    net = nn.Sequential(
        snn_e.LatencyEncoder(),
        snn_e.ReLPSPLinear(784, hidden, horizon=3.0, backend=backend),
        snn_e.ReLPSPLinear(hidden, 10, horizon=3.0, backend=backend),
    ).to(device)
    return adam_step(
        net, lambda: SF.temporal_cross_entropy(net(x), y, tau=0.5, keep_target_alive=1.0)
    )


def stdbp_cnn_step(device: str, sizes: dict, backend: str):
    """16C5-P2-32C5-P2-800-128-10 on 28x28 (the dense widths are sizes["cnn_dense"], the image
    side sizes["cnn_side"]: the top-left corner of the synthetic digits)."""
    import torch
    from torch import nn

    from stdbp_plugin import functional as SF
    from stdbp_plugin import nn as snn_e

    torch.manual_seed(0)
    x, y = synthetic_batch(sizes["cnn_batch"], device, 0, sizes["bright"])
    side = sizes["cnn_side"]
    x = x.view(-1, 1, 28, 28)[:, :, :side, :side].contiguous()
    flat = 32 * (((side - 4) // 2 - 4) // 2) ** 2  # 512 on 28x28
    d1, d2 = sizes["cnn_dense"]
    net = nn.Sequential(
        snn_e.LatencyEncoder(),
        snn_e.ReLPSPConv2d(1, 16, 5, horizon=3.0, backend=backend),
        snn_e.EarliestSpikePool2d(2),
        snn_e.ReLPSPConv2d(16, 32, 5, horizon=3.0, backend=backend),
        snn_e.EarliestSpikePool2d(2),
        nn.Flatten(),
        snn_e.ReLPSPLinear(flat, d1, horizon=3.0, backend=backend),
        snn_e.ReLPSPLinear(d1, d2, horizon=3.0, backend=backend),
        snn_e.ReLPSPLinear(d2, 10, horizon=3.0, backend=backend),
    ).to(device)
    return adam_step(
        net, lambda: SF.temporal_cross_entropy(net(x), y, tau=0.5, keep_target_alive=1.0)
    )


def latency_spike_train(x, num_steps: int):
    """[T, B, 784]: snnTorch's latency code, one spike per bright pixel (as its tutorials)."""
    from snntorch import spikegen

    return spikegen.latency(
        x, num_steps=num_steps, tau=5, threshold=0.01, clip=True, normalize=True, linear=True
    )


def snntorch_step(device: str, sizes: dict):
    import snntorch as snn
    import snntorch.functional as snn_f
    import torch
    from torch import nn

    class SnnTorchMLP(nn.Module):
        def __init__(self, hidden: int) -> None:
            super().__init__()
            self.fc1, self.lif1 = nn.Linear(784, hidden), snn.Leaky(beta=0.95)
            self.fc2, self.lif2 = nn.Linear(hidden, 10), snn.Leaky(beta=0.95)

        def forward(self, spikes):
            mem1 = spikes.new_zeros(spikes.shape[1], self.fc1.out_features)
            mem2 = spikes.new_zeros(spikes.shape[1], 10)
            out = []
            for spikes_t in spikes:
                spk1, mem1 = self.lif1(self.fc1(spikes_t), mem1)
                spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
                out.append(spk2)
            return torch.stack(out)

    torch.manual_seed(0)
    x, y = synthetic_batch(sizes["batch"], device, 0, sizes["bright"])
    net, loss_fn = SnnTorchMLP(sizes["hidden"]).to(device), snn_f.ce_rate_loss()
    return adam_step(net, lambda: loss_fn(net(latency_spike_train(x, sizes["num_steps"])), y))


def norse_step(device: str, sizes: dict, compile: bool):
    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    import norse.torch as norse
    import torch
    import torch.nn.functional as F
    from torch import nn

    class NorseMLP(nn.Module):
        def __init__(self, hidden: int) -> None:
            super().__init__()
            self.fc1, self.lif = nn.Linear(784, hidden), norse.LIF()
            self.fc2, self.readout = nn.Linear(hidden, 10), norse.LI()

        def forward(self, spikes):
            z, _ = self.lif(self.fc1(spikes))  # Linear on [T, B, 784] == Lift(Linear)
            v, _ = self.readout(self.fc2(z))
            return v.max(dim=0).values

    torch.manual_seed(0)
    x, y = synthetic_batch(sizes["batch"], device, 0, sizes["bright"])
    net = NorseMLP(sizes["hidden"]).to(device)
    model = torch.compile(net) if compile else net
    spikes = latency_spike_train(x, sizes["num_steps"])
    return adam_step(net, lambda: F.cross_entropy(model(spikes), y))


def compare(name: str, got, ref, rtol: float, atol: float) -> dict:
    """Max |got - ref| over the entries where ref is finite (inf must match inf)."""
    import torch

    got, ref = got.detach().double().cpu(), ref.detach().double().cpu()
    same_inf = bool(torch.equal(torch.isinf(got), torch.isinf(ref)))
    finite = torch.isfinite(ref)
    diff = (got[finite] - ref[finite]).abs()
    bound = atol + rtol * ref[finite].abs()
    return {
        "name": name,
        "max_abs_diff": float(diff.max()) if diff.numel() else 0.0,
        "n_out_of_tolerance": int((diff > bound).sum()),
        "inf_pattern_equal": same_inf,
        "ok": same_inf and bool((diff <= bound).all()),
    }


def layer_checks(t, w, theta, g, tag: str, tol: tuple[float, float]) -> list[dict]:
    """One layer, triton (in t's dtype) against the reference run in float64 on the same values
    (as the numba tests do: a float32 reference would round its sums in float32, the kernels
    accumulate in float64): forward outputs and the three gradients."""
    import torch

    from stdbp_plugin import functional as SF
    from stdbp_plugin.kernels import reference, triton_backend

    ref = reference.forward(t.double(), w.double(), theta.double())
    got = triton_backend.forward(t, w, theta)
    rows = [
        {
            "name": f"{tag} order/n_causal equal",
            "ok": bool(torch.equal(ref.order, got.order))
            and bool(torch.equal(ref.n_causal, got.n_causal)),
            "n_causal_mismatches": int((ref.n_causal != got.n_causal).sum()),
            "fired_fraction": float((ref.n_causal > 0).double().mean()),
        },
        compare(f"{tag} t_out", got.t_out, ref.t_out, *tol),
        compare(f"{tag} slope", got.slope, ref.slope, *tol),
    ]
    coeff = torch.randn(*ref.t_out.shape, generator=g, dtype=torch.float64).to(t.device)
    grads = {}
    for backend in ("torch", "triton"):
        dtype = torch.float64 if backend == "torch" else t.dtype
        ti = t.detach().to(dtype, copy=True).requires_grad_()
        wi = w.detach().to(dtype, copy=True).requires_grad_()
        theta_b, c = theta.to(dtype), coeff.to(dtype)
        bi = torch.zeros_like(theta_b, requires_grad=True)
        out = SF.relpsp_linear(ti, wi, bi, theta_b, backend=backend)
        (torch.where(torch.isfinite(out), out, 0.0) * c).sum().backward()
        grads[backend] = (ti.grad, wi.grad, bi.grad)
    for name, r, o in zip(("d t_in", "d weight", "d bias"), *grads.values(), strict=True):
        scale = max(1.0, float(r.abs().max())) if r.numel() else 1.0
        rows.append(compare(f"{tag} {name} (/{scale:.3g})", o / scale, r / scale, *tol))
    return rows


def equivalence(device: str, sizes: dict) -> dict:
    """backend='triton' against backend='torch' on the same device: 784-800-10 and a conv."""
    import torch

    from stdbp_plugin import functional as SF
    from stdbp_plugin.kernels import reference

    rows: list[dict] = []
    batch = sizes["equiv_batch"]
    x, _ = synthetic_batch(batch, device, 1, sizes["bright"])
    g = torch.Generator().manual_seed(2)
    for dtype in (torch.float64, torch.float32):
        tol = (1e-9, 1e-9) if dtype == torch.float64 else (2e-4, 2e-4)
        t = SF.latency_encode(x.to(dtype))
        for n_in, n_out in ((784, sizes["hidden"]), (sizes["hidden"], 10)):
            w = (torch.randn(n_out, n_in, generator=g, dtype=torch.float64) + 0.5) / n_in**0.5
            w = w.to(device=device, dtype=dtype)
            theta = torch.full((n_out,), 1.0, dtype=dtype, device=device)
            rows += layer_checks(t, w, theta, g, f"{n_in}-{n_out} {str(dtype)[6:]}", tol)
            t = reference.forward(t, w, theta).t_out  # the next layer's input times
    # the conv path (unfold -> relpsp_linear), float64, with gradients
    xc = x[: max(1, batch // 8)].double().view(-1, 1, 28, 28)
    wc = (torch.randn(16, 1, 5, 5, generator=g, dtype=torch.float64) + 0.4) / 5
    res = {}
    for backend in ("torch", "triton"):
        ti = SF.latency_encode(xc).requires_grad_()
        wi = wc.to(device).requires_grad_()
        out = SF.relpsp_conv2d(ti, wi, threshold=0.5, backend=backend)
        (torch.where(torch.isfinite(out), out, 0.0)).sum().backward()
        res[backend] = (out.detach(), ti.grad, wi.grad)
    for gname, r, o in zip(
        ("conv t_out", "conv d t_in", "conv d weight"), *res.values(), strict=True
    ):
        finite = r[torch.isfinite(r)].abs()
        scale = max(1.0, float(finite.max())) if finite.numel() else 1.0
        rows.append(compare(f"{gname} float64", o / scale, r / scale, 1e-9, 1e-9))
    # kernel-only times of the 784-800 layer (forward; backward) at the timing batch
    timing = kernel_times(device, sizes)
    return {"ok": all(r["ok"] for r in rows), "checks": rows, "kernel_times_ms": timing}


def kernel_times(device: str, sizes: dict) -> dict:
    """Median ms of forward and backward of the 784->hidden layer, float32, per backend."""
    import torch

    from stdbp_plugin import functional as SF
    from stdbp_plugin.kernels import reference, triton_backend

    x, _ = synthetic_batch(sizes["batch"], device, 3, sizes["bright"])
    t = SF.latency_encode(x)
    g = torch.Generator().manual_seed(4)
    n_out = sizes["hidden"]
    w = ((torch.randn(n_out, 784, generator=g) + 0.5) / 28.0).to(device)
    theta = torch.ones(n_out, device=device)
    out = {}
    for name, kernel in (("torch", reference), ("triton", triton_backend)):
        res = kernel.forward(t, w, theta)
        a = torch.where(res.n_causal > 0, 1.0 / res.slope.clamp(min=1e-6), 0.0)
        fw, bw = [], []
        for _ in range(sizes["repeats"]):
            sync(device)
            start = time.perf_counter()
            res = kernel.forward(t, w, theta)
            sync(device)
            fw.append(time.perf_counter() - start)
            start = time.perf_counter()
            kernel.backward(a, t, res.t_out, w, res.order, res.n_causal, True, True)
            sync(device)
            bw.append(time.perf_counter() - start)
        out[name] = {
            "forward_ms": 1e3 * sorted(fw)[len(fw) // 2],
            "backward_ms": 1e3 * sorted(bw)[len(bw) // 2],
        }
    return out


def environment(device: str, sizes: dict) -> dict:
    import importlib
    import importlib.metadata

    import torch

    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "device": device,
        "sizes": sizes,
    }
    for pkg in ("triton", "numba", "snntorch", "norse", "lightning", "torchmetrics", "pytest"):
        try:
            info[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            info[pkg] = None
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(0)
        info["gpu"] = props.name
        info["gpu_capability"] = list(torch.cuda.get_device_capability(0))
        info["gpu_memory_gib"] = props.total_memory / 2**30
        info["gpu_count"] = torch.cuda.device_count()
    import stdbp_plugin  # noqa: F401  (the package imports in this environment)
    from stdbp_plugin.kernels import resolve_backend

    info["auto_backend"] = resolve_backend("auto", torch.device(device)).__name__
    info["stdbp_plugin_version"] = stdbp_plugin.__version__
    info["stdbp_plugin_path"] = str(Path(stdbp_plugin.__file__).parent)
    return {"ok": True, **info}


def needs(*modules: str) -> str | None:
    """A note naming the first module that does not import, else None."""
    import importlib

    for m in modules:
        try:
            importlib.import_module(m)
        except ImportError as exc:
            return f"skipped: {m} does not import ({exc})"
    return None


def run_section(name: str, device: str, sizes: dict) -> dict:
    """The body of one section (in the child process)."""
    if name == "environment":
        return environment(device, sizes)
    if name == "equivalence":
        return equivalence(device, sizes)
    if name == "pytest_triton":
        return run_pytest(device, sizes)
    builders = {
        "step_stdbp_triton": (("triton",), lambda: stdbp_mlp_step(device, sizes, "triton")),
        "step_stdbp_torch": ((), lambda: stdbp_mlp_step(device, sizes, "torch")),
        "step_cnn_triton": (("triton",), lambda: stdbp_cnn_step(device, sizes, "triton")),
        "step_cnn_torch": ((), lambda: stdbp_cnn_step(device, sizes, "torch")),
        "step_snntorch_leaky_T25": (("snntorch",), lambda: snntorch_step(device, sizes)),
        "step_norse_lif_T25": (("norse", "snntorch"), lambda: norse_step(device, sizes, False)),
        "step_norse_lif_T25_compile": (
            ("norse", "snntorch"),
            lambda: norse_step(device, sizes, True),
        ),
    }
    required, build = builders[name]
    note = needs(*required)
    if note is not None:
        return {"ok": True, "skipped": note}
    log(f"  building {name} on {device} ...")
    if name.startswith("step_cnn"):
        sizes = {**sizes, "warmup": sizes.get("cnn_warmup", sizes["warmup"])}
        sizes["repeats"] = sizes.get("cnn_repeats", sizes["repeats"])
    return {"ok": True} | time_steps(build(), device, sizes)


def run_pytest(device: str, sizes: dict) -> dict:
    note = needs("pytest", "hypothesis", "triton")
    if note is not None:
        return {"ok": True, "skipped": note}
    env = dict(os.environ, STDBP_TEST_DEVICE=device.split(":")[0], PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    cmd += ["tests/test_triton_backend.py", "tests/test_devices.py", *sizes.get("pytest_args", [])]
    log("  " + " ".join(cmd[1:]))
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    summary = lines[-1] if lines else ""
    log(f"  pytest: {summary}")
    return {
        "ok": proc.returncode == 0,
        "returncode": proc.returncode,
        "summary": summary,
        "output_tail": "\n".join(lines[-60:]),
    }


# ----------------------------------------------------------------------------- the driver


def child_main(args: argparse.Namespace) -> int:
    sizes = json.loads(args.sizes)
    try:
        result = run_section(args.child, args.device, sizes)
    except BaseException as exc:  # recorded, not raised: the parent carries on
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        result["traceback"] = traceback.format_exc()[-4000:]
    Path(args.result_file).write_text(json.dumps(result, default=str))
    return 0


def kill_group(proc: subprocess.Popen) -> None:
    """Kill a section's process and everything it started (its own process group)."""
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        proc.kill()
    proc.wait()


def write(out: Path, report: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=1, default=str))
    tmp.replace(out)


def summarize(sections: dict) -> dict:
    ms = {
        name: s["median_ms"]
        for name, s in sections.items()
        if isinstance(s.get("median_ms"), float)
    }
    out: dict[str, Any] = {"median_ms": ms}
    base = ms.get("step_stdbp_triton")
    if base:
        out["ms_over_step_stdbp_triton"] = {k: v / base for k, v in ms.items()}
    out["failed"] = [n for n, s in sections.items() if not s.get("ok")]
    out["skipped"] = [n for n, s in sections.items() if s.get("skipped")]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="the JSON file to write")
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes (tests the script)")
    parser.add_argument(
        "--budget", type=float, default=None, help="seconds for all sections (285; 900 dry-run)"
    )
    parser.add_argument("--only", nargs="+", default=None, help="run only these sections")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", help=argparse.SUPPRESS)
    parser.add_argument("--result-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_main(args)

    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(
            f"gpu_check: no CUDA device (torch {torch.__version__}); nothing run "
            "(--device cpu --dry-run tests the script on the CPU)",
            flush=True,
        )
        return 2
    sizes = dict(DRY if args.dry_run else FULL)
    if args.budget is None:
        args.budget = 900.0 if args.dry_run else 285.0
    scale = 3.0 if args.dry_run else 1.0  # the section limits: sized for a GPU
    if args.dry_run:
        sizes["pytest_args"] = ["-k", "edge_shapes or resolution or partial or move or mixed"]
    names = [n for n, _ in SECTIONS if args.only is None or n in args.only]
    unknown = set(args.only or []) - {n for n, _ in SECTIONS}
    if unknown:
        parser.error(
            f"--only: unknown sections {sorted(unknown)}; known: {[n for n, _ in SECTIONS]}"
        )
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if args.device == "cpu":
        env["TRITON_INTERPRET"] = "1"  # the Triton backend on CPU tensors = Triton's interpreter
    report: dict[str, Any] = {
        "script": "benchmarks/gpu_check.py",
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "argv": sys.argv[1:],
        "device": args.device,
        "dry_run": args.dry_run,
        "sizes": sizes,
        "sections": {},
    }
    limits = dict(SECTIONS)
    t0 = time.perf_counter()
    log(f"gpu_check: {len(names)} sections on {args.device}, budget {args.budget:.0f} s")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            left = args.budget - (time.perf_counter() - t0)
            if left < 5:
                report["sections"][name] = {"ok": False, "error": "not run: time budget spent"}
                log(f"[{time.perf_counter() - t0:6.1f}s] {name}: not run (time budget spent)")
                continue
            limit = min(scale * limits[name], left)
            log(f"[{time.perf_counter() - t0:6.1f}s] {name} (limit {limit:.0f} s) ...")
            result_file = Path(tmp) / f"{name}.json"
            log_file = Path(tmp) / f"{name}.log"
            cmd = [sys.executable, str(Path(__file__).resolve()), "--out", str(args.out)]
            cmd += ["--child", name, "--device", args.device, "--sizes", json.dumps(sizes)]
            cmd += ["--result-file", str(result_file)]
            start = time.perf_counter()
            with open(log_file, "w") as fh:
                proc = subprocess.Popen(
                    cmd, cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: pytest, compile workers
                )  # fmt: skip
                try:
                    proc.wait(timeout=limit)
                    status = None
                except subprocess.TimeoutExpired:
                    kill_group(proc)
                    status = f"timed out after {limit:.0f} s"
            seconds = time.perf_counter() - start
            output = log_file.read_text(errors="replace")
            for line in output.strip().splitlines()[-15:]:
                log(f"    | {line}")
            if status is None and result_file.exists():
                result = json.loads(result_file.read_text())
            else:
                status = status or f"exit code {proc.returncode} without a result"
                result = {"ok": False, "error": status, "output_tail": output[-3000:]}
            result["seconds"] = seconds
            report["sections"][name] = result
            state = "ok" if result.get("ok") else "FAILED: " + str(result.get("error", ""))[:200]
            if result.get("skipped"):
                state = result["skipped"]
            if "median_ms" in result:
                state += f", median {result['median_ms']:.2f} ms/step"
            log(f"[{time.perf_counter() - t0:6.1f}s] {name}: {state} ({seconds:.1f} s)")
            report["summary"] = summarize(report["sections"])
            report["total_s"] = time.perf_counter() - t0
            write(args.out, report)
    report["summary"] = summarize(report["sections"])
    report["total_s"] = time.perf_counter() - t0
    write(args.out, report)
    for name, ms in report["summary"]["median_ms"].items():
        ratio = report["summary"].get("ms_over_step_stdbp_triton", {}).get(name)
        log(f"  {name:<28}{ms:>10.2f} ms" + (f"  ({ratio:.2f}x stdbp triton)" if ratio else ""))
    failed = report["summary"]["failed"]
    log(f"gpu_check: wrote {args.out} in {report['total_s']:.0f} s; failed: {failed or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
