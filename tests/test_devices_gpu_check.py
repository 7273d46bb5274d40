"""benchmarks/gpu_check.py keeps working without a GPU: its exit without CUDA, and a dry run of
one section on the CPU writing the JSON report (the full dry run takes minutes: docs/gpu.md)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch


def run_check(repo_root, *args: str) -> subprocess.CompletedProcess:
    script = repo_root / "benchmarks" / "gpu_check.py"
    return subprocess.run(
        [sys.executable, str(script), *args], cwd=repo_root, capture_output=True, text=True
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_without_cuda_one_line_and_exit_2(repo_root, tmp_path):
    out = tmp_path / "gpu.json"
    proc = run_check(repo_root, "--out", str(out))
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout.strip().count("\n") == 0 and "no CUDA device" in proc.stdout
    assert not out.exists()


def test_dry_run_writes_the_report(repo_root, tmp_path):
    out = tmp_path / "sub" / "gpu.json"
    proc = run_check(
        repo_root, "--device", "cpu", "--dry-run", "--out", str(out),
        "--only", "step_stdbp_torch",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    assert list(report["sections"]) == ["step_stdbp_torch"] and report["device"] == "cpu"
    step = report["sections"]["step_stdbp_torch"]
    assert (
        step["ok"] and step["median_ms"] > 0 and len(step["all_ms"]) == report["sizes"]["repeats"]
    )
    assert (
        report["summary"]["failed"] == [] and "step_stdbp_torch" in report["summary"]["median_ms"]
    )


def test_unknown_section_is_an_error(repo_root, tmp_path):
    proc = run_check(repo_root, "--device", "cpu", "--out", str(tmp_path / "x.json"), "--only", "x")
    assert proc.returncode == 2 and "unknown sections ['x']" in proc.stderr


def test_spent_budget_is_recorded(repo_root, tmp_path):
    out = tmp_path / "gpu.json"
    proc = run_check(
        repo_root, "--device", "cpu", "--out", str(out), "--only", "environment", "--budget", "1"
    )
    assert proc.returncode == 1
    report = json.loads(out.read_text())
    assert report["sections"]["environment"] == {"ok": False, "error": "not run: time budget spent"}
    assert report["summary"]["failed"] == ["environment"]
