"""The original book's SimpleRnnlm in NumPy, its SGD, and weight copies to and from PyTorch.

`NumpyRnnlm` wires the time layers of `numpy_layers` together the way the book does;
`copy_rnnlm_weights` moves weights between it and `companion.model.SimpleRnnlm` (transposes,
and nn.RNN's two biases against the book's one), so every number can be checked against
PyTorch's autograd.
"""
from __future__ import annotations

import numpy as np
import torch

from .model import HandRNN, SimpleRnnlm
from .numpy_layers import TimeEmbedding, TimeRNN, TimeAffine, TimeSoftmaxWithLoss, FLOATS


class NumpyRnnlm:
    """The book's SimpleRnnlm: TimeEmbedding -> TimeRNN (stateful) -> TimeAffine -> loss.

    forward(xs (B, T) ids, ts (B, T) ids) -> mean loss; backward() fills `grads`, one array
    per entry of `params`. The hidden state is carried from call to call until `reset_state()`.
    """

    def __init__(self, vocab_size: int, embed_dim: int = 100, hidden_size: int = 100,
                 seed: int = 0, dtype=np.float64):
        for name, value in (("vocab_size", vocab_size), ("embed_dim", embed_dim), ("hidden_size", hidden_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        if np.dtype(dtype) not in FLOATS:
            raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
        V, D, H = self.vocab_size, self.embed_dim, self.hidden_size = vocab_size, embed_dim, hidden_size
        rng = np.random.default_rng(seed)
        randn = lambda *shape, scale: (rng.standard_normal(shape) * scale).astype(dtype)  # noqa: E731
        zeros = lambda n: np.zeros(n, dtype=dtype)  # noqa: E731
        # the book's initialisation: tiny word vectors, 1/sqrt(fan_in) ("Xavier") for the rest
        self.embed = TimeEmbedding(randn(V, D, scale=0.01))
        self.rnn = TimeRNN(randn(D, H, scale=D ** -0.5), randn(H, H, scale=H ** -0.5), zeros(H), stateful=True)
        self.affine = TimeAffine(randn(H, V, scale=H ** -0.5), zeros(V))
        self.loss_layer = TimeSoftmaxWithLoss()
        self.layers = [self.embed, self.rnn, self.affine]
        self.params = [p for layer in self.layers for p in layer.params]
        self.grads = [g for layer in self.layers for g in layer.grads]

    def predict(self, xs) -> np.ndarray:
        """Scores (B, T, V) for the next token at every position (advances the state)."""
        for layer in self.layers:
            xs = layer.forward(xs)
        return xs

    def forward(self, xs, ts) -> float:
        return self.loss_layer.forward(self.predict(xs), ts)

    def backward(self, dout: float = 1.0) -> None:
        dout = self.loss_layer.backward(dout)
        for layer in reversed(self.layers):
            dout = layer.backward(dout)

    def reset_state(self) -> None:
        self.rnn.reset_state()


class SGD:
    """Plain stochastic gradient descent: param -= lr * grad, in place."""

    def __init__(self, lr: float = 0.01):
        if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not np.isfinite(lr) or lr <= 0:
            raise ValueError(f"lr must be a positive number, got {lr!r}")
        self.lr = lr

    def update(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        for param, grad in zip(params, grads, strict=True):  # a missing grad is an error
            param -= self.lr * grad  # in place: the layers hold these very arrays


def _torch_rnn_tensors(model: SimpleRnnlm) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """(W_ih (H, E), W_hh (H, H), biases) of the model's RNN, in PyTorch's layout."""
    if isinstance(model.rnn, HandRNN):
        cell = model.rnn.cell
        return cell.W_xh, cell.W_hh, [cell.b]
    rnn = model.rnn
    return rnn.weight_ih_l0, rnn.weight_hh_l0, [rnn.bias_ih_l0, rnn.bias_hh_l0]


def _check_pair(book: NumpyRnnlm, model: SimpleRnnlm) -> None:
    c = model.config
    if c.num_layers != 1 or c.tie_weights:
        raise ValueError("only a one-layer SimpleRnnlm without tied weights matches NumpyRnnlm")
    if (c.vocab_size, c.embed_dim, c.hidden_size) != (book.vocab_size, book.embed_dim, book.hidden_size):
        raise ValueError(f"sizes differ: NumpyRnnlm (V, E, H) = {(book.vocab_size, book.embed_dim, book.hidden_size)}"
                         f" vs SimpleRnnlm {(c.vocab_size, c.embed_dim, c.hidden_size)}")


@torch.no_grad()
def copy_rnnlm_weights(src: NumpyRnnlm | SimpleRnnlm, dst: NumpyRnnlm | SimpleRnnlm) -> None:
    """Copy weights between a `NumpyRnnlm` and a one-layer `SimpleRnnlm`, either way.

        book (NumPy)   shape     SimpleRnnlm (PyTorch)                 shape
        embed   W      (V, E)    embedding.weight                      (V, E)
        rnn     Wx     (E, H)    rnn.weight_ih_l0, transposed          (H, E)
        rnn     Wh     (H, H)    rnn.weight_hh_l0, transposed          (H, H)
        rnn     b      (H,)      rnn.bias_ih_l0 + rnn.bias_hh_l0       two of (H,)
        affine  W      (H, V)    affine.weight, transposed             (V, H)
        affine  b      (V,)      affine.bias                           (V,)

    Going to PyTorch, `b` goes into `bias_ih_l0` and `bias_hh_l0` is zeroed: the sum, and so
    every output and gradient, is the same. Training is not: an optimizer moves *both* biases,
    so SGD moves their sum twice as far as the book's one `b`; to train like the book, freeze
    the second one (`bias_hh_l0.requires_grad_(False)`). Values are cast to the destination's
    dtype; the hidden state is not copied. (NumpyRnnlm has no dropout: compare with dropout=0.)
    """
    if isinstance(src, SimpleRnnlm) and isinstance(dst, NumpyRnnlm):
        _check_pair(dst, src)
        W_ih, W_hh, biases = _torch_rnn_tensors(src)
        tensors = [src.embedding.weight, W_ih.T, W_hh.T, sum(biases), src.affine.weight.T, src.affine.bias]
        for param, tensor in zip(dst.params, tensors):
            param[...] = tensor.detach().cpu().numpy()
    elif isinstance(src, NumpyRnnlm) and isinstance(dst, SimpleRnnlm):
        _check_pair(src, dst)
        W_ih, W_hh, biases = _torch_rnn_tensors(dst)
        embed_W, Wx, Wh, b, affine_W, affine_b = (torch.from_numpy(p) for p in src.params)
        for tensor, value in ((dst.embedding.weight, embed_W), (W_ih, Wx.T), (W_hh, Wh.T), (biases[0], b),
                              (dst.affine.weight, affine_W.T), (dst.affine.bias, affine_b)):
            tensor.copy_(value)
        for extra in biases[1:]:
            extra.zero_()
    else:
        raise TypeError("copy_rnnlm_weights copies between NumpyRnnlm and SimpleRnnlm, "
                        f"got {type(src).__name__} -> {type(dst).__name__}")
