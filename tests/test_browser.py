"""The built book in a real browser: headless Chromium reads every page as a reader would.

Debian's Chromium (`/usr/bin/chromium`, packages `chromium` and `fonts-noto-cjk`; `.ci/run`
installs them), driven by Playwright's Python package (never `playwright install`: no browser
is downloaded), loads each page of the table of contents from a local HTTP server on 127.0.0.1,
at desktop (1280 px) and phone (390 px) widths, and checks that

- it loads with no console error, no uncaught script error and no failed request, and asks
  **no host but the local server** for anything (the book must work offline: MathJax, fonts
  and scripts are all served from the built site; every request is recorded, and any request
  to another host is blocked and listed in the failure);
- every formula is typeset by MathJax (each `.math` element holds an `mjx-container`, none is a
  TeX error, and no raw `$$`, `\\(`, `\\[` or `\\begin` is left in the visible text);
- every image has loaded (`naturalWidth > 0`);
- Chinese text is drawn in Noto CJK (`fonts-noto-cjk`): Chromium's DevTools report which
  platform font drew the glyphs of a Chinese heading and paragraph;
- the Colab and Binder launch links open `.ipynb` files that exist in the repository;
- searching Chinese terms from a chapter (`search.html?q=隐藏状态`) finds that chapter.

Screenshots of each page at both widths go to `_build/screenshots/` (build artefacts, with
`report.txt`), and a short report is printed. `make test` runs this after the book build with
REQUIRE_BUILT_BOOK=1. It is skipped when the book is not built, and when Chromium is missing,
except under CI=true, where a missing Chromium is an error (CI must never skip it).
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))

if not (HTML / "searchindex.js").exists():
    if os.environ.get("REQUIRE_BUILT_BOOK"):
        raise RuntimeError("REQUIRE_BUILT_BOOK is set but _build/html is missing: run `make book` first")
    pytest.skip("the book is not built (run `make book`)", allow_module_level=True)


def find_chromium() -> str | None:
    """$CHROMIUM if set, else Debian's /usr/bin/chromium, else `chromium` on the PATH."""
    if os.environ.get("CHROMIUM"):
        candidates = [os.environ["CHROMIUM"]]
    else:
        candidates = ["/usr/bin/chromium", shutil.which("chromium")]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


CHROMIUM = find_chromium()
if CHROMIUM is None:
    where = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
    message = f"Chromium not found at {where}: apt-get install chromium fonts-noto-cjk"
    if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):  # CI=true: never skip
        pytest.fail(f"CI=true and {message} (.ci/run should have installed it)", pytrace=False)
    pytest.skip(f"browser test skipped: {message}", allow_module_level=True)

from playwright.sync_api import sync_playwright  # noqa: E402  (only once Chromium is there)

# Playwright adds --headless itself (headless=True). --disable-dev-shm-usage: Chromium's shared
# memory goes to /tmp, as containers often have a tiny /dev/shm. --no-proxy-server: the local
# server is reached directly whatever proxy the environment names.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-dev-shm-usage", "--no-proxy-server"]
WIDTHS = {"desktop": (1280, 800), "phone": (390, 844)}
TIMEOUT_MS = 30_000

# Chinese searches (in the search box, as a reader types them) and a chapter each must find.
SEARCHES = {"隐藏状态": "book/memory_relay.html", "梯度消失": "book/forgetting.html", "藏头诗": "book/tang_poetry.html"}


