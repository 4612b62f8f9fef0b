"""The book's sources: paired notebooks in sync, set-up cells, table of contents, and the
rendering of the chapters' MyST Markdown for notebook readers (scripts/render_notebook.py)."""
import ast
import importlib.util
import json
import re
import sys
import tomllib
from pathlib import Path

import jupytext
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("sync_notebooks", ROOT / "scripts" / "sync_notebooks.py")
sync_notebooks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sync_notebooks)
render_notebook = sys.modules["render_notebook"]  # imported by sync_notebooks
PAGES = sync_notebooks.notebook_pages()
MYST_LEFTOVERS = render_notebook.MYST_LEFTOVERS


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


def test_every_notebook_pair_is_in_sync():
    assert sync_notebooks.problems() == [], "run: .venv/bin/python scripts/sync_notebooks.py"


@pytest.mark.parametrize("md", PAGES, ids=lambda p: p.stem)
def test_paired_notebook_has_the_same_code_cells_and_no_outputs(md):
    source, twin = jupytext.read(md), jupytext.read(md.with_suffix(".ipynb"))
    assert [(c.cell_type, c.source if c.cell_type == "code" else "") for c in source.cells] == [
        (c.cell_type, c.source if c.cell_type == "code" else "") for c in twin.cells if c.id != "cell-refs"]
    assert all(not c.get("outputs") for c in twin.cells if c.cell_type == "code")


@pytest.mark.parametrize("md", PAGES, ids=lambda p: p.stem)
def test_notebook_markdown_has_no_myst_syntax(md):
    twin = json.loads(md.with_suffix(".ipynb").read_text(encoding="utf-8"))
    for cell in twin["cells"]:
        if cell["cell_type"] == "markdown":
            found = MYST_LEFTOVERS.search("".join(cell["source"]))
            assert not found, f"{cell['id']}: MyST left for a notebook reader: {found.group(0)!r}"


def test_the_version_is_set_once_and_the_setup_cell_installs_its_tag():
    import companion

    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert companion.__version__ == version
    source = sync_notebooks.setup_source()
    assert f'VERSION = "{version}"' in source and "@v{VERSION}" in source
    assert f'REPO_URL = "{sync_notebooks.repository_url()}"' in source


# -- the renderer, piece by piece --------------------------------------------------------------
@pytest.fixture(scope="module")
def context():
    return render_notebook.Context.for_page(ROOT / "book" / "memory_relay.md", ROOT)


def test_site_url_comes_from_the_repository_url():
    assert render_notebook.site_url("https://github.com/Some-Org/my-book") == "https://some-org.github.io/my-book/"
    with pytest.raises(render_notebook.RenderError, match="repository.url"):
        render_notebook.site_url("https://gitlab.com/x/y")


def test_literalinclude_becomes_the_code_of_the_object(context):
    text = render_notebook.render("```{literalinclude} ../companion/model.py\n:pyobject: RNNCell\n```", context, 0)
    module = (ROOT / "companion" / "model.py").read_text(encoding="utf-8")
    node = next(n for n in ast.parse(module).body if getattr(n, "name", "") == "RNNCell")
    assert ast.get_source_segment(module, node) in text and text.count("```") == 2


def test_literalinclude_lines_and_dedent(context):
    text = render_notebook.render("```{literalinclude} ../companion/model.py\n:lines: 1-2\n```", context, 0)
    first_two = "\n".join((ROOT / "companion" / "model.py").read_text(encoding="utf-8").splitlines()[:2])
    assert f"```python\n{first_two}\n```" in text


EXCERPTS = [(md, block) for md in sorted((ROOT / "book").glob("*.md"))
            for block in re.findall(r"```\{literalinclude\}[^`]*?:pyobject:[^`]*?:lines:[^`]*?```",
                                    md.read_text(encoding="utf-8"))]


def test_the_trimmed_excerpts_are_found():
    # the book shows SimpleRnnlm.features and train_epoch trimmed; if the pattern stopped matching them,
    # the test below would quietly check nothing
    assert {":pyobject: SimpleRnnlm.features", ":pyobject: train_epoch"} <= {
        line for _, block in EXCERPTS for line in block.splitlines() if line.startswith(":pyobject:")}


