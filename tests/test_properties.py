"""Bad input, systematically: property-based tests over tokenizers, vocabulary, batching, sampling.

The one property behind every test here: a public function either works, and its result
keeps its invariants (shapes, target = input shifted by one, ids inside the vocabulary,
decode(encode(x)) == joiner.join(tokenize(x))), or it raises ValueError/TypeError with a
message that names the offending argument. Anything else (IndexError, RuntimeError, nan
probabilities, a silently wrong answer) is a bug.
"""
import math
import unicodedata
from collections import Counter

import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st
from torch import nn

from companion.data import (OffsetBatcher, StreamBatcher, WindowDataset, batchify, make_windows, pad_sentences,
                            pad_sequences)
from companion.generate import next_token_distribution, sample
from companion.vocab import EOS, PAD, UNK, TOKENIZERS, Vocabulary, char_tokenize, default_tokenize, ptb_tokenize

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text a tokenizer may meet: any Unicode (Chinese, emoji, combining marks, controls), plus
# hand-picked nasties that random text rarely hits.
NASTY = ["", " ", "\n", "\r\n", "\t \u3000\n", "\u2028", "\x85", "\x00\x1f", "e\u0301", "q\u0301",
         "👩‍👩‍👧", "🇨🇳", "我爱你。\n你好，世界！", "<unk> <eos>", "I'M HERE!!", "İ", "ǅ", "\ufeff"]
texts = st.one_of(st.text(), st.sampled_from(NASTY),
                  st.lists(st.sampled_from(NASTY) | st.text(max_size=5)).map("".join))

# Values an integer argument may be given by mistake, extremes included.
weird_ints = st.one_of(st.integers(-3, 40), st.sampled_from([0, 1, -1, 2**62, 2**63, 2**70]), st.booleans(),
                       st.floats(allow_nan=True), st.none(), st.just("3"))


def works_or_names(call, *names):
    """Run `call()`; a ValueError/TypeError must name one of `names`. Returns the result or None."""
    try:
        return call()
    except (ValueError, TypeError) as err:
        assert any(name in str(err) for name in names), f"{type(err).__name__}: {err} (should name {names})"
        return None


# --- tokenizers --------------------------------------------------------------------------
@FAST
@given(texts)
def test_word_tokenizers_give_nonempty_tokens_without_whitespace(text):
    for tokenize in (default_tokenize, ptb_tokenize):
        tokens = tokenize(text)
        assert all(isinstance(t, str) and t and not any(c.isspace() for c in t) for t in tokens)
    lines = [line for line in text.splitlines() if line.split()]
    assert ptb_tokenize(text).count(EOS) >= len(lines)  # the text itself may contain '<eos>' words
    assert [t for t in ptb_tokenize(text) if t != EOS] == [t for t in text.split() if t != EOS]


@FAST
@given(texts)
def test_char_tokenize_is_one_character_per_token_and_eos_per_line(text):
    tokens = char_tokenize(text)
    lines = [" ".join(line.split()) for line in unicodedata.normalize("NFC", text).splitlines()]
    lines = [line for line in lines if line]
    assert tokens.count(EOS) == len(lines)
    assert all(len(t) == 1 or t == EOS for t in tokens)
    assert "".join(t if t != EOS else "\n" for t in tokens) == "".join(line + "\n" for line in lines)
    assert char_tokenize(unicodedata.normalize("NFD", text)) == tokens  # one character, one id


@FAST
@given(st.one_of(st.none(), st.integers(), st.binary(), st.lists(st.text())))
def test_tokenizers_reject_non_text(value):
    for tokenize in (default_tokenize, ptb_tokenize, char_tokenize):
        with pytest.raises(TypeError, match="text"):
            tokenize(value)


def test_char_tokenize_reads_chinese_as_a_reader_types_it():
    text = "我爱你。\n你好，世界！"
    assert char_tokenize(text) == ["我", "爱", "你", "。", EOS, "你", "好", "，", "世", "界", "！", EOS]
    vocab = Vocabulary("char", specials=(EOS,)).build(text)
    assert vocab.decode(vocab.encode(text)) == "我爱你。<eos>你好，世界！<eos>"
    assert vocab.encode("世界你好") == [vocab.token_to_id[c] for c in [*"世界你好", EOS]]
    assert vocab.decode(vocab.encode("猫")) == UNK + EOS


