"""The chapters' .ipynb twins, run as a Colab reader runs them, against the HTML reader's book.

A Colab-like kernel is built for the test:

- a fresh virtual environment whose Python sees the project's torch, numpy, matplotlib, tqdm and
  ipykernel (one `.pth` line), but **not** `companion`, and cannot import myst-nb, Sphinx or
  Jupyter Book (a `sitecustomize.py` refuses them, as on Colab, where they are not installed);
- `google.colab` present (the same `sitecustomize.py` puts a stub module in `sys.modules` at
  start-up), so each notebook's set-up cell does what it does on Colab: it pip-installs
  `companion @ git+URL@vVERSION`. The URL is the one thing changed (`COURSE_REPO_URL`): a copy of
  this checkout (tracked and untracked files, as they are now), committed and tagged `vVERSION`
  in a temporary git repository. The code path is the set-up cell's own.

Each notebook runs once (quick mode, in its own empty working directory, like Colab's /content);
the executed copies go to `_build/colab/` (the browser test screenshots one of them as HTML).
Then, per notebook:

- every cell ran, and the package came from the install (right version, not this checkout);
- it displayed as many figures as the chapter's HTML page shows (from `_build/html`);
- no Markdown cell holds MyST role or directive syntax;
- no cell echoes a bare value (no `execute_result` output at all);
- the training chapter's full-run section shows the committed record's test perplexity.

`make test` runs this after `make book` with REQUIRE_BUILT_BOOK=1; without a built book it is
skipped. It takes about as long as running the six chapters once.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
import venv
from importlib import metadata
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
EXECUTED = ROOT / "_build" / "colab"

if not (HTML / "searchindex.js").exists():
    if os.environ.get("REQUIRE_BUILT_BOOK"):
        raise RuntimeError("REQUIRE_BUILT_BOOK is set but _build/html is missing: run `make book` first")
    pytest.skip("the book is not built (run `make book`)", allow_module_level=True)

spec = importlib.util.spec_from_file_location("sync_notebooks", ROOT / "scripts" / "sync_notebooks.py")
sync_notebooks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sync_notebooks)
MYST_LEFTOVERS = sys.modules["render_notebook"].MYST_LEFTOVERS
NOTEBOOKS = [md.with_suffix(".ipynb") for md in sync_notebooks.notebook_pages()]
VERSION = sync_notebooks.package_version()
CELL_TIMEOUT = 600  # seconds: the slowest quick-mode cell takes well under a minute

SITECUSTOMIZE = '''\
"""A Colab-like Python for tests/test_colab.py: no book tooling, and google.colab present."""
import importlib.abc
import sys
import types

BLOCKED = ("myst_nb", "myst_parser", "jupyter_book", "jupyter_cache", "sphinx", "sphinxcontrib",
           "sphinx_exercise", "sphinx_book_theme", "nbval", "jupytext")


class _NotOnColab(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (a Colab-like kernel)", name=name)
        return None


sys.meta_path.insert(0, _NotOnColab())
google = sys.modules.setdefault("google", types.ModuleType("google"))
google.__path__ = getattr(google, "__path__", [])
google.colab = sys.modules["google.colab"] = types.ModuleType("google.colab")
'''

PROBE = '''\
import json, sys
import companion
try:
    import myst_nb  # noqa: F401
    book_tools = True
except ImportError:
    book_tools = False
print("PROBE " + json.dumps({"file": companion.__file__, "version": companion.__version__,
                             "book_tools": book_tools, "colab": "google.colab" in sys.modules}))
'''


def snapshot_repository(dest: Path) -> str:
    """This checkout as it is now (tracked and untracked, not ignored files), committed and tagged
    v{VERSION} in a new git repository at `dest`; returns its file:// URL."""
    listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listing):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", "-c", "init.defaultBranch=main"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "snapshot"], ["tag", f"v{VERSION}"]):
        subprocess.run([*git, *args], cwd=dest, check=True, capture_output=True)
    return dest.as_uri()


def colab_like_python(dest: Path) -> Path:
    """A venv seeing the project's packages (not companion), with the sitecustomize above."""
    venv.create(dest, with_pip=True)
    python = dest / "bin" / "python"
    # Colab's pip is recent; the one ensurepip brings may be too old for `git+file://...@tag`
    # (pip < 24): take the project's own pip version.
    subprocess.run([python, "-m", "pip", "install", "-q", f"pip=={metadata.version('pip')}"],
                   check=True, capture_output=True)
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "project_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    return python


