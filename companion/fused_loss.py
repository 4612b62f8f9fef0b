"""The output layer and its cross-entropy in one pass, a few rows at a time.

Nearly all of the language model's arithmetic (98 % for E = H = 100, V = 10,000) is the
last `Linear` (H -> V) and the softmax over its V outputs. Written the obvious way,

    loss = F.cross_entropy(affine(h), y)           # h (N, H), N = B*T rows

it materialises three (N, V) tensors per step: the logits, their log-softmax and, in
backward, the gradient of the logits. For B = 32, T = 35 each is 45 MB: far too big for the
caches, so every elementwise pass over them runs at main-memory speed, and the allocator
hands them back to the OS and page-faults them in again on every step.

`linear_cross_entropy` computes the same mean NLL and the same gradients, but walks the rows
in chunks whose logits fit in cache. For each chunk it forms the logits, turns them into
probabilities in place and, when gradients are wanted, immediately folds the chunk's logit
gradient (softmax - one_hot) / N into dh = G W, dW += G^T h and db += sum(G). Backward then
only scales those by the incoming gradient. Nothing of size (N, V) ever exists.
"""
from __future__ import annotations

import torch

DEFAULT_CHUNK_ELEMENTS = 1 << 20  # logits per chunk on the CPU: 4 MB of float32, cache-sized


def default_chunk_rows(vocab_size: int, device: torch.device) -> int:
    """Rows per chunk: cache-sized on the CPU; on a GPU big chunks keep the kernels busy."""
    elements = DEFAULT_CHUNK_ELEMENTS if device.type == "cpu" else 1 << 27
    return max(1, elements // vocab_size)


def linear_cross_entropy(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                         targets: torch.Tensor, chunk_rows: int | None = None) -> torch.Tensor:
    """mean_i -log softmax(h_i W^T + b)[y_i], equal to `F.cross_entropy(F.linear(h, W, b), y)`.

    h (N, H) float, weight (V, H), bias (V,) or None, targets (N,) ids in [0, V).
    Returns a scalar; gradients reach h, weight and bias as usual.
    """
    _check(h, weight, bias, targets)
    if chunk_rows is not None and (not isinstance(chunk_rows, int) or isinstance(chunk_rows, bool) or chunk_rows < 1):
        raise ValueError(f"chunk_rows must be an integer >= 1 or None (automatic), got {chunk_rows!r}")
    rows = chunk_rows or default_chunk_rows(weight.shape[0], h.device)
    wants_grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (h, weight, bias))
    if not wants_grad:  # evaluation: the same chunked loss, no gradient buffers
        return _chunked_nll(h, weight, bias, targets, rows, grads=None) / h.shape[0]
    return _LinearCrossEntropy.apply(h, weight, bias, targets, rows)


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, weight, bias, targets, rows):
        grads = (torch.empty_like(h), torch.zeros_like(weight),
                 None if bias is None else torch.zeros_like(bias))
        loss = _chunked_nll(h, weight, bias, targets, rows, grads) / h.shape[0]
        ctx.save_for_backward(*(g for g in grads if g is not None))
        ctx.has_bias = bias is not None
        return loss

    @staticmethod
    def backward(ctx, grad_loss):
        saved = list(ctx.saved_tensors)
        grad_h, grad_w = saved[0] * grad_loss, saved[1] * grad_loss
        grad_b = saved[2] * grad_loss if ctx.has_bias else None
        return grad_h, grad_w, grad_b, None, None


def _chunked_nll(h, weight, bias, targets, rows, grads) -> torch.Tensor:
    """Sum of the rows' NLL; with `grads` = (dh, dW, db) buffers, also fill them with the
    gradients of the *mean* NLL."""
    N, V = h.shape[0], weight.shape[0]
    total = h.new_zeros((), dtype=torch.float64)  # a float32 sum of 10^6 losses drifts
    buffer = h.new_empty(min(rows, N), V)  # reused by every chunk: no allocation per chunk
    grad_h, grad_w, grad_b = grads or (None, None, None)
    for start in range(0, N, rows):
        h_c, y_c = h[start:start + rows], targets[start:start + rows, None]  # (n, H), (n, 1)
        z = buffer[:h_c.shape[0]]  # (n, V)
        torch.mm(h_c, weight.t(), out=z)  # plain mm, then the bias while z is in cache:
        if bias is not None:  # faster than addmm, which first broadcasts the bias into z
            z += bias
        top = z.amax(dim=1, keepdim=True)  # subtract the max so exp cannot overflow
        picked = z.gather(1, y_c)  # the target's logit, (n, 1)
        norm = z.sub_(top).exp_().sum(dim=1, keepdim=True)  # z now holds exp(logit - max)
        total += (norm.log() + top - picked).sum(dtype=torch.float64)
        if grads is None:
            continue
        z.mul_(1.0 / (norm * N))  # softmax / N
        z.scatter_add_(1, y_c, z.new_full(y_c.shape, -1.0 / N))  # - one_hot / N
        torch.mm(z, weight, out=grad_h[start:start + rows])  # (n, V) @ (V, H)
        grad_w.addmm_(z.t(), h_c)  # (V, n) @ (n, H)
        if grad_b is not None:
            grad_b += z.sum(dim=0)
    return total.to(h.dtype)


def _check(h, weight, bias, targets) -> None:
    if h.dim() != 2 or weight.dim() != 2 or h.shape[1] != weight.shape[1]:
        raise ValueError(f"expected h (N, H) and weight (V, H), got {tuple(h.shape)} and {tuple(weight.shape)}")
    if bias is not None and bias.shape != weight.shape[:1]:
        raise ValueError(f"bias must have shape ({weight.shape[0]},), got {tuple(bias.shape)}")
    for name, t in (("weight", weight), ("bias", bias)):  # torch.mm would only say "mat1 and mat2 ..."
        if t is not None and (t.dtype != h.dtype or t.device != h.device or not h.is_floating_point()):
            raise TypeError(f"h and {name} must be floating point of one dtype on one device, got h {h.dtype} "
                            f"on {h.device}, {name} {t.dtype} on {t.device}; convert with h.to({name})")
    if targets.shape != h.shape[:1] or targets.dtype != torch.long:
        raise ValueError(f"targets must be ({h.shape[0]},) token ids (torch.long), got "
                         f"{tuple(targets.shape)} {targets.dtype}")
    if targets.device != h.device:
        raise ValueError(f"targets are on {targets.device} but h is on {h.device}; move them with targets.to(h.device)")
    if h.shape[0] == 0:
        raise ValueError("h has no rows: nothing to score")
    V = weight.shape[0]
    if targets.device.type != "cpu":
        # reading values back would make Python wait for the GPU on every step: check on the
        # device instead (a bad id then fails at the next sync, with this message)
        torch._assert_async(((targets >= 0) & (targets < V)).all(), f"targets must be token ids in [0, {V})")
        return
    low, high = (int(v) for v in targets.aminmax())  # one pass; free on the CPU
    if low < 0 or high >= V:
        raise ValueError(f"targets must be token ids in [0, {V}), got values in [{low}, {high}]")
