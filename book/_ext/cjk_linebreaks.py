"""Join Chinese lines that the Markdown source wraps, so browsers show no stray spaces.

A newline inside a paragraph becomes a space in HTML. Between two English words that is
right; between two Chinese characters, Chromium shows it as a visible gap. This transform
removes a newline that stands between two CJK characters (or CJK punctuation) in prose,
leaving code, literals and math alone.
"""
import re

from docutils import nodes
from sphinx.transforms import SphinxTransform

CJK = r"[\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]"
BREAK = re.compile(rf"(?<={CJK})[ \t]*\n[ \t]*(?={CJK})")
SKIP = (nodes.literal_block, nodes.literal, nodes.math, nodes.math_block, nodes.raw, nodes.comment)


class JoinCJKLines(SphinxTransform):
    default_priority = 800

    def apply(self, **kwargs) -> None:
        for text in list(self.document.findall(nodes.Text)):
            if isinstance(text.parent, SKIP) or "\n" not in text:
                continue
            joined = BREAK.sub("", str(text))
            if joined != str(text):
                text.parent.replace(text, nodes.Text(joined))


def setup(app):
    app.add_transform(JoinCJKLines)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
