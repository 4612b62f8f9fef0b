"""companion.notebook.glue: recorded for the book build, shown in a reader's notebook, never echoed."""
from __future__ import annotations

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from companion import notebook  # noqa: E402
from companion.diagrams import truncated_bptt  # noqa: E402
from companion.notebook import FigurePNG, _is_unmanaged_figure  # noqa: E402


@pytest.fixture
def shown(monkeypatch):
    """What IPython's display receives: [(object, raw)]."""
    calls = []
    import IPython.display

    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False, **kw: calls.append((obj, raw)))
    return calls


@pytest.fixture
def without_myst_nb(monkeypatch):
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # `import myst_nb` raises ImportError, as on Colab


def test_on_colab_a_figure_is_shown_once_and_closed(without_myst_nb, shown):
    fig, ax = plt.subplots()
    assert notebook.glue("fig_x", fig, display=False) is None
    assert shown == [(fig, False)]
    assert not plt.fignum_exists(fig.number), "left open, the inline backend would draw it a second time"


def test_on_colab_a_value_is_shown_as_one_line(without_myst_nb, shown):
    notebook.glue("ppl", 123.456789)
    notebook.glue("steps", 8700)
    notebook.glue("tiny", torch.tensor(6.2e-17))
    assert [obj["text/plain"] for obj, raw in shown] == ["ppl = 123.5", "steps = 8700", "tiny = 6.2e-17"]
    assert all(raw for _, raw in shown)


def test_glue_all_glues_each_value_in_order(without_myst_nb, shown):
    assert notebook.glue_all({"a": 1}, b=2.5, c="x") is None
    assert [obj["text/plain"] for obj, _ in shown] == ["a = 1", "b = 2.5", "c = x"]


def test_in_the_book_build_glue_records_and_shows_nothing_itself(monkeypatch, shown):
    recorded = []
    fake = type(sys)("myst_nb")
    fake.glue = lambda name, value, display: recorded.append((name, value, display))
    monkeypatch.setitem(sys.modules, "myst_nb", fake)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert notebook.glue("ppl", 1.5) is None
    assert recorded == [("ppl", 1.5, False)] and shown == []


def test_in_jupyterlab_glue_records_and_shows(monkeypatch, shown):
    fake = type(sys)("myst_nb")
    fake.glue = lambda name, value, display: None
    monkeypatch.setitem(sys.modules, "myst_nb", fake)
    monkeypatch.setenv("JPY_SESSION_NAME", "book/memory_relay.md")  # set by the Jupyter server
    notebook.glue("ppl", 1.5)
    assert [obj["text/plain"] for obj, _ in shown] == ["ppl = 1.5"]


# -- figures built without pyplot (companion.diagrams) --


def test_a_figure_built_without_pyplot_renders_as_png():
    fig = truncated_bptt(2, 3)
    assert _is_unmanaged_figure(fig)
    png = FigurePNG(fig)._repr_png_()
    assert png.startswith(b"\x89PNG") and len(png) > 1000


def test_pyplot_figures_are_left_to_the_inline_backend():
    import matplotlib.pyplot as plt

    fig = plt.figure()
    try:
        assert not _is_unmanaged_figure(fig)
        assert not _is_unmanaged_figure(3.5)
    finally:
        plt.close(fig)
