import math

import pytest
import torch

from companion.checkpoint import load_checkpoint, load_model, save_checkpoint
from companion.generate import next_token_distribution, sample
from companion.model import ModelConfig, SimpleRnnlm
from companion.train import (TrainConfig, evaluate, fit, lm_loss, make_batches, perplexity, set_seed,
                             train_epoch)
from companion.vocab import Vocabulary

TEXT = "\n".join(["the cat sat on the mat", "the dog sat on the log", "a cat saw a dog"] * 30)


@pytest.fixture
def vocab():
    return Vocabulary("ptb").build(TEXT)


def small_model(vocab, **kw):
    return SimpleRnnlm(ModelConfig(len(vocab), 16, 24, **kw))


def test_perplexity_of_a_uniform_model_is_the_vocabulary_size():
    V = 37
    logits = torch.zeros(4, 6, V)  # every word equally likely
    targets = torch.randint(0, V, (4, 6))
    assert math.isclose(perplexity(lm_loss(logits, targets).item()), V, rel_tol=1e-5)


def test_evaluate_weights_chunks_by_tokens():
    torch.manual_seed(0)
    model = SimpleRnnlm(ModelConfig(9, 4, 4))
    ids = torch.randint(0, 9, (2 * 10 + 1,))  # chunks of 4, 4 and 2 targets per row
    batches = make_batches(ids, TrainConfig(seq_len=4), batch_size=2, for_eval=True)
    streams = ids[: (21 // 2) * 2].view(2, -1)
    logits, _ = model(streams[:, :-1])
    expected = lm_loss(logits, streams[:, 1:]).item()  # one pass over everything at once
    assert math.isclose(evaluate(model, batches), expected, rel_tol=1e-5)


@pytest.mark.parametrize("recipe", ["stream", "window"])
def test_short_training_lowers_the_loss(vocab, recipe):
    ids = vocab.encode(TEXT)
    model = small_model(vocab)
    config = TrainConfig(epochs=3, batch_size=8, seq_len=5, lr=1e-2, recipe=recipe, progress=False)
    before = evaluate(model, make_batches(ids, config, 4, for_eval=True), recipe == "stream")
    history = fit(model, ids, ids, config, device="cpu")
    assert history["valid_loss"][-1] < 0.6 * before
    assert history["epoch"] == [1, 2, 3] and history["config"]["recipe"] == recipe
    assert all(t > 0 for t in history["tokens_per_s"])


def test_same_seed_same_losses(vocab):
    ids = vocab.encode(TEXT)
    runs = []
    for _ in range(2):
        set_seed(3)
        model = small_model(vocab)
        runs.append(fit(model, ids, ids, TrainConfig(epochs=2, batch_size=4, seq_len=6, seed=3,
                                                     progress=False))["train_loss"])
    assert runs[0] == runs[1]


def test_non_finite_loss_stops_with_advice(vocab):
    ids = vocab.encode(TEXT)
    model = small_model(vocab)
    with torch.no_grad():
        model.affine.bias.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="step 0.*learning rate"):
        fit(model, ids, ids, TrainConfig(epochs=1, batch_size=4, seq_len=5, progress=False))


def test_checkpoint_round_trip_gives_identical_evaluation(vocab, tmp_path):
    ids = vocab.encode(TEXT)
    config = TrainConfig(epochs=1, batch_size=4, seq_len=5, progress=False)
    model = small_model(vocab)
    optimizer = torch.optim.Adam(model.parameters())
    history = fit(model, ids, ids, config, optimizer=optimizer)
    path = save_checkpoint(tmp_path / "model.pt", model, vocab, optimizer, config, history)
    restored, restored_vocab, checkpoint = load_model(path)
    batches = make_batches(ids, config, 4, for_eval=True)
    assert evaluate(restored, batches) == evaluate(model, batches)
    assert restored_vocab == vocab and checkpoint["history"]["train_loss"] == history["train_loss"]
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_checkpoint_refuses_another_vocabulary_and_garbage(vocab, tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", small_model(vocab), vocab)
    other = Vocabulary("ptb").build("completely different words here")
    with pytest.raises(ValueError, match="different vocabulary"):
        load_checkpoint(path, vocab=other)
    load_checkpoint(path, vocab=vocab)  # the right one is accepted
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    truncated = tmp_path / "cut.pt"
    truncated.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="truncated"):
        load_checkpoint(truncated)
    torch.save({"weights": 1}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="not a companion checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")


def test_sampling_is_seeded_and_top1_is_greedy(vocab):
    torch.manual_seed(0)
    model = small_model(vocab)
    a = sample(model, vocab, "the cat", 8, seed=1)
    assert a == sample(model, vocab, "the cat", 8, seed=1)
    assert a.startswith("the cat") and len(a.split()) == 10
    greedy = sample(model, vocab, "the", 6, top_k=1, seed=5)
    ids = vocab.encode_tokens(["the"])  # a prompt does not end its line with <eos>
    state, x = None, torch.tensor([ids])
    with torch.no_grad():
        for _ in range(6):
            logits, state = model(x, state)
            ids.append(int(logits[0, -1].argmax()))
            x = torch.tensor([[ids[-1]]])
    assert greedy == vocab.decode(ids)
    stopped = sample(model, vocab, "the", 50, top_k=1, stop_token=vocab.id_to_token[ids[1]])
    assert stopped.split() == ["the", vocab.id_to_token[ids[1]]]


def test_temperature_and_top_k_shape_the_distribution():
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0])
    cold, hot = next_token_distribution(logits, 0.5), next_token_distribution(logits, 2.0)
    assert cold[0] > hot[0] and math.isclose(float(cold.sum()), 1.0, rel_tol=1e-6)
    top2 = next_token_distribution(logits, 1.0, top_k=2)
    assert top2[2:].sum() == 0 and math.isclose(float(top2.sum()), 1.0, rel_tol=1e-6)


