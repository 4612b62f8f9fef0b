"""Keep each chapter's paired .ipynb (for Colab and Binder) in step with its MyST source.

    python scripts/sync_notebooks.py           # rewrite the .ipynb twins (and setup-cell URLs)
    python scripts/sync_notebooks.py --check   # exit 1 and list what is out of date

The `.md` page is the source. Its `.ipynb` twin holds the same cells, without outputs. The
repository URL is set once, in `_config.yml`; the Colab set-up cell of every page installs
the package from that URL, and this script rewrites the cell when the URL changes.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import jupytext
import yaml

ROOT = Path(__file__).resolve().parents[1]
SETUP_TAG = "colab-setup"
URL_PATTERN = re.compile(r'REPO_URL = "[^"]*"')


def repository_url(root: Path = ROOT) -> str:
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    return config["repository"]["url"]


def notebook_pages(root: Path = ROOT) -> list[Path]:
    """Book pages that are notebooks: MyST Markdown with a jupytext kernelspec."""
    return sorted(p for p in (root / "book").rglob("*.md")
                  if "kernelspec" in jupytext.read(p).metadata)


def expected_ipynb(md: Path) -> str:
    nb = jupytext.read(md)
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i}"  # stable ids: the twin changes only when the page does
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return jupytext.writes(nb, fmt="ipynb")


def fix_setup_url(md: Path, url: str) -> bool:
    """Point the page's Colab set-up cell at `url`; True if the page changed."""
    text = md.read_text(encoding="utf-8")
    new = URL_PATTERN.sub(f'REPO_URL = "{url}"', text)
    if new != text:
        md.write_text(new, encoding="utf-8")
    return new != text


def problems(root: Path = ROOT) -> list[str]:
    """What is out of date, as readable lines (empty when everything is in sync)."""
    url, found = repository_url(root), []
    for md in notebook_pages(root):
        nb = jupytext.read(md)
        setup = [c for c in nb.cells if SETUP_TAG in c.metadata.get("tags", [])]
        if len(setup) != 1 or f'REPO_URL = "{url}"' not in setup[0].source:
            found.append(f"{md.relative_to(root)}: needs one '{SETUP_TAG}' cell installing from {url}")
        twin = md.with_suffix(".ipynb")
        if not twin.exists() or twin.read_text(encoding="utf-8") != expected_ipynb(md):
            found.append(f"{twin.relative_to(root)}: missing or out of date")
    return found


def sync(root: Path = ROOT) -> None:
    url = repository_url(root)
    for md in notebook_pages(root):
        fix_setup_url(md, url)
        md.with_suffix(".ipynb").write_text(expected_ipynb(md), encoding="utf-8")


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
