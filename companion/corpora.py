"""One entry point for the course's corpora: the Penn Treebank, the embedded toy language, Tang poems.

    corpus = load_corpus("auto")   # PTB if it is on disk or can be fetched, else the toy language
    corpus.vocab, corpus.train, corpus.valid, corpus.test, corpus.note

The vocabulary is built once, on the training text, and then frozen; validation and test
text are only encoded with it (unknown words -> `<unk>`), never added.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from .poetry import poems_text, shipped_quatrains, split_poems
from .ptb import PTBError, load_ptb_text
from .tang import load_tang
from .toy import toy_splits
from .vocab import Vocabulary

CORPORA = ("auto", "ptb", "toy", "tang", "tang-all")


@dataclass
class Corpus:
    name: str  # "ptb" or "toy": what was actually loaded
    vocab: Vocabulary  # built on the training text only, frozen
    train: torch.Tensor  # (N_train,) token ids
    valid: torch.Tensor  # (N_valid,)
    test: torch.Tensor  # (N_test,)
    note: str  # one line for the reader: which corpus, how big, and why

    def __repr__(self) -> str:
        return f"Corpus({self.note})"


def load_corpus(name: str = "auto", root: str | os.PathLike | None = None,
                max_train_tokens: int | None = None, max_eval_tokens: int | None = None,
                toy_sentences: dict[str, int] | None = None, seed: int = 0,
                download: bool = True) -> Corpus:
    """Load `name` ("auto", "ptb" or "toy") as token ids with a frozen vocabulary.

    max_train_tokens / max_eval_tokens keep only the first tokens of the splits (quick runs);
    the vocabulary is still built on the whole training text, so ids mean the same as in a
    full run. toy_sentences: sentences per split for the toy language.
    """
    if name not in CORPORA:
        raise ValueError(f"name must be one of {CORPORA}, got {name!r}")
    for arg, value in (("max_train_tokens", max_train_tokens), ("max_eval_tokens", max_eval_tokens)):
        if value is not None and (not isinstance(value, int) or value < 2):
            raise ValueError(f"{arg} must be an integer >= 2 or None, got {value!r}")
    if toy_sentences is not None and (
            not isinstance(toy_sentences, dict) or not set(toy_sentences) <= {"train", "valid", "test"}
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in toy_sentences.values())):
        raise ValueError("toy_sentences must map some of 'train', 'valid', 'test' to a number of sentences "
                         f">= 1, got {toy_sentences!r}")
    if name in ("tang", "tang-all"):
        return load_tang_corpus(name == "tang-all", root, max_train_tokens, max_eval_tokens, seed, download)
    if name in ("auto", "ptb"):
        try:
            texts = {split: load_ptb_text(split, root=root, download=download, attempts=1 if name == "auto" else 3)
                     for split in ("train", "valid", "test")}
        except PTBError as err:
            if name == "ptb":
                raise
            reason = str(err).splitlines()[0]
            return _toy(toy_sentences, seed, max_train_tokens, max_eval_tokens,
                        f"PTB not available ({reason}); using the embedded toy language instead")
        vocab = Vocabulary("ptb").build(texts["train"])
        return _encode("ptb", vocab, texts, max_train_tokens, max_eval_tokens, "Penn Treebank")
    return _toy(toy_sentences, seed, max_train_tokens, max_eval_tokens, "embedded toy language")


def corpus_texts(corpus: Corpus, root: str | os.PathLike | None = None,
                 toy_sentences: dict[str, int] | None = None, seed: int = 0) -> dict[str, str]:
    """The raw text of each split ("train", "valid", "test") behind `corpus`, untokenized and
    uncut: for code that builds its own vocabulary and ids, e.g. to check them against the package's.
    Pass the `toy_sentences` and `seed` the toy corpus was loaded with."""
    if corpus.name == "ptb":
        return {split: load_ptb_text(split, root=root, download=False) for split in ("train", "valid", "test")}
    if corpus.name == "toy":
        return _toy_texts(toy_sentences, seed)
    raise ValueError(f"corpus.name must be 'ptb' or 'toy', got {corpus.name!r}")


def _toy_texts(sentences: dict[str, int] | None, seed: int) -> dict[str, str]:
    sizes = {"train": 4000, "valid": 400, "test": 400, **(sentences or {})}
    return toy_splits(sizes["train"], sizes["valid"], sizes["test"], seed=seed)


def _toy(sentences: dict[str, int] | None, seed: int, max_train: int | None, max_eval: int | None,
         why: str) -> Corpus:
    texts = _toy_texts(sentences, seed)
    vocab = Vocabulary("ptb").build(texts["train"])
    return _encode("toy", vocab, texts, max_train, max_eval, why)


def _encode(name: str, vocab: Vocabulary, texts: dict[str, str], max_train: int | None,
            max_eval: int | None, what: str) -> Corpus:
    ids = {split: torch.tensor(vocab.encode(text), dtype=torch.long) for split, text in texts.items()}
    ids["train"] = ids["train"][:max_train]
    for split in ("valid", "test"):
        ids[split] = ids[split][:max_eval]
    sizes = ", ".join(f"{split} {len(t):,}" for split, t in ids.items())
    note = f"{what}: vocabulary {len(vocab):,}; tokens {sizes}"
    return Corpus(name, vocab, ids["train"], ids["valid"], ids["test"], note)


def load_tang_corpus(everything: bool = False, root: str | os.PathLike | None = None,
                     max_train_tokens: int | None = None, max_eval_tokens: int | None = None,
                     seed: int = 0, download: bool = True, min_freq: int = 1) -> Corpus:
    """Tang poems as characters: the shipped quatrains, or with `everything` all of 全唐诗
    (downloaded and verified like PTB). Whole poems go to train/valid/test (90/5/5 %); the
    character vocabulary is built on the training poems only (`min_freq`: rarer -> `<unk>`)."""
    poem_set = load_tang(root, download=download) if everything else shipped_quatrains()
    parts = split_poems(poem_set.poems, seed=seed)
    texts = {split: poems_text(parts[split]) for split in ("train", "valid", "test")}
    vocab = Vocabulary("char").build(texts["train"], min_freq=min_freq)
    what = "全唐诗 (all poems)" if everything else "全唐诗 quatrains (shipped)"
    return _encode("tang-all" if everything else "tang", vocab, texts, max_train_tokens, max_eval_tokens,
                   f"{what}: {len(poem_set.poems):,} poems")
