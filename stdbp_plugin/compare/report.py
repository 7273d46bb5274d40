"""The comparison report: a rich table on the terminal, report.md, results.json and plots."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

COLUMNS = (
    ("model", "model", "{}"),
    ("test_acc", "test acc", "{:.2%}"),
    ("epoch_time_s", "s / epoch", "{:.2f}"),
    ("peak_rss_mib", "peak MiB", "{:.0f}"),
    ("spikes_per_sample", "spikes / sample", "{:.0f}"),
    ("decision_latency", "latency", "{:.3f}"),
    ("synops_per_sample", "synops / sample", "{:,.0f}"),
)

LABELS = {
    "stdbp": "STDBP",
    "snntorch": "snnTorch",
    "norse": "Norse",
    "snntorch-compile": "snnTorch (torch.compile)",
    "norse-compile": "Norse (torch.compile)",
    "user": "your model",
    "clock": "clock (convert)",
    "event": "event (convert)",
}
TITLE = "STDBP vs surrogate-gradient baselines"


def _cells(result: dict) -> list[str]:
    cells = []
    for key, _, fmt in COLUMNS:
        value = result.get(key)
        if key == "model":
            value = LABELS.get(value, value) + (" (skipped)" if "skipped" in result else "")
        cells.append(fmt.format(value) if value is not None else "n/a")
    return cells


def print_table(results: list[dict], console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="stdbp compare")
    for _, title, _ in COLUMNS:
        table.add_column(title, justify="left" if title == "model" else "right")
    for result in results:
        table.add_row(*_cells(result))
    (console or Console()).print(table)


def markdown_table(results: list[dict]) -> str:
    lines = ["| " + " | ".join(title for _, title, _ in COLUMNS) + " |"]
    lines.append("|" + "|".join("---" for _ in COLUMNS) + "|")
    lines += ["| " + " | ".join(_cells(r)) + " |" for r in results]
    return "\n".join(lines)


NOTES = """
## How the figures are measured

Models: **STDBP** = event-driven ReL-PSP network, latency-coded input, exact spike-time
gradients (STDBPClassifier); **snnTorch** = `snn.Leaky` layers, rate-coded input, BPTT with
the arctan surrogate, `ce_rate_loss`; **Norse** = `LIFCell` hidden layers + `LICell` read-out,
constant-current LIF encoder, BPTT with SuperSpike, max-membrane decoding. Same layer sizes.
Columns: test acc, s / epoch (train time per epoch), peak MiB (peak memory), spikes / sample,
latency (decision latency), synops / sample (synaptic operations).

- **test accuracy**: share of the held-out test set classified correctly; a sample without a
  decision (no output spike) counts as wrong. STDBP: the first output spike's class. snnTorch:
  most output spikes. Norse: largest membrane maximum of the LI read-out.
- **train time / epoch**: wall-clock seconds of one training epoch (validation excluded),
  mean over epochs, with the given number of CPU threads.
- **peak memory**: increase of the process's resident memory (Linux VmHWM after resetting it
  through /proc/self/clear_refs) while `Trainer.fit` runs; each model trains in a fresh
  process. It counts everything the training touched (weights, optimiser state, activations
  kept for backward, data loader batches).
- **spikes / sample**: spikes of all neuron layers for one test sample (input spikes excluded;
  the Norse read-out does not spike).
