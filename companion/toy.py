"""A toy English whose verbs must remember their subjects: the course's offline corpus.

    the dog that the girls see runs .        (object relative clause)
    the dogs that see the girl run .         (subject relative clause)
    the old cat near the boxes sleeps .      (prepositional phrase)
    the birds sing .                         (simple sentence)

To choose between "runs" and "run" a language model has to remember whether the subject was
singular or plural across the words in between. The noun in between ("girls", "boxes") has
its own number, drawn independently of the subject's, so the word just before the main verb
says nothing about the right form: only memory helps. When that noun's number is the opposite
of the subject's it is an *attractor* (Linzen et al.'s term), which happens in about half
of the items. This is the
agreement test of Linzen, Dupoux & Goldberg (2016), "Assessing the ability of LSTMs to learn
syntax-sensitive dependencies", shrunk to ~90 words so that a small RNN learns it in seconds.

`agreement_items` come in minimal pairs ("the dog near the boxes" / "the dogs near the
boxes"), so a model without memory such as `BigramModel` answers both alike and scores
exactly 0.5. All text comes from `random.Random(seed)`: no files, no network, no globals.
"""
from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass, fields
from typing import NamedTuple, Sequence

import torch
from torch import nn

from .data import as_ids
from .model import check_token_ids
from .runtime import model_device
from .vocab import EOS, Vocabulary

# Every inflected word is a pair (singular form, plural form), indexed by `plural` (False/True).
ANIMATES = (("dog", "dogs"), ("cat", "cats"), ("girl", "girls"), ("boy", "boys"),
            ("bird", "birds"), ("horse", "horses"), ("teacher", "teachers"),
            ("farmer", "farmers"), ("doctor", "doctors"), ("student", "students"))
THINGS = (("box", "boxes"), ("tree", "trees"), ("house", "houses"), ("table", "tables"),
          ("car", "cars"), ("bench", "benches"), ("garden", "gardens"), ("window", "windows"))
INTRANSITIVE = (("runs", "run"), ("sleeps", "sleep"), ("sings", "sing"), ("jumps", "jump"),
                ("smiles", "smile"), ("walks", "walk"), ("laughs", "laugh"), ("swims", "swim"))
TRANSITIVE = (("sees", "see"), ("likes", "like"), ("chases", "chase"), ("follows", "follow"),
              ("knows", "know"), ("helps", "help"), ("visits", "visit"), ("watches", "watch"))
PREPOSITIONS = ("near", "behind", "beside", "under", "with", "above")
ADJECTIVES = ("big", "small", "old", "young", "happy", "lazy", "red", "quick")
FUNCTION_WORDS = ("the", "that", ".")
OTHER_FORM = {form: pair[1 - i] for pair in ANIMATES + THINGS + INTRANSITIVE + TRANSITIVE
              for i, form in enumerate(pair)}  # "dog" <-> "dogs", "runs" <-> "run"
PLURAL_FORMS = frozenset(pair[1] for pair in ANIMATES + THINGS + INTRANSITIVE + TRANSITIVE)  # "dogs", "run"
LEXICON = tuple(sorted({*OTHER_FORM, *PREPOSITIONS, *ADJECTIVES, *FUNCTION_WORDS}))
CONSTRUCTIONS = ("simple", "pp", "subject_relative", "object_relative")


@dataclass
class GrammarConfig:
    """How often each construction and option is drawn. The defaults are tuned so that a small
    RNN learns agreement within seconds: most sentences have an attractor, and the simple
    ones show plainly which verb form goes with which noun form."""

    p_pp: float = 0.3  # the subject gets a prepositional phrase: "the cat near the boxes ..."
    p_relative: float = 0.4  # ... or a relative clause (p_pp + p_relative <= 1; the rest are simple)
    p_object_relative: float = 0.5  # share of relative clauses that are "that the girls see"
    p_adjective: float = 0.3  # a noun phrase gets an adjective, then another, ... (varies the distance)
    max_adjectives: int = 2  # at most this many adjectives before one noun
    p_plural: float = 0.5  # each noun is plural with this probability, independently of the others
    p_transitive: float = 0.3  # the main verb takes an object: "... chases the cat ."

    def __post_init__(self):
        for name in (f.name for f in fields(self) if f.name.startswith("p_")):
            value = getattr(self, name)
            if not _is_number(value) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
        if self.p_pp + self.p_relative > 1.0 + 1e-9:
            raise ValueError(f"p_pp + p_relative must be <= 1, got {self.p_pp} + {self.p_relative}")
        _check_int(0, len(ADJECTIVES), max_adjectives=self.max_adjectives)

    def construction_weights(self) -> dict[str, float]:
        """Probability of each entry of `CONSTRUCTIONS` for one sentence."""
        relative = self.p_relative
        return {"simple": max(0.0, 1.0 - self.p_pp - relative), "pp": self.p_pp,
                "subject_relative": relative * (1.0 - self.p_object_relative),
                "object_relative": relative * self.p_object_relative}


