"""The book's sources: paired notebooks in sync, set-up cells, table of contents."""
import importlib.util
from pathlib import Path

import jupytext
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("sync_notebooks", ROOT / "scripts" / "sync_notebooks.py")
sync_notebooks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sync_notebooks)
PAGES = sync_notebooks.notebook_pages()


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


def test_every_notebook_pair_is_in_sync():
    assert sync_notebooks.problems() == [], "run: .venv/bin/python scripts/sync_notebooks.py"


@pytest.mark.parametrize("md", PAGES, ids=lambda p: p.stem)
def test_paired_notebook_has_the_same_cells_and_no_outputs(md):
    source, twin = jupytext.read(md), jupytext.read(md.with_suffix(".ipynb"))
    assert [(c.cell_type, c.source) for c in source.cells] == [(c.cell_type, c.source) for c in twin.cells]
    assert all(not c.get("outputs") for c in twin.cells if c.cell_type == "code")


@pytest.mark.parametrize("md", PAGES, ids=lambda p: p.stem)
def test_chapter_starts_with_hidden_setup_then_shows_its_run_mode(md):
    cells = [c for c in jupytext.read(md).cells if c.cell_type == "code"]
    assert "remove-cell" in cells[0].metadata.get("tags", []) and sync_notebooks.SETUP_TAG in cells[0].metadata["tags"]
    assert "google.colab" in cells[0].source  # does nothing outside Colab
    assert any("run_banner" in c.source for c in cells[1:3]), "the run mode is shown near the top"


def test_every_notebook_page_is_in_the_toc():
    listed = {str(ROOT / f) for f in toc_files()}
    assert {str(p.with_suffix("")) for p in PAGES} <= listed
