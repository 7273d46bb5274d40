"""The README's Python examples run as written, each alone (a fresh namespace per block, as a
reader pastes one of them), with the Lightning example shortened to one epoch."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_has_examples():
    assert len(python_blocks()) >= 4


@pytest.mark.parametrize("number", range(len(python_blocks())))
def test_readme_example_runs_alone(number, tmp_path, monkeypatch):
    pytest.importorskip("snntorch")
    pytest.importorskip("norse")
    pytest.importorskip("lightning")
    monkeypatch.chdir(tmp_path)  # Lightning and compare_model write here
    code = python_blocks()[number].replace(
        "max_epochs=20", "max_epochs=1, enable_progress_bar=False"
    )
    exec(compile(code, f"{README}: python block {number + 1}", "exec"), {})  # noqa: S102
