"""Build notebooks/*.ipynb (outputs stripped) from the percent-format sources in notebooks/src/.

A source is split into cells at lines ``# %%`` (code) and ``# %% [markdown]`` (markdown: the
leading ``# `` of each line is removed).   python notebooks/build.py
"""

from __future__ import annotations

from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent


def cells_of(source: str) -> list:
    cells, kind, lines = [], None, []

    def flush() -> None:
        text = "\n".join(lines).strip("\n")
        if kind == "markdown":
            md = "\n".join(
                line[2:] if line.startswith("# ") else line.lstrip("#")
                for line in text.splitlines()
            )
            cells.append(nbformat.v4.new_markdown_cell(md))
        elif kind == "code" and text:
            cells.append(nbformat.v4.new_code_cell(text))

    for line in source.splitlines():
        if line.startswith("# %%"):
            flush()
            kind, lines = ("markdown" if "[markdown]" in line else "code"), []
        elif kind is not None:
            lines.append(line)
    flush()
    return cells


def build(src: Path) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = cells_of(src.read_text())
    for number, cell in enumerate(nb.cells):  # stable ids: rebuilding changes nothing
        cell["id"] = f"{src.stem[:2]}-cell-{number:03d}"
    return nb


def main() -> None:
    for src in sorted((HERE / "src").glob("*.py")):
        out = HERE / f"{src.stem}.ipynb"
        nbformat.write(build(src), out)
        print(f"wrote {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
