"""The book's NumPy layers against PyTorch: forward values and hand-written gradients (float64)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from companion.model import ModelConfig, SimpleRnnlm
from companion.numpy_layers import (TimeAffine, TimeEmbedding, TimeRNN, TimeSoftmaxWithLoss,
                                    rnn_cell_backward, rnn_cell_forward)
from companion.numpy_rnnlm import SGD, NumpyRnnlm, copy_rnnlm_weights
from companion.train import lm_loss

B, T, D, H, V = 3, 6, 5, 4, 11
TOL = dict(rtol=1e-6, atol=1e-8)


def rng(seed=0):
    return np.random.default_rng(seed)


def torch64(array, grad=False):
    return torch.tensor(array, dtype=torch.float64, requires_grad=grad)


def test_embedding_forward_and_backward_match_torch():
    W = rng().standard_normal((V, D))
    xs = np.array([[1, 2, 1, 1, 0, 10], [3, 3, 3, 2, 1, 0], [7, 8, 9, 1, 2, 3]])  # repeated ids
    layer = TimeEmbedding(W)
    ref = nn.Embedding(V, D).double()
    ref.weight.data = torch64(W)
    out = layer.forward(xs)
    np.testing.assert_allclose(out, ref(torch.from_numpy(xs)).detach().numpy(), **TOL)
    dout = rng(1).standard_normal(out.shape)
    assert layer.backward(dout) is None
    ref(torch.from_numpy(xs)).backward(torch64(dout))
    np.testing.assert_allclose(layer.grads[0], ref.weight.grad.numpy(), **TOL)


def test_cell_backward_matches_autograd():
    g = rng()
    x, h_prev, Wx, Wh, b = (g.standard_normal(s) for s in [(B, D), (B, H), (D, H), (H, H), (H,)])
    h_next = rnn_cell_forward(x, h_prev, Wx, Wh, b)
    dh_next = g.standard_normal((B, H))
    grads = rnn_cell_backward(dh_next, x, h_prev, h_next, Wx, Wh)
    tensors = [torch64(a, grad=True) for a in (x, h_prev, Wx, Wh, b)]
    tx, th, tWx, tWh, tb = tensors
    torch.tanh(tx @ tWx + th @ tWh + tb).backward(torch64(dh_next))
    for mine, ref in zip(grads, [tx, th, tWx, tWh, tb]):
        np.testing.assert_allclose(mine, ref.grad.numpy(), **TOL)


def make_rnn_pair(seed=0, stateful=False):
    g = rng(seed)
    Wx, Wh = g.standard_normal((D, H)), g.standard_normal((H, H)) / 2
    b1, b2 = g.standard_normal(H), g.standard_normal(H)
    layer = TimeRNN(Wx, Wh, b1 + b2, stateful=stateful)
    ref = nn.RNN(D, H, batch_first=True).double()
    with torch.no_grad():  # the book's (D, H) is PyTorch's (H, D) transposed; two biases, one sum
        ref.weight_ih_l0.copy_(torch64(Wx.T))
        ref.weight_hh_l0.copy_(torch64(Wh.T))
        ref.bias_ih_l0.copy_(torch64(b1))
        ref.bias_hh_l0.copy_(torch64(b2))
    return layer, ref


def test_time_rnn_forward_and_bptt_match_torch():
    layer, ref = make_rnn_pair()
    g = rng(1)
    xs, h0, dhs = g.standard_normal((B, T, D)), g.standard_normal((B, H)), g.standard_normal((B, T, H))
    layer.stateful = True
    layer.set_state(h0)
    hs = layer.forward(xs)
    txs, th0 = torch64(xs, grad=True), torch64(h0[None], grad=True)
    out, h_n = ref(txs, th0)
    np.testing.assert_allclose(hs, out.detach().numpy(), **TOL)
    np.testing.assert_allclose(layer.h, h_n[0].detach().numpy(), **TOL)
    dxs = layer.backward(dhs)
    out.backward(torch64(dhs))
    np.testing.assert_allclose(dxs, txs.grad.numpy(), **TOL)
    np.testing.assert_allclose(layer.dh, th0.grad[0].numpy(), **TOL)
    dWx, dWh, db = layer.grads
    np.testing.assert_allclose(dWx, ref.weight_ih_l0.grad.numpy().T, **TOL)
    np.testing.assert_allclose(dWh, ref.weight_hh_l0.grad.numpy().T, **TOL)
    np.testing.assert_allclose(db, ref.bias_ih_l0.grad.numpy(), **TOL)  # each bias gets the sum's grad
    np.testing.assert_allclose(db, ref.bias_hh_l0.grad.numpy(), **TOL)
    layer.backward(dhs)  # grads are overwritten, not accumulated across calls
    np.testing.assert_allclose(layer.grads[0], ref.weight_ih_l0.grad.numpy().T, **TOL)


def test_stateful_rnn_over_two_calls_equals_one_call():
    xs = rng(2).standard_normal((B, 2 * T, D))
    whole, _ = make_rnn_pair(stateful=True)
    parts, _ = make_rnn_pair(stateful=True)
    expected = whole.forward(xs)
    got = np.concatenate([parts.forward(xs[:, :T]), parts.forward(xs[:, T:])], axis=1)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(parts.h, whole.h, rtol=1e-12, atol=1e-12)
    stateless, _ = make_rnn_pair(stateful=False)  # without state the second half starts blank
    stateless.forward(xs[:, :T])
    assert not np.allclose(stateless.forward(xs[:, T:]), expected[:, T:])
    parts.reset_state()
    np.testing.assert_allclose(parts.forward(xs[:, :T]), expected[:, :T], rtol=1e-12, atol=1e-12)


def test_affine_and_softmax_loss_match_torch():
    g = rng(3)
    W, b, xs = g.standard_normal((H, V)), g.standard_normal(V), g.standard_normal((B, T, H))
    ts = g.integers(0, V, (B, T))
    ts[0, :2] = -1  # the book's ignore_label
    affine, loss_layer = TimeAffine(W, b), TimeSoftmaxWithLoss()
    loss = loss_layer.forward(affine.forward(xs), ts)
    dxs = affine.backward(loss_layer.backward())
    tW, tb, txs = torch64(W, grad=True), torch64(b, grad=True), torch64(xs, grad=True)
    ref = lm_loss(txs @ tW + tb, torch.from_numpy(ts), ignore_index=-1)
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-10)
    for mine, tensor in zip([dxs, *affine.grads], [txs, tW, tb]):
        np.testing.assert_allclose(mine, tensor.grad.numpy(), **TOL)
    # nn.Linear keeps W transposed: (V, H)
    linear = nn.Linear(H, V).double()
    linear.weight.data, linear.bias.data = torch64(W.T), torch64(b)
    np.testing.assert_allclose(affine.forward(xs), linear(torch64(xs)).detach().numpy(), **TOL)
    assert loss_layer.forward(xs @ W + b, ts) == pytest.approx(
        F.cross_entropy(torch64(xs @ W + b).flatten(0, 1), torch.from_numpy(ts).flatten(), ignore_index=-1).item())


@pytest.mark.parametrize("cell", ["torch", "hand"])
def test_numpy_rnnlm_loss_and_grads_match_simple_rnnlm(cell):
    book = NumpyRnnlm(V, D, H, seed=0)
    torch.manual_seed(0)
    model = SimpleRnnlm(ModelConfig(V, D, H, cell=cell)).double()
    copy_rnnlm_weights(book, model)
    g = rng(4)
    state = None
    for _ in range(2):  # the second batch starts from the carried (detached) state
        xs, ts = g.integers(0, V, (B, T)), g.integers(0, V, (B, T))
        loss = book.forward(xs, ts)
        book.backward()
        model.zero_grad()
        logits, state = model(torch.from_numpy(xs), None if state is None else state.detach())
        ref = lm_loss(logits, torch.from_numpy(ts))
        ref.backward()
        assert loss == pytest.approx(ref.item(), rel=1e-10)
        grads = {name: p.grad for name, p in model.named_parameters()}
        rnn = "rnn.cell." if cell == "hand" else "rnn."
        ih, hh = ("W_xh", "W_hh") if cell == "hand" else ("weight_ih_l0", "weight_hh_l0")
        expected = [grads["embedding.weight"], grads[rnn + ih].T, grads[rnn + hh].T,
                    grads[rnn + ("b" if cell == "hand" else "bias_ih_l0")], grads["affine.weight"].T,
                    grads["affine.bias"]]
        for mine, ref_grad in zip(book.grads, expected):
            np.testing.assert_allclose(mine, ref_grad.numpy(), **TOL)


def test_weights_round_trip_and_sgd_matches_torch_sgd():
    torch.manual_seed(0)
    model = SimpleRnnlm(ModelConfig(V, D, H)).double()
    book = NumpyRnnlm(V, D, H, seed=1)
    copy_rnnlm_weights(model, book)
    np.testing.assert_allclose(book.params[3], (model.rnn.bias_ih_l0 + model.rnn.bias_hh_l0).detach().numpy())
    xs, ts = rng(5).integers(0, V, (B, T)), rng(6).integers(0, V, (B, T))
    copy_rnnlm_weights(book, model)  # bias_hh_l0 = 0 ...
    model.rnn.bias_hh_l0.requires_grad_(False)  # ... and frozen: SGD would move both biases
    optimizer, sgd = torch.optim.SGD(model.parameters(), lr=0.1), SGD(lr=0.1)
    for _ in range(3):
        book.reset_state()
        book.forward(xs, ts)
        book.backward()
        sgd.update(book.params, book.grads)
        optimizer.zero_grad()
        lm_loss(model(torch.from_numpy(xs))[0], torch.from_numpy(ts)).backward()
        optimizer.step()
    other = NumpyRnnlm(V, D, H, seed=2)
    copy_rnnlm_weights(model, other)
    for mine, ref in zip(book.params, other.params):
        np.testing.assert_allclose(mine, ref, **TOL)


def test_float32_works_and_is_close_to_float64():
    book64, book32 = NumpyRnnlm(V, D, H, seed=0), NumpyRnnlm(V, D, H, seed=0, dtype=np.float32)
    assert all(p.dtype == np.float32 for p in book32.params + book32.grads)
    xs, ts = rng(7).integers(0, V, (B, T)), rng(8).integers(0, V, (B, T))
    assert book32.forward(xs, ts) == pytest.approx(book64.forward(xs, ts), rel=1e-5)
    book32.backward()
    book64.backward()
    assert all(g.dtype == np.float32 for g in book32.grads)
    for g32, g64 in zip(book32.grads, book64.grads):
        np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-5)
    torch32 = SimpleRnnlm(ModelConfig(V, D, H))
    copy_rnnlm_weights(book64, torch32)  # cast to the destination's dtype
    assert torch32.affine.weight.dtype == torch.float32


def test_bad_inputs_name_the_argument():
    g = rng()
    with pytest.raises(ValueError, match=r"W must be .* shape \(V, D\)"):
        TimeEmbedding(g.standard_normal(V))
    with pytest.raises(ValueError, match="W must be a float32/float64 array"):
        TimeEmbedding(np.ones((V, D), dtype=int))
    with pytest.raises(ValueError, match="xs holds an id"):
        TimeEmbedding(g.standard_normal((V, D))).forward(np.full((B, T), V))
    with pytest.raises(ValueError, match="xs must be a \\(B, T\\) array"):
        TimeEmbedding(g.standard_normal((V, D))).forward(np.zeros((B, T)))
    with pytest.raises(ValueError, match=r"Wh must be .* shape \(4, 4\)"):
        TimeRNN(g.standard_normal((D, H)), g.standard_normal((H, H + 1)), np.zeros(H))
    with pytest.raises(ValueError, match=r"b must be .* shape \(4,\)"):
        TimeRNN(g.standard_normal((D, H)), g.standard_normal((H, H)), np.zeros(H + 1))
    rnn = TimeRNN(g.standard_normal((D, H)), g.standard_normal((H, H)), np.zeros(H), stateful=True)
    with pytest.raises(ValueError, match="xs must be a float32/float64 array of shape \\(B, T, 5\\)"):
        rnn.forward(g.standard_normal((B, T, D + 1)))
    with pytest.raises(RuntimeError, match="before forward"):
        rnn.backward(np.zeros((B, T, H)))
    rnn.forward(g.standard_normal((B, T, D)))
    with pytest.raises(ValueError, match="dhs"):
        rnn.backward(np.zeros((B, T, H + 1)))
    with pytest.raises(ValueError, match="reset_state"):
        rnn.forward(g.standard_normal((B + 1, T, D)))
    with pytest.raises(ValueError, match="h must be"):
        rnn.set_state(np.zeros((B, H + 1)))
    loss_layer = TimeSoftmaxWithLoss()
    with pytest.raises(ValueError, match="ts must have shape"):
        loss_layer.forward(g.standard_normal((B, T, V)), np.zeros((B, T + 1), dtype=int))
    with pytest.raises(ValueError, match="ts holds an id"):
        loss_layer.forward(g.standard_normal((B, T, V)), np.full((B, T), -2))
    with pytest.raises(ValueError, match="ignore_label"):
        loss_layer.forward(g.standard_normal((B, T, V)), np.full((B, T), -1))
    with pytest.raises(ValueError, match="lr"):
        SGD(lr=0)
    with pytest.raises(ValueError, match="hidden_size"):
        NumpyRnnlm(V, D, 0)
    with pytest.raises(ValueError, match="sizes differ"):
        copy_rnnlm_weights(NumpyRnnlm(V, D, H), SimpleRnnlm(ModelConfig(V + 1, D, H)))
    with pytest.raises(ValueError, match="one-layer"):
        copy_rnnlm_weights(NumpyRnnlm(V, D, H), SimpleRnnlm(ModelConfig(V, D, H, num_layers=2)))
    with pytest.raises(TypeError, match="copy_rnnlm_weights"):
        copy_rnnlm_weights(nn.Linear(2, 2), NumpyRnnlm(V, D, H))
