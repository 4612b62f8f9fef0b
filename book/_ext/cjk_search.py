"""Let the browser search find Chinese queries of more than one word, such as 隐藏状态.

The search index is built in Python, where jieba cuts the text into words (隐藏, 状态, ...).
The query is cut in the browser, and Sphinx's JavaScript cuts only at spaces and punctuation,
so 隐藏状态 stays one term that no page has, and the search finds nothing. This extension
gives the Chinese search language a JavaScript splitter (`cjk_search_splitter.js`, beside this
file) that cuts each run of Chinese characters into the longest words the index holds, left to
right, much as jieba cut the pages. The index is the same as before; only the query changes.
"""
from pathlib import Path

from sphinx.search.zh import SearchChinese

SPLITTER = (Path(__file__).with_name("cjk_search_splitter.js")).read_text(encoding="utf-8")


class SearchChineseWithSplitter(SearchChinese):
    js_splitter_code = SPLITTER


def setup(app):
    app.add_search_language(SearchChineseWithSplitter)  # replaces Sphinx's own "zh"
    return {"parallel_read_safe": True, "parallel_write_safe": True}