# --- vocabulary --------------------------------------------------------------------------
@FAST
@given(st.sampled_from(sorted(TOKENIZERS)), texts, texts, st.integers(1, 3))
def test_vocabulary_round_trips_and_survives_save_load(tmp_path_factory, name, train, other, min_freq):
    vocab = Vocabulary(name, specials=(EOS, PAD))
    if not vocab.tokenize(train):
        with pytest.raises(ValueError, match="empty"):
            vocab.build(train)
        return
    words = {t: n for t, n in Counter(vocab.tokenize(train)).items() if t not in vocab}
    if words and max(words.values()) < min_freq:  # no word would be kept: refused, nothing changed
        with pytest.raises(ValueError, match="min_freq"):
            vocab.build(train, min_freq=min_freq)
        assert len(vocab) == 3 and not vocab.frozen
        return
    vocab.build(train, min_freq=min_freq)
    joiner = vocab.tokenizer.joiner
    ids = vocab.encode(train)
    assert all(0 <= i < len(vocab) for i in ids)
    if min_freq == 1:  # every training word is known
        assert vocab.decode(ids) == joiner.join(vocab.tokenize(train))
    # Unseen text: known words come back, the rest as <unk>.
    expected = [t if t in vocab else UNK for t in vocab.tokenize(other)]
    assert vocab.decode_tokens(vocab.encode(other)) == expected
    assert len(set(vocab.id_to_token)) == len(vocab)
    assert all(vocab.token_to_id[t] == i for i, t in enumerate(vocab.id_to_token))

    path = tmp_path_factory.mktemp("vocab") / "vocab.json"
    vocab.save(path)
    loaded = Vocabulary.load(path)
    assert loaded == vocab and loaded.tokenizer.name == name
    assert loaded.encode(other) == vocab.encode(other)


@FAST
@given(st.lists(st.text(min_size=1), min_size=1))
def test_vocabulary_from_pre_split_tokens_round_trips(tokens):
    vocab = Vocabulary("whitespace").build(tokens)
    assert vocab.decode_tokens(vocab.encode_tokens(tokens)) == [t if t in vocab else UNK for t in tokens]
    assert Vocabulary.from_dict(vocab.to_dict()) == vocab


@FAST
@given(st.one_of(st.none(), st.integers(), st.binary(), st.lists(st.integers(), min_size=1),
                 st.lists(st.none(), min_size=1)), weird_ints)
def test_build_rejects_bad_text_and_min_freq(text, min_freq):
    with pytest.raises((ValueError, TypeError), match="text|min_freq"):
        Vocabulary().build(text, min_freq=min_freq)
    works_or_names(lambda: Vocabulary().build("a b a", min_freq=min_freq), "min_freq")


@FAST
@given(st.one_of(st.text(), st.lists(st.one_of(st.text(max_size=3), st.integers(), st.none()), max_size=3)),
       st.one_of(st.text(max_size=3), st.none(), st.integers()))
def test_constructor_arguments_are_checked(specials, unk_token):
    vocab = works_or_names(lambda: Vocabulary(specials=specials, unk_token=unk_token), "specials", "unk_token")
    if vocab is not None:
        assert vocab.id_to_token == [unk_token, *specials]
        assert all(isinstance(t, str) and t for t in vocab.id_to_token)


@FAST
@given(st.one_of(st.lists(weird_ints), st.none(), st.integers(), st.text(), st.floats()))
def test_decode_takes_only_valid_integer_ids(ids):
    vocab = Vocabulary().build("the cat sat on the mat")
    out = works_or_names(lambda: vocab.decode(ids), "id")
    if out is not None:
        assert all(isinstance(i, int) and 0 <= i < len(vocab) for i in ids)
        assert out == " ".join(vocab.id_to_token[i] for i in ids)


def test_decode_takes_tensors_and_rejects_2d_or_float_ones():
    vocab = Vocabulary().build("a b c")
    assert vocab.decode(torch.tensor([1, 2])) == vocab.decode([1, 2])
    for bad in (torch.tensor([[1, 2]]), torch.tensor([1.0]), torch.tensor(1)):
        with pytest.raises(TypeError, match="ids"):
            vocab.decode(bad)


@FAST
@given(st.dictionaries(st.sampled_from(["format", "tokenizer", "unk_token", "specials", "tokens"]),
                       st.one_of(st.just("companion.vocab/1"), st.just("ptb"), st.just(UNK), st.just([]),
                                 st.just([UNK, "a", "a"]), st.just([UNK, "a"]), st.just(["a", UNK]))))
def test_from_dict_accepts_only_well_formed_data(data):
    vocab = works_or_names(lambda: Vocabulary.from_dict(data), "vocabulary", "tokenizer", "unk_token", "specials")
    if vocab is not None:
        assert vocab.id_to_token == data["tokens"] and vocab.frozen