- **decision latency**: mean time at which the decision is final, in units of the input
  window (STDBP: time of the first output spike / t_max, inputs arrive in [0, t_max];
  baselines: (first step after which the read-out's argmax no longer changes + 1) / T).
- **synaptic ops / sample**: sum over layers of (input spikes x synapses each drives), the
  usual energy proxy; input spikes count for the first layer.
"""


def _trained(results: list[dict]) -> list[dict]:
    """The results of the models that ran (not the skipped ones)."""
    return [r for r in results if "skipped" not in r]


def _plot_accuracy(results, path: Path) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6, 4))
    for r in results:
        acc = r["history"].get("val/acc", [])
        ax.plot(range(1, len(acc) + 1), acc, marker="o", label=LABELS.get(r["model"], r["model"]))
    ax.set(xlabel="epoch", ylabel="validation accuracy", title="Accuracy per epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_latency(results, path: Path) -> None:
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(6, 4))
    finite = [np.asarray([v for v in r["latencies"] if np.isfinite(v)]) for r in results]
    top = max([f.max() for f in finite if f.size] + [1.0])
    bins = np.linspace(0, top, 40)
    for r, f in zip(results, finite, strict=True):
        ax.hist(f, bins=bins, alpha=0.5, label=LABELS.get(r["model"], r["model"]))
    ax.set(xlabel="decision latency (input windows)", ylabel="test samples",
           title="When the decision is made")  # fmt: skip
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_raster(results, path: Path) -> None:
    import matplotlib.pyplot as plt

    n_layers = max(len(r["raster"]) for r in results)
    fig, axes = plt.subplots(
        n_layers, len(results), figsize=(4 * len(results), 2.2 * n_layers), squeeze=False
    )
    for col, r in enumerate(results):
        for row in range(n_layers):
            ax = axes[row][col]
            if row < len(r["raster"]):
                times, idx = r["raster"][row]
                ax.scatter(times, idx, s=2, color="black")
                if not times:
                    note = (
                        "LI read-out (no spikes)" if r["model"].startswith("norse") else "no spikes"
                    )
                    ax.text(0.5, 0.5, note, ha="center", va="center", transform=ax.transAxes)
            ax.set_xlim(0, max([1.0, *(max(t) for t, _ in r["raster"] if t)]) * 1.02)
            if row == 0:
                ax.set_title(LABELS.get(r["model"], r["model"]), fontsize=9)
            if col == 0:
                ax.set_ylabel(f"layer {row}\nneuron")
            if row == n_layers - 1:
                ax.set_xlabel("time (input windows)")
    fig.suptitle("Spike raster of one test sample")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(
    results: list[dict],
    config: dict,
    out_dir: str | Path,
    title: str = TITLE,
    notes: str = NOTES,
    sections: list[str] | tuple[str, ...] = (),
) -> Path:
    """Write report.md, results.json, accuracy_per_epoch.png, latency_histogram.png,
    raster.png into ``out_dir``; return the folder.

    Atomic: the files are written into a hidden temporary folder beside ``out_dir``, which then
    takes its place (an earlier ``out_dir`` is replaced only then), so an interrupted run leaves
    either the old folder or the new one, never a half-written report.
    ``title`` and ``notes`` replace the heading and the measuring notes; ``sections``
    (markdown) follow the table. Results with a "skipped" key appear as table rows of "n/a"
    and are left out of the plots."""
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; the report folder is not
    try:
        _write_files(tmp, results, config, title, notes, sections)
        _replace_folder(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _replace_folder(new: Path, out: Path) -> None:
    """``new`` takes the place of ``out`` (two renames; the old folder is deleted last)."""
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.replace(out, old / out.name)
        os.replace(new, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, out)


def _write_files(out: Path, results, config, title, notes, sections) -> None:
    import matplotlib

    matplotlib.use("Agg")
    (out / "results.json").write_text(json.dumps({"config": config, "results": results}, indent=1))
    ran = _trained(results)
    if ran:
        _plot_accuracy(ran, out / "accuracy_per_epoch.png")
        _plot_latency(ran, out / "latency_histogram.png")
        _plot_raster(ran, out / "raster.png")
    setting = ", ".join(f"{k}={v}" for k, v in config.items() if k != "progress")
    text = [
        f"# {title}",
        "",
        f"Setting: {setting}.",
        "",
        markdown_table(results),
        "",
        *sections,
        notes,
        "![accuracy per epoch](accuracy_per_epoch.png)",
        "",
        "![decision latency](latency_histogram.png)",
        "",
        "![raster](raster.png)",
        "",
    ]
    (out / "report.md").write_text("\n".join(text))
