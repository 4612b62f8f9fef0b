"""Tang poems: parsing, forms, the shipped quatrains, constrained sampling and its errors."""
import json
import re
from collections import Counter

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from companion.model import ModelConfig, SimpleRnnlm
from companion.poetry import (Poem, is_han, parse_poem, parse_poems, poems_text, shipped_quatrains, split_lines,
                              split_poems, write_quatrains)
from companion.toy import BigramModel
from companion.verse import form_stats, poem_lines, sample_poem
from companion.vocab import Vocabulary

ENTRY = {"author": "王之渙", "title": "登鸛雀樓", "paragraphs": ["白日依山盡，黃河入海流。", "欲窮千里目，更上一層樓。"]}


@pytest.fixture(scope="module")
def quatrains():
    return shipped_quatrains().poems


@pytest.fixture(scope="module")
def vocab(quatrains):
    return Vocabulary("char").build(poems_text(quatrains[:2000]))


@pytest.fixture(scope="module")
def model(vocab):
    torch.manual_seed(0)
    return SimpleRnnlm(ModelConfig(len(vocab), 8, 16, dropout=0.2))  # untrained: the form must still hold


def test_a_poem_is_cut_into_lines_with_their_marks():
    poem = parse_poem(ENTRY)
    assert poem.lines == ("白日依山盡，", "黃河入海流。", "欲窮千里目，", "更上一層樓。")
    assert poem.form == 5 and poem.is_quatrain
    assert poem.text == "白日依山盡，黃河入海流。欲窮千里目，更上一層樓。"
    assert split_lines(["無標點"]) == ["無標點。"]


def test_notes_are_removed_and_broken_poems_left_out():
    noted = {**ENTRY, "paragraphs": ["白日依山盡（一作落），黃河入海流。"]}
    assert parse_poem(noted).lines == ("白日依山盡，", "黃河入海流。")
    assert parse_poem({**ENTRY, "paragraphs": ["白日□山盡，黃河入海流。"]}) is None
    assert parse_poem({**ENTRY, "paragraphs": []}) is None
    assert parse_poem("not a poem") is None
    result = parse_poems([ENTRY, {"paragraphs": ["abc。"]}])
    assert len(result.poems) == 1 and result.dropped == 1
    with pytest.raises(ValueError, match="JSON list"):
        parse_poems({"poems": []})


def test_forms():
    seven = Poem("", "", ("朝辭白帝彩雲間，", "千里江陵一日還。"))
    mixed = Poem("", "", ("白日依山盡，", "千里江陵一日還。"))
    assert seven.form == 7 and not seven.is_quatrain and mixed.form is None


def test_the_shipped_quatrains(quatrains, tmp_path):
    assert len(quatrains) > 14_000
    assert all(p.is_quatrain for p in quatrains)
    forms = {p.form for p in quatrains}
    assert forms == {5, 7}
    path = tmp_path / "q.jsonl.gz"
    assert write_quatrains(quatrains[:10] + [Poem("", "", ("白日依山盡，",))], path) == 10


def test_split_keeps_whole_poems_and_is_deterministic(quatrains):
    parts = split_poems(quatrains[:1000])
    assert sum(map(len, parts.values())) == 1000 and len(parts["valid"]) == len(parts["test"]) == 50
    assert split_poems(quatrains[:1000]) == parts
    assert not set(parts["train"]) & set(parts["test"])
    with pytest.raises(ValueError, match="fractions"):
        split_poems(quatrains[:10], valid=0.6, test=0.5)


def test_one_poem_per_line_for_the_char_tokenizer(vocab):
    text = poems_text([parse_poem(ENTRY)])
    tokens = vocab.tokenize(text)
    assert tokens[-1] == "<eos>" and tokens.count("<eos>") == 1 and len(tokens) == 25


def test_form_stats():
    stats = form_stats(["白日依山盡，黃河入海流。", "白日依山，黃河入海流，"])
    assert stats.lines == 4 and stats.right_length == 0.75 and stats.right_marks == 0.75
    assert stats.consistent == 0.5
    assert stats.lines_per_poem == 2 and stats.four_lines == 0  # two couplets: no 绝句 among them
    assert poem_lines("白日依山盡，黃河") == ["白日依山盡，", "黃河"]
    with pytest.raises(ValueError):
        form_stats([])


def test_form_stats_counts_lines_per_poem():
    quatrain = "白日依山盡，黃河入海流。欲窮千里目，更上一層樓。"
    stats = form_stats([quatrain, quatrain, "白日依山盡，黃河入海流。", quatrain + "白日依山盡，黃河入海流。"])
    assert stats.lines == 4 + 4 + 2 + 6 and stats.lines_per_poem == 4
    assert stats.four_lines == 0.5  # a mean of 4 lines need not mean 4 lines each
    assert stats.right_length == 1 and stats.consistent == 1  # the line counts are not part of these


@settings(max_examples=25, deadline=None)
@given(data=st.data(), form=st.sampled_from([5, 7]), n=st.sampled_from([4, 8]),
       seed=st.integers(0, 2**32), temperature=st.floats(0.2, 2.0))
def test_every_acrostic_starts_each_line_with_its_character_and_keeps_the_form(
        model, vocab, data, form, n, seed, temperature):
    han = [t for t in vocab.id_to_token if re.fullmatch(r"[\u4e00-\u9fff]", t)]
    heads = "".join(data.draw(st.lists(st.sampled_from(han), min_size=n, max_size=n)))
    poem = sample_poem(model, vocab, form=form, acrostic=heads, seed=seed, temperature=temperature)
    lines = poem_lines(poem)
    assert len(lines) == n
    for i, line in enumerate(lines):
        assert line[0] == heads[i] and len(line) == form + 1
        assert line[-1] == ("，" if i % 2 == 0 else "。")
        assert all(re.fullmatch(r"[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]", c) for c in line[:-1])


