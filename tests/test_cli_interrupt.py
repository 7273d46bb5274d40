"""An interrupted ``stdbp compare`` or ``stdbp fit`` (SIGINT, SIGTERM) leaves nothing
half-written, stops its child processes, and a rerun works (tiny runs on scikit-learn digits)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from processes import alive, children, wait_until

pytest.importorskip("lightning")
from stdbp_plugin.cli import main  # noqa: E402
from stdbp_plugin.compare import report  # noqa: E402
from stdbp_plugin.lightning.checkpoint import check_checkpoint  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "integrations" / "lightning" / "digits_mlp.yaml"
ENV = {**os.environ, "PYTHONWARNINGS": "ignore", "COLUMNS": "200"}


def _default_sigint() -> None:
    # a shell without job control starts background commands with SIGINT ignored, and the
    # command would inherit that (a CI script run with `&`): the test wants a user's Ctrl-C
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "stdbp_plugin.cli", *args],
        cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=_default_sigint,
    )  # fmt: skip


def wait_for(condition, timeout: float = 120.0) -> None:
    assert wait_until(condition, timeout, poll=0.2), "timed out"


def test_report_written_atomically(tmp_path, monkeypatch):
    """Interrupted while writing: an earlier report stays whole, a new folder does not appear."""
    results = [{"model": "stdbp", "history": {}, "latencies": [0.5], "raster": [([0.1], [0])]}]
    out = tmp_path / "report"
    report.write_report(results, {"a": 1}, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def interrupted(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "_plot_raster", interrupted)
    for folder in (out, tmp_path / "fresh"):
        with pytest.raises(KeyboardInterrupt):
            report.write_report(results, {"a": 2}, folder)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # no temporary folders


@pytest.mark.parametrize(
    "signum", [signal.SIGINT, pytest.param(signal.SIGTERM, marks=pytest.mark.slow)]
)
def test_interrupted_compare_writes_nothing_and_reruns(signum, tmp_path, monkeypatch):
    proc = start("compare", "--models", "stdbp,snntorch", "--epochs", "500", "--max-samples", "400",
                 "--out", "report", cwd=tmp_path)  # fmt: skip
    wait_for(lambda: children(proc.pid))  # the first model trains in its own process
    kids = children(proc.pid)
    time.sleep(4.0)  # mid-training
    proc.send_signal(signum)
    output = proc.communicate(timeout=60)[0]
    assert proc.returncode != 0, output
    assert "Traceback" not in output, output[-3000:]
    assert list(tmp_path.iterdir()) == [], list(tmp_path.iterdir())  # nothing half-written
    wait_for(lambda: not any(alive(k) for k in kids), timeout=30)  # the child was stopped
    assert proc.returncode == (130 if signum == signal.SIGINT else 143), output[-3000:]
    monkeypatch.chdir(tmp_path)
    assert main(["compare", "--models", "stdbp", "--epochs", "1", "--max-samples", "100",
                 "--no-isolate", "--no-progress", "--out", "report"]) == 0  # fmt: skip
    assert (tmp_path / "report" / "report.md").is_file()


@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)]
)
def test_interrupted_fit_leaves_whole_checkpoints_and_resumes(signum, tmp_path, monkeypatch):
    common = ["--config", str(CONFIG), "--data.max_samples=300",
              "--trainer.enable_progress_bar=false", f"--trainer.default_root_dir={tmp_path}"]  # fmt: skip
    proc = start("fit", *common, "--trainer.max_epochs=500", cwd=tmp_path)
    last = tmp_path / "version_0" / "checkpoints" / "last.ckpt"
    wait_for(last.exists)
    time.sleep(1.5)  # a few more epochs: checkpoints are being rewritten
    proc.send_signal(signum)
    output = proc.communicate(timeout=60)[0]
    assert proc.returncode != 0, output
    ckpts = list(tmp_path.rglob("*.ckpt"))
    assert last in ckpts
    for ckpt in ckpts:
        check_checkpoint(ckpt)  # each one whole
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and ".tmp" in p.name]
    assert leftovers == []
    assert proc.returncode == (143 if signum == signal.SIGTERM else 1), output[-3000:]
    epoch = check_checkpoint(last)["epoch"]
    monkeypatch.chdir(tmp_path)
    assert main(["fit", *common, f"--trainer.max_epochs={epoch + 2}", f"--ckpt_path={last}"]) == 0
    assert check_checkpoint(tmp_path / "version_1" / "checkpoints" / "last.ckpt")["epoch"] >= epoch


def test_train_saves_atomically(tmp_path, monkeypatch):
    """stdbp train's model file: written whole or not at all (an earlier one stays whole)."""
    import torch

    from stdbp_plugin.cli import save_atomic

    path = tmp_path / "model.pt"
    save_atomic({"w": torch.ones(3)}, path)

    def interrupted(obj, f):
        f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_atomic({"w": torch.zeros(3)}, path)
    monkeypatch.undo()
    assert torch.equal(torch.load(path, weights_only=True)["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]
