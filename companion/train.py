"""Training and evaluation: a visible loop, no framework.

One step is: detach the carried state -> forward -> loss -> zero_grad -> backward -> clip
-> step. `evaluate` weights every chunk by its number of target tokens, so the mean is the
true per-token loss whatever the chunk sizes, and `perplexity` turns it into exp(mean NLL).

Two recipes share this code:
- "stream" (recommended): `StreamBatcher` chunks, state carried across chunks (truncated BPTT);
- "window" (the source article's): `make_windows` with stride 1, a zero state per window.
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .data import StreamBatcher, as_ids, make_windows
from .model import SimpleRnnlm, detach_state

RECIPES = ("stream", "window")
LR_SCHEDULES = ("plateau", "cosine")
HISTORY_KEYS = ("epoch", "train_loss", "train_ppl", "valid_loss", "valid_ppl", "seconds", "tokens_per_s", "lr")


@dataclass
class TrainConfig:
    epochs: int = 1  # passes over the training ids
    batch_size: int = 32  # B: parallel streams (stream) or windows per batch (window)
    seq_len: int = 35  # T: BPTT length (stream) or window length (window; the article: 5)
    lr: float = 1e-3  # learning rate
    optimizer: str = "adam"  # "adam" (the article) or "sgd" (the original book)
    clip: float | None = 1.0  # max global gradient norm; None = no clipping
    recipe: str = "stream"  # "stream" (carried state) or "window" (the article's)
    eval_batch_size: int = 10  # B for evaluation
    max_batches: int | None = None  # stop an epoch early (quick runs); None = whole epoch
    max_seconds: float | None = None  # stop training after this much training time (equal budgets)
    lr_schedule: str = "plateau"  # "plateau": decay on a plateau; "cosine": lr -> lr_min over `epochs`
    lr_min: float = 0.0  # the cosine schedule's last value
    lr_decay: float = 1.0  # "plateau": multiply lr by this after an epoch that did not improve
    patience: int | None = None  # stop after this many epochs without improvement (None: never)
    restore_best: bool = False  # end with the weights of the best validation epoch
    seed: int = 0  # seeds python and torch before the model is trained
    progress: bool = True  # show a tqdm bar with loss / ppl

    def __post_init__(self):
        for name in ("epochs", "batch_size", "seq_len", "eval_batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")
        if self.clip is not None and not self.clip > 0:
            raise ValueError(f"clip must be > 0 or None, got {self.clip!r}")
        if self.recipe not in RECIPES:
            raise ValueError(f"recipe must be one of {RECIPES}, got {self.recipe!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if not 0.0 <= self.lr_min <= self.lr:
            raise ValueError(f"lr_min must be in [0, lr], got {self.lr_min!r}")
        if not 0.0 < self.lr_decay <= 1.0:
            raise ValueError(f"lr_decay must be in (0, 1], got {self.lr_decay!r}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be >= 1 or None, got {self.patience!r}")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ValueError(f"max_seconds must be > 0 or None, got {self.max_seconds!r}")
        if self.max_batches is not None and self.max_batches < 1:
            raise ValueError(f"max_batches must be >= 1 or None, got {self.max_batches!r}")


def set_seed(seed: int) -> None:
    """Seed Python's and torch's generators (CPU and CUDA) for a reproducible run."""
    random.seed(seed)
    torch.manual_seed(seed)


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """`None` picks CUDA when present, else the CPU; an explicit choice is checked."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was requested but no CUDA GPU is available; use device='cpu'")
    return device


