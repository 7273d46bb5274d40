"""The README's Python examples run as written (in order, in one namespace, as a reader would
paste them), with the Lightning example shortened to one epoch."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_has_examples():
    assert len(python_blocks()) >= 4


def test_readme_examples_run(tmp_path, monkeypatch):
    pytest.importorskip("snntorch")
    pytest.importorskip("norse")
    pytest.importorskip("lightning")
    monkeypatch.chdir(tmp_path)  # Lightning writes its logs here
    namespace: dict = {}
    for block in python_blocks():
        code = block.replace("max_epochs=20", "max_epochs=1, enable_progress_bar=False")
        exec(compile(code, str(README), "exec"), namespace)  # noqa: S102