@pytest.mark.parametrize("md, block", EXCERPTS, ids=lambda v: v.name if isinstance(v, Path) else "")
def test_excerpts_of_package_code_are_still_whole_statements(md, block):
    # `:lines:` counts from the object's first line: a change to the package can shift it silently.
    page = render_notebook.Context.for_page(md, ROOT)
    code = render_notebook.render(block, page, 0).split("```python\n", 1)[1].rsplit("\n```", 1)[0]
    ast.parse(code)  # a cut through the middle of a statement does not parse


def test_citations_refs_and_glue_become_plain_markdown(context):
    text = render_notebook.render(
        "见 {ref}`ch-batching`，{cite:t}`elman1990finding` 和 {cite}`hochreiter1997long,cho2014learning`；"
        "E = {glue:text}`embed_dim`, again {glue:text}`embed_dim:.1f`", context, 99)
    assert "[绑笔写字：批量与时间步](https://rnn-course.github.io/rnn-notes-course/book/batching.html#ch-batching)" in text
    assert "Elman (1990)" in text and "(Hochreiter and Schmidhuber, 1997; Cho et al., 2014)" in text
    assert text.count("`embed_dim`") == 2 and text.count("见上方输出") == 1
    assert "Elman" in context.references_markdown()


def test_exercise_and_solution(context):
    text = render_notebook.render(
        "```{exercise}\n:label: ex-x\n\nDo it.\n```\n\n````{solution} ex-memory-1\n:class: dropdown\n\n"
        "```python\nx = 1\n```\n````", context, 0)
    assert text.startswith("### 练习 1.") and "Do it." in text
    assert "<details>\n<summary>解答（练习 1.1）" in text and "```python\nx = 1\n```" in text and text.endswith("</details>")


def test_admonition_becomes_a_quote(context):
    text = render_notebook.render("```{admonition} 小心\n正文 $x$\n```", context, 0)
    assert text == "> **小心**\n>\n> 正文 $x$"


@pytest.mark.parametrize("source", ["```{bogus}\nx\n```", "a {bogus}`x` b", "{ref}`no-such-label`",
                                    "{glue:text}`never_glued`", "{cite}`nobody2099`"])
def test_unknown_syntax_is_an_error_not_passed_through(context, source):
    with pytest.raises(render_notebook.RenderError):
        render_notebook.render(source, context, 0)


@pytest.mark.parametrize("md", PAGES, ids=lambda p: p.stem)
def test_chapter_starts_with_hidden_setup_then_shows_its_run_mode(md):
    cells = [c for c in jupytext.read(md).cells if c.cell_type == "code"]
    assert "remove-cell" in cells[0].metadata.get("tags", []) and sync_notebooks.SETUP_TAG in cells[0].metadata["tags"]
    assert "google.colab" in cells[0].source  # does nothing outside Colab
    assert any("run_banner" in c.source for c in cells[1:3]), "the run mode is shown near the top"


def test_every_notebook_page_is_in_the_toc():
    listed = {str(ROOT / f) for f in toc_files()}
    assert {str(p.with_suffix("")) for p in PAGES} <= listed


# -- typography --

CJK = re.compile(r"[\u4e00-\u9fff]")


def prose_lines(md: Path):
    """(line number, text) of the page's prose: outside code cells and code blocks, inline code removed."""
    stack = []  # open fences: (backticks, is_code)
    for number, line in enumerate(md.read_text(encoding="utf-8").splitlines(), start=1):
        fence = re.match(r"^\s*(`{3,}|~{3,})(.*)$", line)
        if fence:
            tick, rest = fence.group(1), fence.group(2).strip()
            if stack and not rest and stack[-1][0] == tick:
                stack.pop()
            elif not (stack and stack[-1][1]):
                stack.append((tick, not rest.startswith("{") or rest.startswith("{code-cell")))
        elif not (stack and stack[-1][1]):
            yield number, re.sub(r"`[^`]*`", "", line)


@pytest.mark.parametrize("md", sorted((ROOT / "book").glob("*.md")), ids=lambda p: p.name)
def test_chinese_prose_uses_chinese_quotation_marks(md):
    # Sphinx's smartquotes turns an ASCII " beside a Chinese character into a closing ” on both sides.
    bad = [f"{md.name}:{n}: {text.strip()}" for n, text in prose_lines(md) if '"' in text and CJK.search(text)]
    assert not bad, "write “…” in Chinese prose:\n" + "\n".join(bad)
