"""Bad input, round 2 (issue 14): each case gets a ValueError/TypeError that names the argument,
the value and the fix, and leaves nothing half-done behind. One test per defect found."""
import hashlib
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from companion import download, ptb
from companion.checkpoint import load_checkpoint, load_model, save_checkpoint
from companion.corpora import load_corpus
from companion.data import pad_sentences, pad_sequences
from companion.files import atomic_write_text
from companion.fused_loss import linear_cross_entropy
from companion.generate import sample
from companion.mode import run_mode
from companion.model import HandRNN, ModelConfig, SimpleRnnlm, check_token_ids
from companion.numpy_rnnlm import SGD
from companion.ptb import PTBError, SplitFile, ptb_path
from companion.toy import BigramModel
from companion.vocab import EOS, Vocabulary

V, E, H = 11, 6, 12
README = Path(__file__).resolve().parents[1] / "README.md"


def lm(**kw) -> SimpleRnnlm:
    torch.manual_seed(0)
    return SimpleRnnlm(ModelConfig(V, E, H, **kw))


def ids(*rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.long)


# --- 2. token ids outside the vocabulary ------------------------------------------------
@pytest.mark.parametrize("cell", ["torch", "hand"])
@pytest.mark.parametrize("bad, shown", [(ids([1, 2], [3, V]), rf"\[1, {V}\]"), (ids([-1, 2]), r"\[-1, 2\]"),
                                        (ids([V + 40]), rf"\[{V + 40}, {V + 40}\]")])
def test_out_of_range_ids_name_the_range_and_the_vocabulary_size(cell, bad, shown):
    model = lm(cell=cell)
    good = torch.zeros_like(bad)
    calls = {"x": [lambda: model(bad), lambda: model.features(bad), lambda: model.loss(bad, good)],
             "y": [lambda: model.loss(good, bad)]}
    for name, group in calls.items():
        for call in group:
            with pytest.raises(ValueError, match=rf"{name} holds token ids in {shown}.*vocab_size={V}.*encode"):
                call()


def test_fit_with_ids_outside_the_vocabulary_is_explained():
    from companion.train import TrainConfig, fit
    train = torch.arange(40) % (V + 2)  # two ids too many: a corpus encoded with another vocabulary
    with pytest.raises(ValueError, match=rf"vocab_size={V}"):
        fit(lm(), train, train % V, TrainConfig(batch_size=2, seq_len=5, progress=False))


def test_range_check_reads_no_values_off_the_cpu():
    # on a GPU, reading aminmax back would stall every step; "meta" tensors have no values at all,
    # so passing one shows the check only looks at metadata there
    check_token_ids(torch.full((2, 3), V + 5, dtype=torch.long, device="meta"), V)
    with pytest.raises(ValueError, match="x is on meta but the model is on cpu"):
        lm()(torch.zeros(2, 3, dtype=torch.long, device="meta"))


@pytest.mark.parametrize("model_size", [V - 1, V + 1])
def test_sample_refuses_a_vocabulary_the_model_was_not_built_for(model_size):
    vocab = Vocabulary("whitespace").build(" ".join(f"w{i}" for i in range(V - 1)))
    assert len(vocab) == V
    model = SimpleRnnlm(ModelConfig(model_size, E, H))
    with pytest.raises(ValueError, match=rf"model scores {model_size} words but vocab has {V}.*load_model"):
        sample(model, vocab, "w1 w2", 5, seed=0)
    with pytest.raises(ValueError, match=rf"model scores {model_size} words"):
        sample(BigramModel(model_size), vocab, "w1", 5, seed=0)  # its size is an attribute
    wide = Wide(model_size)  # a model that does not say its size is checked on its first logits
    with pytest.raises(ValueError, match=rf"model scores {model_size} words"):
        sample(wide, vocab, "w1", 5, seed=0)
    assert wide.training  # its mode is given back after the error


