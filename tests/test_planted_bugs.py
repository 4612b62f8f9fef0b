"""Tests that catch the bugs a mutation pass planted (issue 14, item 11), each from a second angle.

Each bug below was missed by the suite, or caught by one test only:
  (a) `evaluate` with dropout left on        (b) `sample` with dropout left on
  (c) `ignore_index` dropped from `lm_loss`    (d) perplexity as the mean of per-batch exp(loss)
  (e) the vocabulary growing after `build`     (f) gradient clipping removed from `train_epoch`
"""
import math

import pytest
import torch
import torch.nn.functional as F

from companion.corpora import load_corpus
from companion.generate import sample
from companion.model import ModelConfig, SimpleRnnlm
from companion.train import TrainConfig, evaluate, fit, lm_loss, make_batches, perplexity, train_epoch
from companion.vocab import UNK, Vocabulary

V = 23
WORDS = " ".join(f"w{i}" for i in range(V - 1))


def dropout_model(favour_word_0: bool = False) -> SimpleRnnlm:
    torch.manual_seed(0)
    model = SimpleRnnlm(ModelConfig(V, 16, 16, dropout=0.5))
    if favour_word_0:  # so that batches predicting word 0 have a much lower loss than the rest
        with torch.no_grad():
            model.affine.bias[0] += 3.0
    return model


def unequal_batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of 2, 12 and 30 targets: a per-batch average would weight them alike. The small
    one predicts word 0 only (see `dropout_model(favour_word_0=True)`), so its loss differs."""
    g = torch.Generator().manual_seed(1)
    return [(torch.randint(0, V, (b, t), generator=g),
             torch.zeros(b, t, dtype=torch.long) if b == 1 else torch.randint(1, V, (b, t), generator=g))
            for b, t in ((1, 2), (3, 4), (5, 6))]


def nll_by_hand(model, batches) -> tuple[float, list[float]]:
    """(sum of every target's NLL / number of targets, per-batch mean NLLs), in eval mode, no state."""
    model.eval()
    with torch.no_grad():
        per_batch = [F.cross_entropy(model(x)[0].flatten(0, 1), y.flatten(), reduction="none") for x, y in batches]
    model.train()
    total = torch.cat(per_batch)
    return float(total.sum() / total.numel()), [float(b.mean()) for b in per_batch]


# --- (a) evaluation must switch dropout off, and give the caller's mode back --------------
@pytest.mark.parametrize("training", [True, False])
def test_evaluate_is_deterministic_with_dropout_and_restores_the_mode(training):
    model, batches = dropout_model(), unequal_batches()
    model.train(training)
    torch.manual_seed(1)
    first = evaluate(model, batches, carry_state=False)
    torch.manual_seed(2)  # another dropout mask, if dropout were on
    assert evaluate(model, batches, carry_state=False) == first
    assert model.training is training


# --- (a) + (d) evaluation is exp of the token-weighted mean NLL, computed without dropout --
def test_evaluate_with_unequal_batches_equals_the_hand_computation():
    model, batches = dropout_model(favour_word_0=True), unequal_batches()
    expected, per_batch = nll_by_hand(model, batches)
    loss = evaluate(model, batches, carry_state=False)
    assert math.isclose(loss, expected, rel_tol=1e-5)
    assert math.isclose(perplexity(loss), math.exp(expected), rel_tol=1e-5)
    wrong = sum(math.exp(b) for b in per_batch) / len(per_batch)  # the planted formula
    assert abs(perplexity(loss) - wrong) > 0.1 * wrong  # so the check above can tell them apart


# --- (d) the history's perplexity is exp(token-weighted validation NLL) ------------------
def test_fit_history_perplexity_is_exp_of_the_token_weighted_validation_loss():
    torch.manual_seed(0)
    train, valid = torch.randint(0, V, (300,)), torch.randint(0, V, (2 * 23 + 1,))
    config = TrainConfig(epochs=1, batch_size=4, seq_len=5, eval_batch_size=2, progress=False)
    model = SimpleRnnlm(ModelConfig(V, 8, 8, dropout=0.3))
    history = fit(model, train, valid, config)
    streams = valid[:46].view(2, 23)  # the validation streams, scored in one pass with no chunk seams
    expected, _ = nll_by_hand(model, [(streams[:, :-1], streams[:, 1:])])
    assert math.isclose(history["valid_loss"][-1], expected, rel_tol=1e-5)
    assert math.isclose(history["valid_ppl"][-1], math.exp(expected), rel_tol=1e-5)
    batches = list(make_batches(valid, config, 2, for_eval=True))
    assert len({y.numel() for _, y in batches}) > 1  # chunks of unequal size: weighting matters


# --- (b) sampling must switch dropout off, and give the caller's mode back ----------------
@pytest.mark.parametrize("training", [True, False])
def test_sampling_is_deterministic_with_dropout_and_restores_the_mode(training):
    vocab, model = Vocabulary("whitespace").build(WORDS), dropout_model()
    model.train(training)
    torch.manual_seed(1)
    first = sample(model, vocab, "w1 w2", 25, seed=7)
    torch.manual_seed(2)  # another dropout mask, if dropout were on
    assert sample(model, vocab, "w1 w2", 25, seed=7) == first
    assert model.training is training


def test_greedy_sampling_of_a_dropout_model_follows_the_eval_mode_argmax():
    vocab, model = Vocabulary("whitespace").build(WORDS), dropout_model()
    ids = vocab.encode("w1 w2")
    model.eval()
    with torch.no_grad():
        x, state = torch.tensor([ids]), None
        for _ in range(25):
            logits, state = model(x, state)
            ids.append(int(logits[0, -1].argmax()))
            x = torch.tensor([[ids[-1]]])
    model.train()
    assert sample(model, vocab, "w1 w2", 25, top_k=1, seed=0) == vocab.decode(ids)


# --- (c) lm_loss with ignore_index averages over the real positions only ------------------
def padded_batch(pad: int = V - 1):
    torch.manual_seed(0)
    logits = torch.randn(3, 4, V)
    targets = torch.tensor([[1, 2, 3, 4], [5, 6, pad, pad], [7, pad, pad, pad]])
    return logits, targets, targets != pad


def test_lm_loss_on_a_padded_batch_equals_the_hand_computation():
    logits, targets, real = padded_batch()
    log_probs = torch.log_softmax(logits, dim=-1)
    picked = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (B, T)
    expected = -(picked * real).sum() / real.sum()  # 7 real targets, not 12
    assert torch.allclose(lm_loss(logits, targets, ignore_index=V - 1), expected)
    assert not torch.allclose(lm_loss(logits, targets), expected)  # without it the padding counts


def test_lm_loss_ignores_whatever_the_padded_positions_predict():
    logits, targets, real = padded_batch()
    logits.requires_grad_(True)
    loss = lm_loss(logits, targets, ignore_index=V - 1)
    loss.backward()
    assert (logits.grad[~real] == 0).all() and (logits.grad[real] != 0).any()
    scrambled = logits.detach().clone()
    scrambled[~real] = torch.randn(int((~real).sum()), V) * 10
    assert torch.equal(lm_loss(scrambled, targets, ignore_index=V - 1), loss.detach())


# --- (e) the vocabulary is built once and never grows -------------------------------------
def test_a_second_build_raises_and_leaves_the_vocabulary_unchanged():
    vocab = Vocabulary("whitespace").build("the cat sat")
    before = (list(vocab.id_to_token), dict(vocab.token_to_id), len(vocab))
    for text in ("a dog barked", ["new", "tokens"]):
        with pytest.raises(ValueError, match="frozen"):
            vocab.build(text)
    assert (vocab.id_to_token, vocab.token_to_id, len(vocab)) == before


def test_encoding_unseen_words_gives_unk_without_growth():
    vocab = Vocabulary("whitespace").build("the cat sat")
    size = len(vocab)
    assert vocab.encode("a dog barked at the cat") == [vocab.unk_id] * 4 + [vocab.token_to_id["the"],
                                                                              vocab.token_to_id["cat"]]
    assert vocab.encode_tokens(["zebra", "sat"]) == [vocab.unk_id, vocab.token_to_id["sat"]]
    assert len(vocab) == size and "dog" not in vocab and vocab.decode(vocab.encode("dog")) == UNK


def test_a_corpus_vocabulary_comes_from_its_training_text_alone():
    corpus = load_corpus("toy", toy_sentences={"train": 30, "valid": 200, "test": 200})
    alone = Vocabulary("ptb").build(corpus.vocab.decode(corpus.train.tolist()))
    assert len(corpus.vocab) == len(alone)  # 200 validation sentences added no word
    assert int(corpus.valid.max()) < len(corpus.vocab) and int(corpus.test.max()) < len(corpus.vocab)


# --- (f) train_epoch clips the global gradient norm ---------------------------------------
class RecordingSGD(torch.optim.SGD):
    """SGD that records the global gradient norm each step sees (after any clipping)."""

    def __init__(self, params, lr):
        super().__init__(params, lr=lr)
        self.norms: list[float] = []

    def step(self, closure=None):
        grads = [p.grad for group in self.param_groups for p in group["params"] if p.grad is not None]
        self.norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))
        return super().step(closure)


