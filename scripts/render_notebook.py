"""Render the Markdown of a MyST page for a notebook reader (Colab, Jupyter): no MyST syntax left.

Used by sync_notebooks.py on every Markdown cell of a chapter. What becomes what:

- `{glue:text}`name:fmt`` (a number the HTML prose shows) -> `name` with a pointer to the
  output that shows it ("见上方输出", once per paragraph): in a reader's notebook `companion.notebook.glue` shows
  `name = value` in the cell that computes it, so the reader sees this run's value, never a
  stale copy. `{glue:figure}` -> a quoted caption pointing at the figure in that output.
- `{literalinclude}` -> the included code itself, read from this checkout (`:pyobject:`,
  `:lines:`, `:start-after:`, `:end-before:`, `:dedent:`), as a fenced code block.
- `{exercise}` -> a "练习 N.k" heading; `{solution}` -> a collapsible `<details>` block.
- `{ref}`/`{numref}`/`{doc}`/`{term}` -> links to the published HTML pages. The site is GitHub
  Pages of the one repository URL in `_config.yml`: github.com/OWNER/REPO ->
  https://OWNER.github.io/REPO/, and a page is BASE + docname + ".html" (#label for a target).
- `{cite}`/`{cite:p}` -> "(Author, year)", `{cite:t}` -> "Author (year)"; the page's
  references (from book/references.bib, read with pybtex) are listed at its end.
- admonitions -> a blockquote with a bold title; `{figure}` -> image Markdown; `(label)=`
  targets and `%` comments are dropped; `:::` fences are read like backtick fences.

A role or directive it does not know is an error naming the page, never passed through.
"""
from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import yaml

ROLE = re.compile(r"\{([a-z][\w:-]*)\}`([^`]*)`")
FENCE = re.compile(r"^(`{3,}|~{3,}|:{3,})\s*(\{([\w:-]+)\})?\s*(.*)$")
TARGET = re.compile(r"^\(([^()\s]+)\)=\s*$")
LABEL_TEXT = re.compile(r"^(.*?)\s*<([^<>]+)>$", re.S)
ADMONITIONS = {"note": "备注", "tip": "小技巧", "hint": "提示", "important": "重要", "warning": "警告",
               "caution": "小心", "attention": "注意", "danger": "危险", "error": "错误", "seealso": "参见"}
# What a notebook reader must never see (tests/test_book.py and tests/test_colab.py check every
# Markdown cell with it): a role, a directive fence, a `(label)=` target, a directive option line.
MYST_LEFTOVERS = re.compile(r"\{[a-z][\w:-]*\}`|^\s*(`{3,}|~{3,}|:{3,})\s*\{|^\([^()\s]+\)=\s*$|^:[\w-]+:(\s|$)", re.M)
GLUE_CALL = re.compile(r"""\bglue\(\s*(f?)(["'])(.+?)\2""")


class RenderError(ValueError):
    """MyST syntax the renderer does not know: fix the page or teach the renderer."""


def site_url(repo_url: str) -> str:
    """https://github.com/OWNER/REPO -> https://OWNER.github.io/REPO/ (where the HTML is published)."""
    parts = urlsplit(repo_url)
    owner, _, repo = parts.path.strip("/").partition("/")
    if parts.netloc != "github.com" or not owner or not repo:
        raise RenderError(f"repository.url={repo_url!r} in _config.yml is not https://github.com/OWNER/REPO; "
                          "the notebooks' links to the HTML pages are derived from it")
    return f"https://{owner.lower()}.github.io/{repo.removesuffix('.git')}/"


