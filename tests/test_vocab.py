import pytest
from hypothesis import given, settings, strategies as st

from companion.vocab import (EOS, PAD, UNK, Vocabulary, char_tokenize, default_tokenize,
                             get_tokenizer, ptb_tokenize)


def test_ptb_tokenize_does_not_depend_on_line_spacing():
    # the article's version glued '<eos>' to the neighbouring words without surrounding spaces
    assert ptb_tokenize("a b\nc") == ["a", "b", EOS, "c", EOS]
    assert ptb_tokenize(" a b \n c \n") == ptb_tokenize("a b\nc")
    assert ptb_tokenize("\n\n  \n") == []


def test_default_tokenize_splits_punctuation():
    assert default_tokenize("Hi, I'm here!") == ["hi", ",", "i", "'", "m", "here", "!"]


def test_char_tokenize_handles_chinese():
    assert char_tokenize("我爱你\n你好 世界") == ["我", "爱", "你", EOS, "你", "好", " ", "世", "界", EOS]


def test_ids_are_deterministic_specials_first_then_frequency():
    v = Vocabulary("whitespace", specials=(EOS, PAD)).build("b a b c a b")
    assert v.id_to_token == [UNK, EOS, PAD, "b", "a", "c"]
    assert v.unk_id == 0 and v.special_id(PAD) == 2
    assert v.size == len(v) == 6


def test_build_once_then_frozen():
    v = Vocabulary("whitespace").build("the cat sat")
    with pytest.raises(ValueError, match="frozen"):
        v.build("a dog barked")  # the article's bug: validation text growing the vocabulary
    assert v.encode("the dog") == [v.token_to_id["the"], v.unk_id]


def test_custom_unk_token_is_used():
    v = Vocabulary("whitespace", unk_token="[UNK]").build("x y")
    assert v.id_to_token[0] == "[UNK]"
    assert v.decode(v.encode("zzz")) == "[UNK]"


def test_min_freq_maps_rare_words_to_unk():
    v = Vocabulary("whitespace").build("a a a b", min_freq=2)
    assert "b" not in v and v.encode("b") == [0]


def test_encoding_before_build_and_bad_arguments_are_explained():
    with pytest.raises(ValueError, match="build"):
        Vocabulary().encode("hello")
    with pytest.raises(ValueError, match="min_freq"):
        Vocabulary().build("a", min_freq=0)
    with pytest.raises(ValueError, match="empty"):
        Vocabulary().build("   ")
    with pytest.raises(ValueError, match="tokenizer"):
        Vocabulary("nope")
    with pytest.raises(ValueError, match="unk_token"):
        Vocabulary(unk_token="")
    with pytest.raises(TypeError, match="text"):
        Vocabulary().build("a").encode(123)
    with pytest.raises(ValueError, match="id 99"):
        Vocabulary().build("a").decode([99])
    with pytest.raises(ValueError, match="special"):
        Vocabulary().build("a").special_id(PAD)


def test_save_load_round_trip(tmp_path):
    v = Vocabulary("char", specials=(EOS,)).build("你好\n世界")
    v.save(tmp_path / "vocab.json")
    w = Vocabulary.load(tmp_path / "vocab.json")
    assert w == v and w.tokenizer.name == "char" and w.frozen
    assert w.encode("好世") == v.encode("好世")
    assert [p.name for p in tmp_path.iterdir()] == ["vocab.json"]  # no temporary file left


def test_custom_tokenizer_must_be_given_back_on_load(tmp_path):
    v = Vocabulary(lambda s: list(s)).build("ab")
    v.save(tmp_path / "v.json")
    with pytest.raises(ValueError, match="custom tokenizer"):
        Vocabulary.load(tmp_path / "v.json")
    assert Vocabulary.load(tmp_path / "v.json", tokenizer=lambda s: list(s)) == v


words = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1)


@settings(max_examples=60, deadline=None)
@given(st.lists(words, min_size=1, max_size=30))
def test_round_trip_known_words(token_lists):
    text = "\n".join(token_lists)
    for name in ("whitespace", "ptb", "char", "default"):
        tok = get_tokenizer(name)
        tokens = tok.split(text)
        if not tokens:
            continue
        v = Vocabulary(name).build(text)
        assert v.decode(v.encode(text)) == tok.joiner.join(tokens)
        assert all(0 <= i < len(v) for i in v.encode(text))


def test_saved_files_get_normal_permissions(tmp_path):
    import os
    mask = os.umask(0o022)
    try:
        Vocabulary("whitespace").build("a b").save(tmp_path / "v.json")
    finally:
        os.umask(mask)
    assert (tmp_path / "v.json").stat().st_mode & 0o777 == 0o644
