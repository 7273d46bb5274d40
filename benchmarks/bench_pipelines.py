"""The pipelines matrix: upstream snnTorch / Norse pipelines, each as upstream, swap, clock, event.

Every pipeline in ``benchmarks/pipelines/`` (snnTorch tutorials 5 and 6, snnTorch latency input
with ``ce_temporal_loss``, Norse's MNIST task, a Norse README-style MLP, Norse latency input
scored by first spike) runs as:

- upstream: the pipeline as its users write it (surrogate gradients);
- swap: the literal class-name swap to ``stdbp_plugin.snntorch.ReLPSP`` /
  ``stdbp_plugin.norse.ReLPSPCell`` / ``ReLPSP``, plus at most the one documented readout line;
- clock: ``stdbp_plugin.convert(model, mode="clock")`` (plus the same readout line);
- event: ``stdbp_plugin.convert(model, mode="event")`` where the pipeline allows it.

All variants of a pipeline get the same MNIST subset (the first ``--train-size`` training and
``--test-size`` test images of the official split, read from the raw IDX files), epochs, seed,
batch size and number of steps. Measured: test accuracy, seconds per training epoch, spikes
per test sample (all spiking layers, input encoders excluded) and the share of silent output
neurons. A variant that raises is recorded with its one-line message; the run goes on.

Writes benchmarks/results/pipelines.json and docs/pipelines.md. With ``--only``, the cells
run are merged into the existing JSON (the other cells are kept) before the docs are written.

    python benchmarks/bench_pipelines.py --train-size 10000 --test-size 2000 --epochs 1 \\
        --threads 2 [--only snntorch_tutorial5,norse_latency/clock] \\
        [--train-size-for norse_mnist_task=1000] [--test-size-for norse_mnist_task=500] \\
        [--num-steps-for snntorch_tutorial6=25]
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch / numba start OpenMP
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import common  # noqa: E402
import pipelines  # noqa: E402
import torch  # noqa: E402
from pipelines import NAMES, VARIANTS, Budget, Data, NotApplicable, seeds  # noqa: E402

JSON_PATH = common.RESULTS_DIR / "pipelines.json"
DOCS_PATH = common.REPO_ROOT / "docs" / "pipelines.md"
ACCURACY_MARGIN = 1.0  # points: a switched variant should reach upstream - 1
SPEED_MARGIN = 1.0  # a switched variant should train at most as slow per epoch as upstream


def _pairs(values: list[str], kind: type, flag: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for value in values:
        name, _, number = value.partition("=")
        if name not in NAMES or not number:
            raise SystemExit(f"{flag} takes NAME=VALUE with NAME in {', '.join(NAMES)}: {value!r}")
        out[name] = kind(number)
    return out


def _cells(only: str | None, variants: list[str]) -> list[tuple[str, str]]:
    if not only:
        return [(n, v) for n in NAMES for v in variants]
    cells = []
    for item in only.split(","):
        name, _, variant = item.strip().partition("/")
        if name not in NAMES:
            raise SystemExit(f"--only: unknown pipeline {name!r}; known: {', '.join(NAMES)}")
        if variant and variant not in VARIANTS:
            raise SystemExit(f"--only: unknown variant {variant!r}; known: {', '.join(VARIANTS)}")
        cells += [(name, variant)] if variant else [(name, v) for v in variants]
    return cells


def _data(train_size: int, test_size: int) -> Data:
    x, y = common.mnist(True, train_size)
    xt, yt = common.mnist(False, test_size)
    return Data(x.view(-1, 1, 28, 28), y, xt.view(-1, 1, 28, 28), yt)


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:400]


def run_cell(name: str, variant: str, data: Data, budget: Budget) -> dict:
    start = time.perf_counter()
    try:
        cell = pipelines.run(name, variant, data, budget)
        cell["status"] = "ok"
    except NotApplicable as err:
        cell = {"status": "n/a", "reason": str(err)}
    except Exception as err:  # noqa: BLE001 - recorded in the table, the matrix goes on
        cell = {"status": "error", "error": _one_line(err)}
    cell["wall_s"] = time.perf_counter() - start
    return cell


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-size", type=int, default=10000)
    parser.add_argument("--test-size", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0, help="the seed of the main table")
    parser.add_argument(
        "--seeds",
        help="comma list of seeds: every cell runs at each and the 'Several seeds' table gets "
        "them all; the run at --seed, if listed, also fills the main table",
    )
    parser.add_argument("--only", help="comma list of PIPELINE or PIPELINE/VARIANT")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument(
        "--train-size-for",
        action="append",
        default=[],
        metavar="NAME=N",
        help="a smaller training subset for one pipeline (all its variants)",
    )
    parser.add_argument(
        "--test-size-for",
        action="append",
        default=[],
        metavar="NAME=N",
        help="a smaller test subset for one pipeline (all its variants)",
    )
    parser.add_argument(
        "--num-steps-for",
        action="append",
        default=[],
        metavar="NAME=T",
        help="time steps for one pipeline (all its variants) instead of its tutorial's",
    )
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="rewrite the docs from the existing JSON (after editing pipelines/notes.py)",
    )
    parser.add_argument("--json", type=Path, default=JSON_PATH)
    parser.add_argument("--docs", type=Path, default=DOCS_PATH)
    args = parser.parse_args(argv)
    if args.render_only:
        args.docs.write_text(render_docs(json.loads(args.json.read_text())))
        print(f"wrote {args.docs}")
        return
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for v in variants:
        if v not in VARIANTS:
            raise SystemExit(f"--variants: unknown {v!r}; known: {', '.join(VARIANTS)}")
    train_for = _pairs(args.train_size_for, int, "--train-size-for")
    steps_for = _pairs(args.num_steps_for, int, "--num-steps-for")
    test_for = _pairs(args.test_size_for, int, "--test-size-for")
    cells = _cells(args.only, variants)
    seed_list = _seed_list(args.seeds, args.seed)

    common.set_threads(args.threads)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)
    before = common.machine_info(args.threads)
    print(common.load_line(before), flush=True)
    full = _data(args.train_size, args.test_size)

    partial = bool(args.only) or set(variants) != set(VARIANTS)
    previous = json.loads(args.json.read_text()) if partial and args.json.exists() else {}
    results = previous.get("results", {}) if previous else {}
    budgets = previous.get("budgets", {}) if previous else {}
    seed_runs = previous.get("seed_runs", {}) if previous else {}
    for seed, (name, variant) in ((s, c) for s in seed_list for c in cells):
        n_train = int(train_for.get(name, args.train_size))
        n_test = int(test_for.get(name, args.test_size))
        data = _subset(full, min(n_train, args.train_size), min(n_test, args.test_size))
        budget = Budget(
            epochs=args.epochs,
            num_steps=steps_for.get(name),
            seed=seed,
            progress=not args.no_progress,
        )
        print(
            f"== {name} / {variant}: {len(data.y_train)} train / {len(data.y_test)} test images, "
            f"{args.epochs} epoch(s), seed {seed}",
            flush=True,
        )
        cell = run_cell(name, variant, data, budget)
        cell["train_size"] = len(data.y_train)
        cell["test_size"] = len(data.y_test)
        cell["epochs"] = args.epochs
        if args.seeds:
            seeds.record(seed_runs, name, variant, seed, cell)
        print(_summary(name, variant, cell), flush=True)
        if seed != args.seed:
            continue
        results.setdefault(name, {})[variant] = cell
        budgets[name] = {
            "train_size": len(data.y_train),
            "test_size": len(data.y_test),
            "epochs": args.epochs,
            "num_steps": cell.get("num_steps", steps_for.get(name)),
            "batch_size": cell.get("batch_size"),
        }
    after = common.machine_info(args.threads)
    print(common.load_line(after), flush=True)
    command = "python benchmarks/bench_pipelines.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    # a command run again moves to the end (its cells replace the earlier ones)
    commands = [c for c in (previous.get("commands", []) if previous else []) if c != command]
    machines = dict(previous.get("machines", {})) if previous else {}
    machines[command] = (
        f"{common.load_line(before)} before, load avg {after['load_avg_1_5_15min'][0]:.1f} after"
    )
    result = {
        "benchmark": "pipelines",
        "commands": commands + [command],
        "machines": machines,
        "machine_before": before,
        "machine_after": after,
        "budgets": budgets,
        "results": results,
        "seed_runs": seed_runs,
    }
    common.write_json(args.json, result)
    args.docs.write_text(render_docs(result))
    print(f"wrote {args.docs}")


def _seed_list(text: str | None, main: int) -> list[int]:
    if not text:
        return [main]
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise SystemExit(f"--seeds takes a comma list of integers: {text!r}") from None
    if not values or len(set(values)) != len(values):
        raise SystemExit(f"--seeds must list distinct seeds: {text!r}")
    return values


def _subset(data: Data, n_train: int, n_test: int) -> Data:
    """The first n_train / n_test images (the same images for every variant)."""
    return Data(
        data.x_train[:n_train], data.y_train[:n_train], data.x_test[:n_test], data.y_test[:n_test]
    )


def _summary(name: str, variant: str, cell: dict) -> str:
    if cell["status"] == "ok":
        return (
            f"   {name}/{variant}: accuracy {cell['accuracy']:.2f}%, "
            f"{cell['s_per_epoch']:.1f} s/epoch, {cell['spikes_per_sample']:.0f} spikes/sample"
        )
    return f"   {name}/{variant}: {cell['status']}: {cell.get('error') or cell.get('reason')}"


# ---- docs/pipelines.md ------------------------------------------------------------------------
def _fmt(value, spec: str, missing: str = "-") -> str:
    if value is None:
        return missing
    try:
        return format(value, spec)
    except (TypeError, ValueError):
        return str(value)


def _verdict(cell: dict, up: dict | None) -> tuple[list[str], dict]:
    """The done-when checks of the issue for one switched cell: (misses, numbers)."""
    misses: list[str] = []
    numbers: dict = {}
    if cell["status"] != "ok":
        return [cell["status"]], numbers
    if up is None or up.get("status") != "ok":
        return misses, numbers
    numbers["d_acc"] = cell["accuracy"] - up["accuracy"]
    numbers["speed"] = cell["s_per_epoch"] / up["s_per_epoch"] if up["s_per_epoch"] else None
    if numbers["d_acc"] < -ACCURACY_MARGIN:
        misses.append("accuracy")
    if numbers["speed"] is not None and numbers["speed"] > SPEED_MARGIN:
        misses.append("speed")
    return misses, numbers


def _measured_why(name: str, variant: str, cell: dict, up: dict | None, misses: list) -> str:
    """Facts of this run that explain a miss (silence, loss, warnings, the error)."""
    if cell["status"] == "error":
        return f"raises `{cell['error']}`"
    if cell["status"] == "n/a":
        return cell["reason"]
    facts = []
    if "accuracy" in misses:
        facts.append(f"{cell['accuracy']:.1f}% against {up['accuracy']:.1f}% upstream")
        silent = cell.get("silent_output_fraction")
        if silent is not None:
            up_silent = up.get("silent_output_fraction")
            facts.append(
                f"{100 * silent:.0f}% of the (test image, output neuron) pairs silent"
                + (f" (upstream {100 * up_silent:.0f}%)" if up_silent is not None else "")
            )
        step = cell.get("output_first_step_mean")
        if step is not None:
            up_step = up.get("output_first_step_mean")
            facts.append(
                f"outputs fire at step {step:.1f} on average"
                + (f" (upstream {up_step:.1f})" if up_step is not None else "")
                + f" of {cell.get('num_steps')}"
            )
        tie = cell.get("earliest_tie_fraction")
        if tie is not None:
            facts.append(
                f"{100 * tie:.0f}% of the test images have several outputs first firing in "
                "the earliest step, or none firing (a first-spike step cannot order them)"
            )
        losses = cell.get("epoch_loss") or []
        if losses:
            facts.append("mean training loss per epoch " + ", ".join(f"{v:.3f}" for v in losses))
    if "speed" in misses:
        facts.append(
            f"{cell['s_per_epoch']:.1f} s/epoch against {up['s_per_epoch']:.1f} s upstream "
            f"({cell['s_per_epoch'] / up['s_per_epoch']:.2f}x)"
        )
    for w in cell.get("warnings", []):
        if "DenseSpikeTrain" in w or "ignored" in w.lower():
            facts.append(f"warned `{w[:160]}`")
    return "; ".join(facts)


def render_docs(result: dict) -> str:
    from pipelines.notes import NOTES  # hand-written analysis of the measured misses

    results, budgets = result["results"], result["budgets"]
    lines = [
        "# The pipelines matrix: upstream snnTorch and Norse pipelines switched to ReL-PSP",
        "",
        "Generated by `benchmarks/bench_pipelines.py` (do not edit by hand; the analysis "
        "paragraphs come from `benchmarks/pipelines/notes.py`). Each pipeline in "
        "`benchmarks/pipelines/` is re-typed from its upstream source as its users write it, "
        "and runs these ways on the same MNIST subset, seed, epochs, batch size and number of "
        "steps:",
        "",
        "- **upstream**: unchanged (surrogate-gradient LIF neurons);",
        "- **swap**: the literal class-name swap (`snn.Leaky` -> `stdbp_plugin.snntorch.ReLPSP`, "
        "`norse.torch.LIFCell` -> `stdbp_plugin.norse.ReLPSPCell`, `LIF` -> `stdbp_plugin.norse."
        "ReLPSP`) plus at most the one documented readout line;",
        '- **clock**: `stdbp_plugin.convert(model, mode="clock")` (plus the same readout line);',
        '- **event**: `stdbp_plugin.convert(model, mode="event")` where the pipeline allows it;',
        "- **swap_reinit**, **clock_reinit**: swap / clock plus one line before training, "
        "`stdbp_plugin.reinit(model, lambda: forward(first_batch))`: the layers feeding ReL-PSP "
        "neurons get weights with a positive mean and thresholds matched to the window "
        "(`stdbp_plugin/conversion/reinit.py`; see 'What one line to change' below).",
        "",
        "Commands:",
        "",
        "```sh",
        *result["commands"],
        "```",
        "",
        "Machine, per command above (the latest command's cells replace earlier ones):",
        "",
        *[
            f"- `{cmd.split('bench_pipelines.py ', 1)[-1]}`: {result['machines'][cmd]}"
            for cmd in result["commands"]
            if cmd in result.get("machines", {})
        ],
        "",
        "The machine is shared with other jobs (other engineers' builds and tests): seconds per "
        "epoch carry that noise, up to 2x between runs of the same network (read ratios within "
        "one pipeline, measured minutes apart, with care); accuracy is the reliable figure.",
        "",
        "Columns: test accuracy (%) on the test subset; its difference to upstream (points); "
        "seconds per training epoch and the ratio to upstream; spikes per test sample (every "
        "spiking layer, input encoders excluded); the share of silent (test image, output "
        "neuron) pairs where the output spikes; whether the cell meets the issue's bar "
        f"(accuracy >= upstream - {ACCURACY_MARGIN:g} point, s/epoch <= upstream).",
        "",
        "| pipeline | variant | accuracy % | vs upstream | s/epoch | x upstream | spikes/sample "
        "| silent outputs | meets bar |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    rows_missing: list[tuple[str, str, str]] = []
    for name in NAMES:
        if name not in results:
            continue
        up = results[name].get("upstream")
        for variant in VARIANTS:
            cell = results[name].get(variant)
            if cell is None:
                continue
            if cell["status"] != "ok":
                msg = cell.get("error") or cell.get("reason") or ""
                lines.append(
                    f"| {name} | {variant} | {cell['status']} | | | | | | "
                    f"{msg.replace('|', '/')[:220]} |"
                )
                if variant != "upstream":
                    rows_missing.append((name, variant, _measured_why(name, variant, cell, up, [])))
                continue
            misses, numbers = _verdict(cell, up) if variant != "upstream" else ([], {})
            silent = cell.get("silent_output_fraction")
            bar = (
                ""
                if variant == "upstream"
                else ("yes" if not misses else "no: " + ", ".join(misses))
            )
            lines.append(
                f"| {name} | {variant} | {cell['accuracy']:.2f} | "
                f"{_fmt(numbers.get('d_acc'), '+.2f')} | {cell['s_per_epoch']:.1f} | "
                f"{_fmt(numbers.get('speed'), '.2f')} | {cell['spikes_per_sample']:.0f} | "
                f"{_fmt(None if silent is None else 100 * silent, '.0f')}"
                f"{'%' if silent is not None else ''} | {bar} |"
            )
            if misses:
                rows_missing.append((name, variant, _measured_why(name, variant, cell, up, misses)))
    several = seeds.render(result.get("seed_runs", {}), NAMES, VARIANTS, ACCURACY_MARGIN)
    if several:
        lines += ["", "## Several seeds", "", NOTES.get(("*", "seeds"), ""), "", *several]
    one_line = NOTES.get(("*", "reinit"))
    if one_line:
        lines += ["", "## What one line to change: `stdbp_plugin.reinit`", "", one_line]
    lines += ["", "## Rows that miss the bar, and why", ""]
    if not rows_missing:
        lines.append("None.")
    for name, variant, why in rows_missing:
        note = NOTES.get((name, variant)) or NOTES.get((name, "*"))
        lines.append(f"- **{name} / {variant}**: measured: {why}." + (f" {note}" if note else ""))
    lines += ["", "## The pipelines and the lines each variant changes", ""]
    for name in NAMES:
        if name not in results:
            continue
        module = pipelines.pipeline(name)
        budget = budgets.get(name, {})
        lines += [
            f"### {name}",
            "",
            f"{module.TITLE}.",
            "",
            f"- Source: {module.SOURCE}",
            f"- Input: {module.INPUT}; readout: {module.READOUT}",
            f"- Budget here: {budget.get('train_size', '-')} training images, "
            f"{budget.get('test_size', '-')} test images, {budget.get('epochs', '-')} epoch(s), "
            f"batch {budget.get('batch_size') or module.BATCH_SIZE}, "
            f"{budget.get('num_steps') or module.NUM_STEPS} steps",
            f"- File: `benchmarks/pipelines/{name}.py`",
            "",
        ]
        for variant in VARIANTS[1:]:
            cell = results.get(name, {}).get(variant, {})
            changes = pipelines.changes(module, variant)
            if cell.get("status") == "n/a" or (not changes and variant == "event"):
                reason = cell.get("reason") or getattr(module, "EVENT_NOT_APPLICABLE", "")
                lines += [f"**{variant}**: not applicable: {reason}.", ""]
                continue
            lines += [f"**{variant}**:", "", "```diff", *changes, "```", ""]
            warned = [w for w in cell.get("warnings", []) if "Deprecat" not in w]
            if warned:
                lines += ["Warnings the user sees:", ""]
                lines += [f"- `{w}`" for w in warned]
                lines.append("")
    general = NOTES.get(("*", "*"))
    if general:
        lines += ["## Notes", "", general, ""]
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