class Wide(nn.Module):
    """Uniform logits over `size` words, whatever the input."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def forward(self, x, state=None):
        return torch.zeros(*x.shape, self.size), state


# --- 3. states of the wrong shape, dtype or device ---------------------------------------
@pytest.mark.parametrize("cell", ["torch", "hand"])
def test_a_wrong_state_is_explained_with_the_expected_shape(cell):
    model, x = lm(cell=cell), torch.zeros(2, 4, dtype=torch.long)
    cases = [(torch.zeros(1, 3, H), ValueError, r"state must be \(L, B, H\) = \(1, 2, 12\) for x of batch size 2"
                                                r".*got \(1, 3, 12\); pass state=None to start from zeros"),
             (torch.zeros(2, 2, H), ValueError, r"= \(1, 2, 12\).*got \(2, 2, 12\)"),
             (torch.zeros(1, 2, H + 1), ValueError, r"got \(1, 2, 13\)"),
             (torch.zeros(1, 2, H, dtype=torch.float64), TypeError, r"state must be torch.float32.*float64"),
             (torch.zeros(1, 2, H, device="meta"), ValueError, r"state is on meta but the model is on cpu"),
             ([[0.0] * H] * 2, TypeError, r"state must be a tensor.*got list")]
    for state, kind, message in cases:
        with pytest.raises(kind, match=message):
            model(x, state)
    assert model(x, torch.zeros(1, 2, H))[1].shape == (1, 2, H)


@pytest.mark.parametrize("h0_shape", [(1, 3, H), (1, 1, H), (2, 2, H), (1, 2, H + 1)])
def test_hand_rnn_refuses_every_state_nn_rnn_refuses(h0_shape):
    x, h0 = torch.randn(2, 5, E), torch.zeros(h0_shape)
    with pytest.raises(RuntimeError):
        nn.RNN(E, H, batch_first=True)(x, h0)  # the reference refuses: no broadcasting, no extra layers
    with pytest.raises(ValueError, match=rf"h0 must be \(L, B, H\) = \(1, 2, {H}\).*got {re.escape(str(h0_shape))}"):
        HandRNN(E, H)(x, h0)
    with pytest.raises(TypeError, match="x must be torch.float32"):
        HandRNN(E, H)(x.double())


def test_init_state_follows_the_model_and_checks_batch_size():
    model = lm(num_layers=2).double()
    assert model.init_state(3).dtype == torch.float64 and model.init_state(3).shape == (2, 3, H)
    model(torch.zeros(3, 2, dtype=torch.long), model.init_state(3))
    with pytest.raises(ValueError, match="batch_size"):
        model.init_state(0)


# --- 4. zero time steps -----------------------------------------------------------------
def test_an_input_without_time_steps_is_explained():
    model, empty = lm(), torch.zeros(2, 0, dtype=torch.long)
    for call in (lambda: model(empty), lambda: model.loss(empty, empty), lambda: BigramModel(V)(empty),
                 lambda: lm(cell="hand")(empty)):
        with pytest.raises(ValueError, match=r"\(B, T\) = \(2, 0\).*at least one time step"):
            call()
    with pytest.raises(ValueError, match=r"x must be a \(B, T, 6\) tensor with B, T >= 1"):
        HandRNN(E, H)(torch.zeros(2, 0, E))


# --- 6. PTB settings: malformed URL, root that is a file, download options ---------------
@pytest.fixture
def ptb_env(monkeypatch, tmp_path):
    monkeypatch.delenv(ptb.ROOT_ENV, raising=False)
    monkeypatch.delenv(ptb.URL_ENV, raising=False)
    monkeypatch.setattr(download, "_digest_cache", {})
    return monkeypatch


@pytest.mark.parametrize("url", ["not a url", "http://", "ftp://example.org/ptb", "example.org/ptb", " ",
                                 "http://[::1", "http://example.org:99999"])
def test_a_malformed_ptb_url_names_the_variable_and_the_fix(ptb_env, tmp_path, url):
    ptb_env.setenv(ptb.URL_ENV, url)
    root = tmp_path / "ptb"
    with pytest.raises(PTBError, match=rf"\$COURSE_PTB_URL = .*http://, https:// or file://.*unset COURSE_PTB_URL"):
        ptb_path("train", root=root)
    assert not root.exists()  # checked before anything was created
    corpus = load_corpus("auto", root=root, toy_sentences={"train": 50, "valid": 10, "test": 10})
    assert corpus.name == "toy" and "COURSE_PTB_URL" in corpus.note
    with pytest.raises(PTBError, match="COURSE_PTB_URL"):
        load_corpus("ptb", root=root)
    with pytest.raises(ValueError, match="base_url = 'ftp://x'"):  # as an argument: a ValueError too
        ptb_path("train", root=root, base_url="ftp://x")


def test_a_malformed_url_does_not_matter_while_the_files_are_cached(ptb_env, tmp_path):
    data = b" a b \n"
    ptb_env.setattr(ptb, "PTB_FILES", {"train": SplitFile("t.txt", hashlib.sha256(data).hexdigest(), 1)})
    (tmp_path / "t.txt").write_bytes(data)
    ptb_env.setenv(ptb.URL_ENV, "not a url")
    assert ptb_path("train", root=tmp_path) == tmp_path / "t.txt"


def test_a_ptb_root_variable_naming_a_file_is_explained_and_auto_falls_back(ptb_env, tmp_path):
    a_file = tmp_path / "ptb"
    a_file.write_text("")
    ptb_env.setenv(ptb.ROOT_ENV, str(a_file))
    with pytest.raises(PTBError, match="COURSE_PTB_ROOT=.* is a file, not a directory"):
        ptb_path("train")
    corpus = load_corpus("auto", toy_sentences={"train": 50, "valid": 10, "test": 10})
    assert corpus.name == "toy" and "COURSE_PTB_ROOT" in corpus.note


@pytest.mark.parametrize("option", [dict(timeout=0), dict(timeout=-1), dict(timeout=float("nan")),
                                    dict(attempts=0), dict(attempts=1.5), dict(backoff=-0.1),
                                    dict(backoff=float("inf")), dict(base_url=5)])
def test_bad_download_options_are_named(ptb_env, tmp_path, option):
    with pytest.raises((ValueError, TypeError), match=next(iter(option))):
        ptb_path("train", root=tmp_path / "ptb", **option)
    assert not (tmp_path / "ptb").exists()


def test_toy_sentences_with_unknown_splits_or_counts_are_refused():
    for bad in ({"trian": 50}, {"train": 0}, {"train": True}, [50]):
        with pytest.raises(ValueError, match="toy_sentences"):
            load_corpus("toy", toy_sentences=bad)


# --- 7. damaged checkpoints -------------------------------------------------------------
@pytest.fixture
def saved(tmp_path):
    vocab = Vocabulary("whitespace").build(" ".join(f"w{i}" for i in range(V - 1)))
    return save_checkpoint(tmp_path / "model.pt", lm(), vocab), vocab


@pytest.mark.parametrize("damage, message", [
    (lambda c: c.pop("vocab"), r"missing 'vocab'"),
    (lambda c: c.pop("model"), r"missing 'model'"),
    (lambda c: [c.pop("model_config"), c.pop("vocab")], r"missing 'model_config'; missing 'vocab'"),
    (lambda c: c.update(vocab=[1, 2]), r"'vocab' is a list, not a dict"),
    (lambda c: c["model_config"].update(colour="red"), r"unknown model_config fields \['colour'\]"),
    (lambda c: c["vocab"].pop("tokens"), r"vocabulary does not load.*tokens"),
])
def test_a_checkpoint_with_missing_keys_says_which_and_that_it_is_damaged(saved, damage, message):
    path, vocab = saved
    checkpoint = torch.load(path, weights_only=True)
    damage(checkpoint)
    torch.save(checkpoint, path)
    for call in (lambda: load_checkpoint(path), lambda: load_checkpoint(path, vocab), lambda: load_model(path)):
        with pytest.raises(ValueError, match=rf"damaged or was not written by save_checkpoint \(.*{message}"):
            call()


def test_checkpoint_arguments_are_named_not_blamed_on_the_file(saved):
    path, vocab = saved
    with pytest.raises(ValueError, match="map_location must be a device.*'gpu'"):
        load_checkpoint(path, map_location="gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="map_location='cuda', but no CUDA GPU"):
            load_checkpoint(path, map_location="cuda")
    with pytest.raises(TypeError, match="vocab must be a Vocabulary"):
        load_checkpoint(path, vocab=["w1"])
    with pytest.raises(IsADirectoryError, match="is a directory; give the path of the checkpoint file"):
        load_checkpoint(path.parent)
    assert load_checkpoint(path, vocab)["format"] == "companion.checkpoint/1"


# --- 9. inputs that used to be accepted silently -----------------------------------------
def test_decode_refuses_bools():
    vocab = Vocabulary().build("a b c")
    for bad in ([True], [1, False], torch.tensor([True, False])):
        with pytest.raises(TypeError, match="bool"):
            vocab.decode(bad)
    assert vocab.decode([1, 2]) == "a b"


def test_a_pad_id_that_is_a_real_token_is_refused():
    with pytest.raises(ValueError, match=r"pad_id=2 also occurs among the real ids \(sequence 1, position 0\)"
                                         r".*ignore_index=pad_id would drop real targets.*special_id"):
        pad_sequences([[1, 3], [2]], pad_id=2)
    with pytest.raises(ValueError, match="pad_id=0 also occurs"):
        pad_sentences([[5, 6, 0], [7, 8]], pad_id=0)  # 0 is <unk>: a real (if unknown) word
    assert pad_sentences([[5, 6, 1], [7, 8]], pad_id=0).targets.tolist() == [[6, 1], [8, 0]]


def test_sample_refuses_a_stop_token_the_vocabulary_lacks():
    vocab = Vocabulary("ptb", specials=(EOS,)).build(" ".join(f"w{i}" for i in range(V - 2)))
    model = lm()
    with pytest.raises(ValueError, match=r"stop_token='\\n' is not in the vocabulary.*'<eos>'"):
        sample(model, vocab, "w1", 5, seed=0, stop_token="\n")
    with pytest.raises(TypeError, match="stop_token must be a token"):
        sample(model, vocab, "w1", 5, seed=0, stop_token=1)
    assert sample(model, vocab, "w1", 5, seed=0, stop_token=EOS).startswith("w1")


def test_min_freq_that_keeps_no_word_is_refused_and_changes_nothing():
    vocab = Vocabulary("whitespace", specials=(EOS,))
    with pytest.raises(ValueError, match=r"min_freq=4 leaves no word.*occurs 3 times; use min_freq <= 3"):
        vocab.build("a a a b", min_freq=4)
    assert len(vocab) == 2 and not vocab.frozen  # the refused build left nothing behind
    assert vocab.build("a a a b", min_freq=3).id_to_token == ["<unk>", EOS, "a"]


# --- 10. COURSE_FULL_RUN's accepted values are the ones the message and README give ------
@pytest.mark.parametrize("value, mode", [("1", "full"), (" TRUE ", "full"), ("yes", "full"), ("On", "full"),
                                         ("0", "quick"), ("false", "quick"), ("No", "quick"), ("off", "quick"),
                                         ("", "quick")])
def test_full_run_flag_spellings(monkeypatch, value, mode):
    monkeypatch.setenv("COURSE_FULL_RUN", value)
    assert run_mode() == mode


def test_full_run_flag_error_lists_every_accepted_value(monkeypatch):
    monkeypatch.setenv("COURSE_FULL_RUN", "fulll")
    with pytest.raises(ValueError, match=r"1, true, yes, on \(full run\) or 0, false, no, off, empty or unset.*"
                                         r"got 'fulll'"):
        run_mode()
    section = README.read_text(encoding="utf-8").split("## Quick and full runs")[1].split("\n## ")[0]
    assert all(f"`{word}`" in section for word in ("true", "yes", "on", "false", "no", "off"))


# --- more of the same kinds, found while fixing the above --------------------------------
def test_encode_tokens_refuses_one_string():
    vocab = Vocabulary("whitespace").build("the cat")
    with pytest.raises(TypeError, match=r"not one string: use vocab.encode\(text\)"):
        vocab.encode_tokens("the cat")  # would have encoded it character by character


def test_loading_a_file_that_is_not_a_vocabulary_names_the_file(tmp_path):
    for name, data in (("broken.json", b"{"), ("binary.json", b"\xff\xfe\x00")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match=rf"{name} is not a vocabulary saved by vocab.save"):
            Vocabulary.load(tmp_path / name)


def test_fused_loss_refuses_bad_chunks_and_mixed_dtypes():
    h, w, b, y = torch.randn(4, 3), torch.randn(5, 3), torch.randn(5), torch.tensor([0, 1, 2, 4])
    for rows in (0, -2, True, 1.5):  # 0 used to mean "automatic", -2 gave a loss of exactly 0
        with pytest.raises(ValueError, match="chunk_rows"):
            linear_cross_entropy(h, w, b, y, chunk_rows=rows)
    with pytest.raises(TypeError, match="h and weight must be floating point of one dtype"):
        linear_cross_entropy(h.double(), w, b, y)
    with pytest.raises(TypeError, match="h and bias"):
        linear_cross_entropy(h, w, b.double(), y)


def test_writing_into_a_missing_directory_names_the_directory(tmp_path):
    target = tmp_path / "no" / "such" / "vocab.json"
    with pytest.raises(FileNotFoundError, match=rf"the directory {re.escape(str(tmp_path / 'no' / 'such'))} does"):
        atomic_write_text(target, "{}")
    assert not (tmp_path / "no").exists()


def test_numpy_sgd_refuses_a_bool_learning_rate():
    with pytest.raises(ValueError, match="lr"):
        SGD(True)


def test_bigram_model_refuses_ids_outside_its_table():
    with pytest.raises(ValueError, match=rf"x holds token ids in \[0, {V}\].*vocab_size={V}"):
        BigramModel(V)(ids([0, V]))


def test_model_config_fields_of_the_wrong_type_are_named():
    for bad, kind in ((dict(dropout="0.1"), ValueError), (dict(dropout=True), ValueError),
                      (dict(tie_weights="no"), TypeError)):
        with pytest.raises(kind, match=next(iter(bad))):
            ModelConfig(V, H, H, **bad)
    with pytest.raises(TypeError, match=r"config must be a ModelConfig.*got dict"):
        SimpleRnnlm({"vocab_size": V})


def test_fused_loss_refuses_targets_on_another_device():
    h, w, y = torch.randn(2, 3), torch.randn(5, 3), torch.zeros(2, dtype=torch.long, device="meta")
    with pytest.raises(ValueError, match="targets are on meta but h is on cpu"):
        linear_cross_entropy(h, w, None, y)


def test_bigram_counts_refuse_float_or_two_dimensional_ids():
    with pytest.raises(TypeError, match="ids must hold integer token ids"):
        BigramModel.fit([0.5, 1.5, 2.0], 3)  # used to be truncated to 0, 1, 2
    with pytest.raises(ValueError, match="ids must be 1-D"):
        BigramModel.fit([[0, 1], [1, 2]], 3)  # used to count the pair (1, 1) across the row boundary


def test_numpy_rnnlm_names_a_bad_seed():
    from companion.numpy_rnnlm import NumpyRnnlm
    with pytest.raises(ValueError, match="seed must be an integer >= 0, got 'x'"):
        NumpyRnnlm(5, seed="x")
