"""Full mode end to end: default paths per mode and corpus, a finished run is never trained or
recorded twice, functions follow the model's device, and a diverging run stops at once."""
import inspect
import json
import math
from dataclasses import replace

import pytest
import torch

from companion import cli, generate, runs, toy, train
from companion.checkpoint import fit_with_checkpoints, load_checkpoint
from companion.corpora import load_corpus
from companion.mode import get_settings
from companion.model import ModelConfig, SimpleRnnlm
from companion.runtime import model_device, rng_state, set_rng_state
from companion.runs import RunPaths, run_paths, train_run
from companion.train import TrainConfig, fit, perplexity

TINY = ["--corpus", "toy", "--epochs", "1", "--embed-dim", "8", "--hidden-size", "8", "--device", "cpu"]


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.delenv("COURSE_FULL_RUN", raising=False)
    return tmp_path / "runs"


@pytest.fixture
def small_full_settings(monkeypatch):
    """Full mode's flags (resume by default, its own paths) on a small toy corpus."""
    def settings(mode=None, device=None):
        s = get_settings(mode, device)
        if s.full:
            s = replace(s, toy_sentences={"train": 300, "valid": 40, "test": 40}, embed_dim=8, hidden_size=8,
                        train=replace(s.train, epochs=1))
        return s
    monkeypatch.setattr(cli, "get_settings", settings)


@pytest.fixture
def corpus():
    return load_corpus("toy", toy_sentences={"train": 200, "valid": 30, "test": 30})


def tiny_config(**kw):
    return TrainConfig(**{"epochs": 2, "batch_size": 4, "seq_len": 5, "progress": False, **kw})


def tiny_model(corpus, dropout=0.0):
    torch.manual_seed(0)
    return SimpleRnnlm(ModelConfig(len(corpus.vocab), 8, 8, dropout=dropout))


def test_cli_quick_then_full_with_default_paths(runs_dir, small_full_settings, capsys):
    assert cli.main(["train", *TINY]) == 0
    assert cli.main(["train", *TINY, "--mode", "full"]) == 0  # used to stop: "comes from a different run"
    assert sorted(p.name for p in runs_dir.iterdir()) == ["full-toy.json", "full-toy.pt",
                                                          "quick-toy.json", "quick-toy.pt"]
    assert json.loads((runs_dir / "full-toy.json").read_text())["mode"] == "full"
    assert json.loads((runs_dir / "quick-toy.json").read_text())["mode"] == "quick"
    full_record = (runs_dir / "full-toy.json").read_bytes()
    assert cli.main(["train", *TINY, "--mode", "full"]) == 0  # finished: nothing trained, nothing rewritten
    assert (runs_dir / "full-toy.json").read_bytes() == full_record
    assert "resuming from" in capsys.readouterr().out


def test_default_paths_depend_on_mode_and_corpus(tmp_path):
    paths = {run_paths(m, c, tmp_path) for m in ("quick", "full") for c in ("ptb", "toy")}
    assert len(paths) == 4 and all(p.checkpoint.parent == tmp_path for p in paths)
    assert run_paths("full", "ptb", tmp_path).record == tmp_path / "full-ptb.json"
    with pytest.raises(ValueError, match="mode"):
        run_paths("fast", "ptb")
    with pytest.raises(ValueError, match="corpus"):
        run_paths("full", "../etc")


