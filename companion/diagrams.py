"""Diagrams for the book, drawn with matplotlib: each function returns a new `Figure`.

They draw ideas rather than data: the unrolled RNN with its one set of shared weights,
truncated BPTT (state carried across chunks, gradient cut by `detach`), how sliding windows
and streams cut the same text, and how temperature and top-k reshape a next-word
distribution. Where a diagram shows a cut or a distribution, it is computed with the
package's own functions (`make_windows`, `batchify`, `next_token_distribution`), so the
picture cannot drift from the code.

Sized for a phone (the book is read at 390 px): few elements, large type, English labels
(the caption in the book is Chinese; Colab may lack a CJK font). Figures are built with
`matplotlib.figure.Figure`, not pyplot: nothing is registered globally, nothing to close.
Artists a test (or a reader) may look for carry a `gid`: "cell", "input", "shared-weights",
"chunk", "carried", "detach", "window", "stream-chunk".
"""
from __future__ import annotations

from typing import Sequence

import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from .data import StreamBatcher, _check_int, make_windows
from .generate import next_token_distribution

FONT = 12  # points; a 6-inch figure shown 390 px wide keeps this readable
BLUE, ORANGE, RED, GRAY = "#2171b5", "#fd8d3c", "#cb181d", "#969696"
CHUNK_COLORS = ["#c6dbef", "#fdd0a2", "#c7e9c0", "#dadaeb"]


def _box(ax: Axes, x: float, y: float, text: str, color: str, gid: str, w: float = 0.8, h: float = 0.6,
         size: int = FONT) -> FancyBboxPatch:
    """A rounded box centred on (x, y) with `text` in it."""
    box = FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.05", facecolor=color,
                         edgecolor="black", linewidth=1, gid=gid)
    ax.add_patch(box)
    ax.text(x, y, text, ha="center", va="center", fontsize=size)
    return box


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], color: str = "black",
           gid: str | None = None, **kwargs) -> FancyArrowPatch:
    kwargs.setdefault("linewidth", 1.5)
    arrow = FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, color=color, gid=gid, **kwargs)
    ax.add_patch(arrow)
    return arrow


def _blank_axes(fig: Figure) -> Axes:
    ax = fig.add_subplot()
    ax.set_axis_off()
    return ax


def _check_words(name: str, words: Sequence[str], low: int, high: int) -> list[str]:
    if isinstance(words, str) or not all(isinstance(w, str) for w in words):
        raise TypeError(f"{name} must be a sequence of str (one per token), got {words!r}")
    if not low <= len(words) <= high:
        raise ValueError(f"{name} must hold {low} to {high} tokens to fit a phone screen, got {len(words)}")
    return list(words)


def unrolled_rnn(words: Sequence[str] = ("I", "love", "you")) -> Figure:
    """The RNN unrolled over `words`: one cell per time step, ONE set of weights for all.

    Each step reads x_t (W_xh) and the previous state (W_hh); dashed lines tie every cell to
    the same weight box, to show that unrolling copies the computation, not the parameters.
    """
    words = _check_words("words", words, 1, 5)
    n, gap = len(words), 1.45  # gap: room between cells for the W_hh arrows
    mid = gap * n / 2  # centre of the row of cells
    fig = Figure(figsize=(6, 3.6), layout="constrained")
    ax = _blank_axes(fig)
    ax.set_xlim(-0.6, gap * n + 0.6)
    ax.set_ylim(-0.55, 3.05)
    _box(ax, 0, 1.2, "$h_0 = 0$", "white", "initial-state", w=0.9)
    shared = _box(ax, mid, 2.6, "one set of weights: $W_{xh}$, $W_{hh}$, $b$", "#fee391",
                  "shared-weights", w=min(5.0, gap * n), h=0.5)
    for t, word in enumerate(words, start=1):
        x = gap * t
        _box(ax, x, 1.2, f"$h_{t}$", "#c6dbef", "cell")
        _box(ax, x, 0, word, "#e5f5e0", "input", w=0.9)
        _arrow(ax, (x, 0.33), (x, 0.87), gid="input-arrow")
        ax.text(x + 0.08, 0.6, "$W_{xh}$", fontsize=FONT - 2, va="center")
        _arrow(ax, (x - gap + 0.47, 1.2), (x - 0.47, 1.2), color=BLUE, gid="recurrent-arrow")
        ax.text(x - gap / 2, 1.4, "$W_{hh}$", fontsize=FONT - 2, ha="center", color=BLUE)
        ax.plot([x, mid], [1.53, 2.33], linestyle=":", color=GRAY, linewidth=1.2, gid="tie")
    ax.text(mid, -0.5, "time step t →", ha="center", fontsize=FONT - 1)
    shared.set_zorder(3)
    fig.suptitle("Unrolled RNN: every step uses the same weights", fontsize=FONT + 1)
    return fig


