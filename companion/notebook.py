"""Small helpers for the book's pages, usable anywhere (locally, in the book build, on Colab).

`glue` hands a value computed in a cell to the page's prose (`{glue:text}` in MyST), so that
every number the text quotes comes from the code that just ran. Outside a Jupyter Book build
(Colab, a plain notebook) `myst_nb` may be missing; then `glue` simply returns the value.
"""
from __future__ import annotations

from typing import Any

from .mode import RunSettings


def glue(name: str, value: Any, display: bool = False) -> Any:
    """Record `value` under `name` for the prose (`{glue:text}`name``); returns `value`."""
    try:
        from myst_nb import glue as myst_glue
    except ImportError:  # Colab or plain Jupyter: nothing to glue into
        return value
    myst_glue(name, value, display=display)
    return value


def run_banner(settings: RunSettings) -> str:
    """The line every chapter prints at its top: how this page was run."""
    text = "本页运行方式 (run mode)\n" + settings.describe().replace(" · ", "\n")  # short lines: no scrolling
    print(text)
    return text