def test_sampling_is_seeded_and_leaves_dropout_as_it_was(model, vocab):
    model.train()
    a = sample_poem(model, vocab, form=7, seed=3)
    assert model.training
    assert sample_poem(model, vocab, form=7, seed=3) == a
    free = sample_poem(model, vocab, seed=1, max_chars=30)
    assert len(free) <= 30 and "<eos>" not in free
    for seed in range(20):  # a free poem is never empty and starts with a Han character
        assert re.match(r"[\u4e00-\u9fff]", sample_poem(model, vocab, seed=seed, max_chars=10))


def test_the_bigram_baseline_samples_through_the_same_function(quatrains, vocab):
    ids = torch.tensor(vocab.encode(poems_text(quatrains[:200])))
    bigram = BigramModel.fit(ids, len(vocab))
    assert len(poem_lines(sample_poem(bigram, vocab, form=5, acrostic="春夏秋冬", seed=0))) == 4


@pytest.mark.parametrize("kwargs, message", [
    (dict(form=6), "form must be 5"),
    (dict(form=None, acrostic="春夏秋冬"), "needs a form"),
    (dict(form=5, acrostic="春夏秋"), "4 characters"),
    (dict(form=5, acrostic="春夏秋冬春夏秋冬春"), "4 characters"),
    (dict(form=5, acrostic="春夏秋☃"), "'☃': not Han"),
    (dict(form=5, acrostic="风花雪月"), "'风': looks simplified .* traditional form"),
    (dict(form=5, acrostic=1234), "must be a str"),
    (dict(form=5, lines=0), "lines"),
    (dict(temperature=0), "temperature"),
])
def test_bad_requests_get_clear_errors(model, vocab, kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        sample_poem(model, vocab, **kwargs)


def test_a_rare_traditional_character_is_not_blamed_on_the_script(model, quatrains):
    """A character the vocabulary dropped for being rare gets the min_freq advice, not the script hint."""
    text = poems_text(quatrains)
    counts = Counter(text)
    rare = next(c for c, n in counts.items() if n == 1 and is_han(c) and c.encode("big5", "ignore"))  # in Big5
    small = Vocabulary("char").build(text, min_freq=5)
    assert rare not in small and "风" not in counts
    with pytest.raises(ValueError, match="min_freq") as err:
        sample_poem(model, small, form=5, acrostic=rare + "花雪月")
    assert repr(rare) in str(err.value) and "traditional" not in str(err.value)
    assert "黄" in counts and "黄" not in small  # a simplified-looking form the quatrains do use, rarely
    with pytest.raises(ValueError, match="min_freq") as err:
        sample_poem(model, small, form=5, acrostic="黄河風月")
    assert "traditional" not in str(err.value)
    with pytest.raises(ValueError, match="'风': looks simplified") as err:  # both problems, each with its fix
        sample_poem(model, small, form=5, acrostic=rare + "风雪月")
    assert "min_freq" in str(err.value)


def test_a_vocabulary_without_poem_marks_is_refused(model):
    english = Vocabulary("ptb").build("the cat sat")
    with pytest.raises(ValueError, match="not a poetry model"):
        sample_poem(model, english, form=5)


def test_the_shipped_manifest_matches_the_local_copy_when_present():
    from importlib import resources
    sums = (resources.files("companion.records") / "chinese_poetry.sha256").read_text(encoding="utf-8")
    entries = [line.split(maxsplit=1) for line in sums.splitlines() if line.strip()]
    assert len(entries) == 59 and all(len(h) == 64 for h, _ in entries)
    assert json.dumps(entries, ensure_ascii=False).count("poet.tang.") == 58


def test_a_full_run_record_is_described_with_its_poems(tmp_path):
    """The poetry chapter's account of a record, on a throwaway record of a short real run."""
    from companion.corpora import load_corpus
    from companion.runs import run_paths, train_run
    from companion.train import TrainConfig
    from companion.verse import format_poem, record_facts, showcase, showcase_text

    corpus = load_corpus("tang", max_train_tokens=3000, max_eval_tokens=400)
    torch.manual_seed(0)
    model = SimpleRnnlm(ModelConfig(len(corpus.vocab), 8, 16))
    config = TrainConfig(epochs=1, batch_size=4, seq_len=16, max_batches=5, progress=False)
    record = train_run(model, corpus.vocab, corpus, config, run_paths("full", "tang", root=tmp_path), "full",
                       "cpu", showcase=lambda m: showcase(m, corpus.vocab, free_poems=5))
    facts = record_facts(record)
    assert facts["tang_full_ppl"] == f"{record['test_ppl']:.1f}" and facts["tang_full_ppl"] in facts["tang_record"]
    assert record["device"] in facts["tang_record"] and facts["tang_full_wall"].endswith("秒")  # a short run
    assert record_facts({**record, "wall_seconds": 3 * 3600})["tang_full_wall"] == "3.0 小时"
    text = showcase_text(record)
    for heads, poem in record["samples"]["acrostics"].items():
        assert heads in text and format_poem(poem) in text
        assert [line[0] for line in poem_lines(poem)] == list(heads)
    assert "还没有" in record_facts(None)["tang_record"] and set(record_facts(None)) == {"tang_record"}
    assert format_poem("白日依山盡，黃河入海流。欲窮千里目，更上一層樓。") == "白日依山盡，黃河入海流。\n欲窮千里目，更上一層樓。"
