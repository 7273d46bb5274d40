"""Each notebook in notebooks/ runs top to bottom in small size (STDBP_NOTEBOOK_SMALL=1) and is in
sync with its percent-format source in notebooks/src/ (built by notebooks/build.py)."""

from __future__ import annotations

import importlib.util
import os

import pytest
from conftest import REPO_ROOT, data_dir

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = REPO_ROOT / "notebooks"
NEEDS_MNIST = {"02_stdbp_vs_surrogate", "03_swap_neurons_snntorch", "04_swap_neurons_norse"}


def _build_module():
    spec = importlib.util.spec_from_file_location("nb_build", NOTEBOOKS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def notebook_names() -> list[str]:
    return sorted(p.stem for p in (NOTEBOOKS / "src").glob("*.py"))


@pytest.mark.parametrize("name", notebook_names())
def test_notebook_matches_source_and_is_stripped(name):
    built = _build_module().build(NOTEBOOKS / "src" / f"{name}.py")
    stored = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    assert [c.source for c in stored.cells] == [c.source for c in built.cells], (
        f"{name}.ipynb is out of date: run python notebooks/build.py"
    )
    for cell in stored.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, "outputs not stripped"


@pytest.mark.parametrize("name", notebook_names())
def test_notebook_runs_small(name, monkeypatch):
    if name in NEEDS_MNIST and not (data_dir() / "MNIST" / "raw").exists():
        pytest.skip(f"{name} needs MNIST raw files under {data_dir() / 'MNIST' / 'raw'}")
    # the kernel inherits this process's environment
    monkeypatch.setenv("STDBP_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("STDBP_DATA_DIR", str(data_dir()))
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute()
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "Error" not in text, text[-2000:]
    assert "[bold]" not in text and "[/bold]" not in text, "rich markup printed literally"


def test_small_switch_is_read_from_the_environment():
    for name in notebook_names():
        assert "STDBP_NOTEBOOK_SMALL" in (NOTEBOOKS / "src" / f"{name}.py").read_text(), name
    assert os.environ.get("STDBP_NOTEBOOK_SMALL") in (None, "0", "1")