@dataclass(frozen=True)
class AgreementItem:
    """One agreement test: does the model prefer `correct` over `wrong` after `prefix`?"""

    prefix: tuple[str, ...]  # the words before the main verb: ("the", "dog", "near", "the", "boxes")
    correct: str  # the main verb in the subject's number: "runs"
    wrong: str  # the same verb in the other number: "run"
    distance: int  # main verb position - subject noun position (5 - 1 = 4 above)
    construction: str  # "pp", "subject_relative" or "object_relative"
    plural: bool  # is the subject plural?
    attractor_plural: bool  # is the noun in between plural? (independent of `plural`)


class _Sentence(NamedTuple):
    tokens: list[str]
    subject: int  # index of the subject noun
    attractor: int | None  # index of the noun between subject and main verb (None if simple)
    verb: int  # index of the main verb
    agreeing: tuple[int, ...]  # indices of every word whose form follows the subject's number


def _noun_phrase(rng: random.Random, config: GrammarConfig, nouns) -> list[str]:
    """"the (adjectives) noun"; the noun is plural with probability `config.p_plural`."""
    num_adjectives = 0
    while num_adjectives < config.max_adjectives and rng.random() < config.p_adjective:
        num_adjectives += 1
    plural = rng.random() < config.p_plural
    return ["the", *rng.sample(ADJECTIVES, num_adjectives), rng.choice(nouns)[plural]]


def _sentence(rng: random.Random, config: GrammarConfig, construction: str) -> _Sentence:
    tokens = _noun_phrase(rng, config, ANIMATES)
    subject, attractor, agreeing = len(tokens) - 1, None, [len(tokens) - 1]
    plural = tokens[subject] in PLURAL_FORMS
    if construction == "pp":  # the cat near the boxes ...
        tokens += [rng.choice(PREPOSITIONS), *_noun_phrase(rng, config, ANIMATES + THINGS)]
        attractor = len(tokens) - 1
    elif construction == "subject_relative":  # the dog that sees the girls ...
        tokens += ["that", rng.choice(TRANSITIVE)[plural]]
        agreeing.append(len(tokens) - 1)  # the relative verb agrees with the subject too
        tokens += _noun_phrase(rng, config, ANIMATES + THINGS)
        attractor = len(tokens) - 1
    elif construction == "object_relative":  # the dog that the girls see ...
        tokens += ["that", *_noun_phrase(rng, config, ANIMATES)]
        attractor = len(tokens) - 1
        tokens.append(rng.choice(TRANSITIVE)[tokens[attractor] in PLURAL_FORMS])  # agrees with "girls"
    verb = len(tokens)
    agreeing.append(verb)
    if rng.random() < config.p_transitive:
        tokens += [rng.choice(TRANSITIVE)[plural], *_noun_phrase(rng, config, ANIMATES + THINGS)]
    else:
        tokens.append(rng.choice(INTRANSITIVE)[plural])
    tokens.append(".")
    return _Sentence(tokens, subject, attractor, verb, tuple(agreeing))


def _sentences(rng: random.Random, config: GrammarConfig, num: int) -> list[str]:
    weights = config.construction_weights()
    kinds = rng.choices(CONSTRUCTIONS, weights=[weights[c] for c in CONSTRUCTIONS], k=num)
    return [" ".join(_sentence(rng, config, kind).tokens) for kind in kinds]


