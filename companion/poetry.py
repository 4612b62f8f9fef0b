"""Tang poems (全唐诗) as a character-level corpus: poems, their lines and their forms.

The compilation is the `chinese-poetry` repository (MIT licence; the poems are in the public
domain), pinned to one commit, in **traditional** script, as JSON: each poem is
`{"author", "title", "paragraphs": ["秦川雄帝宅，函谷壯皇居。", ...]}`. Here a poem becomes

    Poem(title, author, lines=("秦川雄帝宅，", "函谷壯皇居。", ...))

one line per clause, each ending in its punctuation mark, and a training text of one poem per
text line (the character tokenizer ends each with `<eos>`):

    秦川雄帝宅，函谷壯皇居。綺殿千尋起，離宮百雉餘。...

A poem is 五言 (form 5) or 七言 (form 7) when every line has 5 or 7 characters before its mark;
a 绝句 (quatrain) has 4 lines, a 律诗 8. Poems with editorial notes or missing characters (□)
are cleaned or left out, and `PoemSet.dropped` says how many.
"""
from __future__ import annotations

import gzip
import json
import random
import re
from dataclasses import dataclass
from importlib import resources
from typing import Iterable, Sequence

LINE_MARKS = "，。？！；"  # a line (clause) ends at one of these
ODD_MARK, EVEN_MARK = "，", "。"  # the usual pattern: "，" after lines 1, 3, ... and "。" after 2, 4, ...
FORMS = (5, 7)
SHIPPED = "tang_quatrains.jsonl.gz"  # the quatrains of 全唐诗, shipped in companion/records
_NOTE = re.compile(r"[（(][^）)]*[）)]")  # editorial notes such as （一作秋）
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]+")  # CJK ideographs


@dataclass(frozen=True)
class Poem:
    title: str
    author: str
    lines: tuple[str, ...]  # each ends with one of LINE_MARKS

    @property
    def text(self) -> str:
        """The poem as one training line: its lines joined, no spaces."""
        return "".join(self.lines)

    @property
    def form(self) -> int | None:
        """5 or 7 when every line has that many characters before its mark, else None."""
        lengths = {len(line) - 1 for line in self.lines}
        return lengths.pop() if len(lengths) == 1 and lengths <= set(FORMS) else None

    @property
    def is_quatrain(self) -> bool:
        return self.form is not None and len(self.lines) == 4


@dataclass
class PoemSet:
    poems: list[Poem]
    dropped: int  # poems left out: empty, or with characters that are not Han after cleaning


def is_han(text: str) -> bool:
    """True if `text` is one or more Han characters (CJK ideographs, extensions included)."""
    return bool(_HAN.fullmatch(text))


def split_lines(paragraphs: Iterable[str]) -> list[str]:
    """Cut a poem's paragraphs into lines that each end with one of `LINE_MARKS`."""
    lines, current = [], ""
    for char in "".join(paragraphs):
        if char.isspace():
            continue
        current += char
        if char in LINE_MARKS:
            lines.append(current)
            current = ""
    if current:  # a paragraph without a final mark: keep its text as a line of its own
        lines.append(current + EVEN_MARK)
    return lines


def parse_poem(entry: dict) -> Poem | None:
    """A `Poem` from one JSON entry, or None if it cannot be used as training text."""
    if not isinstance(entry, dict) or not isinstance(entry.get("paragraphs"), list):
        return None
    paragraphs = [_NOTE.sub("", p) for p in entry["paragraphs"] if isinstance(p, str)]
    lines = split_lines(paragraphs)
    if not lines or not all(len(line) > 1 and is_han(line[:-1]) for line in lines):
        return None  # empty, missing characters (□), Latin letters, nested notes, ...
    return Poem(str(entry.get("title", "")), str(entry.get("author", "")), tuple(lines))


def parse_poems(entries: Sequence[dict]) -> PoemSet:
    """Every usable poem of a JSON file's list of entries, in order."""
    if not isinstance(entries, list):
        raise ValueError(f"a poetry file must hold a JSON list of poems, got {type(entries).__name__}")
    poems = [parse_poem(entry) for entry in entries]
    kept = [p for p in poems if p is not None]
    return PoemSet(kept, len(poems) - len(kept))


def shipped_quatrains() -> PoemSet:
    """The 五言 and 七言 quatrains of 全唐诗 that ship inside the package (no download needed)."""
    resource = resources.files("companion.records") / SHIPPED
    with resources.as_file(resource) as path, gzip.open(path, "rt", encoding="utf-8") as f:
        poems = [Poem(e["title"], e["author"], tuple(e["lines"])) for e in map(json.loads, f)]
    return PoemSet(poems, 0)


def write_quatrains(poems: Iterable[Poem], path) -> int:
    """Write the quatrains among `poems` in the shipped format (gzip JSON lines); returns the count."""
    count = 0
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=9) as f:
        for poem in poems:
            if poem.is_quatrain:
                f.write(json.dumps({"title": poem.title, "author": poem.author, "lines": list(poem.lines)},
                                   ensure_ascii=False) + "\n")
                count += 1
    return count


def split_poems(poems: Sequence[Poem], valid: float = 0.05, test: float = 0.05,
                seed: int = 0) -> dict[str, list[Poem]]:
    """Shuffle whole poems (never cut one in two) into train / valid / test."""
    if not (0 < valid < 1 and 0 < test < 1 and valid + test < 1):
        raise ValueError(f"valid and test must be fractions in (0, 1) with a sum < 1, got {valid}, {test}")
    if len(poems) < 3:
        raise ValueError(f"need at least 3 poems to split into train/valid/test, got {len(poems)}")
    order = list(range(len(poems)))
    random.Random(seed).shuffle(order)
    n_valid, n_test = max(1, round(valid * len(poems))), max(1, round(test * len(poems)))
    pick = lambda idx: [poems[i] for i in sorted(idx)]  # noqa: E731  (keep the source order)
    return {"valid": pick(order[:n_valid]), "test": pick(order[n_valid:n_valid + n_test]),
            "train": pick(order[n_valid + n_test:])}


def poems_text(poems: Iterable[Poem]) -> str:
    """One poem per line: the training text of the character-level model."""
    return "".join(poem.text + "\n" for poem in poems)
