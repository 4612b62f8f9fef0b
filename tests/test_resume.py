"""Checkpoint every epoch and resume: an interrupted run, resumed, equals the uninterrupted one."""
import pytest
import torch

from companion import checkpoint as ckpt
from companion import cli
from companion import train as train_module
from companion.checkpoint import fit_with_checkpoints, load_checkpoint
from companion.model import ModelConfig, SimpleRnnlm
from companion.train import TrainConfig, fit, set_seed
from companion.vocab import Vocabulary

TEXT = "\n".join(["the cat sat on the mat", "the dog sat on the log", "a cat saw a dog"] * 10)
# dropout draws from torch's generator; lr=2.0 overshoots in epoch 2: the lr decays and a stale
# epoch is counted, so the resumed run must restore that state too
CONFIGS = {
    "dropout+decay": dict(lr=2.0, lr_decay=0.5, patience=2, restore_best=True),
    "window": dict(recipe="window", lr=1e-2, lr_decay=0.5, max_batches=20),
}
# the cosine schedule depends on `epochs`, so its run is interrupted for real (Ctrl-C), not shortened
COSINE = dict(lr=1e-2, lr_schedule="cosine", lr_min=1e-3, restore_best=True)


@pytest.fixture
def vocab():
    return Vocabulary("ptb").build(TEXT)


def fresh_model(vocab, hidden_size=12, dropout=0.3):
    set_seed(0)
    return SimpleRnnlm(ModelConfig(len(vocab), 8, hidden_size, dropout=dropout))


def config(epochs=3, **kw):
    return TrainConfig(epochs=epochs, batch_size=4, seq_len=5, progress=False, **kw)


def no_time(history):
    return {k: v for k, v in history.items() if k not in ("seconds", "tokens_per_s")}


def assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.allclose(sa[k], sb[k], atol=1e-6, rtol=0), k


@pytest.mark.parametrize("name", CONFIGS)
def test_interrupted_and_resumed_run_equals_the_uninterrupted_one(vocab, tmp_path, name):
    ids = vocab.encode(TEXT)
    whole = fresh_model(vocab)
    expected = fit(whole, ids, ids, config(**CONFIGS[name]), device="cpu")

    path = tmp_path / "run.pt"
    first = fresh_model(vocab)
    fit_with_checkpoints(first, vocab, ids, ids, config(epochs=2, **CONFIGS[name]), path, device="cpu")

    torch.manual_seed(123)  # a new process: other generator states, other initial weights
    resumed = SimpleRnnlm(ModelConfig(len(vocab), 8, 12, dropout=0.3))
    history = fit_with_checkpoints(resumed, vocab, ids, ids, config(**CONFIGS[name]), path, device="cpu")
    assert_same_weights(resumed, whole)
    assert no_time(history) == no_time(expected)
    assert load_checkpoint(path)["fit_state"]["epoch"] == 3
    if name == "dropout+decay":  # the run really exercised the lr decay
        assert expected["lr"][-1] < expected["lr"][0], expected["lr"]


def test_fit_with_checkpoints_without_interruption_matches_fit(vocab, tmp_path):
    ids = vocab.encode(TEXT)
    plain = fresh_model(vocab)
    expected = fit(plain, ids, ids, config(**CONFIGS["dropout+decay"]), device="cpu")
    model = fresh_model(vocab)
    history = fit_with_checkpoints(model, vocab, ids, ids, config(**CONFIGS["dropout+decay"]),
                                   tmp_path / "run.pt", device="cpu")
    assert_same_weights(model, plain)
    assert no_time(history) == no_time(expected)