def toy_corpus(num_sentences: int, seed: int = 0, config: GrammarConfig | None = None) -> str:
    """`num_sentences` sentences of the toy language, one per line (so `ptb_tokenize` ends
    each with `<eos>`). The same `seed` and `config` always give the same text."""
    _check_int(seed=seed)
    _check_int(1, num_sentences=num_sentences)
    return "\n".join(_sentences(random.Random(seed), config or GrammarConfig(), num_sentences)) + "\n"


def toy_splits(num_train: int, num_valid: int, num_test: int, seed: int = 0,
               config: GrammarConfig | None = None) -> dict[str, str]:
    """{'train', 'valid', 'test'} texts from three independent random streams of one grammar.

    The language is small, so short sentences ("the dog runs .") recur in every split; what
    is new in valid/test are the longer combinations.
    """
    _check_int(seed=seed)
    _check_int(1, num_train=num_train, num_valid=num_valid, num_test=num_test)
    config = config or GrammarConfig()
    sizes = {"train": num_train, "valid": num_valid, "test": num_test}
    # a string seed gives each split its own stream, the same on every run and platform
    return {split: "\n".join(_sentences(random.Random(f"toy-{split}-{seed}"), config, n)) + "\n"
            for split, n in sizes.items()}


def agreement_items(num: int, seed: int = 0, config: GrammarConfig | None = None) -> list[AgreementItem]:
    """`num` test sentences cut before a main verb that is separated from its subject by a
    prepositional phrase or relative clause, drawn as in `config` (simple sentences skipped).

    Items come in minimal pairs, [singular subject, plural subject], with everything else
    equal, so the subject's number is balanced and independent of the attractor's.
    """
    _check_int(seed=seed)
    _check_int(1, num=num)
    config = config or GrammarConfig()
    weights = config.construction_weights()
    kinds = [c for c in CONSTRUCTIONS if c != "simple"]
    if sum(weights[c] for c in kinds) == 0:
        raise ValueError("config has p_pp = p_relative = 0: no sentence separates a subject from its verb")
    rng = random.Random(f"toy-agreement-{seed}")
    items: list[AgreementItem] = []
    while len(items) < num:
        construction = rng.choices(kinds, weights=[weights[c] for c in kinds])[0]
        pair = [_item(s, construction) for s in _minimal_pair(_sentence(rng, config, construction))]
        items += sorted(pair, key=lambda item: item.plural)  # singular subject first
    return items[:num]


def _minimal_pair(s: _Sentence) -> tuple[_Sentence, _Sentence]:
    """The sentence and its twin whose subject (and every word agreeing with it) has the other number."""
    return s, s._replace(tokens=[OTHER_FORM[w] if i in s.agreeing else w for i, w in enumerate(s.tokens)])


def _item(s: _Sentence, construction: str) -> AgreementItem:
    verb = s.tokens[s.verb]
    return AgreementItem(tuple(s.tokens[:s.verb]), verb, OTHER_FORM[verb], s.verb - s.subject, construction,
                         s.tokens[s.subject] in PLURAL_FORMS, s.tokens[s.attractor] in PLURAL_FORMS)


@torch.no_grad()
def agreement_scores(model: nn.Module, vocab: Vocabulary, items: Sequence[AgreementItem],
                     device: torch.device | str | None = None) -> list[float]:
    """Per item: 1.0 if the model gives `correct` a higher logit than `wrong` after
    `<eos> + prefix`, 0.0 if lower, 0.5 for an exact tie (a coin flip, in expectation).

    Items of equal length run as one batch (B, T), so nothing is padded; every sequence
    starts from the model's default state (`state=None`).
    """
    ids, device = _word_ids(vocab, items), model_device(model, device)
    groups: dict[int, list[int]] = defaultdict(list)  # prefix length -> indices of items
    for i, item in enumerate(items):
        groups[len(item.prefix)].append(i)
    scores = [0.0] * len(items)
    was_training = model.training
    model.eval()  # no dropout while measuring
    try:
        for group in groups.values():
            batch = [items[i] for i in group]
            x = [[ids[EOS]] + [ids[w] for w in it.prefix] for it in batch]
            logits, _ = model(torch.tensor(x, device=device))  # (B, T) -> (B, T, V)
            last = logits[:, -1, :]  # (B, V): the scores for the word after the prefix
            choices = torch.tensor([[ids[it.correct], ids[it.wrong]] for it in batch], device=device)
            good, bad = last.gather(1, choices).unbind(1)  # (B, 2) -> (B,), (B,)
            result = (good > bad).float() + 0.5 * (good == bad).float()  # a tie is worth half
            for i, score in zip(group, result.tolist()):
                scores[i] = score
    finally:
        model.train(was_training)
    return scores