def lm_loss(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100,
            reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of next-token predictions.

    logits (B, T, V), targets (B, T). `cross_entropy` wants one row per prediction, so both
    are flattened: (B*T, V) against (B*T,). Positions whose target is `ignore_index` (e.g.
    padding) do not count.
    """
    if logits.shape[:-1] != targets.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} disagree: "
                         "expected (B, T, V) and (B, T)")
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=ignore_index,
                           reduction=reduction)


def model_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, state=None) -> tuple[torch.Tensor, object]:
    """(mean NLL, state) of `model` on a (B, T) batch: `SimpleRnnlm.loss` (the fused output layer)
    for the package's model, else `lm_loss` over the logits of any `forward(x, state)` model."""
    if isinstance(model, SimpleRnnlm):  # not "has a .loss": a module may hold e.g. nn.CrossEntropyLoss there
        return model.loss(x, y, state)
    logits, state = model(x, state)  # (B, T, V), (L, B, H)
    return lm_loss(logits, y), state


def perplexity(mean_nll: float) -> float:
    """exp(mean negative log-likelihood per token): the number of equally likely words the
    model is, on average, choosing between. A uniform model over V words scores exactly V."""
    if not isinstance(mean_nll, (int, float)) or math.isnan(mean_nll) or mean_nll < 0:
        raise ValueError(f"mean_nll must be a non-negative number, got {mean_nll!r}")
    return math.exp(min(mean_nll, 700.0))  # exp(>709) overflows a float


def make_batches(ids, config: TrainConfig, batch_size: int | None = None,
                 for_eval: bool = False) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    """The batches of `config.recipe` over `ids`.

    Evaluation windows do not overlap (stride = seq_len): each target is scored once, with
    the same amount of context the model was trained with.
    """
    B = batch_size or config.batch_size
    if config.recipe == "stream":
        return StreamBatcher(ids, B, config.seq_len)
    x, y = make_windows(ids, config.seq_len, stride=config.seq_len if for_eval else 1)  # (N, T)
    return list(zip(x.split(B), y.split(B)))


def _steps(batches, max_batches: int | None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for i, batch in enumerate(batches):
        if max_batches is not None and i >= max_batches:
            return
        yield batch


def train_epoch(model: nn.Module, batches: Iterable, optimizer: torch.optim.Optimizer,
                clip: float | None = 1.0, carry_state: bool = True, max_batches: int | None = None,
                device: torch.device | str = "cpu", progress: bool = False, epoch: int = 0,
                deadline: float | None = None) -> tuple[float, int]:
    """One pass over `batches` of (x, y), each (B, T), or until `time.perf_counter()` passes
    `deadline`. Returns (token-weighted mean loss, number of target tokens trained on)."""
    model.train()
    state, total_loss, total_tokens = None, 0.0, 0
    total = min(len(batches), max_batches or len(batches)) if hasattr(batches, "__len__") else None
    bar = tqdm(_steps(batches, max_batches), total=total, disable=not progress,
               desc=f"epoch {epoch}", leave=False)
    for step, (x, y) in enumerate(bar):
        if deadline is not None and step > 0 and time.perf_counter() > deadline:
            break
        x, y = x.to(device), y.to(device)
        # a new chunk continues the old text, but backward must stop here: keep the values,
        # cut the graph. Without carry_state every window starts from a blank page.
        state = detach_state(state) if carry_state else None
        loss, state = model_loss(model, x, y, state)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"the training loss became {loss.item()} at epoch {epoch}, step {step}: "
                "lower the learning rate or enable gradient clipping (clip=1.0)"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip is not None:  # one exploding step would otherwise undo many good ones
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        total_loss += loss.item() * y.numel()
        total_tokens += y.numel()
        if progress and step % 20 == 0:
            mean = total_loss / total_tokens
            bar.set_postfix(loss=f"{mean:.3f}", ppl=f"{perplexity(mean):.1f}")
    if total_tokens == 0:
        raise ValueError("batches is empty: nothing to train on")
    return total_loss / total_tokens, total_tokens


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable, carry_state: bool = True,
             device: torch.device | str = "cpu") -> float:
    """Token-weighted mean NLL over `batches`; perplexity(evaluate(...)) is the perplexity."""
    was_training = model.training
    model.eval()
    state, total_loss, total_tokens = None, 0.0, 0
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        loss, state = model_loss(model, x, y, state if carry_state else None)
        total_loss += loss.item() * y.numel()
        total_tokens += y.numel()
    model.train(was_training)
    if total_tokens == 0:
        raise ValueError("batches is empty: nothing to evaluate")
    return total_loss / total_tokens


def evaluate_ids(model: nn.Module, ids, config: TrainConfig, device: torch.device | str = "cpu") -> float:
    """Token-weighted mean NLL on the 1-D `ids`, cut and carried the way `config.recipe` trains."""
    batches = make_batches(ids, config, config.eval_batch_size, for_eval=True)
    return evaluate(model, batches, config.recipe == "stream", device)


def cosine_lr(config: TrainConfig, epoch: int) -> float:
    """The learning rate of `epoch` (1-based) under the cosine schedule: `lr` for the first
    epoch, falling along half a cosine to `lr_min` after the last (Loshchilov & Hutter, 2017)."""
    progress = (epoch - 1) / config.epochs
    return config.lr_min + 0.5 * (config.lr - config.lr_min) * (1 + math.cos(math.pi * progress))


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.lr)
    return torch.optim.Adam(model.parameters(), lr=config.lr)


