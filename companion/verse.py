"""Writing poems with a character-level language model: free, in a set form, or as an acrostic.

Free sampling lets the model decide everything, line lengths and punctuation included, which
is what `form_stats` measures: only a model that remembers how many characters it has written
since the last mark can end its lines after exactly 5 or 7. Constrained sampling enforces the
form instead: at a character position only Han characters may be drawn, after `form` of them
the line's mark (，or 。) is written for the model, and for an acrostic (藏头诗) the first
character of line i is the i-th character asked for. The model still chooses every other
character, reading its own notes (the state) all along.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import nn

from .generate import _check_temperature, next_token_distribution
from .poetry import EVEN_MARK, FORMS, LINE_MARKS, ODD_MARK, is_han, shipped_quatrains
from .runtime import model_device
from .vocab import EOS, Vocabulary

ACROSTIC_LENGTHS = (4, 8)  # a 绝句 or a 律诗


@dataclass
class FormStats:
    poems: int  # poems measured
    lines: int  # lines in them
    right_length: float  # fraction of lines with 5 or 7 characters before their mark
    right_marks: float  # fraction of lines ending in the expected mark: ，after odd lines, 。after even
    consistent: float  # fraction of poems (2+ lines) whose lines all have one length, 5 or 7
    lines_per_poem: float  # mean number of lines per poem (a 绝句 has 4, a 律诗 8)
    four_lines: float  # fraction of poems with exactly 4 lines, as many as a 绝句


def poem_lines(text: str) -> list[str]:
    """Cut a generated poem into lines, each with its mark (a tail without a mark is a line too)."""
    lines, current = [], ""
    for char in text.strip():
        current += char
        if char in LINE_MARKS:
            lines.append(current)
            current = ""
    return lines + ([current] if current else [])


def form_stats(poems: list[str]) -> FormStats:
    """How well free-running poems keep the form (see `FormStats`)."""
    if not poems:
        raise ValueError("poems must hold at least one poem")
    all_lines = [poem_lines(p) for p in poems]
    lines = [line for poem in all_lines for line in poem]
    if not lines:
        raise ValueError("the poems are all empty")

    def length(line: str) -> int:
        return len(line) - 1 if line[-1] in LINE_MARKS else -1  # an unfinished line has no length

    right_length = sum(length(line) in FORMS for line in lines) / len(lines)
    expected = [(ODD_MARK if i % 2 == 0 else EVEN_MARK) for poem in all_lines for i in range(len(poem))]
    right_marks = sum(line[-1] == mark for line, mark in zip(lines, expected)) / len(lines)
    multi = [poem for poem in all_lines if len(poem) >= 2]
    consistent = sum(len({length(l) for l in poem}) == 1 and length(poem[0]) in FORMS for poem in multi)
    return FormStats(poems=len(poems), lines=len(lines), right_length=right_length, right_marks=right_marks,
                     consistent=consistent / max(1, len(multi)), lines_per_poem=len(lines) / len(poems),
                     four_lines=sum(len(poem) == 4 for poem in all_lines) / len(poems))


class _Writer:
    """Feeds one character at a time and keeps the state: the model reads what it wrote."""

    def __init__(self, model: nn.Module, vocab: Vocabulary, device, temperature, top_k, seed):
        self.model, self.vocab, self.device = model, vocab, device
        self.temperature, self.top_k = temperature, top_k
        self.generator = torch.Generator()
        self.generator.manual_seed(seed) if seed is not None else self.generator.seed()
        self.state, self.logits = None, None
        han = [i for i, tok in enumerate(vocab.id_to_token) if len(tok) == 1 and is_han(tok)]
        self.han_only = torch.full((len(vocab),), float("-inf"))
        self.han_only[han] = 0.0  # added to the logits: every other token becomes impossible
        self.feed(EOS)  # a poem starts where the previous one ended

    def feed(self, token: str) -> None:
        x = torch.tensor([[self.vocab.token_to_id[token]]], device=self.device)
        logits, self.state = self.model(x, self.state)  # (1, 1, V)
        self.logits = logits[0, -1].float().cpu()

    def draw(self, han_only: bool = False) -> str:
        logits = self.logits[: len(self.vocab)] + (self.han_only if han_only else 0.0)
        probs = next_token_distribution(logits, self.temperature, self.top_k)
        token = self.vocab.id_to_token[int(torch.multinomial(probs, 1, generator=self.generator))]
        self.feed(token)
        return token


@torch.no_grad()
def sample_poem(model: nn.Module, vocab: Vocabulary, form: int | None = None, lines: int = 4,
                acrostic: str | None = None, temperature: float = 0.8, top_k: int | None = None,
                seed: int | None = None, device: str | torch.device | None = None,
                max_chars: int = 120) -> str:
    """One poem. Without `form` (and `acrostic`) the model writes freely, from a Han character
    on, until `<eos>` or `max_chars`; with `form` (5 or 7) it writes `lines` lines of that
    length, marks enforced; with `acrostic` (4 or 8 characters) line i starts with its i-th
    character.
    """
    _check_temperature(temperature)
    form, lines = _check_form(vocab, form, lines, acrostic)
    was_training = model.training
    model.eval()  # no dropout while writing
    try:
        writer = _Writer(model, vocab, model_device(model, device), temperature, top_k, seed)
        if form is None:
            return _free(writer, max_chars)
        text = ""
        for i in range(lines):
            for j in range(form):
                if j == 0 and acrostic:
                    writer.feed(acrostic[i])
                    text += acrostic[i]
                else:
                    text += writer.draw(han_only=True)
            mark = ODD_MARK if i % 2 == 0 else EVEN_MARK
            writer.feed(mark)
            text += mark
        return text
    finally:
        model.train(was_training)


def _free(writer: _Writer, max_chars: int) -> str:
    text = ""
    while len(text) < max_chars:
        # a poem starts with a Han character: an <eos> (or a mark) drawn first would be an empty
        # poem, which a model that has never seen the zero state before a poem may well draw
        token = writer.draw(han_only=not text)
        if token == EOS:
            break
        text += token
    return text


def _check_form(vocab: Vocabulary, form, lines, acrostic) -> tuple[int | None, int]:
    """Validate the request; returns (form, number of lines)."""
    if form is not None and form not in FORMS:
        raise ValueError(f"form must be 5 (五言) or 7 (七言), got {form!r}")
    for mark in (EOS, ODD_MARK, EVEN_MARK):
        if mark not in vocab:
            raise ValueError(f"the vocabulary has no {mark!r}: this is not a poetry model's vocabulary")
    if acrostic is None:
        if not isinstance(lines, int) or isinstance(lines, bool) or not 1 <= lines <= 32:
            raise ValueError(f"lines must be an integer in [1, 32], got {lines!r}")
        return form, lines
    if not isinstance(acrostic, str):
        raise TypeError(f"acrostic must be a str of characters, got {type(acrostic).__name__}")
    if form is None:
        raise ValueError("an acrostic needs a form: pass form=5 (五言) or form=7 (七言)")
    if len(acrostic) not in ACROSTIC_LENGTHS:
        raise ValueError(f"acrostic must have 4 characters (a 绝句) or 8 (a 律诗), got {len(acrostic)}: {acrostic!r}")
    problem = _unwritable_heads(vocab, acrostic)
    if problem:
        raise ValueError(f"acrostic {acrostic!r} cannot be written: {problem}")
    return form, len(acrostic)


def _unwritable_heads(vocab: Vocabulary, acrostic: str) -> str:
    """Why some characters of `acrostic` cannot head a line ('' if all can), and what to do."""
    chars = "".join(dict.fromkeys(acrostic))  # each character once
    not_han = "".join(c for c in chars if not is_han(c))
    unknown = [c for c in chars if is_han(c) and c not in vocab]
    simplified = "".join(c for c in unknown if _looks_simplified(c))
    rare = "".join(c for c in unknown if c not in simplified)
    named = lambda chars: f"character{'s' if len(chars) > 1 else ''} {chars!r}"  # noqa: E731
    problems = []
    if not_han:
        problems.append(f"{named(not_han)}: not Han; every line of a poem starts with a Han character")
    if simplified:
        problems.append(f"{named(simplified)}: looks simplified and never occurs in the Tang quatrains, which "
                        "are in traditional script: type the traditional form (e.g. 風, not 风)")
    if rare:
        them = "them" if len(rare) > 1 else "it"
        problems.append(f"{named(rare)}: not in the model's vocabulary (its training text had {them} fewer than "
                        "min_freq times, or never): choose another character, or build the vocabulary with a "
                        "lower min_freq (min_freq=1 keeps every character of the training text) and train again")
    return "; ".join(problems)


def _looks_simplified(char: str) -> bool:
    """True for a character of the simplified charset (GB 2312) that the traditional one (Big5)
    lacks, e.g. 风 (風), and that the Tang quatrains never use: a few such forms (黄, 来) do occur
    in them, and a model may lack those only because they are rare, not because of the script."""
    def encodes(codec: str) -> bool:
        try:
            char.encode(codec)
        except UnicodeEncodeError:
            return False
        return True

    return encodes("gb2312") and not encodes("big5") and char not in _quatrain_characters()


@lru_cache(maxsize=1)
def _quatrain_characters() -> frozenset[str]:
    """Every character of the shipped Tang quatrains (read once, and only for an error message)."""
    return frozenset("".join(poem.text for poem in shipped_quatrains().poems))


SHOWCASE_ACROSTICS = ("春夏秋冬", "風花雪月", "山高水長")


def showcase(model: nn.Module, vocab: Vocabulary, seed: int = 0, temperature: float = 0.8,
             free_poems: int = 200) -> dict:
    """Poems to keep in a run's record: free ones, one of each form, acrostics (those whose
    characters the vocabulary has), and the form statistics of `free_poems` free poems."""
    free = [sample_poem(model, vocab, temperature=temperature, seed=seed + i) for i in range(free_poems)]
    acrostics = {heads: sample_poem(model, vocab, form=form, acrostic=heads, temperature=temperature, seed=seed)
                 for heads, form in zip(SHOWCASE_ACROSTICS, (5, 7, 5)) if all(c in vocab for c in heads)}
    return {
        "samples": {
            "free": free[:5],
            "form5": sample_poem(model, vocab, form=5, temperature=temperature, seed=seed),
            "form7": sample_poem(model, vocab, form=7, temperature=temperature, seed=seed),
            "acrostics": acrostics,
            "temperature": temperature,
            "seed": seed,
        },
        "free_form_stats": vars(form_stats(free)),
    }

def format_poem(text: str) -> str:
    """A poem for reading: a new row after every 。 (two lines of a couplet per row)."""
    return "".join(line + ("\n" if line.endswith(EVEN_MARK) else "") for line in poem_lines(text)).strip()


def record_facts(record: dict | None) -> dict[str, str]:
    """What the poetry chapter says about a full run's record (`published_record('tang')`), as
    strings for `glue`: `tang_record` is one sentence either way (without a record: that none has
    been made yet and how to make one); the other keys are there only with a record."""
    if record is None:
        return {"tang_record": "这一版课程包里还没有完整训练的记录（companion/records/tang_full_run.json），"
                               "所以这里还没有完整训练的数字和诗可看；用 COURSE_FULL_RUN=1 运行本页，就会训练并写出这份记录"}
    seconds = record["wall_seconds"]
    wall = (f"{seconds / 3600:.1f} 小时" if seconds >= 3600 else f"{seconds / 60:.0f} 分钟" if seconds >= 60
            else f"{seconds:.0f} 秒")
    model = record["model_config"]
    facts = {
        "tang_full_ppl": f"{record['test_ppl']:.1f}",
        "tang_full_bits": f"{math.log2(record['test_ppl']):.2f}",
        "tang_full_wall": wall,
        "tang_full_device": record["device"],
        "tang_full_date": record["created"][:10],
        "tang_full_epochs": str(len(record["epochs"])),
        "tang_full_model": f"E = {model['embed_dim']}，H = {model['hidden_size']}",
    }
    facts["tang_record"] = (
        f"这份记录来自 {facts['tang_full_date']} 的一次完整训练（数据：{record['corpus']}），模型 {facts['tang_full_model']}，"
        f"训练 {facts['tang_full_epochs']} 轮，在 {facts['tang_full_device']} 上共花了 {wall}；"
        f"测试集上每个字的困惑度是 {facts['tang_full_ppl']}，相当于每个字 {facts['tang_full_bits']} 比特")
    return facts


def showcase_text(showcase_record: dict) -> str:
    """The poems a run's record keeps (see `showcase`), laid out for reading."""
    samples = showcase_record["samples"]
    parts = [f"free (temperature {samples['temperature']}):"]
    parts += [format_poem(poem) or "(an empty poem: <eos> at once)" for poem in samples["free"]]
    parts += ["五言 (form=5):", format_poem(samples["form5"]), "七言 (form=7):", format_poem(samples["form7"])]
    for heads, poem in samples["acrostics"].items():
        parts += [f"藏头诗 {heads}:", format_poem(poem)]
    return "\n\n".join(parts)