# --- datasets and batching ---------------------------------------------------------------
id_lists = st.lists(st.integers(0, 50), max_size=40)
bad_ids = st.one_of(st.none(), st.text(), st.just([[1, 2], [3]]), st.just([2**70, 1]), st.just([-1, 2]),
                    st.just([0.5, 1.0]), st.just([True, False]), st.just({1: 2}), st.just(torch.zeros(2, 3)))


@FAST
@given(st.one_of(id_lists, bad_ids), weird_ints, weird_ints)
def test_windows_are_shifted_by_one_or_refused(ids, seq_len, stride):
    data = works_or_names(lambda: WindowDataset(ids, seq_len, stride), "ids", "seq_len", "stride")
    if data is None:
        return
    ids = torch.as_tensor(ids, dtype=torch.long)
    x, y = make_windows(ids, seq_len, stride)
    assert len(data) >= 1 and x.shape == y.shape == (len(data), seq_len)
    for i in range(len(data)):
        xi, yi = data[i]
        assert torch.equal(xi, x[i]) and torch.equal(yi, y[i])
        assert torch.equal(xi, ids[i * stride : i * stride + seq_len])
        assert torch.equal(yi, ids[i * stride + 1 : i * stride + seq_len + 1])
    assert torch.equal(data[-1][1], y[-1])
    assert (len(data) - 1) * stride + seq_len + 1 <= len(ids) < len(data) * stride + seq_len + 1  # the last window is kept
    for bad in (len(data), -len(data) - 1):
        with pytest.raises(IndexError):
            data[bad]
    with pytest.raises(TypeError, match="index"):
        data[0.5]


@FAST
@given(st.one_of(id_lists, bad_ids), weird_ints, weird_ints)
def test_stream_batches_cover_every_target_once_or_are_refused(ids, batch_size, seq_len):
    batcher = works_or_names(lambda: StreamBatcher(ids, batch_size, seq_len), "ids", "batch_size", "seq_len")
    if batcher is None:
        return
    streams = batchify(ids, batch_size)
    n = len(ids) // batch_size
    assert streams.shape == (batch_size, n) and torch.equal(streams.flatten(), torch.tensor(ids[: n * batch_size]))
    chunks = list(batcher)
    assert len(chunks) == len(batcher)
    for x, y in chunks:
        assert x.shape == y.shape and x.shape[0] == batch_size and 1 <= x.shape[1] <= seq_len
    xs = torch.cat([x for x, _ in chunks], dim=1)
    ys = torch.cat([y for _, y in chunks], dim=1)
    assert torch.equal(xs, streams[:, :-1]) and torch.equal(ys, streams[:, 1:])
    assert ys.numel() == batcher.num_targets


@FAST
@given(st.integers(0, 60), weird_ints, weird_ints, st.integers(1, 3))
def test_offset_batches_are_shifted_by_one_or_refused(n, batch_size, seq_len, epochs):
    ids = torch.arange(n)  # distinct ids, so 'shifted by one' reads as y == x + 1
    batcher = works_or_names(lambda: OffsetBatcher(ids, batch_size, seq_len), "ids", "batch_size", "seq_len")
    if batcher is None:
        return
    for _ in range(epochs):
        batches = list(batcher)
        assert len(batches) == len(batcher) >= 1
        for x, y in batches:
            assert x.shape == y.shape == (batch_size, seq_len)
            assert torch.equal(y, x + 1) and int(y.max()) < n


@FAST
@given(st.one_of(st.lists(id_lists, max_size=5), st.lists(bad_ids, min_size=1, max_size=2), st.none(),
                 st.integers(), st.text()), weird_ints)
def test_padding_keeps_every_token_or_is_refused(seqs, pad_id):
    out = works_or_names(lambda: pad_sequences(seqs, pad_id), "seqs", "pad_id")
    if out is not None:
        padded, lengths = out
        assert padded.shape == (len(seqs), max(map(len, seqs)))
        for row, length, seq in zip(padded, lengths, seqs):
            assert row[:length].tolist() == list(seq) and (row[length:] == pad_id).all()
    batch = works_or_names(lambda: pad_sentences(seqs, pad_id), "sentences", "pad_id", "sentence")
    if batch is not None:
        assert batch.inputs.shape == batch.targets.shape == batch.mask.shape
        assert batch.mask.sum(1).tolist() == batch.lengths.tolist() == [len(s) - 1 for s in seqs]
        for x, y, m, s in zip(batch.inputs, batch.targets, batch.mask, seqs):
            assert x[m].tolist() == list(s[:-1]) and y[m].tolist() == list(s[1:])
            assert (x[~m] == pad_id).all() and (y[~m] == pad_id).all()


# --- generation --------------------------------------------------------------------------
temperatures = st.one_of(st.floats(), st.sampled_from([0, 0.0, -0.0, -1, 1, 5e-324, 1e-300, 1e300, math.inf,
                                                       -math.inf, math.nan, True]), st.none(), st.just("1"))
