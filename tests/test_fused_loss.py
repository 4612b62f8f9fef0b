"""linear_cross_entropy computes exactly what Linear + F.cross_entropy computes, loss and grads."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from companion.fused_loss import default_chunk_rows, linear_cross_entropy
from companion.model import ModelConfig, SimpleRnnlm
from companion.train import TrainConfig, cosine_lr, evaluate, lm_loss, model_loss


def inputs(N=37, H=6, V=23, seed=0):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(N, H, generator=g, requires_grad=True)
    w = torch.randn(V, H, generator=g, requires_grad=True)
    b = torch.randn(V, generator=g, requires_grad=True)
    y = torch.randint(0, V, (N,), generator=g)
    return h, w, b, y


@pytest.mark.parametrize("rows", [1, 5, 36, 37, 100, None])
@pytest.mark.parametrize("with_bias", [True, False])
def test_loss_and_gradients_equal_linear_plus_cross_entropy(rows, with_bias):
    h, w, b, y = inputs()
    b = b if with_bias else None
    params = [t for t in (h, w, b) if t is not None]
    expected = F.cross_entropy(F.linear(h, w, b), y)
    expected_grads = torch.autograd.grad(expected, params)
    loss = linear_cross_entropy(h, w, b, y, chunk_rows=rows)
    grads = torch.autograd.grad(loss, params)
    torch.testing.assert_close(loss, expected)
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want)


def test_incoming_gradient_scales_the_result():
    h, w, b, y = inputs()
    (3.0 * linear_cross_entropy(h, w, b, y, chunk_rows=4)).backward()
    got = h.grad.clone()
    h.grad = None
    (3.0 * F.cross_entropy(F.linear(h, w, b), y)).backward()
    torch.testing.assert_close(got, h.grad)


def test_without_grad_mode_the_same_loss_and_no_graph():
    h, w, b, y = inputs()
    with torch.no_grad():
        loss = linear_cross_entropy(h, w, b, y, chunk_rows=8)
    assert loss.grad_fn is None
    torch.testing.assert_close(loss, F.cross_entropy(F.linear(h, w, b), y).detach())


def test_large_logits_do_not_overflow():
    h, w, b, y = inputs()
    with torch.no_grad():
        loss = linear_cross_entropy(h * 1e3, w, b, y)
        expected = F.cross_entropy(F.linear(h * 1e3, w, b), y)
    assert math.isfinite(loss.item())
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize("tie", [False, True])
def test_model_loss_equals_lm_loss_of_its_logits(tie):
    torch.manual_seed(0)
    model = SimpleRnnlm(ModelConfig(31, 8, 8, tie_weights=tie))
    x, y = torch.randint(0, 31, (3, 5)), torch.randint(0, 31, (3, 5))
    expected = lm_loss(model(x)[0], y)
    expected_grads = torch.autograd.grad(expected, list(model.parameters()))
    loss, state = model.loss(x, y)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    assert state.shape == (1, 3, 8)
    torch.testing.assert_close(loss, expected)
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want)


class LogitsOnly(nn.Module):
    """Any forward(x, state) -> (logits, state) model; its `loss` attribute is a criterion, not
    the fused method, so training must go through lm_loss."""

    def __init__(self, vocab_size: int):
        super().__init__()
        self.table = nn.Embedding(vocab_size, vocab_size)
        self.loss = nn.CrossEntropyLoss()

    def forward(self, x, state=None):
        return self.table(x), state  # (B, T, V)


def test_models_other_than_simple_rnnlm_are_scored_through_their_logits():
    torch.manual_seed(0)
    model = LogitsOnly(11)
    x, y = torch.randint(0, 11, (2, 4)), torch.randint(0, 11, (2, 4))
    loss, state = model_loss(model, x, y)
    assert state is None
    torch.testing.assert_close(loss, lm_loss(model(x)[0], y))
    assert evaluate(model, [(x, y)], carry_state=False) == pytest.approx(loss.item())


def test_tied_model_starts_near_the_uniform_loss():
    torch.manual_seed(0)
    model = SimpleRnnlm(ModelConfig(1000, 32, 32, tie_weights=True))
    x = torch.randint(0, 1000, (4, 10))
    with torch.no_grad():
        loss = model.loss(x, x)[0].item()
    assert abs(loss - math.log(1000)) < 0.5, loss


def test_bad_inputs_are_named():
    h, w, b, y = inputs()
    with pytest.raises(ValueError, match="targets must be token ids in"):
        linear_cross_entropy(h, w, b, torch.full_like(y, 23))
    with pytest.raises(ValueError, match="targets must be"):
        linear_cross_entropy(h, w, b, y[:-1])
    with pytest.raises(ValueError, match="expected h"):
        linear_cross_entropy(h[:, :-1], w, b, y)
    with pytest.raises(ValueError, match="bias"):
        linear_cross_entropy(h, w, b[:-1], y)
    with pytest.raises(ValueError, match="no rows"):
        linear_cross_entropy(h[:0], w, b, y[:0])
    with pytest.raises(ValueError, match=r"x \(3, 5\) and y"):
        x, y = torch.zeros(3, 5, dtype=torch.long), torch.zeros(3, 4, dtype=torch.long)
        SimpleRnnlm(ModelConfig(31, 8, 8)).loss(x, y)


def test_chunks_fit_the_cpu_cache_and_are_big_on_a_gpu():
    assert default_chunk_rows(10_000, torch.device("cpu")) * 10_000 * 4 <= 4 * 2**20
    assert default_chunk_rows(10_000, torch.device("cuda")) >= 8192
    assert default_chunk_rows(10**9, torch.device("cpu")) == 1


def test_cosine_schedule_starts_at_lr_and_falls_to_lr_min():
    config = TrainConfig(epochs=10, lr=1e-2, lr_min=1e-4, lr_schedule="cosine")
    lrs = [cosine_lr(config, e) for e in range(1, 11)]
    assert lrs[0] == pytest.approx(1e-2)
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
    assert 1e-4 < lrs[-1] < 1e-3
    with pytest.raises(ValueError, match="lr_schedule"):
        TrainConfig(lr_schedule="linear")
    with pytest.raises(ValueError, match="lr_min"):
        TrainConfig(lr=1e-3, lr_min=1e-2)