def truncated_bptt(num_chunks: int = 3, seq_len: int = 4) -> Figure:
    """Truncated BPTT: the state flows through every step; the gradient stops at each chunk's start.

    Forward arrows (black) link all steps, across chunk borders too ("carried" state);
    backward arrows (red) run only inside a chunk; a red bar marks each `detach`.
    """
    _check_int("num_chunks", num_chunks, 1, 4)
    _check_int("seq_len", seq_len, 1, 6)
    n = num_chunks * seq_len
    fig = Figure(figsize=(6, 3.2), layout="constrained")
    ax = _blank_axes(fig)
    ax.set_xlim(-0.8, n - 0.2)
    ax.set_ylim(-1.5, 1.5)
    for c in range(num_chunks):
        left = c * seq_len - 0.45
        ax.add_patch(FancyBboxPatch((left, -1.0), seq_len - 0.1, 2.0, boxstyle="round,pad=0.02",
                                    facecolor=CHUNK_COLORS[c], edgecolor="none", alpha=0.7, gid="chunk"))
        ax.text(left + (seq_len - 0.1) / 2, 1.2, f"chunk {c + 1}", ha="center", fontsize=FONT)
    ax.plot(range(n), [0] * n, "o", markersize=15, markerfacecolor="white", markeredgecolor="black",
            gid="state", zorder=3)
    _arrow(ax, (-0.75, 0), (-0.25, 0))
    ax.text(-0.55, 0.3, "$h_0$", ha="center", fontsize=FONT - 1)
    for t in range(n - 1):
        border = (t + 1) % seq_len == 0
        _arrow(ax, (t + 0.2, 0), (t + 0.8, 0), color=BLUE if border else "black",
               gid="carried" if border else "forward", linewidth=2.5 if border else 1.5)
        if border:  # the state's values cross the border, its graph does not
            x = t + 0.5
            ax.plot([x, x], [-0.95, -0.25], color=RED, linewidth=3, gid="detach")
            ax.text(x, -1.3, "detach", ha="center", color=RED, fontsize=FONT - 1)
    for c in range(num_chunks):
        first, last = c * seq_len, (c + 1) * seq_len - 1
        if last > first:
            _arrow(ax, (last, -0.25), (first, -0.25), color=RED, gid="backward",
                   connectionstyle="arc3,rad=-0.35", linestyle="--")
    ax.text(n / 2 - 0.5, 0.6, "black → state (forward)   blue → state carried\nred ⇠ gradient (backward)",
            ha="center", va="center", fontsize=FONT - 2)
    fig.suptitle("Truncated BPTT: state carried, gradient cut", fontsize=FONT + 1)
    return fig