def toc_pages() -> list[str]:
    """Every page of the table of contents, in its order, as paths of the built site."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(entries):
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections", []))

    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    walk(toc.get("chapters", []))
    return [f"{file}.html" for file in files]


PAGES = toc_pages()


# -- the local server --------------------------------------------------------------------------
class QuietHandler(SimpleHTTPRequestHandler):
    errors: list[str]  # set per server: every request the server could not answer

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass

    def log_error(self, format, *args):  # noqa: A002
        self.errors.append(f"{self.path}: {format % args}")


def serve(directory: Path):
    handler = type("Handler", (QuietHandler,), {"errors": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, handler.errors


# -- what the browser looks at, in the page ----------------------------------------------------
PAGE_FACTS = r"""async () => {
  const mathNodes = [...document.querySelectorAll(".math")];
  if (mathNodes.length) await window.MathJax.startup.promise;
  // Load every image now (none waits for scrolling), then see which ones have pixels.
  const images = [...document.images];
  images.forEach((img) => { img.loading = "eager"; });
  await Promise.all(images.map((img) => img.decode().catch(() => null)));
  await document.fonts.ready;
  const article = document.querySelector("article") || document.body;
  // Visible text outside code, as a reader sees it: raw TeX here means a formula not typeset.
  const skip = "pre, code, kbd, script, style, textarea, mjx-container, .highlight";
  const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT, {
    acceptNode: (node) => node.parentElement.closest(skip) ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT,
  });
  const texts = [];
  while (walker.nextNode()) texts.push(walker.currentNode.textContent);
  const text = texts.join("");
  const rawTex = [];
  const pattern = /\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{|\$[^$\n]{0,80}?(?:\\[a-zA-Z]+|[_^]\{)/g;
  for (const m of text.matchAll(pattern)) rawTex.push(text.slice(Math.max(0, m.index - 30), m.index + 40));
  // Mark a Chinese heading and paragraph for the font check (text directly inside them).
  const han = (el) => [...el.childNodes].filter((n) => n.nodeType === 3)
      .map((n) => n.textContent).join("").match(/\p{Script=Han}/gu)?.length || 0;
  const probes = [];
  const h1 = article.querySelector("h1");
  if (h1 && han(h1)) { h1.dataset.cjkProbe = "h1"; probes.push(["h1", han(h1)]); }
  const p = [...article.querySelectorAll("p")].find((el) => han(el) >= 10);
  if (p) { p.dataset.cjkProbe = "p"; probes.push(["p", han(p)]); }
  return {
    math: mathNodes.length,
    mathTypeset: mathNodes.filter((el) => el.querySelector("mjx-container")).length,
    mathNotTypeset: mathNodes.filter((el) => !el.querySelector("mjx-container"))
        .slice(0, 3).map((el) => el.textContent.slice(0, 80)),
    texErrors: [...document.querySelectorAll("mjx-merror")].slice(0, 3)
        .map((el) => el.getAttribute("data-mjx-error") || el.textContent),
    rawTex: rawTex.slice(0, 5),
    images: images.map((img) => ({src: img.currentSrc || img.src, width: img.naturalWidth,
                                  inArticle: article.contains(img)})),
    links: [...document.querySelectorAll("a[href]")].map((a) => a.href),
    probes,
  };
}"""


def fonts_drawing(cdp, selector: str) -> dict[str, int]:
    """{font family: glyphs drawn} for the text directly inside the element, from DevTools."""
    root = cdp.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    drawn: dict[str, int] = {}
    for font in cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]:
        # one entry per face: Noto Sans CJK SC Regular and Bold are both "Noto Sans CJK SC"
        drawn[font["familyName"]] = drawn.get(font["familyName"], 0) + font["glyphCount"]
    return drawn


def is_cjk_font(family: str) -> bool:
    return re.search(r"Noto (Sans|Serif)( Mono)? CJK", family) is not None


# -- one pass over the book, shared by the tests -----------------------------------------------
@pytest.fixture(scope="module")
def book(tmp_path_factory, request):
    """Visit every page at both widths; return what was seen, per page and overall."""
    server, server_errors = serve(HTML)
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    local = urlsplit(base).netloc
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)

    requests, outside = [], []  # every URL asked for; those for another host
    seen = {page: {"console": [], "failed": [], "error": None} for page in [*PAGES, *SEARCHES]}
    current = {"page": None}
    results = {"pages": seen, "requests": requests, "outside": outside,
               "server_errors": server_errors, "search": {}}

    def is_local(url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme in ("data", "blob", "about") or parts.netloc == local

    pending = set()  # requests not finished yet: a page is left only once they are done

    def settle():
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while pending and time.monotonic() < deadline:
            page.wait_for_timeout(25)

    def record(url):
        requests.append(url)
        if not is_local(url):
            outside.append(f"{url} (from {current['page']})")

    def on_request(req):
        pending.add(req)
        record(req.url)

    def on_finished(req):
        pending.discard(req)

    def on_failed(req):
        pending.discard(req)
        if is_local(req.url):
            seen[current["page"]]["failed"].append(f"{req.url}: {req.failure}")

    def on_response(resp):
        if resp.status >= 400:
            seen[current["page"]]["failed"].append(f"{resp.url}: HTTP {resp.status}")

    def on_console(msg):
        if msg.type == "error":
            seen[current["page"]]["console"].append(f"console: {msg.text} @ {msg.location.get('url')}")

    def on_page_error(error):
        seen[current["page"]]["console"].append(f"uncaught: {error}")

    started = time.monotonic()
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),  # a fresh user-data-dir
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": WIDTHS["desktop"][0], "height": WIDTHS["desktop"][1]},
            locale="zh-CN", color_scheme="light", service_workers="block")
        # Nothing leaves the machine: a request for any other host is recorded, then refused.
        # (A pattern, not a Python function: only those requests are intercepted, fast.)
        context.route(re.compile(rf"^(?!{re.escape(base)})(https?|wss?)://"),
                      lambda route: route.abort("blockedbyclient"))
        context.on("request", on_request)
        context.on("requestfinished", on_finished)
        context.on("requestfailed", on_failed)
        context.on("response", on_response)
        page = context.pages[0] if context.pages else context.new_page()
        page.on("console", on_console)
        page.on("pageerror", on_page_error)
        page.on("websocket", lambda ws: record(ws.url))
        page.set_default_timeout(TIMEOUT_MS)
        cdp = context.new_cdp_session(page)

        for name, (width, height) in WIDTHS.items():
            page.set_viewport_size({"width": width, "height": height})
            for path in PAGES:
                current["page"] = path
                try:
                    page.goto(base + path, wait_until="load")
                    facts = page.evaluate(PAGE_FACTS)
                    if name == "desktop":
                        cdp.send("DOM.enable")
                        cdp.send("CSS.enable")
                        facts["fonts"] = {probe: fonts_drawing(cdp, f'[data-cjk-probe="{probe}"]')
                                          for probe, _ in facts["probes"]}
                        cdp.send("CSS.disable")
                        cdp.send("DOM.disable")
                        seen[path]["facts"] = facts
                    shot = SCREENSHOTS / f"{Path(path).stem}-{name}.png"
                    page.screenshot(path=str(shot), full_page=True, animations="disabled")
                    settle()
                except Exception as error:  # noqa: BLE001 (reported by the tests, per page)
                    seen[path]["error"] = f"{name}: {type(error).__name__}: {error}"

        page.set_viewport_size({"width": WIDTHS["desktop"][0], "height": WIDTHS["desktop"][1]})
        for query in SEARCHES:
            current["page"] = query
            try:
                page.goto(f"{base}search.html?q={quote(query)}", wait_until="load")
                page.wait_for_function(
                    "() => document.querySelector('#search-results .search-summary')?.textContent")
                results["search"][query] = page.eval_on_selector_all(
                    "#search-results ul.search li a", "links => links.map((a) => a.getAttribute('href'))")
                settle()  # the search goes on fetching each found page for its summary
            except Exception as error:  # noqa: BLE001
                seen[query]["error"] = f"{type(error).__name__}: {error}"
        context.close()
    server.shutdown()
    results["seconds"] = time.monotonic() - started

    facts = [seen[p]["facts"] for p in PAGES if "facts" in seen[p]]
    fonts = sorted({f for fa in facts for probe in fa["fonts"].values() for f in probe if is_cjk_font(f)})
    report = "\n".join([
        "headless Chromium, local server, no network:",
        f"  pages checked:     {len(PAGES)} (+ {len(SEARCHES)} searches), at "
        + " and ".join(f"{n} {w} px" for n, (w, _) in WIDTHS.items()),
        f"  formulas typeset:  {sum(f['mathTypeset'] for f in facts)} of {sum(f['math'] for f in facts)}",
        f"  figures loaded:    {sum(1 for f in facts for i in f['images'] if i['inArticle'] and i['width'] > 0)}"
        f" of {sum(1 for f in facts for i in f['images'] if i['inArticle'])}"
        f" (all images: {sum(1 for f in facts for i in f['images'] if i['width'] > 0)}"
        f" of {sum(len(f['images']) for f in facts)})",
        f"  Chinese drawn in:  {', '.join(fonts) or 'no CJK font!'}",
        f"  requests:          {len(requests)}, to other hosts: {len(outside)}",
        f"  screenshots:       {len(list(SCREENSHOTS.glob('*.png')))} in {SCREENSHOTS.relative_to(ROOT)}/",
        f"  time:              {results['seconds']:.0f} s",
    ])
    (SCREENSHOTS / "report.txt").write_text(report + "\n", encoding="utf-8")
    request.config.book_browser_report = report  # printed at the end (tests/conftest.py)
    return results


def page_facts(book, path):
    entry = book["pages"][path]
    assert entry["error"] is None, entry["error"]
    return entry["facts"]


# -- the checks --------------------------------------------------------------------------------
def test_no_request_leaves_the_machine(book):
    assert book["requests"], "no request was recorded at all"
    assert not book["outside"], ("requests to other hosts (the book must work offline):\n"
                                 + "\n".join(book["outside"]))


@pytest.mark.parametrize("path", [*PAGES, *SEARCHES])
def test_page_loads_without_errors(book, path):
    entry = book["pages"][path]
    assert entry["error"] is None, entry["error"]
    assert not entry["failed"], "failed requests:\n" + "\n".join(entry["failed"])
    assert not entry["console"], "console errors:\n" + "\n".join(entry["console"])


def test_server_answered_every_request(book):
    assert not book["server_errors"], book["server_errors"]


@pytest.mark.parametrize("path", PAGES)
def test_formulas_are_typeset(book, path):
    facts = page_facts(book, path)
    assert facts["mathTypeset"] == facts["math"], f"not typeset: {facts['mathNotTypeset']}"
    assert not facts["texErrors"], f"TeX errors: {facts['texErrors']}"
    assert not facts["rawTex"], f"raw TeX in the text: {facts['rawTex']}"


def test_the_book_has_formulas(book):
    assert sum(page_facts(book, p)["math"] for p in PAGES) > 0


@pytest.mark.parametrize("path", PAGES)
def test_images_load(book, path):
    broken = [i["src"] for i in page_facts(book, path)["images"] if i["width"] == 0]
    assert not broken, f"images that did not load: {broken}"


def test_the_book_has_figures(book):
    assert any(i["inArticle"] for p in PAGES for i in page_facts(book, p)["images"])


@pytest.mark.parametrize("path", PAGES)
def test_chinese_is_drawn_in_noto_cjk(book, path):
    facts = page_facts(book, path)
    assert facts["probes"], "no Chinese heading or paragraph found"
    for probe, han in facts["probes"]:
        fonts = facts["fonts"][probe]
        cjk_glyphs = sum(n for family, n in fonts.items() if is_cjk_font(family))
        # every Chinese character drawn by Noto CJK (it may draw punctuation and digits too)
        assert cjk_glyphs >= han, f"{probe}: {han} Chinese characters, fonts used: {fonts}"


@pytest.mark.parametrize("path", PAGES)
def test_launch_links_open_notebooks_in_the_repository(book, path):
    repo = urlsplit(CONFIG["repository"]["url"]).path.strip("/")
    branch = CONFIG["repository"].get("branch", "main")
    links = [unquote(link) for link in page_facts(book, path)["links"]
             if urlsplit(link).netloc in ("colab.research.google.com", "mybinder.org")]
    notebook = ROOT / Path(path).with_suffix(".ipynb")
    if notebook.exists():  # a chapter that is a notebook has both buttons
        hosts = {urlsplit(link).netloc for link in links}
        assert hosts == {"colab.research.google.com", "mybinder.org"}, links
    for link in links:  # Colab: .../blob/BRANCH/PATH; Binder: ...?urlpath=tree/PATH
        match = re.search(rf"(?:/blob/{re.escape(branch)}/|urlpath=tree/)([^?#&]+\.ipynb)$", link)
        assert match, f"no notebook in {link}"
        assert (ROOT / match.group(1)).is_file(), f"{link}: {match.group(1)} is not in the repository"
        assert match.group(1) == Path(path).with_suffix(".ipynb").as_posix(), link
        assert repo in link and branch in link, f"{link} is not {repo}@{branch}"


@pytest.mark.parametrize("query", SEARCHES)
def test_chinese_search_finds_the_chapter(book, query):
    entry = book["pages"][query]
    assert entry["error"] is None, entry["error"]
    found = book["search"][query]
    assert SEARCHES[query] in found, f"search for {query} found {found}"


def test_screenshots_are_written(book):
    for path in PAGES:
        for name in WIDTHS:
            shot = SCREENSHOTS / f"{Path(path).stem}-{name}.png"
            assert shot.is_file() and shot.stat().st_size > 10_000, shot


# -- one chapter as a Colab reader gets it -----------------------------------------------------
NOTEBOOK_SHOWN = "forgetting"  # short, with formulas, figures, exercises and references
MATHJAX3_CONFIG = ("<script>window.MathJax = {tex: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], "
                   "processEscapes: true}};</script>")


def notebook_as_html(executed: Path, target: Path) -> int:
    """The executed notebook as a reader's HTML (nbconvert, lab template), at `target`, with the
    book's own MathJax (no CDN); returns how many figures its outputs hold."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(executed, as_version=4)
    mathjax = os.path.relpath(HTML / "_static" / "mathjax" / "tex-chtml.js", target.parent)
    html, _ = HTMLExporter(template_name="lab", mathjax_url=mathjax, require_js_url="").from_notebook_node(nb)
    html = html.replace('<script src="">\n</script>', "").replace('<script src=""></script>', "")
    html = html.replace(f'<script src="{mathjax}">', f'{MATHJAX3_CONFIG}\n<script src="{mathjax}">', 1)
    target.write_text(html, encoding="utf-8")
    return sum(1 for cell in nb.cells for output in cell.get("outputs", [])
               if "image/png" in output.get("data", {}))


def test_an_executed_notebook_reads_well_as_html(book):
    """tests/test_colab.py leaves the notebooks it ran in _build/colab/; one of them, turned into
    HTML, is read like the book's pages: loads offline without errors, every figure drawn, every
    formula typeset. The page and its screenshot stay in _build/screenshots/."""
    executed = ROOT / "_build" / "colab" / f"{NOTEBOOK_SHOWN}.ipynb"
    if not executed.exists():
        message = f"{executed.relative_to(ROOT)} is missing: run `make colab` (tests/test_colab.py) first"
        if os.environ.get("REQUIRE_BUILT_BOOK"):
            pytest.fail(message)
        pytest.skip(message)
    target = SCREENSHOTS / f"colab-{NOTEBOOK_SHOWN}.html"
    figures = notebook_as_html(executed, target)
    server, server_errors = serve(ROOT / "_build")  # the page, and the book's MathJax beside it
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    problems, outside = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": WIDTHS["desktop"][0], "height": WIDTHS["desktop"][1]},
                                locale="zh-CN", color_scheme="light")
        page.route(re.compile(rf"^(?!{re.escape(base)})(https?|wss?)://"),
                   lambda route: (outside.append(route.request.url), route.abort("blockedbyclient")))
        page.on("console", lambda msg: msg.type == "error" and problems.append(f"console: {msg.text}"))
        page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
        page.on("requestfailed", lambda req: req.url.startswith(base) and problems.append(f"failed: {req.url}"))
        page.goto(base + target.relative_to(ROOT / "_build").as_posix(), wait_until="load")
        facts = page.evaluate("""async () => {
          await window.MathJax.startup.promise;
          const images = [...document.images];
          await Promise.all(images.map((img) => img.decode().catch(() => null)));
          return {typeset: document.querySelectorAll("mjx-container").length,
                  errors: document.querySelectorAll("mjx-merror").length,
                  drawn: images.filter((img) => img.naturalWidth > 0 && img.src.startsWith("data:image/png")).length};
        }""")
        page.screenshot(path=str(SCREENSHOTS / f"colab-{NOTEBOOK_SHOWN}-desktop.png"), full_page=True)
        browser.close()
    server.shutdown()
    assert not outside, f"requests to other hosts: {outside}"
    assert not problems and not server_errors, problems + server_errors
    assert figures > 0 and facts["drawn"] == figures, facts
    assert facts["typeset"] > 0 and facts["errors"] == 0, facts
