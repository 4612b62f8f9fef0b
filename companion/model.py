"""The recurrent update written by hand, and the RNN language model of the source article.

    h_t = tanh(W_xh x_t + W_hh h_{t-1} + b)                                  (Elman, 1990)

`RNNCell` is that line of algebra; `HandRNN` runs it along the time axis of a batch, with
the same call signature as a one-layer, batch-first `torch.nn.RNN`. `copy_rnn_weights` moves
weights between the two, so tests and chapters can check that they compute the same thing.

`SimpleRnnlm` is the article's Embedding -> RNN -> Linear model, with one change that
matters: the hidden state goes *in and out* of `forward` instead of being dropped, so a
caller can carry memory from one chunk of text to the next.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .fused_loss import linear_cross_entropy

State = torch.Tensor  # (L, B, H): one hidden vector per layer and per sequence


class RNNCell(nn.Module):
    """One step of an Elman RNN. The job of a cell is to read one input vector and the
    previous note (hidden state) and write the next note.

    Shapes: x_t (B, E), h_prev (B, H) -> h_t (B, H), with E = input_size (the word-vector size).
    """

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        _check_positive(input_size=input_size, hidden_size=hidden_size)
        self.input_size, self.hidden_size = input_size, hidden_size
        self.W_xh = nn.Parameter(torch.empty(hidden_size, input_size))
        self.W_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))
        self.b = nn.Parameter(torch.empty(hidden_size))
        # nn.RNN's initialisation of W_xh and W_hh, U(-1/sqrt(H), 1/sqrt(H)); nn.RNN's effective bias
        # (bias_ih + bias_hh) is the sum of two such draws, this single b one draw
        bound = 1.0 / math.sqrt(hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, x_t: torch.Tensor, h_prev: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x_t @ self.W_xh.T + h_prev @ self.W_hh.T + self.b)


class HandRNN(nn.Module):
    """A one-layer, batch-first RNN built from `RNNCell`: a Python loop over time.

    forward(x (B, T, E), h0 (1, B, H) or None) -> (outputs (B, T, H), h_n (1, B, H)),
    like a one-layer `nn.RNN(E, H, batch_first=True)`; unlike nn.RNN it refuses unbatched
    (T, E) input and has no num_layers, dropout or bidirectional options.
    """

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.cell = RNNCell(input_size, hidden_size)
        self.hidden_size = hidden_size

    def forward(self, x: torch.Tensor, h0: State | None = None) -> tuple[torch.Tensor, State]:
        _check_rnn_input(x, h0, self.cell)  # what nn.RNN refuses: no silent broadcasting of h0
        B, T, _ = x.shape
        h = x.new_zeros(B, self.hidden_size) if h0 is None else h0[0]
        outputs = []
        for t in range(T):  # "one stroke of all pens": every sequence advances one step
            h = self.cell(x[:, t, :], h)
            outputs.append(h)
        return torch.stack(outputs, dim=1), h.unsqueeze(0)


@torch.no_grad()
def copy_rnn_weights(src: nn.Module, dst: nn.Module) -> None:
    """Copy weights between a `HandRNN`/`RNNCell` and a one-layer `nn.RNN`, either way.

    `nn.RNN` keeps two bias vectors (`bias_ih_l0` + `bias_hh_l0`, a cuDNN convention); the
    hand-written cell keeps their sum `b`. Going to `nn.RNN`, `b` goes into `bias_ih_l0`
    and `bias_hh_l0` is zeroed: the sum, and hence every output, is the same.
    """
    if isinstance(src, nn.RNN) and isinstance(dst, (HandRNN, RNNCell)):
        cell = dst.cell if isinstance(dst, HandRNN) else dst
        _check_torch_rnn(src, cell)
        cell.W_xh.copy_(src.weight_ih_l0)
        cell.W_hh.copy_(src.weight_hh_l0)
        cell.b.copy_(src.bias_ih_l0 + src.bias_hh_l0)
    elif isinstance(src, (HandRNN, RNNCell)) and isinstance(dst, nn.RNN):
        cell = src.cell if isinstance(src, HandRNN) else src
        _check_torch_rnn(dst, cell)
        dst.weight_ih_l0.copy_(cell.W_xh)
        dst.weight_hh_l0.copy_(cell.W_hh)
        dst.bias_ih_l0.copy_(cell.b)
        dst.bias_hh_l0.zero_()
    else:
        raise TypeError(
            "copy_rnn_weights copies between nn.RNN and HandRNN/RNNCell, "
            f"got {type(src).__name__} -> {type(dst).__name__}"
        )


def _check_torch_rnn(rnn: nn.RNN, cell: RNNCell) -> None:
    if rnn.num_layers != 1 or rnn.bidirectional or not rnn.bias or rnn.nonlinearity != "tanh":
        raise ValueError("only a one-layer, one-directional tanh nn.RNN with biases matches the hand cell")
    if (rnn.input_size, rnn.hidden_size) != (cell.input_size, cell.hidden_size):
        raise ValueError(
            f"sizes differ: nn.RNN({rnn.input_size}, {rnn.hidden_size}) vs "
            f"cell({cell.input_size}, {cell.hidden_size})"
        )


@dataclass
class ModelConfig:
    vocab_size: int  # V: number of token ids, len(vocab)
    embed_dim: int = 100  # E: word vector size (the article's wordvec_size)
    hidden_size: int = 100  # H: size of the hidden state, the model's "notes"
    num_layers: int = 1  # stacked RNN layers (the hand cell supports 1)
    dropout: float = 0.0  # on embeddings and RNN outputs; 0 = the article's model
    tie_weights: bool = False  # share embedding and output matrix (needs E == H)
    cell: str = "torch"  # "torch" = nn.RNN (fast); "hand" = HandRNN (the formula, looped)

    def __post_init__(self):
        _check_positive(vocab_size=self.vocab_size, embed_dim=self.embed_dim,
                        hidden_size=self.hidden_size, num_layers=self.num_layers)
        if not isinstance(self.dropout, (int, float)) or isinstance(self.dropout, bool) or not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be a number in [0, 1), got {self.dropout!r}")
        if not isinstance(self.tie_weights, bool):  # "no" would be truthy
            raise TypeError(f"tie_weights must be True or False, got {self.tie_weights!r}")
        if self.cell not in ("torch", "hand"):
            raise ValueError(f"cell must be 'torch' or 'hand', got {self.cell!r}")
        if self.cell == "hand" and self.num_layers != 1:
            raise ValueError("cell='hand' supports num_layers=1 only")
        if self.tie_weights and self.embed_dim != self.hidden_size:
            raise ValueError(f"tie_weights needs embed_dim == hidden_size, got {self.embed_dim} != {self.hidden_size}")


class SimpleRnnlm(nn.Module):
    """Embedding -> RNN -> Linear, batch-first; the article's model with explicit state.

    forward(x (B, T) ids, state (L, B, H) or None) -> (logits (B, T, V), state (L, B, H))
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        if not isinstance(config, ModelConfig):
            raise TypeError(f"config must be a ModelConfig, e.g. SimpleRnnlm(ModelConfig(vocab_size=len(vocab))), "
                            f"got {type(config).__name__}")
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embed_dim)
        if config.cell == "hand":
            self.rnn = HandRNN(config.embed_dim, config.hidden_size)
        else:
            self.rnn = nn.RNN(config.embed_dim, config.hidden_size, num_layers=config.num_layers,
                              batch_first=True, dropout=config.dropout if config.num_layers > 1 else 0.0)
        self.drop = nn.Dropout(config.dropout)
        self.affine = nn.Linear(config.hidden_size, config.vocab_size)
        if config.tie_weights:  # Press & Wolf (2017): one matrix both reads and writes words
            self.affine.weight = self.embedding.weight
            # nn.Embedding starts at N(0, 1): as output weights that gives logits of size ~sqrt(H)
            # and a first loss near 20 instead of log V. Start small, as an output layer would.
            bound = 1.0 / math.sqrt(config.hidden_size)
            nn.init.uniform_(self.embedding.weight, -bound, bound)

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        features, state = self.features(x, state)
        return self.affine(features), state  # logits (B, T, V)

    def features(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """Everything but the output layer: (B, T) ids -> ((B, T, H) features, state)."""
        c, weight = self.config, self.embedding.weight
        check_token_ids(x, c.vocab_size)
        if x.device != weight.device:
            raise ValueError(f"x is on {x.device} but the model is on {weight.device}: move the batch "
                             f"with x.to({str(weight.device)!r}) (or the model with model.to(x.device))")
        if state is not None:
            check_state(state, (c.num_layers, x.shape[0], c.hidden_size), weight)
        emb = self.drop(self.embedding(x))  # (B, T, E)
        out, state = self.rnn(emb, state)  # (B, T, H), (L, B, H)
        return self.drop(out), state

    def loss(self, x: torch.Tensor, y: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """Mean next-token NLL of targets y (B, T), equal to `lm_loss(self(x, state)[0], y)`
        but without ever holding the (B, T, V) logits (see `fused_loss`): the fast path
        training and evaluation take."""
        check_token_ids(y, self.config.vocab_size, "y")  # and x in `features`
        if y.shape != getattr(x, "shape", None):
            raise ValueError(f"x {_describe(x, False)} and y {tuple(y.shape)} must both be (B, T)")
        features, state = self.features(x, state)  # (B, T, H)
        loss = linear_cross_entropy(features.flatten(0, 1), self.affine.weight, self.affine.bias, y.flatten())
        return loss, state

    def init_state(self, batch_size: int, device: torch.device | str | None = None) -> State:
        """A zero state (L, B, H) on `device` (default: the model's): the blank first page of the notes."""
        _check_positive(batch_size=batch_size)
        c = self.config
        device = self.embedding.weight.device if device is None else device
        return torch.zeros(c.num_layers, batch_size, c.hidden_size, device=device,
                           dtype=self.embedding.weight.dtype)


def detach_state(state: State | None) -> State | None:
    """Keep the state's values but cut its history, so backward stops at this chunk.

    Without it, the graph of every earlier chunk stays alive and each backward pass would
    reach back to the start of the corpus (and fail, because those graphs were freed).
    """
    return None if state is None else state.detach()


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def check_token_ids(ids: torch.Tensor, vocab_size: int, name: str = "x") -> None:
    """Refuse anything but a (B, T) `torch.long` tensor of ids in [0, vocab_size), B, T >= 1.

    nn.Embedding would only say "index out of range in self". The range is checked on the CPU
    only: there `aminmax` costs one pass over B*T ints. On a GPU reading the answer back would
    make the host wait for the device at every step; there the embedding's own device-side
    assert stops a bad batch instead (rerun it on the CPU to see this message).
    """
    if not isinstance(ids, torch.Tensor) or ids.dim() != 2 or ids.dtype != torch.long:
        raise ValueError(f"{name} must be a (B, T) tensor of token ids (torch.long), got {_describe(ids)}")
    if 0 in ids.shape:
        raise ValueError(f"{name} has shape (B, T) = {tuple(ids.shape)}: it needs at least one sequence (B >= 1) "
                         "and at least one time step (T >= 1)")
    if ids.device.type != "cpu":
        return
    low, high = (int(v) for v in ids.aminmax())
    if low < 0 or high >= vocab_size:
        raise ValueError(
            f"{name} holds token ids in [{low}, {high}], but the model's vocabulary has vocab_size="
            f"{vocab_size} (ids 0..{vocab_size - 1}): encode the text with the vocabulary the model was "
            "built for, or build the model for this vocabulary (vocab_size=len(vocab))")


def check_state(state, shape: tuple[int, int, int], like: torch.Tensor, name: str = "state") -> None:
    """Refuse a state that is not an (L, B, H) tensor of `shape` with the dtype and device of
    `like` (the model's weights). Metadata only: nothing is read from the device."""
    fix = f"pass {name}=None to start from zeros, or the state the model returned for the previous chunk"
    if not isinstance(state, torch.Tensor):
        raise TypeError(f"{name} must be a tensor (L, B, H) = {shape} or None, got {type(state).__name__}; {fix}")
    if tuple(state.shape) != shape:
        raise ValueError(f"{name} must be (L, B, H) = {shape} for x of batch size {shape[1]} (L = layers, "
                         f"H = hidden size), got {tuple(state.shape)}; {fix}")
    if state.dtype != like.dtype:
        raise TypeError(f"{name} must be {like.dtype} like the model's weights, got {state.dtype}; "
                        f"convert it with {name}.to({like.dtype}) or {fix}")
    if state.device != like.device:
        raise ValueError(f"{name} is on {state.device} but the model is on {like.device}; "
                         f"move it with {name}.to({str(like.device)!r}) or {fix}")


def _check_rnn_input(x: torch.Tensor, h0: State | None, cell: RNNCell) -> None:
    """HandRNN's input checks: x (B, T, E) with B, T >= 1 and the weights' dtype and device;
    h0 None or (1, B, H), as nn.RNN demands (it would refuse extra layers or another batch size)."""
    E, weight = cell.input_size, cell.W_xh
    if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[2] != E or 0 in x.shape[:2]:
        raise ValueError(f"x must be a (B, T, {E}) tensor with B, T >= 1, got {_describe(x)}")
    if x.dtype != weight.dtype or x.device != weight.device:
        raise TypeError(f"x must be {weight.dtype} on {weight.device} like the weights, got "
                        f"{x.dtype} on {x.device}; convert it with x.to(weight)")
    if h0 is not None:
        check_state(h0, (1, x.shape[0], cell.hidden_size), weight, "h0")


def _describe(t, dtype: bool = True) -> str:
    if isinstance(t, torch.Tensor):
        return f"{tuple(t.shape)} {t.dtype}" if dtype else str(tuple(t.shape))
    return type(t).__name__


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