@pytest.mark.parametrize("settings", [{}, COSINE], ids=["constant-lr", "cosine"])
def test_keyboard_interrupt_keeps_the_last_finished_epoch(vocab, tmp_path, monkeypatch, settings):
    ids = vocab.encode(TEXT)
    real_train_epoch = train_module.train_epoch

    def interrupted_in_epoch_3(*args, **kw):
        if kw.get("epoch", args[8] if len(args) > 8 else 0) == 3:
            raise KeyboardInterrupt
        return real_train_epoch(*args, **kw)

    monkeypatch.setattr(train_module, "train_epoch", interrupted_in_epoch_3)
    path = tmp_path / "run.pt"
    with pytest.raises(KeyboardInterrupt):
        fit_with_checkpoints(fresh_model(vocab), vocab, ids, ids, config(**settings), path, device="cpu")
    saved = load_checkpoint(path, vocab)
    assert saved["fit_state"]["epoch"] == 2 and saved["history"]["epoch"] == [1, 2]
    assert not list(tmp_path.glob("*.part"))

    monkeypatch.setattr(train_module, "train_epoch", real_train_epoch)
    resumed = fresh_model(vocab)
    history = fit_with_checkpoints(resumed, vocab, ids, ids, config(**settings), path, device="cpu")
    whole = fresh_model(vocab)
    expected = fit(whole, ids, ids, config(**settings), device="cpu")
    assert_same_weights(resumed, whole)
    assert no_time(history) == no_time(expected)
    if settings:  # the schedule really moved the learning rate
        assert expected["lr"][0] > expected["lr"][-1] > settings["lr_min"]


def test_a_truncated_checkpoint_is_refused_clearly(vocab, tmp_path):
    ids = vocab.encode(TEXT)
    path = tmp_path / "run.pt"
    fit_with_checkpoints(fresh_model(vocab), vocab, ids, ids, config(epochs=1), path, device="cpu")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        fit_with_checkpoints(fresh_model(vocab), vocab, ids, ids, config(epochs=2), path, device="cpu")


@pytest.mark.parametrize("change", ["hidden_size", "recipe", "vocabulary", "no_state"])
def test_resuming_another_run_is_refused(vocab, tmp_path, change):
    ids = vocab.encode(TEXT)
    path = tmp_path / "run.pt"
    fit_with_checkpoints(fresh_model(vocab), vocab, ids, ids, config(epochs=1), path, device="cpu")
    model, run_config, run_vocab = fresh_model(vocab), config(epochs=2), vocab
    if change == "hidden_size":
        model, message = fresh_model(vocab, hidden_size=16), "hidden_size"
    elif change == "recipe":
        run_config, message = config(epochs=2, recipe="window"), "recipe"
    elif change == "vocabulary":
        run_vocab = Vocabulary("ptb").build(TEXT + "\nan extra word")
        model, message = SimpleRnnlm(ModelConfig(len(run_vocab), 8, 12, dropout=0.3)), "different vocabulary"
    else:
        ckpt.save_checkpoint(path, model, vocab)
        message = "no training state"
    with pytest.raises(ValueError, match=message):
        fit_with_checkpoints(model, run_vocab, run_vocab.encode(TEXT), ids, run_config, path, device="cpu")


def test_cli_train_resumes_from_out(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("COURSE_FULL_RUN", raising=False)
    out = tmp_path / "m.pt"
    args = ["train", "--corpus", "toy", "--epochs", "1", "--embed-dim", "8", "--hidden-size", "8",
            "--device", "cpu", "--out", str(out)]
    assert cli.main(args) == 0 and load_checkpoint(out)["fit_state"]["epoch"] == 1
    assert cli.main(args + ["--resume"]) == 0  # already finished: nothing left to train
    assert "resuming from" in capsys.readouterr().out
    assert load_checkpoint(out)["history"]["epoch"] == [1]
    longer = args[:4] + ["2"] + args[5:]
    assert cli.main(longer + ["--resume"]) == 0  # one more epoch
    assert load_checkpoint(out)["history"]["epoch"] == [1, 2]
    assert cli.main(longer) == 0  # quick mode without --resume starts afresh
    assert load_checkpoint(out)["history"]["epoch"] == [1, 2]
    assert cli.main(args[:-2] + ["--hidden-size", "16", "--out", str(out), "--resume"]) == 2
    assert "different run" in capsys.readouterr().err
