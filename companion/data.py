"""Four ways to cut a corpus (a 1-D sequence of token ids) into batches for an RNN LM.

1. `WindowDataset` / `make_windows`: the source article's sliding windows (it called the
   class `CharLMDataset`, though it is word-level). Each window starts from a zero state,
   so the model never remembers more than `seq_len` tokens, and with `stride=1` every
   token is a target `seq_len` times per epoch.
2. `StreamBatcher`: the corpus as `B` contiguous streams, read `seq_len` tokens at a time;
   the caller carries the hidden state from one chunk to the next (truncated BPTT).
3. `OffsetBatcher`: the original book's sampler (DLFS2, ch. 5), reproduced exactly.
4. `pad_sentences`: sentences of different lengths, padded, with lengths and a mask.

Every batch is batch-first: inputs `x` (B, T) and targets `y` (B, T), `y` = `x` shifted by
one token.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import torch
from torch.utils.data import Dataset


def as_ids(ids: Sequence[int] | torch.Tensor, name: str = "ids") -> torch.Tensor:
    """A 1-D `torch.long` tensor of token ids, or a clear error."""
    if isinstance(ids, str):
        raise TypeError(f"{name} must be token ids, not text: encode it with vocab.encode(text) first")
    try:
        t = torch.as_tensor(ids)
    except (RuntimeError, ValueError, TypeError, OverflowError) as err:  # None, ragged, > int64, ...
        raise TypeError(f"{name} must be a 1-D sequence of integer token ids ({err})") from None
    if t.dim() != 1:
        raise ValueError(f"{name} must be 1-D (a sequence of token ids), got shape {tuple(t.shape)}")
    if t.numel() and (t.is_floating_point() or t.is_complex() or t.dtype == torch.bool):
        raise TypeError(f"{name} must hold integer token ids, got dtype {t.dtype}")
    if t.numel() and int(t.min()) < 0:
        raise ValueError(f"{name} must not contain negative ids")
    return t.long()


INT64_MAX = 2**63 - 1  # sizes and ids end up in int64 tensors


def _check_int(name: str, value: int, low: int = 1, high: int = INT64_MAX) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < low or value > high:
        bounds = f">= {low}" if high == INT64_MAX else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be {bounds}, got {value}")


# --- 1. sliding windows (the article's recipe) ------------------------------------------
class WindowDataset(Dataset):
    """Windows `x = ids[i : i+T]`, `y = ids[i+1 : i+T+1]` for `i = 0, stride, 2*stride, ...`.

    The article's `CharLMDataset` under an honest name. Two fixes besides the name: the
    vocabulary is *not* built here (build it once, on the training text), and the last
    window is kept (the article's `len(corpus) - 1 - seq_len` dropped it).
    """

    def __init__(self, ids: Sequence[int] | torch.Tensor, seq_len: int = 5, stride: int = 1):
        self.ids = as_ids(ids)
        if len(self.ids) < 2:
            raise ValueError(f"ids must hold at least 2 tokens (one input, one target), got {len(self.ids)}")
        _check_int("seq_len", seq_len, 1, len(self.ids) - 1)
        _check_int("stride", stride)
        self.seq_len, self.stride = seq_len, stride

    def __len__(self) -> int:
        return (len(self.ids) - 1 - self.seq_len) // self.stride + 1

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        try:
            index = operator.index(index)  # ints and NumPy/torch integer scalars
        except TypeError:
            raise TypeError(f"index must be an int, got {type(index).__name__}") from None
        if not -len(self) <= index < len(self):
            raise IndexError(f"window {index} out of range for {len(self)} windows")
        start = (index % len(self)) * self.stride
        window = self.ids[start : start + self.seq_len + 1]
        return window[:-1], window[1:]  # (T,), (T,)


def make_windows(ids: Sequence[int] | torch.Tensor, seq_len: int, stride: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """All windows of `WindowDataset` at once, without a Python loop: x, y of shape (N, T).

    `unfold` makes a strided *view*, so the N windows share the corpus' memory until copied.
    """
    windows = WindowDataset(ids, seq_len, stride)  # validates the arguments
    grid = windows.ids.unfold(0, seq_len + 1, stride)  # (N, T+1)
    return grid[:, :-1], grid[:, 1:]


# --- 2. streaming batches for truncated BPTT --------------------------------------------
def batchify(ids: Sequence[int] | torch.Tensor, batch_size: int) -> torch.Tensor:
    """Cut the corpus into `B` contiguous streams, one per row: (B, N).

    With ids = [a b c d e f g h i j k l] and B = 3 (the leftover tail is dropped):

        row 0:  a b c d      each row is a contiguous stretch of text, so the state
        row 1:  e f g h  ->  left at the end of one chunk is the right start for the
        row 2:  i j k l      next chunk of the *same* row.
    """
    ids = as_ids(ids)
    _check_int("batch_size", batch_size)
    n = len(ids) // batch_size
    if n < 2:
        raise ValueError(
            f"batch_size={batch_size} is too large for {len(ids)} tokens: each stream needs at "
            f"least 2 tokens; use batch_size <= {max(1, len(ids) // 2)}"
        )
    return ids[: n * batch_size].view(batch_size, n)


class StreamBatcher:
    """Iterate `(x, y)` chunks of shape (B, T) over `batchify(ids, B)`, left to right.

    Chunk k holds columns `[k*T, (k+1)*T)`; the last one may be shorter. Because row b of
    chunk k+1 continues row b of chunk k, the caller passes the (detached) final state of
    one chunk as the initial state of the next: memory longer than `seq_len`, while
    gradients flow back at most `seq_len` steps. Each token is a target at most once per epoch:
    all but the first token of each row (and the `len(ids) % B` tail that `batchify` drops).
    """

    def __init__(self, ids: Sequence[int] | torch.Tensor, batch_size: int, seq_len: int):
        self.streams = batchify(ids, batch_size)  # (B, N)
        _check_int("seq_len", seq_len)
        self.seq_len = seq_len

    @property
    def batch_size(self) -> int:
        return self.streams.shape[0]

    @property
    def num_targets(self) -> int:
        """Target tokens per epoch: every column but the first is someone's target."""
        B, N = self.streams.shape
        return B * (N - 1)

    def __len__(self) -> int:
        return -(-(self.streams.shape[1] - 1) // self.seq_len)  # ceil division

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        N = self.streams.shape[1]
        for start in range(0, N - 1, self.seq_len):
            end = min(start + self.seq_len, N - 1)
            yield self.streams[:, start:end], self.streams[:, start + 1 : end + 1]


# --- 3. the original book's offset sampler ---------------------------------------------
class OffsetBatcher:
    """DLFS2's batching (ch. 5, `train_custom_loop.py`), reproduced exactly.

    Row b starts at offset `b * jump`, `jump = data_size // B`, with `data_size = len(ids) - 1`.
    A time index advances by one per time step and keeps advancing *across* epochs, wrapping
    around the corpus (modulo `data_size`). An epoch is `data_size // (B * T)` batches, which
    is slightly less than `jump`, so each epoch starts a little further along: the "drift".
    """

    def __init__(self, ids: Sequence[int] | torch.Tensor, batch_size: int, seq_len: int):
        ids = as_ids(ids)
        _check_int("batch_size", batch_size)
        _check_int("seq_len", seq_len)
        self.xs, self.ts = ids[:-1], ids[1:]
        self.data_size = len(self.xs)
        self.batch_size, self.seq_len = batch_size, seq_len
        self.iters_per_epoch = self.data_size // (batch_size * seq_len)
        if self.iters_per_epoch < 1:
            raise ValueError(
                f"{len(ids)} tokens are too few for batch_size*seq_len = {batch_size * seq_len}; "
                "use a smaller batch_size or seq_len"
            )
        jump = self.data_size // batch_size
        self.offsets = torch.arange(batch_size) * jump  # (B,)
        self.time_idx = 0  # persists across epochs, as in the book

    def __len__(self) -> int:
        return self.iters_per_epoch

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        steps = torch.arange(self.seq_len)
        for _ in range(self.iters_per_epoch):
            positions = (self.offsets[:, None] + self.time_idx + steps[None, :]) % self.data_size  # (B, T)
            self.time_idx += self.seq_len
            yield self.xs[positions], self.ts[positions]


# --- 4. sentences of different lengths -------------------------------------------------
@dataclass
class PaddedBatch:
    """Sentences padded to a common length.

    inputs, targets: (B, T) ids, right-padded with `pad_id` (targets: the same sentence
    shifted by one); lengths: (B,) int64 *on the CPU* (as `pack_padded_sequence` wants);
    mask: (B, T) bool, True on real tokens.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    lengths: torch.Tensor
    mask: torch.Tensor
    pad_id: int


def pad_sequences(seqs: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id sequences into (B, T) and return it with the lengths (B,)."""
    tensors = _as_id_lists(seqs, "seqs")
    _check_int("pad_id", pad_id, 0)
    _check_pad_unused(tensors, pad_id)
    lengths = torch.tensor([len(t) for t in tensors], dtype=torch.long)
    if int(lengths.min()) == 0:
        raise ValueError("seqs must not contain empty sequences")
    padded = torch.full((len(tensors), int(lengths.max())), pad_id, dtype=torch.long)
    for row, t in zip(padded, tensors):
        row[: len(t)] = t
    return padded, lengths


def pad_sentences(sentences: Sequence[Sequence[int]], pad_id: int) -> PaddedBatch:
    """Language-model batch of whole sentences: input = sentence[:-1], target = sentence[1:].

    Each sentence needs >= 2 ids. Padded target positions hold `pad_id`, so a loss with
    `ignore_index=pad_id` skips them.
    """
    sentences = _as_id_lists(sentences, "sentences")
    short = [i for i, s in enumerate(sentences) if len(s) < 2]
    if short:
        raise ValueError(f"every sentence needs at least 2 ids (input + target); sentence {short[0]} is shorter")
    inputs, lengths = pad_sequences([s[:-1] for s in sentences], pad_id)
    targets, _ = pad_sequences([s[1:] for s in sentences], pad_id)
    mask = torch.arange(inputs.shape[1])[None, :] < lengths[:, None]  # (B, T)
    return PaddedBatch(inputs, targets, lengths, mask, pad_id)


def _check_pad_unused(tensors: list[torch.Tensor], pad_id: int) -> None:
    """Refuse a pad_id that is also a real token: `ignore_index=pad_id` would skip those targets."""
    for row, t in enumerate(tensors):
        hits = (t == pad_id).nonzero()
        if len(hits):
            raise ValueError(
                f"pad_id={pad_id} also occurs among the real ids (sequence {row}, position {int(hits[0])}), so "
                "a loss with ignore_index=pad_id would drop real targets; reserve a padding token, e.g. "
                "Vocabulary(specials=('<pad>',)), and pass pad_id=vocab.special_id('<pad>')")


def _as_id_lists(seqs: Sequence[Sequence[int]], name: str) -> list[torch.Tensor]:
    """A non-empty list of 1-D id tensors, or an error that names `name`."""
    if isinstance(seqs, (str, bytes)) or not isinstance(seqs, Iterable):
        raise TypeError(f"{name} must be a list of id sequences, got {type(seqs).__name__}")
    tensors = [as_ids(s, f"each of {name}") for s in seqs]
    if not tensors:
        raise ValueError(f"{name} must contain at least one sequence")
    return tensors