def html_figures(notebook: Path) -> int:
    """Figures the HTML page of the chapter shows: images produced by its cells (_images/)."""
    page = (HTML / notebook.relative_to(ROOT)).with_suffix(".html").read_text(encoding="utf-8")
    article = page[page.index("<article"):page.rindex("</article>")]
    return len(re.findall(r'<img [^>]*src="[^"]*_images/', article))


class Runs(dict):
    """{name: (executed notebook, error or None, probe facts)}, each notebook run once, when first asked for
    (so `pytest tests/test_colab.py -k forgetting` runs one chapter only)."""

    def __init__(self, base: Path):
        super().__init__()
        self.base = base

    def __missing__(self, name: str):
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("JUPYTER_PATH", str(self.base / "jupyter"))  # where the kernel spec is found
            self[name] = run_notebook(ROOT / "book" / f"{name}.ipynb", self.base / "content" / name)
        return self[name]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The Colab-like kernel, and the notebooks executed in it (lazily)."""
    base = tmp_path_factory.mktemp("colab")
    (base / "repo").mkdir()
    url = snapshot_repository(base / "repo")
    python = colab_like_python(base / "venv")
    kernels = base / "jupyter" / "kernels" / "colab-like"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Colab-like", "language": "python",
        "env": {"COURSE_REPO_URL": url, "COURSE_FULL_RUN": "", "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    }), encoding="utf-8")
    EXECUTED.mkdir(parents=True, exist_ok=True)
    return Runs(base)


def run_notebook(notebook: Path, workdir: Path):
    """Execute one twin in the Colab-like kernel; (executed notebook, error or None, probe facts)."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(notebook, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE, id="probe"))
    workdir.mkdir(parents=True)  # like Colab's /content: no checkout around
    client = NotebookClient(nb, kernel_name="colab-like", timeout=CELL_TIMEOUT,
                            resources={"metadata": {"path": str(workdir)}})
    started, error = time.monotonic(), None
    try:
        client.execute()
    except CellExecutionError as err:
        error = str(err)[:3000]
    probe_cell = nb.cells.pop()
    probe = next((json.loads(o["text"].split("PROBE ", 1)[1]) for o in probe_cell.get("outputs", [])
                  if o.get("name") == "stdout" and "PROBE " in o.get("text", "")), None)
    nbformat.write(nb, EXECUTED / notebook.name)
    print(f"{notebook.name}: {time.monotonic() - started:.0f} s in the Colab-like kernel")
    return nb, error, probe


def outputs(nb, *, kind: str | None = None):
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if kind is None or output["output_type"] == kind:
                yield cell, output


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_runs_to_the_end_with_the_installed_package(runs, notebook):
    nb, error, probe = runs[notebook.stem]
    assert error is None, error
    assert probe is not None, "the probe cell printed nothing"
    assert probe["colab"] and not probe["book_tools"], probe
    assert probe["version"] == VERSION, probe
    assert not Path(probe["file"]).is_relative_to(ROOT), f"companion came from the checkout: {probe['file']}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_shows_every_figure_of_the_html_page_once(runs, notebook):
    nb = runs[notebook.stem][0]
    shown = sum(1 for _, output in outputs(nb) if "image/png" in output.get("data", {}))
    assert shown == html_figures(notebook), f"{shown} figures in the notebook, {html_figures(notebook)} in the HTML"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_markdown_has_no_myst_syntax(runs, notebook):
    for cell in runs[notebook.stem][0].cells:
        if cell.cell_type == "markdown":
            found = MYST_LEFTOVERS.search(cell.source)
            assert not found, f"{cell.id}: {found.group(0)!r} is MyST, raw text for a notebook reader"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_cell_echoes_a_bare_value(runs, notebook):
    echoed = [(cell.id, output["data"].get("text/plain", "")[:80]) for cell, output
              in outputs(runs[notebook.stem][0], kind="execute_result")]
    assert not echoed, f"cells ending in a bare value (end the line with ';' or print it): {echoed}"


def test_training_chapter_shows_the_full_run_record(runs):
    from companion.results import published_record

    nb, error, _ = runs["training"]
    assert error is None, error
    text = "\n".join(output.get("text", "") + output.get("data", {}).get("text/plain", "")
                     for _, output in outputs(nb))
    expected = f"test ppl {published_record('ptb')['test_ppl']:.1f}"
    assert expected in text, f"{expected!r} is not in the training notebook's outputs"
