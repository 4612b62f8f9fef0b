"""Checks on the built HTML book (`make book` output in _build/html).

`make test` runs these after the build with REQUIRE_BUILT_BOOK=1; in a plain `pytest tests`
before any build they are skipped.
"""
import json
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
CHAPTERS = sorted(p.stem for p in (ROOT / "book").glob("*.ipynb"))  # every notebook chapter

if not (HTML / "searchindex.js").exists():
    if os.environ.get("REQUIRE_BUILT_BOOK"):
        raise RuntimeError("REQUIRE_BUILT_BOOK is set but _build/html is missing: run `make book` first")
    pytest.skip("the book is not built (run `make book`)", allow_module_level=True)


def search_index() -> dict:
    text = (HTML / "searchindex.js").read_text(encoding="utf-8")
    return json.loads(text[text.index("(") + 1 : text.rindex(")")])


def pages_matching(index: dict, term: str) -> set[str]:
    """Pages a search for `term` finds: Sphinx files a word under `titleterms` for the pages
    whose (section) titles contain it, and under `terms` for the other pages."""
    pages = set()
    for table in ("terms", "titleterms"):
        hits = index[table].get(term, [])
        pages |= {index["docnames"][i] for i in ([hits] if isinstance(hits, int) else hits)}
    return pages


def test_chinese_words_are_searchable():
    index = search_index()
    # jieba splits 隐藏状态 into 隐藏 + 状态; a search for it looks up both
    for term in ("隐藏", "状态"):
        assert "book/memory_relay" in pages_matching(index, term), term
    assert "book/batching" in pages_matching(index, "批量")
    assert "book/padding" in pages_matching(index, "掩码")
    assert "book/tang_poetry" in pages_matching(index, "藏头诗")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_launch_buttons_open_existing_notebooks(chapter):
    page = (HTML / "book" / f"{chapter}.html").read_text(encoding="utf-8")
    links = re.findall(r'href="(https://(?:colab\.research\.google\.com|mybinder\.org)[^"]+)"', page)
    assert links, "no Colab/Binder launch links on the page"
    for link in links:
        assert f"book/{chapter}.ipynb" in link.replace("%2F", "/"), link
    assert (ROOT / "book" / f"{chapter}.ipynb").exists()


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_wrapped_chinese_lines_show_no_gaps(chapter):
    page = (HTML / "book" / f"{chapter}.html").read_text(encoding="utf-8")
    paragraphs = re.findall(r"<p>(.*?)</p>", page, flags=re.S)
    cjk = "[\u4e00-\u9fff\u3000-\u303f\uff00-\uffef]"
    gaps = [p for p in paragraphs if re.search(rf"{cjk}\s*\n\s*{cjk}", p)]
    assert not gaps, gaps[:2]


@pytest.mark.parametrize("page", [*CHAPTERS, "glossary"])
def test_no_markdown_emphasis_left_unrendered(page):
    # `**` beside Chinese punctuation is not always a delimiter in CommonMark: it then shows as is.
    html = (HTML / "book" / f"{page}.html").read_text(encoding="utf-8")
    text = re.sub(r"<(script|style|pre|code)\b.*?</\1>", "", html, flags=re.S)
    leftovers = [line.strip()[:80] for line in re.sub(r"<[^>]+>", "", text).splitlines() if "**" in line]
    assert not leftovers, "move the punctuation outside the **...**: " + " | ".join(leftovers)


def test_theme_strings_are_chinese():
    page = (HTML / "book" / "memory_relay.html").read_text(encoding="utf-8")
    assert "Search this book" not in page and "在本书中搜索" in page
    assert "Show code cell" not in page and "显示代码" in page


def test_pages_load_nothing_from_other_hosts():
    """The book works offline: no page or stylesheet names another host for a script, style,
    image or font (links a reader clicks, like Colab or a DOI, are fine). The browser test
    (tests/test_browser.py) records the requests the pages actually make; this needs no browser."""
    outside = re.compile(r"""^(https?:)?//""")
    found = []
    for page in HTML.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        for tag in re.findall(r"<(?:script|link|img|iframe|source)\b[^>]*>", html):
            for url in re.findall(r"""\b(?:src|href)=["']([^"']+)""", tag):
                if outside.match(url) and not re.search(r"""rel=["'](next|prev|canonical)""", tag):
                    found.append(f"{page.relative_to(HTML)}: {tag}")
    for sheet in HTML.rglob("*.css"):
        for url in re.findall(r"""(?:url\(|@import\s+)["']?([^"')\s]+)""", sheet.read_text(encoding="utf-8")):
            if outside.match(url):
                found.append(f"{sheet.relative_to(HTML)}: {url}")
    assert not found, found[:10]
