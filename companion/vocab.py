"""Tokenizers and a build-once vocabulary.

The source article's `Vocabulary` let every dataset call `build` again, so building the
validation set quietly grew the vocabulary *after* the model's embedding had been sized.
Here `build` counts the training text once and freezes the result: later text can only be
encoded (unknown words map to `<unk>`), never added.

Id order is deterministic: the special tokens first (`<unk>` is always id 0), then words by
descending frequency, ties broken by first appearance in the training text.
"""
from __future__ import annotations

import json
import operator
import os
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from .files import atomic_write_text

UNK = "<unk>"
EOS = "<eos>"
PAD = "<pad>"


def _check_text(text: str) -> None:
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")


def default_tokenize(text: str) -> list[str]:
    """The article's general-purpose English tokenizer: lower-case, split off punctuation.

    >>> default_tokenize("Hi, I'm here!")
    ['hi', ',', 'i', "'", 'm', 'here', '!']
    """
    _check_text(text)
    text = text.lower()
    text = re.sub(r"([.,!?'])", r" \1 ", text)
    return text.split()


def ptb_tokenize(text: str) -> list[str]:
    """Penn Treebank tokens: split on whitespace and end every non-empty line with `<eos>`.

    The article replaced '\\n' by '<eos>' *without spaces*, which only worked because each
    PTB line happens to start and end with a space. Working line by line is correct for any
    spacing: `"a b\\nc"` -> `['a', 'b', '<eos>', 'c', '<eos>']`.
    """
    _check_text(text)
    tokens: list[str] = []
    for line in text.splitlines():
        words = line.split()
        if words:  # a blank line is not a sentence
            tokens.extend(words)
            tokens.append(EOS)
    return tokens


def char_tokenize(text: str) -> list[str]:
    """Character tokens for any script (Chinese included); each non-empty line ends in `<eos>`.

    Text is NFC-normalised so that the same character always gets the same id, and runs of
    whitespace inside a line become one `' '` token.

    >>> char_tokenize("我爱你\\nhi  there")
    ['我', '爱', '你', '<eos>', 'h', 'i', ' ', 't', 'h', 'e', 'r', 'e', '<eos>']
    """
    _check_text(text)
    tokens: list[str] = []
    for line in unicodedata.normalize("NFC", text).splitlines():
        words = line.split()
        if words:
            tokens.extend(" ".join(words))
            tokens.append(EOS)
    return tokens


def _token_list(tokens: Iterable[str]) -> list[str]:
    """`build`'s pre-split input as a list, or a clear error (not text, not ids)."""
    if isinstance(tokens, bytes) or not isinstance(tokens, Iterable):
        raise TypeError(f"text must be a str or an iterable of str tokens, got {type(tokens).__name__}")
    tokens = list(tokens)
    bad = [t for t in tokens if not isinstance(t, str)]
    if bad:
        raise TypeError(f"text must be a str or an iterable of str tokens, got a {type(bad[0]).__name__} token")
    return tokens


@dataclass(frozen=True)
class Tokenizer:
    """A named tokenizer, so that a saved vocabulary knows how to split text again."""

    name: str
    split: Callable[[str], list[str]]
    joiner: str  # how `decode` glues tokens back together


TOKENIZERS = {
    "default": Tokenizer("default", default_tokenize, " "),
    "ptb": Tokenizer("ptb", ptb_tokenize, " "),
    "char": Tokenizer("char", char_tokenize, ""),
    "whitespace": Tokenizer("whitespace", str.split, " "),
}


def get_tokenizer(tokenizer: str | Tokenizer | Callable[[str], list[str]]) -> Tokenizer:
    """Resolve a tokenizer given by name, as a `Tokenizer`, or as a plain function."""
    if isinstance(tokenizer, Tokenizer):
        return tokenizer
    if isinstance(tokenizer, str):
        if tokenizer not in TOKENIZERS:
            raise ValueError(f"tokenizer must be one of {sorted(TOKENIZERS)}, got {tokenizer!r}")
        return TOKENIZERS[tokenizer]
    if callable(tokenizer):
        for known in TOKENIZERS.values():
            if known.split is tokenizer:
                return known
        return Tokenizer("custom", tokenizer, " ")
    raise TypeError(f"tokenizer must be a name, a Tokenizer or a function, got {type(tokenizer).__name__}")


