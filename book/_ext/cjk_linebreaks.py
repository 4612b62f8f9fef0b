"""Join Chinese lines that the Markdown source wraps, so browsers show no stray spaces.

A newline inside a paragraph becomes a space in HTML. Between two English words that is
right; between two Chinese characters, Chromium shows it as a visible gap. This transform
drops a line break that stands between two CJK characters (CJK punctuation and curly quotes
included), whether the break sits inside one text node or is a soft-break node of its own
(as MyST produces), and leaves code, literals and math alone.
"""
import re

from docutils import nodes
from sphinx.transforms import SphinxTransform

CJK = "\u2018-\u201f\u2026\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
IS_CJK = re.compile(f"[{CJK}]")
BREAK = re.compile(rf"(?<=[{CJK}])[ \t]*\n[ \t]*(?=[{CJK}])")
SKIP = (nodes.literal_block, nodes.literal, nodes.math, nodes.math_block, nodes.raw, nodes.comment)


def _edge(node: nodes.Node | None, last: bool) -> str:
    text = node.astext() if node is not None else ""
    return (text[-1:] if last else text[:1]) or " "


class JoinCJKLines(SphinxTransform):
    default_priority = 800

    def apply(self, **kwargs) -> None:
        for text in list(self.document.findall(nodes.Text)):
            parent = text.parent
            if parent is None or isinstance(parent, SKIP) or "\n" not in text:
                continue
            if not text.strip():  # a soft break on its own: look at its neighbours
                # by identity: Text nodes are strings, so list.index/remove would find the
                # first equal "\n" of the paragraph, not this one
                index = next(i for i, child in enumerate(parent.children) if child is text)
                before = parent[index - 1] if index > 0 else None
                after = parent[index + 1] if index + 1 < len(parent) else None
                if IS_CJK.match(_edge(before, last=True)) and IS_CJK.match(_edge(after, last=False)):
                    del parent.children[index]
                continue
            joined = BREAK.sub("", str(text))
            if joined != str(text):
                parent.replace(text, nodes.Text(joined))


def setup(app):
    app.add_transform(JoinCJKLines)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
