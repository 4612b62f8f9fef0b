"""Small helpers for the book's pages, usable anywhere (locally, in the book build, on Colab).

`glue` hands a value computed in a cell to the page's prose (`{glue:text}` in MyST), so that
every number the text quotes comes from the code that just ran.

- In the book build (myst-nb importable) the value is recorded for the prose and, with
  `display=False`, not shown in the cell: a glued figure appears once, where the page's
  `{glue:figure}` puts it.
- In a notebook a reader opens (Colab or plain Jupyter without myst-nb, or any kernel started
  by a Jupyter server, such as `make lab`) there is no prose to paste into: the rendered
  notebooks point at the cell output instead, so `glue` shows what it glues there. A figure is
  displayed once (the page closes it right after, so it is not drawn twice); any other value is
  shown as one line, `name = value`.

`glue` returns None, so a cell that ends with a `glue(...)` call echoes nothing.
"""
from __future__ import annotations

import io
import os
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


def _is_unmanaged_figure(value: Any) -> bool:
    """A matplotlib Figure that pyplot does not manage (so no display hook may exist)."""
    return _is_figure(value) and value.canvas.manager is None


def _in_reader_notebook() -> bool:
    """True in a kernel a reader works in: started by a Jupyter server (JupyterLab, Notebook),
    which names the session; the book build's kernels (nbclient) are not."""
    return bool(os.environ.get("JPY_SESSION_NAME"))


def _is_figure(value: Any) -> bool:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return False
    return isinstance(value, Figure)


def format_glued(value: Any) -> str:
    """The one-line text a reader's notebook shows for a glued value (floats to 4 digits)."""
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # 0-d tensor or array
        value = value.item()
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def show_glued(name: str, value: Any, display: bool = False) -> None:
    """Show a glued value in a reader's notebook: a figure as itself, anything else as `name = value`."""
    from IPython.display import display as ipy_display

    if _is_figure(value):
        import matplotlib.pyplot as plt

        ipy_display(FigurePNG(value) if _is_unmanaged_figure(value) else value)
        plt.close(value)  # shown once: the inline backend would draw an open figure again
    elif display:
        ipy_display(value)
    else:
        ipy_display({"text/plain": f"{name} = {format_glued(value)}"}, raw=True)


def glue(name: str, value: Any, display: bool = False) -> None:
    """Record `value` under `name` for the prose (`{glue:text}`name``); in a reader's notebook, show it."""
    try:
        from myst_nb import glue as myst_glue
    except ImportError:  # Colab or plain Jupyter: no prose to glue into, the reader sees the output
        show_glued(name, value, display)
        return None
    myst_glue(name, FigurePNG(value) if _is_unmanaged_figure(value) else value, display=display)
    if _in_reader_notebook() and not display:  # display=True: myst-nb has shown it already
        show_glued(name, value, display)
    return None


def glue_all(values: dict[str, Any] | None = None, /, **more: Any) -> None:
    """`glue` each name and value, in order: `glue_all(n_train=len(train), n_valid=len(valid))`."""
    for name, value in {**(values or {}), **more}.items():
        glue(name, value)


def run_banner(settings: RunSettings) -> str:
    """The line every chapter prints at its top: how this page was run."""
    text = "本页运行方式 (run mode)\n" + settings.describe().replace(" · ", "\n")  # short lines: no scrolling
    print(text)
    return text