class Vocabulary:
    """Maps tokens to ids and back. Build it once, on the training text; then it is frozen.

    Args:
        tokenizer: name (`'default'`, `'ptb'`, `'char'`, `'whitespace'`) or a function.
        unk_token: the token that stands for every word not in the vocabulary (id 0).
        specials: extra reserved tokens, e.g. `('<eos>', '<pad>')`, given ids 1, 2, ...
    """

    def __init__(
        self,
        tokenizer: str | Tokenizer | Callable[[str], list[str]] = "default",
        unk_token: str = UNK,
        specials: Sequence[str] = (),
    ):
        if not isinstance(unk_token, str) or not unk_token or unk_token != unk_token.strip():
            raise ValueError(f"unk_token must be a non-empty string without surrounding spaces, got {unk_token!r}")
        if isinstance(specials, str):  # tuple('<eos>') would quietly reserve '<', 'e', ...
            raise TypeError(f"specials must be a sequence of tokens, not one string: use ({specials!r},)")
        specials = tuple(specials)
        if not all(isinstance(tok, str) and tok for tok in specials):
            raise TypeError(f"specials must be non-empty strings, got {specials!r}")
        if len(set(specials)) != len(specials) or unk_token in specials:
            raise ValueError(f"specials must be distinct and must not repeat unk_token, got {specials!r}")
        self.tokenizer = get_tokenizer(tokenizer)
        self.unk_token = unk_token
        self.specials = specials
        self.id_to_token: list[str] = [unk_token, *specials]
        self.token_to_id: dict[str, int] = {tok: i for i, tok in enumerate(self.id_to_token)}
        self.frozen = False

    # -- building -------------------------------------------------------------------
    def build(self, text: str | Iterable[str], min_freq: int = 1) -> "Vocabulary":
        """Count `text` (a string, or an iterable of tokens), add frequent words, and freeze.

        Words seen fewer than `min_freq` times are left out and will encode as `<unk>`.
        Calling `build` a second time raises: that was the article's bug.
        """
        if self.frozen:
            raise ValueError(
                "this vocabulary is already built and frozen; build it once on the training "
                "text and only encode() validation/test text with it"
            )
        if not isinstance(min_freq, int) or isinstance(min_freq, bool) or min_freq < 1:
            raise ValueError(f"min_freq must be an integer >= 1, got {min_freq!r}")
        tokens = self.tokenize(text) if isinstance(text, str) else _token_list(text)
        if not tokens:
            raise ValueError("cannot build a vocabulary from empty text")
        counts = Counter(tokens)  # insertion order = first appearance, so ties stay stable
        words = [(tok, n) for tok, n in counts.most_common() if tok not in self.token_to_id]
        kept = [tok for tok, n in words if n >= min_freq]
        if words and not kept:  # checked before anything is added: a refused build changes nothing
            raise ValueError(f"min_freq={min_freq} leaves no word in the vocabulary, only {self.id_to_token}: the "
                             f"most frequent word occurs {words[0][1]} times; use min_freq <= {words[0][1]}")
        for token in kept:
            self.token_to_id[token] = len(self.id_to_token)
            self.id_to_token.append(token)
        self.frozen = True
        return self

    def freeze(self) -> "Vocabulary":
        """Freeze without counting anything (e.g. a vocabulary of special tokens only)."""
        self.frozen = True
        return self

    # -- using ----------------------------------------------------------------------
    def tokenize(self, text: str) -> list[str]:
        _check_text(text)
        return self.tokenizer.split(text)

    def encode(self, text: str) -> list[int]:
        """Text -> ids; unknown words become `unk_id`."""
        return self.encode_tokens(self.tokenize(text))

    def encode_tokens(self, tokens: Iterable[str]) -> list[int]:
        if not self.frozen:
            raise ValueError("the vocabulary is empty: call vocab.build(train_text) before encoding")
        if isinstance(tokens, str):  # iterating it would encode one character at a time
            raise TypeError("tokens must be a list of tokens, not one string: use vocab.encode(text)")
        unk = self.unk_id
        return [self.token_to_id.get(tok, unk) for tok in tokens]

    def decode(self, ids: Iterable[int]) -> str:
        """Ids -> text, tokens glued by the tokenizer's joiner (a space, or nothing for chars)."""
        return self.tokenizer.joiner.join(self.decode_tokens(ids))

    def decode_tokens(self, ids: Iterable[int]) -> list[str]:
        try:
            if isinstance(ids, (str, bytes)):
                raise TypeError
            ids = list(ids)
        except TypeError:  # None, a number, text, a 0-d tensor
            raise TypeError(f"ids must be a sequence of integer token ids, got {type(ids).__name__}") from None
        tokens = []
        for i in ids:
            try:  # index(), not int(): int(1.7) would quietly decode id 1; and index(True) is 1
                if isinstance(i, bool) or str(getattr(i, "dtype", "")) == "torch.bool":
                    raise TypeError
                i = operator.index(i)
            except TypeError:
                raise TypeError(f"ids must be integer token ids (not bools or floats), got {i!r}") from None
            if not 0 <= i < len(self.id_to_token):
                raise ValueError(f"id {i} is not in this vocabulary (valid ids: 0..{len(self) - 1})")
            tokens.append(self.id_to_token[i])
        return tokens

    def __len__(self) -> int:
        return len(self.id_to_token)

    @property
    def size(self) -> int:  # the article's spelling
        return len(self)

    def __contains__(self, token: str) -> bool:
        return token in self.token_to_id

    @property
    def unk_id(self) -> int:
        return 0

    def special_id(self, token: str) -> int:
        """Id of a reserved token such as `'<pad>'`; raises if it was not reserved."""
        if token != self.unk_token and token not in self.specials:
            raise ValueError(f"{token!r} is not a special token of this vocabulary (specials: {self.specials})")
        return self.token_to_id[token]

    def __repr__(self) -> str:
        state = "frozen" if self.frozen else "not built"
        return f"Vocabulary(size={len(self)}, tokenizer={self.tokenizer.name!r}, {state})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Vocabulary)
            and self.id_to_token == other.id_to_token
            and self.unk_token == other.unk_token
            and self.specials == other.specials
        )

    # -- saving ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "format": "companion.vocab/1",
            "tokenizer": self.tokenizer.name,
            "unk_token": self.unk_token,
            "specials": list(self.specials),
            "tokens": self.id_to_token,
        }

    @classmethod
    def from_dict(cls, data: dict, tokenizer: str | Callable[[str], list[str]] | None = None) -> "Vocabulary":
        if not isinstance(data, dict) or data.get("format") != "companion.vocab/1":
            raise ValueError("not a companion vocabulary (expected format 'companion.vocab/1')")
        missing = {"tokenizer", "unk_token", "specials", "tokens"} - set(data)
        if missing:
            raise ValueError(f"vocabulary data is missing {sorted(missing)}")
        name = data["tokenizer"]
        if tokenizer is None:
            if name == "custom":
                raise ValueError("this vocabulary used a custom tokenizer: pass it as tokenizer=...")
            tokenizer = name
        vocab = cls(tokenizer, data["unk_token"], data["specials"])
        tokens = data["tokens"]
        if (not isinstance(tokens, list) or tokens[: len(vocab)] != vocab.id_to_token
                or len(set(tokens)) != len(tokens) or not all(isinstance(t, str) for t in tokens)):
            raise ValueError("vocabulary data is corrupt: 'tokens' must be distinct strings, specials first")
        for token in tokens[len(vocab):]:
            vocab.token_to_id[token] = len(vocab.id_to_token)
            vocab.id_to_token.append(token)
        return vocab.freeze()

    def save(self, path: str | os.PathLike) -> None:
        """Write JSON atomically (temp file + rename): never a half-written file."""
        atomic_write_text(path, json.dumps(self.to_dict(), ensure_ascii=False))

    @classmethod
    def load(cls, path: str | os.PathLike, tokenizer=None) -> "Vocabulary":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except ValueError as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise ValueError(f"{path} is not a vocabulary saved by vocab.save (not UTF-8 JSON: {err})") from None
        return cls.from_dict(data, tokenizer)