def agreement_accuracy(model: nn.Module, vocab: Vocabulary, items: Sequence[AgreementItem],
                       device: torch.device | str | None = None) -> float:
    """Fraction of `items` where the model prefers the correct verb form. Chance is 0.5.

    Works with any model with `forward(x (B, T) ids, state=None) -> (logits (B, T, V), state)`.
    """
    scores = agreement_scores(model, vocab, items, device)
    return sum(scores) / len(scores)


def _word_ids(vocab: Vocabulary, items: Sequence[AgreementItem]) -> dict[str, int]:
    """`vocab.token_to_id`, after checking that it knows every word of `items` (and `<eos>`)."""
    if not isinstance(items, Sequence) or not items or not all(isinstance(it, AgreementItem) for it in items):
        raise ValueError("items must be a non-empty list of AgreementItem (see agreement_items)")
    words = {EOS} | {w for it in items for w in (*it.prefix, it.correct, it.wrong)}
    missing = sorted(words - vocab.token_to_id.keys())
    if missing:
        raise ValueError(f"vocab lacks {missing[:5]} ({len(missing)} words of the items): build it with the "
                         "'ptb' tokenizer on enough toy text, e.g. toy_corpus(1000)")
    return vocab.token_to_id


class BigramModel(nn.Module):
    """A language model without memory: its logits depend on the current token only.

    forward(x (B, T) ids, state=None) -> (logits (B, T, V), state), the state passed through
    untouched. `logits[b, t]` is log P(next | x[b, t]) from add-alpha smoothed bigram counts.
    """

    def __init__(self, vocab_size: int):
        super().__init__()
        _check_int(1, vocab_size=vocab_size)
        self.vocab_size = vocab_size
        # a buffer, not a parameter: it is counted, not trained, yet moves with .to() and is saved;
        # (V, V), row = current token, column = next token; uniform until `fit`
        self.register_buffer("log_probs", torch.full((vocab_size, vocab_size), -math.log(vocab_size)))

    @classmethod
    def fit(cls, ids: Sequence[int] | torch.Tensor, vocab_size: int, alpha: float = 0.1) -> "BigramModel":
        """Count every (current, next) pair in the id stream `ids` (1-D), add `alpha` to each."""
        model = cls(vocab_size)
        if not _is_number(alpha) or not alpha > 0:
            raise ValueError(f"alpha must be a positive number, got {alpha!r}")
        ids = as_ids(ids)  # 1-D integer ids, or an error: floats or rows would be counted wrongly
        if ids.numel() < 2:
            raise ValueError(f"ids must hold at least 2 token ids to count a bigram, got {ids.numel()}")
        if int(ids.max()) >= vocab_size:  # as_ids has refused negative ids
            raise ValueError(f"ids must lie in [0, vocab_size={vocab_size}), got {int(ids.min())}..{int(ids.max())}")
        counts = torch.zeros(vocab_size, vocab_size)  # (V, V): counts[current, next]
        counts.index_put_((ids[:-1], ids[1:]), torch.ones(ids.numel() - 1), accumulate=True)
        probs = (counts + alpha) / (counts.sum(dim=1, keepdim=True) + alpha * vocab_size)
        model.log_probs.copy_(probs.log())
        return model

    def forward(self, x: torch.Tensor, state: object = None) -> tuple[torch.Tensor, object]:
        check_token_ids(x, self.vocab_size)  # (B, T) ids in [0, V), else a ValueError that says so
        return self.log_probs[x], state  # (B, T, V): one table row per token, no history


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_int(low: int | None = None, high: int | None = None, **values: int) -> None:
    """Raise a ValueError naming the argument unless each value is an integer in [low, high]."""
    for name, value in values.items():
        if (not isinstance(value, int) or isinstance(value, bool) or (low is not None and value < low)
                or (high is not None and value > high)):
            bounds = "" if low is None else f" >= {low}" if high is None else f" in [{low}, {high}]"
            raise ValueError(f"{name} must be an integer{bounds}, got {value!r}")