def clip_run(clip):
    torch.manual_seed(0)
    model = SimpleRnnlm(ModelConfig(V, 8, 8))
    optimizer = RecordingSGD(model.parameters(), lr=0.5)
    batches = make_batches(torch.randint(0, V, (200,)), TrainConfig(batch_size=4, seq_len=6))
    before = [p.detach().clone() for p in model.parameters()]
    train_epoch(model, batches, optimizer, clip=clip, max_batches=3)
    return optimizer.norms, before, model


def test_train_epoch_clips_the_gradient_norm_the_optimizer_sees():
    unclipped, _, _ = clip_run(None)
    assert min(unclipped) > 0.1  # so a clip of 0.01 has something to do at every step
    clipped, _, _ = clip_run(0.01)
    assert len(clipped) == 3 and all(n <= 0.01 * (1 + 1e-4) for n in clipped)


def test_a_clipped_sgd_step_moves_the_weights_at_most_lr_times_clip():
    _, before, model = clip_run(0.01)
    lr, clip = 0.5, 0.01  # three steps of plain SGD, each of norm lr * |g| <= lr * clip
    moved = torch.linalg.vector_norm(torch.stack([(p.detach() - b).norm()
                                                  for p, b in zip(model.parameters(), before)]))
    assert 0 < float(moved) <= 3 * lr * clip * (1 + 1e-4)