@dataclass
class Book:
    """What every page needs to know about the whole book: pages, targets, numbers, references."""

    root: Path
    base_url: str
    targets: dict[str, tuple[str, str]] = field(default_factory=dict)  # label -> (docname, link text)
    chapter_numbers: dict[str, int] = field(default_factory=dict)  # docname -> chapter number
    bibliography: object = None  # pybtex BibliographyData

    @classmethod
    def load(cls, root: Path) -> Book:
        config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
        book = cls(root, site_url(config["repository"]["url"]))
        toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
        docnames = [toc["root"]]
        number = 0
        for part in toc.get("parts", []):
            for chapter in part["chapters"]:
                docnames.append(chapter["file"])
                if part.get("numbered"):  # numbering runs on across parts (sphinx-multitoc-numbering)
                    number += 1
                    book.chapter_numbers[chapter["file"]] = number
        for docname in docnames:
            book._scan_targets(docname, (root / docname).with_suffix(".md").read_text(encoding="utf-8"))
        from pybtex.database import parse_file
        book.bibliography = parse_file(str(root / config["bibtex_bibfiles"][0]))
        return book

    def _scan_targets(self, docname: str, text: str) -> None:
        lines, exercises = text.splitlines(), 0
        for i, line in enumerate(lines):
            if (m := TARGET.match(line)) and i + 1 < len(lines):
                self.targets[m.group(1)] = (docname, lines[i + 1].lstrip("#").strip())
            if re.match(r"^[`:~]{3,}\{exercise\}", line):
                exercises += 1
            if (m := re.match(r"^:(label|name):\s*(\S+)", line)):
                text_ = (self.exercise_title(docname, exercises) if m.group(1) == "label"
                         else self._figure_caption(lines, i))
                self.targets[m.group(2)] = (docname, text_)

    @staticmethod
    def _figure_caption(lines: list[str], i: int) -> str:
        rest = [line for line in lines[i + 1:i + 6] if line.strip() and not line.startswith(":")]
        return rest[0].strip() if rest and not rest[0].startswith("`") else "图"

    def exercise_title(self, docname: str, k: int) -> str:
        chapter = self.chapter_numbers.get(docname)
        return f"练习 {chapter}.{k}" if chapter else f"练习 {k}"

    def link(self, label: str, text: str | None, page: str) -> str:
        if label not in self.targets:
            raise RenderError(f"{page}: no target ({label})= or :label:/:name: {label} in the book")
        docname, default = self.targets[label]
        return f"[{text or default}]({self.base_url}{docname}.html#{label})"


@dataclass
class Context:
    """One page being rendered: its book, its glued names, the citations met so far."""

    book: Book
    md: Path
    glue_cells: list[tuple[re.Pattern, int]]  # (name pattern, index of the code cell gluing it)
    cited: list[str] = field(default_factory=list)
    exercises: int = 0
    figures: int = 0
    paragraph_note: str | None = None  # the pointer already given in this paragraph

    @classmethod
    def for_page(cls, md: Path, root: Path) -> Context:
        import jupytext

        glue_cells = []
        for i, cell in enumerate(jupytext.read(md).cells):
            if cell.cell_type != "code":
                continue
            for f, _, name in GLUE_CALL.findall(cell.source):
                pattern = re.sub(r"\\\{[^}]*\\\}", ".+", re.escape(name)) if f else re.escape(name)
                glue_cells.append((re.compile(pattern + "$"), i))
            if re.search(r"\bglue\(\s*(?!f[\"'])[a-z_]|\bglue_all\(", cell.source):  # glue(key, ...) in a loop, glue_all:
                glue_cells.append((None, i))  # keys computed at run time (e.g. from a package function)
                for name in re.findall(r"""["']([A-Za-z_]\w*)["']""", cell.source):  # its string keys
                    glue_cells.append((re.compile(re.escape(name) + "$"), i))
                for name in re.findall(r"\b([A-Za-z_]\w*)=(?!=)", cell.source):  # ... or keyword (key=value) keys
                    glue_cells.append((re.compile(re.escape(name) + "$"), i))
        return cls(Book.load(root), md, glue_cells)

    @property
    def docname(self) -> str:
        return self.md.relative_to(self.book.root).with_suffix("").as_posix()

    def where_shown(self, name: str, cell_index: int) -> str:
        cells = [i for pattern, i in self.glue_cells if pattern is not None and pattern.match(name)]
        cells = cells or [i for pattern, i in self.glue_cells if pattern is None]  # glued by a loop
        if not cells:
            raise RenderError(f"{self.md.name}: {{glue}} `{name}` is not glued by any code cell of the page")
        return "见上方输出" if cells[0] < cell_index else "见下方输出"

    def references_markdown(self) -> str:
        if not self.cited:
            return ""
        from pybtex.plugin import find_plugin

        style = find_plugin("pybtex.style.formatting", "plain")(abbreviate_names=True)
        entries = {key: self.book.bibliography.entries[key] for key in self.cited}
        lines = [f"- {' '.join(e.text.render_as('markdown').split())}" for e in style.format_entries(entries.values())]
        return "## 参考文献\n\n本章引用的文献（全书的参考文献见[参考文献]({}book/references.html)）：\n\n{}".format(
            self.book.base_url, "\n".join(lines))