@dataclass
class FitState:
    """Where `fit` stands between two epochs: with the model's and optimizer's state_dicts,
    everything needed to go on as if the run had never stopped (see `checkpoint.fit_with_checkpoints`)."""
    epoch: int = 0  # epochs finished
    history: dict = field(default_factory=lambda: {k: [] for k in HISTORY_KEYS})  # lists by epoch
    best_loss: float = math.inf  # best validation loss so far
    stale: int = 0  # epochs in a row without improvement (drives lr decay and patience)
    best_state: dict | None = None  # weights of the best epoch (only with restore_best)
    budget: float = math.inf  # training seconds left under config.max_seconds
    done: bool = False  # early stopping or the time budget has ended the run
    rng: dict = field(default_factory=dict)  # python / torch generator states after `epoch`


def rng_state() -> dict:
    """The states of every generator training draws from (dropout uses torch's)."""
    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Put back generator states saved by `rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def fit(model: nn.Module, train_ids, valid_ids, config: TrainConfig,
        device: str | torch.device | None = None,
        optimizer: torch.optim.Optimizer | None = None, resume: FitState | None = None,
        on_epoch: Callable[[FitState], None] | None = None) -> dict[str, list]:
    """Train for `config.epochs` epochs, evaluating on `valid_ids` after each.

    Returns a plain history: lists indexed by epoch (`train_loss`, `valid_loss`,
    `valid_ppl`, `seconds`, `tokens_per_s`, `lr`) plus the `config` as a dict.
    With `lr_schedule="plateau"`, an epoch that does not improve the validation loss multiplies
    the learning rate by `config.lr_decay`; with "cosine", the rate is `cosine_lr(config, epoch)`.
    Either way, `config.patience` such epochs in a row end training early.

    `on_epoch(state)` is called after every epoch with a `FitState`; passing such a state back
    as `resume` (model and optimizer restored to the same moment) continues the run exactly.
    """
    device = pick_device(device)
    set_seed(config.seed)
    model.to(device)
    optimizer = optimizer or make_optimizer(model, config)
    train_ids, valid_ids = as_ids(train_ids, "train_ids"), as_ids(valid_ids, "valid_ids")
    carry = config.recipe == "stream"
    train_batches = make_batches(train_ids, config)
    valid_batches = make_batches(valid_ids, config, config.eval_batch_size, for_eval=True)
    state = FitState(budget=math.inf if config.max_seconds is None else config.max_seconds)
    if resume is not None:  # copy the lists: the caller's state stays as it was
        state = FitState(**{**vars(resume), "history": {k: list(v) for k, v in resume.history.items()}})
        set_rng_state(resume.rng)  # dropout goes on drawing where the interrupted run stopped
    history = state.history
    for epoch in range(state.epoch + 1, config.epochs + 1):
        if state.done:
            break
        if config.lr_schedule == "cosine":  # a function of the epoch alone: resumes exactly
            for group in optimizer.param_groups:
                group["lr"] = cosine_lr(config, epoch)
        lr = optimizer.param_groups[0]["lr"]
        start = time.perf_counter()
        deadline = None if config.max_seconds is None else start + state.budget
        train_loss, tokens = train_epoch(model, train_batches, optimizer, config.clip, carry,
                                         config.max_batches, device, config.progress, epoch, deadline)
        seconds = time.perf_counter() - start
        state.budget -= seconds  # evaluation time is not counted against the budget
        valid_loss = evaluate(model, valid_batches, carry, device)
        for key, value in zip(HISTORY_KEYS, (epoch, train_loss, perplexity(train_loss), valid_loss,
                                             perplexity(valid_loss), seconds, tokens / seconds, lr)):
            history[key].append(value)
        if config.progress:
            tqdm.write(f"epoch {epoch}: train ppl {perplexity(train_loss):.1f}, "
                       f"valid ppl {perplexity(valid_loss):.1f} ({seconds:.1f} s, lr {lr:.2g})")
        _after_epoch(state, model, optimizer, config, valid_loss)
        state.epoch, state.rng = epoch, rng_state()
        if on_epoch is not None:
            on_epoch(state)
    if state.best_state is not None:
        model.load_state_dict(state.best_state)
    return {**history, "config": asdict(config)}


def _after_epoch(state: FitState, model: nn.Module, optimizer: torch.optim.Optimizer,
                 config: TrainConfig, valid_loss: float) -> None:
    """Keep the best loss (and weights), decay the lr on a plateau, decide whether to stop."""
    if valid_loss < state.best_loss:
        state.best_loss, state.stale = valid_loss, 0
        if config.restore_best:
            state.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    else:
        state.stale += 1
        if config.lr_schedule == "plateau":
            for group in optimizer.param_groups:  # a plateau: take smaller steps
                group["lr"] *= config.lr_decay
        if config.patience is not None and state.stale >= config.patience:
            state.done = True
    if state.budget <= 0:
        state.done = True  # the training-time budget is spent
