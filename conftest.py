"""Let nbval test the book's MyST Markdown notebooks.

nbval collects only `.ipynb` files, but the book's sources are MyST Markdown pages
(`book/**/*.md` with a jupytext `kernelspec` header); their `.ipynb` twins are generated copies
for Colab. Under `--nbval` this file collects the `.md` pages, read by jupytext, and ignores an
`.ipynb` that has an `.md` beside it, so every notebook runs once, from its source.
The cells have no stored outputs, so a cell passes when it runs without error: the `assert`s
in the cells are the test. Tags: `raises-exception` and `nbval-skip` work as in nbval, and
`skip-execution` (which the book build does not run either) skips the cell like `nbval-skip`.
"""
from __future__ import annotations

from pathlib import Path
from unittest import mock

import jupytext
import nbformat
from nbval.plugin import IPyNbFile


class MystNotebookFile(IPyNbFile):
    """nbval's notebook collector, reading the notebook from MyST Markdown."""

    def collect(self):
        nb = jupytext.read(self.path)
        for cell in nb.cells:
            tags = cell.metadata.get("tags", [])
            if "skip-execution" in tags:
                cell.metadata["tags"] = [*tags, "nbval-skip"]
        # IPyNbFile.collect reads its file with nbformat.read; hand it this notebook instead.
        with mock.patch.object(nbformat, "read", return_value=nb):
            return list(super().collect())


def _is_notebook_page(path: Path, book_dir: Path) -> bool:
    return (path.suffix == ".md" and path.is_relative_to(book_dir)
            and "kernelspec" in jupytext.read(path).metadata)


def pytest_collect_file(file_path: Path, parent):
    opt = parent.config.option
    if (opt.nbval or opt.nbval_lax) and _is_notebook_page(file_path, parent.config.rootpath / "book"):
        return MystNotebookFile.from_parent(parent, path=file_path)


def pytest_ignore_collect(collection_path: Path, config):
    if ".ipynb_checkpoints" in collection_path.parts:
        return True
    if collection_path.suffix == ".ipynb" and collection_path.with_suffix(".md").exists():
        return True  # a paired copy: the .md twin is collected instead
    return None
