"""The stdbp command: train, compare (tiny setting), LightningCLI fit / test, errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("lightning")
from stdbp_plugin.cli import main  # noqa: E402
from stdbp_plugin.models.stdbp_network import STDBPNetwork  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "integrations" / "lightning" / "digits_mlp.yaml"
ENV = {**os.environ, "PYTHONWARNINGS": "ignore", "COLUMNS": "200"}


def stdbp(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stdbp_plugin.cli", *args],
        cwd=cwd, env=ENV, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_compare_tiny_writes_report(tmp_path):
    """The real path: each model trains in its own spawned process."""
    out = tmp_path / "report"
    proc = stdbp("compare", "--epochs", "1", "--max-samples", "120", "--no-progress",
                 "--out", str(out), cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("report.md", "results.json", "accuracy_per_epoch.png",
                 "latency_histogram.png", "raster.png"):  # fmt: skip
        assert (out / name).stat().st_size > 0, name
    data = json.loads((out / "results.json").read_text())
    assert [r["model"] for r in data["results"]] == ["stdbp", "snntorch", "norse"]
    assert data["config"]["spec"] == "400-10" and data["config"]["max_samples"] == 120
    for r in data["results"]:
        assert 0.0 <= r["test_acc"] <= 1.0 and r["epoch_time_s"] > 0
        assert r["peak_rss_mib"] >= 0 and r["synops_per_sample"] > 0
        assert r["spikes_per_sample"] == pytest.approx(sum(r["spikes_per_layer"]), rel=1e-5)
        assert len(r["latencies"]) == 120 and len(r["history"]["val/acc"]) == 1
    report = (out / "report.md").read_text()
    assert "| STDBP |" in report and "| snnTorch |" in report and "| Norse |" in report
    for column in ("test acc", "s / epoch", "peak MiB", "spikes / sample", "latency", "synops"):
        assert column in proc.stdout and column in report


def test_compare_in_process_subset(tmp_path, capsys):
    assert main(["compare", "--models", "stdbp", "--epochs", "2", "--max-samples", "100",
                 "--no-progress", "--no-isolate", "--out", str(tmp_path)]) == 0  # fmt: skip
    r = json.loads((tmp_path / "results.json").read_text())["results"]
    assert len(r) == 1 and len(r[0]["history"]["val/acc"]) == 2
    assert "STDBP" in capsys.readouterr().out


def test_compare_bad_arguments(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("STDBP_DATA_DIR", raising=False)
    out = str(tmp_path / "report")
    assert main(["compare", "--models", "stdbp,brian", "--out", out]) == 2
    assert "--models: unknown name 'brian'" in capsys.readouterr().err
    assert main(["compare", "--dataset", "mnist", "--data-dir", str(tmp_path), "--out", out]) == 2
    assert f"{tmp_path / 'MNIST' / 'raw'}" in capsys.readouterr().err
    assert main(["compare", "--epochs", "0"]) == 2
    assert "--epochs: expected a positive integer, got 0" in capsys.readouterr().err
    assert not (tmp_path / "report").exists()


def run_train(tmp_path, *args):
    proc = stdbp("train", "--no-progress", *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    saved = torch.load(tmp_path / "stdbp_mlp.pt", weights_only=True)
    net = STDBPNetwork(**{k: v for k, v in saved["hyper_parameters"].items() if k != "tau"})
    net.load_state_dict(saved["state_dict"])  # the saved model loads back as printed
    assert "model saved to stdbp_mlp.pt" in proc.stdout
    epochs = re.findall(r"epoch\s+\d+\s+loss ([\d.]+)\s+train accuracy ([\d.]+)%", proc.stdout)
    test_acc = float(re.search(r"test accuracy ([\d.]+)%", proc.stdout)[1])
    return [(float(loss), float(acc)) for loss, acc in epochs], test_acc


def test_train_quick(tmp_path):
    epochs, test_acc = run_train(tmp_path, "--epochs", "3", "--hidden", "200")
    assert len(epochs) == 3 and epochs[-1][0] < epochs[0][0]
    assert test_acc > 80.0


@pytest.mark.slow
def test_train_digits_reaches_95_percent(tmp_path):
    """The documented default: >= 95% on the held-out 20% in about 15 s of training."""
    epochs, test_acc = run_train(tmp_path)
    assert len(epochs) == 20 and epochs[-1][0] < epochs[0][0]
    assert test_acc >= 95.0


def test_lightning_cli_fit_then_test_from_checkpoint(tmp_path):
    common = ["--trainer.enable_progress_bar=false", "--data.max_samples=120",
              f"--trainer.default_root_dir={tmp_path}"]  # fmt: skip
    proc = stdbp("fit", "--config", str(CONFIG), "--trainer.max_epochs=1", *common, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = tmp_path / "version_0" / "checkpoints" / "last.ckpt"  # no second lightning_logs/
    assert last.is_file() and f"last checkpoint: {last}" in proc.stdout
    assert "sys.argv" not in proc.stderr and "Tip" not in proc.stdout + proc.stderr
    proc = stdbp("test", "--config", str(CONFIG), f"--ckpt_path={last}", *common, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "test/acc" in proc.stdout
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"garbage")
    assert main(["test", "--config", str(CONFIG), f"--ckpt_path={bad}", *common]) == 2


@pytest.mark.parametrize("name", ["digits_mlp", "mnist_mlp", "mnist_cnn"])
def test_every_lightning_config_parses(name, tmp_path, capsys, monkeypatch):
    """Every key of the shipped configs exists in the classes' signatures (jsonargparse checks);
    in-process (one LightningCLI parse, no subprocess start-up)."""
    monkeypatch.chdir(tmp_path)
    config = REPO / "integrations" / "lightning" / f"{name}.yaml"
    with pytest.raises(SystemExit) as exit_info:  # --print_config prints, then exits 0
        main(["fit", "--config", str(config), "--print_config"])
    assert exit_info.value.code in (0, None)
    assert "class_path: stdbp_plugin.lightning.STDBPClassifier" in capsys.readouterr().out
