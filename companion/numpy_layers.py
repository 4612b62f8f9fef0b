"""The original book's RNN language model in NumPy: time layers with hand-written backward passes.

Saito's *Deep Learning from Scratch 2* (ch. 5) builds its RNNLM from layers that share one
small interface; this module writes them from scratch with the same ideas:

    layer.params            list of weight arrays (updated in place by the optimizer)
    layer.grads             arrays of the same shapes, overwritten by every backward
    layer.forward(...)      -> output, keeping what backward will need
    layer.backward(dout)    -> the gradient with respect to the layer's input

`TimeEmbedding` -> `TimeRNN` -> `TimeAffine` -> `TimeSoftmaxWithLoss` make `NumpyRnnlm` (the
book's `SimpleRnnlm`, in `numpy_rnnlm`), and `SGD` trains it. The book multiplies row vectors by matrices,
`x @ Wx` with Wx (D, H): the transpose of PyTorch's `weight_ih_l0` (H, D).

Weights are float64 by default (gradient checks want the precision); float32 works too.
"""
from __future__ import annotations

import numpy as np

FLOATS = (np.float32, np.float64)


def _check_array(name: str, x, shape: tuple[int | str, ...], weight: bool = False) -> np.ndarray:
    """A float array of `shape`, where a letter stands for any size: ("B", "T", 5).

    A weight must already be a NumPy array: the layers update it in place, and a converted
    copy would silently never learn.
    """
    if weight and not isinstance(x, np.ndarray):
        raise ValueError(f"{name} must be a NumPy array, got {type(x).__name__}")
    x = np.asarray(x)
    if x.dtype not in FLOATS or x.ndim != len(shape) or any(
            isinstance(s, int) and n != s for n, s in zip(x.shape, shape)):
        want = "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"
        raise ValueError(f"{name} must be a float32/float64 array of shape {want}, got {x.shape} {x.dtype}")
    return x


def _check_ids(name: str, ids, vocab_size: int, ignore: int | None = None) -> np.ndarray:
    ids = np.asarray(ids)
    if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"{name} must be a (B, T) array of integer token ids, got {ids.shape} {ids.dtype}")
    valid = (ids >= 0) & (ids < vocab_size)
    if ignore is not None:
        valid |= ids == ignore
    if not valid.all():
        raise ValueError(f"{name} holds an id outside [0, {vocab_size}): {ids[~valid].flat[0]}")
    return ids


def _need(cache, layer: str):
    if cache is None:
        raise RuntimeError(f"{layer}.backward called before forward")
    return cache


class TimeEmbedding:
    """Look up one row of W (V, D) per token: xs (B, T) ids -> (B, T, D)."""

    def __init__(self, W: np.ndarray):
        self.params = [_check_array("W", W, ("V", "D"), weight=True)]
        self.grads = [np.zeros_like(W)]
        self.xs = None

    def forward(self, xs) -> np.ndarray:
        W, = self.params
        self.xs = _check_ids("xs", xs, W.shape[0])
        return W[self.xs]  # (B, T, D)

    def backward(self, dout: np.ndarray) -> None:
        xs = _need(self.xs, "TimeEmbedding")
        dW, = self.grads
        dout = _check_array("dout", dout, (*xs.shape, dW.shape[1]))
        dW[...] = 0
        # A word used k times in the batch gets k gradients, and they must add up.
        # `dW[xs] += dout` would keep only one of them: fancy-index assignment does not accumulate.
        np.add.at(dW, xs, dout)
        return None  # ids are not differentiable


def rnn_cell_forward(x: np.ndarray, h_prev: np.ndarray, Wx: np.ndarray, Wh: np.ndarray,
                     b: np.ndarray) -> np.ndarray:
    """h_next = tanh(x @ Wx + h_prev @ Wh + b): x (B, D), h_prev (B, H) -> (B, H)."""
    return np.tanh(x @ Wx + h_prev @ Wh + b)


def rnn_cell_backward(dh_next: np.ndarray, x: np.ndarray, h_prev: np.ndarray, h_next: np.ndarray,
                      Wx: np.ndarray, Wh: np.ndarray) -> tuple[np.ndarray, ...]:
    """One step of backpropagation through the cell above, from the gradient at its output.

    dh_next (B, H) -> dx (B, D), dh_prev (B, H), dWx (D, H), dWh (H, H), db (H,).
    """
    dt = dh_next * (1.0 - h_next ** 2)  # through tanh: tanh'(a) = 1 - tanh(a)^2
    db = dt.sum(axis=0)  # b was broadcast over the batch, so its gradient sums over it
    dWh = h_prev.T @ dt  # (H, B) @ (B, H)
    dWx = x.T @ dt  # (D, B) @ (B, H)
    dh_prev = dt @ Wh.T  # (B, H): what flows back to the previous time step
    dx = dt @ Wx.T  # (B, D): what flows down to the embedding
    return dx, dh_prev, dWx, dWh, db