def test_bad_arguments_are_explained(vocab):
    model = small_model(vocab)
    with pytest.raises(ValueError, match="temperature"):
        sample(model, vocab, "the", temperature=0)
    with pytest.raises(ValueError, match="top_k"):
        sample(model, vocab, "the", top_k=0)
    with pytest.raises(ValueError, match="prompt"):
        sample(model, vocab, "   ")
    for bad in (dict(batch_size=0), dict(seq_len=-1), dict(lr=0), dict(recipe="x"), dict(clip=0),
                dict(optimizer="rmsprop"), dict(max_batches=0)):
        with pytest.raises(ValueError, match=next(iter(bad))):
            TrainConfig(**bad)
    with pytest.raises(ValueError, match="mean_nll"):
        perplexity(float("nan"))
    with pytest.raises(ValueError, match="logits"):
        lm_loss(torch.zeros(2, 3, 4), torch.zeros(3, 2, dtype=torch.long))
    if not torch.cuda.is_available():  # asking for a GPU that is not there is a clear error
        with pytest.raises(ValueError, match="cuda"):
            fit(model, vocab.encode(TEXT), vocab.encode(TEXT), TrainConfig(progress=False), device="cuda")


def test_plateaus_decay_the_lr_stop_early_and_restore_the_best(vocab, monkeypatch):
    import companion.train as train_module

    losses, snapshots = iter([3.0, 2.0, 2.5, 2.6, 2.7]), []

    def fake_evaluate(model, batches, carry_state=True, device="cpu"):
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        return next(losses)

    monkeypatch.setattr(train_module, "evaluate", fake_evaluate)
    model = small_model(vocab)
    config = TrainConfig(epochs=5, batch_size=4, seq_len=5, lr=0.01, lr_decay=0.5, patience=2,
                         restore_best=True, progress=False)
    history = fit(model, vocab.encode(TEXT), vocab.encode(TEXT), config)
    assert history["epoch"] == [1, 2, 3, 4]  # two epochs without improvement: stop
    assert history["lr"] == [0.01, 0.01, 0.01, 0.005]
    best = snapshots[1]  # epoch 2 had the lowest validation loss
    assert all(torch.equal(v, best[k]) for k, v in model.state_dict().items())


def test_results_record_round_trip(vocab, tmp_path):
    from companion.results import load_results, make_record, save_results

    ids = vocab.encode(TEXT)
    model = small_model(vocab)
    history = fit(model, ids, ids, TrainConfig(epochs=2, batch_size=4, seq_len=5, progress=False))
    record = make_record(history, 1.5, {"hidden_size": 24}, "test corpus", "cpu", 3.0, "quick")
    path = save_results(tmp_path / "out" / "run.json", record)
    loaded = load_results(path)
    assert loaded == record and len(loaded["epochs"]) == 2
    assert loaded["epochs"][1]["valid_ppl"] == history["valid_ppl"][1]
    assert math.isclose(loaded["test_ppl"], math.exp(1.5)) and loaded["commit"]
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_results(tmp_path / "bad.json")
    with pytest.raises(FileNotFoundError, match="full training"):
        load_results(tmp_path / "none.json")


def test_time_budget_stops_training_and_counts_tokens(vocab):
    ids = vocab.encode(TEXT)
    config = TrainConfig(epochs=1000, batch_size=4, seq_len=5, max_seconds=0.3, progress=False)
    history = fit(small_model(vocab), ids, ids, config)
    assert 1 <= len(history["epoch"]) < 1000
    assert sum(history["seconds"]) < 0.3 + max(history["seconds"])  # at most one step over budget
    model = small_model(vocab)
    batches = make_batches(ids, config)
    loss, tokens = train_epoch(model, batches, torch.optim.Adam(model.parameters()))
    assert tokens == batches.num_targets and loss > 0