# -- inline roles ------------------------------------------------------------------------------
def author_year(ctx: Context, key: str) -> tuple[str, str]:
    entry = ctx.book.bibliography.entries.get(key)
    if entry is None:
        raise RenderError(f"{ctx.md.name}: citation key {key!r} is not in references.bib")
    if key not in ctx.cited:
        ctx.cited.append(key)
    names = [" ".join(p.last_names) for p in entry.persons.get("author", entry.persons.get("editor", []))]
    who = names[0] if len(names) == 1 else f"{names[0]} and {names[1]}" if len(names) == 2 else f"{names[0]} et al."
    return _latex_to_text(who), entry.fields["year"]


def _latex_to_text(text: str) -> str:
    from pybtex.richtext import Text

    return Text.from_latex(text).render_as("text")


def render_role(ctx: Context, role: str, content: str, cell_index: int) -> str:
    page = ctx.md.name
    if role in ("glue", "glue:text", "glue:any", "glue:md"):
        name = content.split("::")[-1].split(":")[0]
        where = ctx.where_shown(name, cell_index)
        note = "" if where == ctx.paragraph_note else f"（{where}）"  # once per paragraph
        ctx.paragraph_note = where
        return f"`{name}`{note}"
    if role in ("ref", "numref", "doc", "term"):
        m = LABEL_TEXT.match(content)
        text, target = (m.group(1), m.group(2)) if m else (None, content)
        if role == "doc":
            docname = (ctx.md.parent / target).resolve().relative_to(ctx.book.root).with_suffix("").as_posix()
            return f"[{text or docname}]({ctx.book.base_url}{docname}.html)"
        if role == "term":
            return f"[{text or target}]({ctx.book.base_url}book/glossary.html)"
        return ctx.book.link(target, text and text.replace("%s", "").replace("{number}", ""), page)
    if role in ("cite", "cite:p", "cite:ps", "cite:t", "cite:ts"):
        cites = [author_year(ctx, key.strip()) for key in content.split(",")]
        if role.startswith("cite:t"):
            return "、".join(f"{who} ({year})" for who, year in cites)
        return "(" + "; ".join(f"{who}, {year}" for who, year in cites) + ")"
    if role == "math":
        return f"${content}$"
    if role in ("sub", "sup", "kbd"):
        return f"<{role}>{content}</{role}>"
    if role == "abbr":
        return content
    raise RenderError(f"{page}: the role {{{role}}} is not known to scripts/render_notebook.py")


def render_inline(ctx: Context, text: str, cell_index: int) -> str:
    # roles only outside code spans: split on `...` runs that are not a role's argument
    return ROLE.sub(lambda m: render_role(ctx, m.group(1), m.group(2), cell_index), text)


# -- directives --------------------------------------------------------------------------------
def split_options(body: list[str]) -> tuple[dict[str, str], list[str]]:
    options, i = {}, 0
    if body[:1] == ["---"]:
        end = body.index("---", 1)
        options, i = yaml.safe_load("\n".join(body[1:end])) or {}, end + 1
    while i < len(body) and (m := re.match(r"^:([\w-]+):\s*(.*)$", body[i])):
        options[m.group(1)], i = m.group(2), i + 1
    return options, body[i:]


def included_code(ctx: Context, path: str, options: dict[str, str]) -> str:
    file = (ctx.md.parent / path).resolve()
    text = file.read_text(encoding="utf-8")
    lines = text.splitlines()
    if "pyobject" in options:
        node = find_pyobject(ast.parse(text), options["pyobject"], ctx.md.name)
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        lines = lines[first - 1:node.end_lineno]
    if "lines" in options:  # "3-7,10,12-": 1-based, inclusive
        picked = []
        for part in options["lines"].split(","):
            first, dash, last = part.strip().partition("-")
            stop = (int(last) if last else len(lines)) if dash else int(first)
            picked += lines[int(first) - 1:stop]
        lines = picked
    if "start-after" in options:
        lines = "\n".join(lines).split(options["start-after"], 1)[1].splitlines()[1:]
    if "end-before" in options:
        lines = "\n".join(lines).split(options["end-before"], 1)[0].splitlines()
    code = "\n".join(lines)
    if "dedent" in options:
        n = int(options["dedent"] or 0)
        code = "\n".join(line[n:] for line in lines) if n else textwrap.dedent(code)
    language = options.get("language", "python" if file.suffix == ".py" else "")
    where = file.relative_to(ctx.book.root).as_posix()
    return f"`{where}`{'：`' + options['pyobject'] + '`' if 'pyobject' in options else ''}\n\n```{language}\n{code}\n```"


