"""The training chapter's result plots: the equal-time race and the full run's record.

Needs matplotlib (the `book` extra; Colab has it). Each function draws on a new `Figure` of
its own, outside pyplot (no global state, nothing shown or saved), and returns it: a page can
`glue` it or display it. Labels are English (fonts for Chinese are not everywhere); the
book's captions say the rest in Chinese.
"""
from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

__all__ = ["plot_full_run", "plot_race"]


def _short_number(value: float) -> str:
    """200 -> '200', 50000 -> '50k', 2000000 -> '2M': tick labels that do not run into each other."""
    for threshold, unit, suffix in ((1e6, 1e6, "M"), (1e4, 1e3, "k")):  # 5000 stays '5000'
        if abs(value) >= threshold:
            return f"{value / unit:g}{suffix}"
    return f"{value:g}"


def _plain_log_ticks(axis) -> None:
    """Ticks at 1, 2, 5 x 10^k labelled as plain, short numbers (200, 50k, 1M; not 2 x 10^2)."""
    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: _short_number(value)))
    axis.set_minor_formatter(NullFormatter())


def plot_race(histories: dict[str, dict], labels: dict[str, str], budget_s: float,
              unigram_ppl: float | None = None) -> Figure:
    """Validation perplexity against training time (left) and against text read (right), one
    line per recipe; `histories` are `compare.run_recipe` results keyed like `labels`."""
    fig = Figure(figsize=(11, 4.2))
    ax_time, ax_text = fig.subplots(1, 2, sharey=True)
    for (name, history), marker in zip(histories.items(), ("o-", "s-", "^-", "d-")):
        ax_time.plot(history["elapsed"], history["valid_ppl"], marker, label=labels[name])
        ax_text.plot(history["text_read"], history["valid_ppl"], marker, label=labels[name])
    for ax in (ax_time, ax_text):
        if unigram_ppl is not None:
            ax.axhline(unigram_ppl, color="gray", linestyle="--", label="unigram: word frequencies, no context")
        ax.set_xscale("log")
        ax.set_yscale("log")
        _plain_log_ticks(ax.xaxis)
        _plain_log_ticks(ax.yaxis)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    ax_time.set_xlabel("training time (s, log scale; evaluation not counted)")
    ax_time.set_ylabel("validation perplexity (log scale)")
    ax_time.set_title(f"Same budget: {budget_s:.0f} s of training each")
    ax_text.set_xlabel("text read (tokens the training moved on, log scale)")
    ax_text.set_title("The same runs against the text read")
    fig.tight_layout()
    return fig


def plot_full_run(record: dict, references=()) -> Figure:
    """Train and validation perplexity by epoch, the test perplexity as a star, and published
    test perplexities (`report.Reference`s) as horizontal lines."""
    fig = Figure(figsize=(7.5, 4.5))
    ax = fig.subplots()
    epochs = record["epochs"]
    epoch_ids = [e["epoch"] for e in epochs]
    ax.plot(epoch_ids, [e["train_ppl"] for e in epochs], "o-", label="train")
    ax.plot(epoch_ids, [e["valid_ppl"] for e in epochs], "s-", label="validation")
    ax.plot([record["best_epoch"]], [record["test_ppl"]], "*", markersize=14, color="black",
            label=f"test (weights of epoch {record['best_epoch']}): {record['test_ppl']:.1f}")
    for ref, style in zip(references, ("--", ":", "-.")):
        ax.axhline(ref.ppl, linestyle=style, color="gray", label=f"{ref.name} (test, published): {ref.ppl:g}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("perplexity")
    config = record["model_config"]
    ax.set_title(f"Full PTB run, E = {config['embed_dim']}, H = {config['hidden_size']} ({record['device']})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
