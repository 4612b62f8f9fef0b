"""Small helpers for the book's pages, usable anywhere (locally, in the book build, on Colab).

`glue` hands a value computed in a cell to the page's prose (`{glue:text}` in MyST), so that
every number the text quotes comes from the code that just ran. Outside a Jupyter Book build
(Colab, a plain notebook) `myst_nb` may be missing; then `glue` simply returns the value.
"""
from __future__ import annotations

import io
from typing import Any

from .mode import RunSettings


class FigurePNG:
    """A matplotlib Figure that renders as PNG in any kernel.

    A Figure built without pyplot (as `companion.diagrams` builds them) has no PNG display
    hook until pyplot's inline backend happens to load; `_repr_png_` does not depend on it.
    """

    def __init__(self, figure: Any):
        self.figure = figure

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()


def glue(name: str, value: Any, display: bool = False) -> Any:
    """Record `value` under `name` for the prose (`{glue:text}`name``); returns `value`."""
    try:
        from myst_nb import glue as myst_glue
    except ImportError:  # Colab or plain Jupyter: nothing to glue into
        return value
    if _is_unmanaged_figure(value):
        myst_glue(name, FigurePNG(value), display=display)
    else:
        myst_glue(name, value, display=display)
    return value


def _is_unmanaged_figure(value: Any) -> bool:
    """A matplotlib Figure that pyplot does not manage (so no display hook may exist)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return False
    return isinstance(value, Figure) and value.canvas.manager is None


def run_banner(settings: RunSettings) -> str:
    """The line every chapter prints at its top: how this page was run."""
    text = "本页运行方式 (run mode)\n" + settings.describe().replace(" · ", "\n")  # short lines: no scrolling
    print(text)
    return text