def find_pyobject(tree: ast.Module, dotted: str, page: str) -> ast.AST:
    node: ast.AST = tree
    for part in dotted.split("."):
        found = [n for n in getattr(node, "body", [])
                 if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name == part]
        if not found:
            raise RenderError(f"{page}: literalinclude :pyobject: {dotted} not found")
        node = found[0]
    return node


def quote(text: str) -> str:
    return "\n".join(f"> {line}".rstrip() for line in text.strip("\n").splitlines())


def render_directive(ctx: Context, name: str, arg: str, body: list[str], cell_index: int) -> str:
    options, content = split_options(body)
    inner = render_block(ctx, "\n".join(content), cell_index).strip("\n")
    if name == "literalinclude":
        return included_code(ctx, arg, options)
    if name == "exercise":
        ctx.exercises += 1
        title = ctx.book.exercise_title(ctx.docname, ctx.exercises)
        return f"### {title}{'：' + render_inline(ctx, arg, cell_index) if arg else ''}\n\n{inner}"
    if name == "solution":
        title = ctx.book.targets.get(arg, (None, arg))[1]
        return f"<details>\n<summary>解答（{title}）：点击展开</summary>\n\n{inner}\n\n</details>"
    if name == "nb-exec-table":  # filled in by the book build only
        return "> 各页的运行时间表只在网页版里有；在这里，逐格运行时可以留意每一格所用的时间。"
    if name == "container":  # a styling wrapper: its content is what counts
        return inner
    if name == "solution-start":  # a gated solution: its code cells follow as cells of their own
        title = ctx.book.targets.get(arg, (None, arg))[1]
        return f"#### 解答（{title}）\n\n{inner}".rstrip() + "\n\n先自己试一试，再往下看。"
    if name == "solution-end":
        return "（解答到此为止。）"
    if name == "glue:figure":
        ctx.figures += 1
        chapter = ctx.book.chapter_numbers.get(ctx.docname)
        number = f"{chapter}.{ctx.figures}" if chapter else str(ctx.figures)
        return quote(f"**图 {number}**（{ctx.where_shown(arg, cell_index)}）：{inner}")
    if name == "figure":
        return f"![{inner.splitlines()[0] if inner else ''}]({arg})" + (f"\n\n{quote(inner)}" if inner else "")
    if name == "admonition" or name in ADMONITIONS:
        title = render_inline(ctx, arg, cell_index) if name == "admonition" else ADMONITIONS[name]
        return quote(f"**{title}**\n\n{inner}")
    if name in ("math",):
        return f"$$\n{inner}\n$$"
    if name in ("code-block", "code", "sourcecode"):
        return f"```{arg}\n" + "\n".join(content) + "\n```"
    raise RenderError(f"{ctx.md.name}: the directive {{{name}}} is not known to scripts/render_notebook.py")


def render_block(ctx: Context, text: str, cell_index: int) -> str:
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        line = lines[i]
        m = FENCE.match(line)
        if m:
            fence = m.group(1)
            close = re.compile(rf"^{re.escape(fence[0])}{{{len(fence)},}}\s*$")
            end = next((j for j in range(i + 1, len(lines)) if close.match(lines[j])), len(lines))
            body = lines[i + 1:end]
            if m.group(3):
                out.append(render_directive(ctx, m.group(3), m.group(4).strip(), body, cell_index))
            elif fence[0] == ":":
                raise RenderError(f"{ctx.md.name}: a ::: fence without a directive name")
            else:
                out += [fence + m.group(4), *body, fence]  # a plain code block: verbatim
            i = end + 1
            continue
        if not line.strip():
            ctx.paragraph_note = None
        if not TARGET.match(line) and not line.startswith("%"):
            out.append(render_inline(ctx, line, cell_index))
        i += 1
    return "\n".join(out)


def render(markdown: str, ctx: Context, cell_index: int) -> str:
    """One Markdown cell of the page, as a notebook reader should see it."""
    ctx.paragraph_note = None
    return render_block(ctx, markdown, cell_index).strip("\n")