def test_runs_go_under_the_working_directory_by_default(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_RUNS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert run_paths("full", "ptb").checkpoint.resolve() == tmp_path / "runs" / "full-ptb.pt"


def test_a_finished_run_is_neither_retrained_nor_rerecorded(tmp_path, corpus, monkeypatch):
    paths = RunPaths.for_checkpoint(tmp_path / "run.pt")
    config = tiny_config()
    first = train_run(tiny_model(corpus), corpus.vocab, corpus, config, paths, "full", "cpu")
    before = paths.record.read_bytes(), paths.record.stat().st_mtime_ns
    assert first["wall_seconds"] > 0 and first["device"].startswith("CPU") and len(first["epochs"]) == 2

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")
    monkeypatch.setattr(runs, "fit_with_checkpoints", no_training)
    again_model = tiny_model(corpus)
    again = train_run(again_model, corpus.vocab, corpus, config, paths, "full", "cpu")
    assert again == first
    assert (paths.record.read_bytes(), paths.record.stat().st_mtime_ns) == before
    # the model holds the run's weights, ready to sample from
    saved = load_checkpoint(paths.checkpoint)["model"]
    assert all(torch.equal(saved[k], v) for k, v in again_model.state_dict().items())


def test_a_resumed_run_records_its_whole_time_devices_and_first_commit(tmp_path, corpus, monkeypatch):
    paths = RunPaths.for_checkpoint(tmp_path / "run.pt")
    monkeypatch.setattr(runs, "git_commit", lambda: "commit-at-start")
    fit_with_checkpoints(tiny_model(corpus), corpus.vocab, corpus.train, corpus.valid, tiny_config(epochs=1),
                         paths.checkpoint, device="cpu", extra={"started": {"commit": "commit-at-start",
                                                                            "date": "2026-01-01T00:00:00+00:00"}})
    first_wall = load_checkpoint(paths.checkpoint)["fit_state"]["wall_seconds"]
    monkeypatch.setattr(runs, "git_commit", lambda: "commit-later")
    model = tiny_model(corpus)
    record = train_run(model, corpus.vocab, corpus, tiny_config(epochs=2), paths, "full", "cpu")
    assert record["commit"] == "commit-at-start" and record["started"].startswith("2026-01-01")
    assert record["wall_seconds"] > first_wall > 0
    assert [e["epoch"] for e in record["epochs"]] == [1, 2]
    assert load_checkpoint(paths.checkpoint)["fit_state"]["devices"] == [record["device"]]


def test_cli_refuses_a_directory_as_out_before_training(tmp_path, runs_dir, monkeypatch, capsys):
    monkeypatch.setattr(cli, "load_corpus", lambda *a, **k: pytest.fail("loaded data before checking --out"))
    assert cli.main(["train", *TINY, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is a directory" in err and "model.pt" in err
    assert cli.main(["train", *TINY, "--resume", "--out", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert cli.main(["train", *TINY, "--results", str(tmp_path)]) == 2
    assert "--results" in capsys.readouterr().err


def test_cli_refuses_an_unwritable_out(tmp_path, runs_dir, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert cli.main(["train", *TINY, "--out", str(blocker / "m.pt")]) == 2
    assert "not a writable directory" in capsys.readouterr().err


def test_public_functions_default_to_the_models_device():
    for fn, arg in ((train.evaluate, "device"), (train.evaluate_ids, "device"), (train.train_epoch, "device"),
                    (generate.sample, "device"), (toy.agreement_accuracy, "device"),
                    (toy.agreement_scores, "device"), (SimpleRnnlm.init_state, "device")):
        assert inspect.signature(fn).parameters[arg].default is None, fn.__name__
    model = SimpleRnnlm(ModelConfig(11, 4, 5)).to("meta")
    assert model_device(model) == torch.device("meta")
    assert model.init_state(3).device == torch.device("meta")
    assert model_device(model, "cpu") == torch.device("cpu")


def test_evaluate_runs_on_the_models_device_and_dtype():
    model = SimpleRnnlm(ModelConfig(11, 4, 5)).double()  # the state follows the weights' dtype too
    assert model.init_state(2).dtype == torch.float64
    ids = torch.randint(0, 11, (41,))
    assert math.isfinite(train.evaluate_ids(model, ids, TrainConfig(eval_batch_size=2, seq_len=5)))


def test_rng_state_restores_without_the_gpus_it_was_saved_with():
    state = rng_state()
    assert "cuda" not in state or isinstance(state["cuda"], torch.Tensor)  # one device, not all of them
    # a checkpoint written on a machine with 8 GPUs, resumed here: no IndexError
    old_style = {**state, "cuda": [torch.zeros(16, dtype=torch.uint8)] * 8}
    set_rng_state(old_style)
    first = torch.rand(3)
    set_rng_state(state)
    assert torch.equal(torch.rand(3), first)


class ExplodingAdam(torch.optim.Adam):
    """Adam whose learning rate becomes absurd after `after` steps: a run that diverges mid-way."""

    def __init__(self, params, lr, after):
        super().__init__(params, lr=lr)
        self.after, self.steps = after, 0

    def step(self, closure=None):
        self.steps += 1
        if self.steps > self.after:
            for group in self.param_groups:
                group["lr"] = 1e6
        return super().step(closure)


def test_a_diverging_run_stops_at_once_and_keeps_the_last_good_checkpoint(tmp_path, corpus):
    model = tiny_model(corpus)
    config = tiny_config(epochs=3)
    steps_per_epoch = len(train.make_batches(corpus.train, config))
    optimizer = ExplodingAdam(model.parameters(), config.lr, after=steps_per_epoch)
    path = tmp_path / "run.pt"
    with pytest.raises(FloatingPointError, match=r"diverged at epoch 2, step \d+.*[Ll]ower the learning rate"):
        fit_with_checkpoints(model, corpus.vocab, corpus.train, corpus.valid, config, path, device="cpu",
                             optimizer=optimizer)
    assert load_checkpoint(path)["fit_state"]["epoch"] == 1  # the last good epoch is kept
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
@pytest.mark.parametrize("clip", [None, 1.0])
def test_a_huge_learning_rate_is_stopped_not_trained_to_the_end(corpus, optimizer, clip):
    config = tiny_config(lr=1e6, optimizer=optimizer, clip=clip, epochs=5)
    with pytest.raises(FloatingPointError, match="diverged at epoch 1") as err:
        fit(tiny_model(corpus), corpus.train, corpus.valid, config, device="cpu")
    assert "lr=1e+06" in str(err.value)


def test_perplexity_overflow_is_infinite_not_a_made_up_number():
    assert perplexity(800.0) == math.inf
    assert math.isclose(perplexity(math.log(50)), 50)


def test_validation_too_short_for_eval_batch_size_blames_eval_batch_size(corpus):
    config = tiny_config(epochs=1, eval_batch_size=500)
    with pytest.raises(ValueError, match=r"eval_batch_size=500 .*valid_ids.*TrainConfig\(eval_batch_size="):
        fit(tiny_model(corpus), corpus.train, corpus.valid[:100], config, device="cpu")


@pytest.mark.parametrize("bad", [1.5, True, 0, "2"])
def test_patience_must_be_a_whole_number(bad):
    with pytest.raises(ValueError, match="patience"):
        TrainConfig(patience=bad)