def windows_vs_streams(words: Sequence[str], seq_len: int = 3, batch_size: int = 2,
                       max_windows: int = 4) -> Figure:
    """How the article's sliding windows and the package's streams cut the same text.

    Top: the first `max_windows` windows of `make_windows` (each starts from a blank state,
    neighbours overlap by all but one token). Bottom: the input chunks `StreamBatcher` yields,
    `batch_size` streams read `seq_len` tokens at a time, the state carried from chunk to chunk;
    the last token of each stream is only ever a target (dashed).
    """
    words = _check_words("words", words, 4, 16)
    _check_int("seq_len", seq_len, 1, len(words) - 1)
    _check_int("batch_size", batch_size, 1, len(words) // 2)
    _check_int("max_windows", max_windows, 1, 6)
    ids = torch.arange(len(words))  # position i stands for words[i]: the cut is the package's
    windows, _ = make_windows(ids, seq_len)  # (num_windows, T)
    windows = windows[:max_windows]
    batcher = StreamBatcher(ids, batch_size, seq_len)
    streams = batcher.streams  # (B, N), cut by batchify
    chunks = [x for x, _ in batcher]  # input chunks (B, t): the package's cut
    n = len(words)
    rows = len(windows) + batch_size
    fig = Figure(figsize=(6, 1.3 + 0.5 * rows), layout="constrained")
    ax = _blank_axes(fig)
    ax.set_xlim(-1.9, n)
    ax.set_ylim(rows + 1.4, -0.6)
    for i, word in enumerate(words):
        ax.text(i + 0.5, 0, word, ha="center", va="center", fontsize=FONT - 3)
    ax.text(-0.2, 0, "text", ha="right", va="center", fontsize=FONT - 1, style="italic")
    ax.text(-1.9, 0.85, "sliding windows: each starts from h = 0", fontsize=FONT - 1, color=ORANGE,
            va="center", weight="bold")
    for r, window in enumerate(windows.tolist()):
        y = 1.5 + r * 0.8
        ax.add_patch(FancyBboxPatch((window[0] + 0.05, y - 0.3), len(window) - 0.1, 0.6,
                                    boxstyle="round,pad=0.02", facecolor="#fdd0a2", edgecolor=ORANGE,
                                    gid="window"))
        for i in window:
            ax.text(i + 0.5, y, words[i], ha="center", va="center", fontsize=FONT - 3)
        ax.text(-0.2, y, f"window {r}", ha="right", va="center", fontsize=FONT - 3)
    y0 = 1.5 + len(windows) * 0.8 + 0.2
    ax.text(-1.9, y0, "streams: the state is carried (→)", fontsize=FONT - 1, color=BLUE, va="center",
            weight="bold")
    for b, row in enumerate(streams.tolist()):
        y = y0 + 0.7 + b * 0.8
        for c, x in enumerate(chunks):
            chunk = x[b].tolist()
            ax.add_patch(FancyBboxPatch((chunk[0] + 0.05, y - 0.3), len(chunk) - 0.1, 0.6,
                                        boxstyle="round,pad=0.02", facecolor=CHUNK_COLORS[c % 4],
                                        edgecolor=BLUE, gid="stream-chunk"))
            for i in chunk:
                ax.text(i + 0.5, y, words[i], ha="center", va="center", fontsize=FONT - 3)
            if c:  # the state is handed over at the border between two chunks
                _arrow(ax, (chunk[0] - 0.4, y - 0.3), (chunk[0] + 0.4, y - 0.3), color=BLUE, gid="carried",
                       connectionstyle="arc3,rad=-0.6", linewidth=2)
        last = row[-1]  # never an input: the token after it, its target, does not exist
        ax.add_patch(FancyBboxPatch((last + 0.05, y - 0.3), 0.9, 0.6, boxstyle="round,pad=0.02", facecolor="white",
                                    edgecolor=BLUE, linestyle="--", gid="target-only"))
        ax.text(last + 0.5, y, words[last], ha="center", va="center", fontsize=FONT - 3, color="gray")
        ax.text(-0.2, y, f"stream {b}", ha="right", va="center", fontsize=FONT - 3)
    ax.text(n, y0 + 0.7 + batch_size * 0.8, "dashed: only a target", ha="right", va="center", fontsize=FONT - 3,
            color="gray")
    fig.suptitle(f"The same text: windows (T = {seq_len}) vs streams (B = {batch_size}, T = {seq_len})",
                 fontsize=FONT)
    return fig


def sampling_distributions(logits: torch.Tensor, words: Sequence[str],
                           temperatures: Sequence[float] = (0.5, 1.0, 2.0), top_k: int = 3) -> Figure:
    """One next-word distribution, reshaped: a panel per temperature, and one for top-k (T = 1).

    Probabilities come from `next_token_distribution`, the function `sample` uses.
    """
    if not isinstance(logits, torch.Tensor) or logits.dim() != 1:
        raise ValueError(f"logits must be a 1-D tensor (V,), got {logits!r}")
    words = _check_words("words", words, 2, 10)
    if len(words) != logits.numel():
        raise ValueError(f"words must name every logit: {len(words)} words for {logits.numel()} logits")
    if not 1 <= len(temperatures) <= 3:
        raise ValueError(f"temperatures must hold 1 to 3 values, got {list(temperatures)}")
    panels = [(f"temperature {t:g}", next_token_distribution(logits, temperature=t)) for t in temperatures]
    panels.append((f"top-k, k = {top_k} (T = 1)", next_token_distribution(logits, top_k=top_k)))
    fig = Figure(figsize=(6, 5.2), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True).ravel()
    order = torch.argsort(logits, descending=True).tolist()  # most likely word on top in every panel
    for ax, (title, probs) in zip(axes, panels):
        values = [float(probs[i]) for i in order]
        bars = ax.barh(range(len(order)), values, color=BLUE, gid="bar")
        for bar, value in zip(bars, values):
            ax.text(value + 0.02, bar.get_y() + bar.get_height() / 2, f"{value:.2f}", va="center",
                    fontsize=FONT - 3)
        ax.set_yticks(range(len(order)), [words[i] for i in order], fontsize=FONT - 2)
        ax.invert_yaxis()
        ax.set_xlim(0, 1.15)
        ax.set_title(title, fontsize=FONT - 1)
    for ax in axes[len(panels):]:
        ax.set_axis_off()
    for ax in axes[-2:]:
        ax.set_xlabel("probability", fontsize=FONT - 2)
    fig.suptitle("One next-word distribution, reshaped", fontsize=FONT + 1)
    return fig
