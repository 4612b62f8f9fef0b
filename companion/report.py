"""A full-run record (see `results`), worded for the book's prose: facts, method, verdict.

Every phrase is built from the record itself, so the prose cannot drift from the run it
describes: a record with a cosine schedule is never said to use early stopping, and a test
perplexity within `TIE` of a published one is called a tie, not a win. The phrases are in
Chinese because the book is; the code and its names are not.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BENCHMARKED", "Benchmarked", "PTB_PUBLISHED", "Reference", "TIE", "compare_phrase", "compare_ppl",
           "benchmarked_facts", "gap_note", "method_text", "race_facts", "reading_facts", "record_facts",
           "regularization_text", "unigram_verdict", "verdict"]

# Two perplexities closer than this (relative) are a tie: one seed of a run moves the test
# perplexity by about a percent, so a smaller gap says nothing about which model is better.
TIE = 0.02
# A validation perplexity this many times the training one means the model is fitting the
# training text more than the language (both measured on the same, best epoch).
OVERFIT_RATIO = 1.2


@dataclass(frozen=True)
class Reference:
    """A published test perplexity: a cited constant, not something this package measured."""

    name: str  # English, for plot labels
    name_zh: str  # for the prose
    ppl: float
    cite: str  # the key in book/references.bib


# Mikolov's thesis (2012), PTB test perplexities: a Kneser-Ney smoothed 5-gram model and his
# RNN language model (a larger RNN trained with BPTT).
PTB_PUBLISHED = (
    Reference("Kneser-Ney 5-gram", "Kneser–Ney 平滑的 5 元语法模型", 141.2, "mikolov2012statistical"),
    Reference("RNNLM (Mikolov)", "Mikolov 的 RNN 语言模型", 124.7, "mikolov2012statistical"),
)


@dataclass(frozen=True)
class Benchmarked:
    """Numbers measured by the repository's benchmarks and trials, quoted in the book as such:
    they come from benchmarks/README.md (a test checks they still match it), not from a run of
    the book."""

    fused_speedup: float  # training tokens/s, fused linear_cross_entropy over plain F.cross_entropy
    untied_epochs: int  # the first full PTB run: Adam, no dropout, untied weights, no cosine schedule
    untied_valid_ppl: float  # ... its best validation perplexity
    untied_test_ppl: float  # ... and its test perplexity
    untied_lr: float  # ... its Adam learning rate (plateau decay)
    untied_clip: float  # ... and its gradient-clipping threshold


BENCHMARKED = Benchmarked(fused_speedup=1.396, untied_epochs=19, untied_valid_ppl=172.1, untied_test_ppl=159.2,
                          untied_lr=0.002, untied_clip=1.0)


def benchmarked_facts(bench: Benchmarked = BENCHMARKED) -> dict[str, float]:
    """The benchmark figures the training chapter quotes, keyed for `glue` (`bench_*`)."""
    return {"bench_fused_speedup": bench.fused_speedup, "bench_untied_epochs": bench.untied_epochs,
            "bench_untied_valid": bench.untied_valid_ppl, "bench_untied_test": bench.untied_test_ppl,
            "bench_untied_lr": bench.untied_lr, "bench_untied_clip": bench.untied_clip}


def reading_facts(histories: dict[str, dict], n_train: int) -> dict[str, float]:
    """How much text each recipe of the race read (`compare.run_recipe` histories): passes through
    the `n_train`-token training text, and the stream recipe's text per second over the window's."""
    per_s = {name: h["text_read"][-1] / h["elapsed"][-1] for name, h in histories.items()}
    return {"stream_passes": histories["stream"]["text_read"][-1] / n_train,
            "window_passes": histories["window"]["text_read"][-1] / n_train,
            "text_speedup": per_s["stream"] / per_s["window"]}


def compare_ppl(value: float, reference: float, tie: float = TIE) -> str:
    """'持平（相差 0.3%）', '低 12%' or '高 3%': `value` against `reference`, relative to `reference`."""
    if not (value > 0 and reference > 0):
        raise ValueError(f"perplexities must be positive, got {value!r} and {reference!r}")
    change = value / reference - 1
    if abs(change) <= tie:
        return f"持平（只差 {abs(change):.2%}）"
    return f"{'低' if change < 0 else '高'} {abs(change):.0%}"


def compare_phrase(subject: str, value: float, other: str, reference: float, tie: float = TIE) -> str:
    """'A 比 B 低 12%', 'A 比 B 高 3%' or 'A 和 B 持平（只差 0.26%）' (`subject` may be empty)."""
    word = compare_ppl(value, reference, tie)
    return _spaced(subject, "和" if word.startswith("持平") else "比", other, word)


def race_facts(scores: dict[str, dict[str, float]], unigram_ppl: float) -> dict[str, float | str]:
    """The training chapter's race, for its table and verdict: `scores[recipe][protocol]` is a
    perplexity, recipe "window" or "stream", protocol "windows" or "streams" (see
    `compare.score_both_ways`). Returns every score as `{recipe}_{protocol}`, one verdict per
    protocol (stream model against window model), `notes_gain` (what carrying the notes changes
    for the stream model) and `unigram_verdict` (which models beat word frequencies alone)."""
    facts: dict[str, float | str] = {f"{recipe}_{protocol}": ppl for recipe, score in scores.items()
                                     for protocol, ppl in score.items()}
    for protocol in ("windows", "streams"):
        facts[f"{protocol}_verdict"] = compare_phrase("流式模型", scores["stream"][protocol], "滑动窗口模型",
                                                      scores["window"][protocol])
    facts["notes_gain"] = compare_ppl(scores["stream"]["streams"], scores["stream"]["windows"])
    facts["window_notes_gain"] = compare_ppl(scores["window"]["streams"], scores["window"]["windows"])
    facts["unigram_verdict"] = unigram_verdict(scores, unigram_ppl)
    return facts


_RECIPE_ZH = {"window": "滑动窗口模型", "stream": "流式模型"}
_PROTOCOL_ZH = {"windows": "从零状态的窗口", "streams": "传递笔记的流"}
_OWN_PROTOCOL = {"window": "windows", "stream": "streams"}  # how each recipe is scored while it trains


def unigram_verdict(scores: dict[str, dict[str, float]], unigram_ppl: float) -> str:
    """Which models beat word frequencies alone, each scored the way it was trained, and any
    protocol under which a model that beats it on its own protocol does not."""
    own = {recipe: scores[recipe][_OWN_PROTOCOL[recipe]] < unigram_ppl for recipe in ("window", "stream")}
    beat = [recipe for recipe, ok in own.items() if ok]
    if not beat:
        text = "两个模型都还没追上只看词频的一元语法（训练的时间太短，这里只有两者的相对高低有意义）"
    elif len(beat) == 1:
        text = f"只有{_RECIPE_ZH[beat[0]]}越过了只看词频的一元语法"
    else:
        text = "两个模型都越过了只看词频的一元语法"
    text = "按各自训练时的量法，" + text
    for recipe in beat:
        for protocol, ppl in scores[recipe].items():
            if ppl >= unigram_ppl:
                text += f"；不过{_RECIPE_ZH[recipe]}换用{_PROTOCOL_ZH[protocol]}来量（{ppl:.0f}），还不如一元语法"
    return text


def verdict(value: float, references=PTB_PUBLISHED, tie: float = TIE) -> str:
    """One clause per reference: '比 A（141.2）低 12%，和 B（124.7）持平（只差 0.26%）'."""
    return "，".join(compare_phrase("", value, f"{ref.name_zh}（{ref.ppl:g}）", ref.ppl, tie) for ref in references)


def _spaced(*parts: str) -> str:
    """Join Chinese and Latin pieces the way the book writes them: a space where a Chinese
    character meets a Latin letter or digit, none between two Chinese characters."""
    text = ""
    for part in filter(None, parts):
        if text and (_cjk(text[-1]) and part[0].isascii() and part[0].isalnum()
                     or _cjk(part[0]) and text[-1].isascii() and text[-1].isalnum()):
            text += " "
        text += part
    return text


def _cjk(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff"


def regularization_text(model_config: dict) -> str:
    """What the run did against overfitting, from its model settings."""
    parts = []
    if model_config["dropout"] > 0:
        parts.append(f"对词嵌入和 RNN 的输出做了丢弃（p = {model_config['dropout']:g}）")
    if model_config["tie_weights"]:
        parts.append("输入端的词嵌入矩阵和输出层共用一个矩阵（权重绑定）")
    return "，".join(parts) if parts else "没有丢弃，也没有权重绑定"


def method_text(train_config: dict) -> str:
    """How the run trained, from its training settings: only what the record says it did."""
    parts = ["流式批量、笔记跨片段传递" if train_config["recipe"] == "stream" else "滑动窗口、每个窗口从零状态开始",
             {"adam": "Adam", "sgd": "SGD"}.get(train_config["optimizer"], train_config["optimizer"])]
    if train_config.get("clip") is not None:
        parts.append(f"梯度裁剪（总范数不超过 {train_config['clip']:g}）")
    if train_config.get("lr_schedule") == "cosine":
        parts.append(f"余弦学习率（{train_config['epochs']} 轮里按轮从 {train_config['lr']:g} 降向 {train_config['lr_min']:g}）")
    elif train_config.get("lr_decay", 1.0) < 1.0:
        parts.append(f"验证损失不再下降时学习率乘以 {train_config['lr_decay']:g}")
    if train_config.get("patience") is not None:
        parts.append(f"连续 {train_config['patience']} 轮没有进步就早停")
    else:
        parts.append("不早停")
    if train_config.get("restore_best"):
        parts.append("最后换回验证集上最好的那一版权重")
    return "、".join(parts)


def gap_note(record: dict) -> str:
    """Sentences on the best epoch's train vs validation perplexity, what the gap means, and why the
    training perplexity starts above the validation one when dropout is on."""
    best = record["epochs"][record["best_epoch"] - 1]
    train_ppl, valid_ppl, last = best["train_ppl"], best["valid_ppl"], best["epoch"] == len(record["epochs"])
    pair = f"这一轮的训练困惑度是 {train_ppl:.1f}，验证困惑度是 {valid_ppl:.1f}"
    if valid_ppl > OVERFIT_RATIO * train_ppl and not last:
        note = pair + "：模型开始死记训练集了（过拟合），再往后练，验证困惑度就不再下降"
    elif valid_ppl > OVERFIT_RATIO * train_ppl:
        note = pair + "，模型开始偏向训练集；不过验证困惑度到最后一轮还在下降，最好的权重就是最后一轮的"
    elif train_ppl > valid_ppl and record["model_config"]["dropout"] > 0:
        return pair + "：训练困惑度反而更高，因为它是边训练边记的，那时丢弃开着；评估时丢弃关掉，整个模型一起上场"
    else:
        note = pair + "，两者相差不大"
    above = [e["epoch"] for e in record["epochs"] if e["train_ppl"] > e["valid_ppl"]]
    if record["model_config"]["dropout"] > 0 and above and above == list(range(1, len(above) + 1)):
        first = "第 1 轮" if len(above) == 1 else f"前 {len(above)} 轮"
        note += (f"。图中{first}的训练困惑度反而高于验证困惑度：它是边训练边记的平均，权重还在一路变好，"
                 "丢弃也开着；验证在每轮末尾进行，丢弃关掉")
    return note


def _wall(seconds: float) -> str:
    return f"{seconds / 3600:.1f} 小时" if seconds >= 3600 else f"{seconds / 60:.0f} 分钟"


def record_facts(record: dict, references=PTB_PUBLISHED, tie: float = TIE) -> dict[str, str]:
    """Every fact the book's prose quotes about a full run, as display strings keyed for `glue`."""
    model_config, train_config = record["model_config"], record["train_config"]
    commit = record["commit"]
    settings = ("recipe", "batch_size", "seq_len", "optimizer", "lr", "lr_schedule", "lr_min", "lr_decay",
                "patience", "clip", "restore_best")
    return {
        "full_test_ppl": f"{record['test_ppl']:.1f}",
        "full_valid_ppl": f"{record['best_valid_ppl']:.1f}",
        "full_best_epoch": str(record["best_epoch"]),
        "full_epochs": str(len(record["epochs"])),
        "full_wall": _wall(record["wall_seconds"]),
        "full_device": record["device"],
        "full_date": record["created"][:10],
        "full_torch": record["torch"],
        "full_commit": commit[:12] + ("+dirty" if commit.endswith("+dirty") else ""),
        "full_corpus": record["corpus"],
        "full_model": ", ".join(f"{key}={model_config[key]}" for key in
                                ("embed_dim", "hidden_size", "num_layers", "dropout", "tie_weights")),
        "full_train": ", ".join(f"{key}={train_config[key]}" for key in settings if key in train_config),
        "full_method": method_text(train_config),
        "full_regularization": regularization_text(model_config),
        "full_gap_note": gap_note(record),
        "full_verdict": verdict(record["test_ppl"], references, tie),
    }