class TimeRNN:
    """T steps of `rnn_cell_forward`, batch-first: xs (B, T, D) -> hs (B, T, H).

    With `stateful=True` the last hidden state `h` is kept and starts the next call (the
    book's truncated BPTT); `backward` still stops at the start of each call and leaves the
    gradient for the initial state in `dh`.
    """

    def __init__(self, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray, stateful: bool = False):
        D, H = _check_array("Wx", Wx, ("D", "H"), weight=True).shape
        self.params = [Wx, _check_array("Wh", Wh, (H, H), True), _check_array("b", b, (H,), True)]
        self.grads = [np.zeros_like(p) for p in self.params]
        self.stateful = stateful
        self.h = None  # (B, H): the last hidden state of the last forward
        self.dh = None  # (B, H): gradient for the initial state of the last forward
        self.cache = None

    def set_state(self, h) -> None:
        """Start the next forward from `h` (B, H) (used when stateful)."""
        self.h = _check_array("h", h, ("B", self.params[1].shape[0])).copy()

    def reset_state(self) -> None:
        """Start the next forward from a blank page, h = 0."""
        self.h = None

    def forward(self, xs) -> np.ndarray:
        Wx, Wh, b = self.params
        D, H = Wx.shape
        xs = _check_array("xs", xs, ("B", "T", D))
        B, T, _ = xs.shape
        if self.stateful and self.h is not None and self.h.shape[0] != B:
            raise ValueError(f"xs has batch size {B} but the carried state h has {self.h.shape[0]} "
                             "rows; call reset_state() first")
        hs = np.zeros((B, T + 1, H), dtype=np.result_type(xs, Wx))  # step t reads hs[:, t], writes hs[:, t+1]
        if self.stateful and self.h is not None:
            hs[:, 0] = self.h
        for t in range(T):
            hs[:, t + 1] = rnn_cell_forward(xs[:, t], hs[:, t], Wx, Wh, b)
        self.h = hs[:, -1].copy()
        self.cache = (xs, hs)
        return hs[:, 1:].copy()  # (B, T, H)

    def backward(self, dhs: np.ndarray) -> np.ndarray:
        xs, hs = _need(self.cache, "TimeRNN")
        Wx, Wh, _ = self.params
        B, T, _ = xs.shape
        dhs = _check_array("dhs", dhs, (B, T, Wh.shape[0]))
        for grad in self.grads:
            grad[...] = 0
        dxs = np.empty_like(xs)
        dh = np.zeros_like(hs[:, 0])  # nothing flows back from after the last step
        for t in reversed(range(T)):  # backpropagation through time: T-1, T-2, ..., 0
            # h_t went two ways, up to the layer above and on to step t+1: both gradients add
            dx, dh, dWx, dWh, db = rnn_cell_backward(dhs[:, t] + dh, xs[:, t], hs[:, t], hs[:, t + 1], Wx, Wh)
            dxs[:, t] = dx
            for grad, step_grad in zip(self.grads, (dWx, dWh, db)):
                grad += step_grad  # the same weights at every step: their gradients add up
        self.dh = dh  # truncated BPTT: this gradient goes no further back
        return dxs


class TimeAffine:
    """The same affine map at every step: xs (B, T, H) @ W (H, V) + b (V,) -> (B, T, V)."""

    def __init__(self, W: np.ndarray, b: np.ndarray):
        H, V = _check_array("W", W, ("H", "V"), weight=True).shape
        self.params = [W, _check_array("b", b, (V,), weight=True)]
        self.grads = [np.zeros_like(W), np.zeros_like(b)]
        self.xs = None

    def forward(self, xs) -> np.ndarray:
        W, b = self.params
        self.xs = _check_array("xs", xs, ("B", "T", W.shape[0]))
        return self.xs @ W + b

    def backward(self, dout: np.ndarray) -> np.ndarray:
        xs = _need(self.xs, "TimeAffine")
        W, _ = self.params
        H, V = W.shape
        dout = _check_array("dout", dout, (*xs.shape[:2], V))
        dW, db = self.grads
        dW[...] = xs.reshape(-1, H).T @ dout.reshape(-1, V)  # every position used W: sum over B*T
        db[...] = dout.sum(axis=(0, 1))
        return dout @ W.T  # (B, T, H)


class TimeSoftmaxWithLoss:
    """Softmax + cross-entropy at every position: xs (B, T, V) scores, ts (B, T) ids -> mean loss.

    Positions whose target is `ignore_label` (the book's -1) are left out of the mean.
    """

    def __init__(self, ignore_label: int = -1):
        self.params, self.grads = [], []
        self.ignore_label = ignore_label
        self.cache = None

    def forward(self, xs, ts) -> float:
        xs = _check_array("xs", xs, ("B", "T", "V"))
        B, T, V = xs.shape
        ts = _check_ids("ts", ts, V, ignore=self.ignore_label)
        if ts.shape != (B, T):
            raise ValueError(f"ts must have shape (B, T) = {(B, T)} like xs, got {ts.shape}")
        scores, targets = xs.reshape(B * T, V), ts.reshape(B * T)
        mask = targets != self.ignore_label  # (B*T,)
        count = int(mask.sum())
        if count == 0:
            raise ValueError(f"ts has no target to score: every entry is ignore_label={self.ignore_label}")
        shifted = scores - scores.max(axis=1, keepdims=True)  # the same softmax, and exp cannot overflow
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        rows, picked = np.arange(B * T), np.where(mask, targets, 0)
        loss = -(log_probs[rows, picked] * mask).sum() / count
        self.cache = (np.exp(log_probs), picked, mask, count, xs.shape)
        return float(loss)

    def backward(self, dout: float = 1.0) -> np.ndarray:
        probs, picked, mask, count, shape = _need(self.cache, "TimeSoftmaxWithLoss")
        dxs = probs.copy()
        dxs[np.arange(len(picked)), picked] -= 1.0  # softmax + cross-entropy: p - one_hot(t)
        dxs *= (dout / count) * mask[:, None]  # the mean over scored positions; ignored ones get 0
        return dxs.reshape(shape)
