"""Write each chapter's .ipynb for notebook readers (Colab, Jupyter, Binder) from its MyST source.

    python scripts/sync_notebooks.py           # rewrite the set-up cells and the .ipynb twins
    python scripts/sync_notebooks.py --check   # exit 1 and list what is out of date

The `.md` page is the source; its `.ipynb` twin is generated, never edited by hand:

- code cells are the page's code cells, without outputs; cells the HTML hides (`hide-input`,
  e.g. the checked solutions of the exercises) start collapsed in JupyterLab and Colab;
- Markdown cells are rendered for a notebook reader by `render_notebook.py`: no MyST role or
  directive is left (numbers point at the output that shows them, `literalinclude` becomes the
  code, exercises become sections with collapsible solutions, cross-references become links to
  the published HTML pages, citations become "(Author, year)" with the references at the end);
- cell ids are stable (`cell-N`, `cell-refs` for the references), so a twin changes only when
  its page does.

The Colab set-up cell of every page is written by this script too, from the two values that are
each set in one place: the repository URL (`_config.yml`) and the package version
(`pyproject.toml`). On Colab it installs `companion` from the tag `v{version}` of the repository,
so a page always runs the package it was written for.
"""
from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

import jupytext
import nbformat
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import render_notebook  # noqa: E402  (a sibling script)

ROOT = Path(__file__).resolve().parents[1]
SETUP_TAG = "colab-setup"
SETUP_CELL = re.compile(r"(```\{code-cell\}[^\n]*\n:tags: \[[^\]]*\bcolab-setup\b[^\]]*\]\n\n)(.*?)(\n```)", re.S)
SETUP_SOURCE = '''\
# Colab set-up: install the companion package at the version this book was built from
# (Colab already has torch, numpy and matplotlib). Locally and in the book build it does nothing.
# Written by scripts/sync_notebooks.py: the URL comes from _config.yml, the version from pyproject.toml.
import sys

REPO_URL = "{url}"
VERSION = "{version}"  # installed from the release tag v{version}
if "google.colab" in sys.modules:
    import os
    import subprocess

    url = os.environ.get("COURSE_REPO_URL", REPO_URL)  # the notebook test installs from a local copy
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"companion @ git+{{url}}@v{{VERSION}}"],
                   check=True)
    import companion

    assert companion.__version__ == VERSION, (
        f"companion {{companion.__version__}} is loaded, this page needs {{VERSION}}: "
        "restart the session (Runtime > Restart session) and run this cell again")'''


def repository_url(root: Path = ROOT) -> str:
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    return config["repository"]["url"]


def package_version(root: Path = ROOT) -> str:
    """The package version, set once in pyproject.toml (companion.__version__ reads it back)."""
    return tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def setup_source(root: Path = ROOT) -> str:
    return SETUP_SOURCE.format(url=repository_url(root), version=package_version(root))


def notebook_pages(root: Path = ROOT) -> list[Path]:
    """Book pages that are notebooks: MyST Markdown with a jupytext kernelspec."""
    return sorted(p for p in (root / "book").rglob("*.md")
                  if ".ipynb_checkpoints" not in p.parts and "kernelspec" in jupytext.read(p).metadata)


def expected_ipynb(md: Path, root: Path = ROOT) -> str:
    nb = jupytext.read(md)
    context = render_notebook.Context.for_page(md, root)
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i}"  # stable ids: the twin changes only when the page does
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            if "hide-input" in cell.metadata.get("tags", []):  # hidden in the HTML: collapsed here
                cell.metadata["jupyter"] = {"source_hidden": True}  # JupyterLab
                cell.metadata["cellView"] = "form"  # Colab
        elif cell.cell_type == "markdown":
            cell.source = render_notebook.render(cell.source, context, cell_index=i)
    references = context.references_markdown()
    if references:
        nb.cells.append(nbformat.v4.new_markdown_cell(references, id="cell-refs"))
    return jupytext.writes(nb, fmt="ipynb")


def fix_setup_cell(md: Path, source: str) -> bool:
    """Write `source` into the page's Colab set-up cell; True if the page changed."""
    text = md.read_text(encoding="utf-8")
    new = SETUP_CELL.sub(lambda m: m.group(1) + source + m.group(3), text, count=1)
    if new != text:
        md.write_text(new, encoding="utf-8")
    return new != text


def problems(root: Path = ROOT) -> list[str]:
    """What is out of date, as readable lines (empty when everything is in sync)."""
    source, found = setup_source(root), []
    for md in notebook_pages(root):
        nb = jupytext.read(md)
        setup = [c for c in nb.cells if SETUP_TAG in c.metadata.get("tags", [])]
        if len(setup) != 1 or setup[0].source != source:
            found.append(f"{md.relative_to(root)}: needs one '{SETUP_TAG}' cell installing "
                         f"v{package_version(root)} from {repository_url(root)}")
        twin = md.with_suffix(".ipynb")
        if not twin.exists() or twin.read_text(encoding="utf-8") != expected_ipynb(md, root):
            found.append(f"{twin.relative_to(root)}: missing or out of date")
    return found


def sync(root: Path = ROOT) -> None:
    source = setup_source(root)
    for md in notebook_pages(root):
        fix_setup_cell(md, source)
        md.with_suffix(".ipynb").write_text(expected_ipynb(md, root), encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report, change nothing")
    if parser.parse_args().check:
        found = problems()
        print("\n".join(found) or "all notebook pairs are in sync")
        return 1 if found else 0
    sync()
    return 0


if __name__ == "__main__":
    sys.exit(main())
