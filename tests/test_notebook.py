"""companion.notebook: glue hands values to the book; diagrams built without pyplot still render."""
from companion.diagrams import truncated_bptt
from companion.notebook import FigurePNG, _is_unmanaged_figure


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
