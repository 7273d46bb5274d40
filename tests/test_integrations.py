"""The integration scripts run end to end on a small MNIST subset and report a sane accuracy.

Each script is executed as ``__main__`` with its command-line arguments (runpy, in this process,
so torch / snnTorch / Norse are imported once). The STDBP versions must differ from the
framework scripts only in the few lines marked "# STDBP" (and the docstring).
"""

from __future__ import annotations

import difflib
import re
import runpy
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT

INTEGRATIONS = REPO_ROOT / "integrations"
SCRIPTS = [
    ("snntorch", "train_mnist_snntorch.py"),
    ("snntorch", "train_mnist_snntorch_stdbp.py"),
    ("norse", "train_mnist_norse.py"),
    ("norse", "train_mnist_norse_stdbp.py"),
]
EPOCH_LINE = re.compile(r"epoch (\d+): loss ([\d.naninf]+), test accuracy ([\d.]+), ([\d.]+) s")
# Small runs: 256 training samples, 2 epochs; enough for the accuracy to leave chance level
# (10%) clearly on 256 test samples, for each of the four scripts.
SMALL_ARGS = ["--max-samples", "256", "--batch-size", "32", "--epochs", "2"]


def run_script(path: Path, argv: list[str], capsys) -> list[tuple[int, float, float]]:
    old_argv = sys.argv
    sys.argv = [str(path), *argv]
    try:
        runpy.run_path(str(path), run_name="__main__")
    finally:
        sys.argv = old_argv
    out = capsys.readouterr().out
    rows = [(int(e), float(a), float(s)) for e, _, a, s in EPOCH_LINE.findall(out)]
    assert rows, f"no epoch line in the output of {path.name}:\n{out}"
    return rows


@pytest.mark.parametrize(("framework", "name"), SCRIPTS)
def test_script_learns_on_small_mnist(framework, name, mnist_root, capsys):
    rows = run_script(
        INTEGRATIONS / framework / name, ["--data-dir", str(mnist_root), *SMALL_ARGS], capsys
    )
    assert [r[0] for r in rows] == [1, 2]
    accuracy = rows[-1][1]
    assert accuracy > 0.3, f"{name}: test accuracy {accuracy:.3f} after 2 small epochs"


def _code_lines(path: Path) -> list[str]:
    """The lines after the module docstring."""
    text = path.read_text()
    end = text.index('"""', 3) + 3
    return text[end:].splitlines()


@pytest.mark.parametrize("framework", ["snntorch", "norse"])
def test_stdbp_script_changes_only_marked_lines(framework):
    """Every block of changed lines carries a '# STDBP' mark; a few blocks, one is convert."""
    base = _code_lines(INTEGRATIONS / framework / f"train_mnist_{framework}.py")
    stdbp = _code_lines(INTEGRATIONS / framework / f"train_mnist_{framework}_stdbp.py")
    blocks = [
        (base[i1:i2], stdbp[j1:j2])
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, base, stdbp).get_opcodes()
        if tag != "equal"
    ]
    assert blocks, "the STDBP script should differ from the framework script"
    for old, new in blocks:
        if not new and all(line.startswith(("import ", "from ")) for line in old):
            continue  # an import the STDBP version no longer needs
        assert any("STDBP" in line for line in new), f"unmarked change: {old} -> {new}"
    new_lines = [line for _, new in blocks for line in new if line.strip()]
    assert any("stdbp.convert(" in line for line in new_lines)
    assert len(new_lines) <= 16, f"{len(new_lines)} changed lines: not 'a few'"


def test_scripts_fail_clearly_without_data(tmp_path, capsys):
    path = INTEGRATIONS / "snntorch" / "train_mnist_snntorch.py"
    with pytest.raises(RuntimeError, match="Dataset not found"):
        run_script(path, ["--data-dir", str(tmp_path), "--max-samples", "8"], capsys)