top_ks = st.one_of(st.none(), weird_ints)
logit_lists = st.lists(st.one_of(st.floats(-2.0**100, 2.0**100, width=32, allow_subnormal=False), st.just(-math.inf)), min_size=1, max_size=12)


@FAST
@given(logit_lists, temperatures, top_ks)
def test_next_token_distribution_is_a_distribution_or_refused(logits, temperature, top_k):
    logits = torch.tensor(logits)
    probs = works_or_names(lambda: next_token_distribution(logits, temperature, top_k),
                           "logits", "temperature", "top_k")
    if probs is None:
        assert math.isinf(logits.max()) or not isinstance(temperature, (int, float)) or isinstance(temperature, bool) \
            or not 0 < temperature < math.inf or isinstance(top_k, bool) or not isinstance(top_k, (int, type(None))) \
            or top_k < 1
        return
    assert probs.shape == logits.shape and torch.isfinite(probs).all() and (probs >= 0).all()
    assert abs(float(probs.sum()) - 1) < 1e-4
    assert float(probs[logits == -math.inf].sum()) == 0  # banned words stay banned
    assert float(probs[logits.argmax()]) == float(probs.max())  # the likeliest word stays likeliest
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, len(logits))).values[-1]
        assert float(probs[logits < kth].sum()) == 0


@pytest.mark.parametrize("logits", [torch.tensor([]), torch.zeros(2, 3), torch.tensor([1.0, math.nan]),
                                    torch.tensor([math.inf, 0.0]), torch.full((3,), -math.inf), [1.0, 2.0],
                                    torch.tensor([1, 2])])
def test_next_token_distribution_rejects_bad_logits(logits):
    with pytest.raises((ValueError, TypeError), match="logits"):
        next_token_distribution(logits)


class EchoModel(nn.Module):
    """A stand-in language model: fixed logits per input word, state counts the steps."""

    def __init__(self, vocab_size: int):
        super().__init__()
        self.table = nn.Embedding(vocab_size, vocab_size)
        with torch.no_grad():
            self.table.weight.copy_(torch.sin(torch.arange(vocab_size**2, dtype=torch.float)).view(vocab_size, -1))

    def forward(self, x, state=None):
        return self.table(x), (0 if state is None else state) + x.shape[1]  # (B, T, V)


SAMPLE_VOCAB = Vocabulary("whitespace", specials=(EOS,)).build("the cat sat on the mat and the dog ran")
SAMPLE_MODEL = EchoModel(len(SAMPLE_VOCAB))


@FAST
@given(st.one_of(st.text(max_size=20), st.sampled_from(["the cat", "zebra", "  ", "the\n"]), st.none(),
                 st.integers()),
       weird_ints, temperatures, top_ks, st.one_of(st.none(), weird_ints))
def test_sample_returns_prompt_plus_new_words_or_is_refused(prompt, max_new_tokens, temperature, top_k, seed):
    if isinstance(max_new_tokens, int) and max_new_tokens > 30:
        max_new_tokens = 30  # keep it fast; huge values are only slow, not wrong
    args = dict(max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k, seed=seed)
    out = works_or_names(lambda: sample(SAMPLE_MODEL, SAMPLE_VOCAB, prompt, **args),
                         "prompt", "max_new_tokens", "temperature", "top_k", "seed")
    if out is None:
        return
    words = out.split()
    prompt_words = [w if w in SAMPLE_VOCAB else UNK for w in prompt.split()]
    assert words[: len(prompt_words)] == prompt_words
    assert len(words) == len(prompt_words) + max_new_tokens
    assert all(w in SAMPLE_VOCAB for w in words)
    assert SAMPLE_MODEL.training  # the model's mode is given back
    if seed is not None:
        assert sample(SAMPLE_MODEL, SAMPLE_VOCAB, prompt, **args) == out  # seeded = reproducible


def test_sample_stops_at_the_stop_token_and_tiny_temperature_is_greedy():
    greedy = sample(SAMPLE_MODEL, SAMPLE_VOCAB, "the", max_new_tokens=15, top_k=1, seed=0)
    for temperature in (1e-300, 5e-324):
        assert sample(SAMPLE_MODEL, SAMPLE_VOCAB, "the", max_new_tokens=15, temperature=temperature, seed=1) == greedy
    out = sample(SAMPLE_MODEL, SAMPLE_VOCAB, "the", max_new_tokens=50, seed=0, stop_token="the")
    assert out.split()[1:].count("the") <= 1 and (len(out.split()) == 51 or out.endswith("the"))
