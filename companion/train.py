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
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable, Iterator

import torch
from torch import nn
from tqdm import tqdm

from .data import StreamBatcher, as_ids, make_windows
from .loss import lm_loss, model_loss, perplexity
from .model import detach_state
from .runtime import device_name, model_device, pick_device, rng_state, set_rng_state, set_seed

__all__ = ["DIVERGED_NLL", "FitState", "HISTORY_KEYS", "RECIPES", "TrainConfig", "cosine_lr", "evaluate",
           "evaluate_ids", "fit", "lm_loss", "make_batches", "make_optimizer", "model_loss", "perplexity",
           "pick_device", "set_seed", "train_epoch"]

RECIPES = ("stream", "window")
LR_SCHEDULES = ("plateau", "cosine")
HISTORY_KEYS = ("epoch", "train_loss", "train_ppl", "valid_loss", "valid_ppl", "seconds", "tokens_per_s", "lr")
# A mean NLL above this many nats per token means training has diverged: even a uniform guess
# over a million words scores 13.8, and an untrained model scores about log V. A blown-up run
# can stay finite (1e7 and more) for ever, so "not finite" alone would let it run to the end.
DIVERGED_NLL = 50.0
# On a GPU, reading the loss back (.item(), isfinite) makes Python wait for the device; the
# divergence check then runs every this many steps instead of every step.
GPU_CHECK_EVERY = 50


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
        if self.patience is not None and (not isinstance(self.patience, int) or isinstance(self.patience, bool)
                                          or self.patience < 1):
            raise ValueError(f"patience must be an integer >= 1 or None, got {self.patience!r}")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ValueError(f"max_seconds must be > 0 or None, got {self.max_seconds!r}")
        if self.max_batches is not None and (not isinstance(self.max_batches, int)
                                             or isinstance(self.max_batches, bool) or self.max_batches < 1):
            raise ValueError(f"max_batches must be an integer >= 1 or None, got {self.max_batches!r}")






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
                device: torch.device | str | None = None, progress: bool = False, epoch: int = 0,
                deadline: float | None = None) -> tuple[float, int]:
    """One pass over `batches` of (x, y), each (B, T), or until `time.perf_counter()` passes
    `deadline`. Returns (token-weighted mean loss, number of target tokens trained on).

    `device` defaults to the model's. A loss that is not finite or above `DIVERGED_NLL` stops
    training with a FloatingPointError naming the epoch and step (checked before that step is
    applied; on a GPU every `GPU_CHECK_EVERY` steps, so that Python never waits on the device).
    """
    device = model_device(model, device)
    on_cpu = device.type == "cpu"  # reading a CPU tensor costs nothing; a GPU one stalls the device
    model.train()
    state, total_tokens, checked = None, 0, 0
    total_loss = 0.0 if on_cpu else torch.zeros((), dtype=torch.float64, device=device)
    total = min(len(batches), max_batches or len(batches)) if hasattr(batches, "__len__") else None
    bar = tqdm(_steps(batches, max_batches), total=total, disable=not progress,
               desc=f"epoch {epoch}", leave=False)
    for step, (x, y) in enumerate(bar):
        if deadline is not None and step > 0 and time.perf_counter() > deadline:
            break
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)  # no-ops when already there
        # a new chunk continues the old text, but backward must stop here: keep the values,
        # cut the graph. Without carry_state every window starts from a blank page.
        state = detach_state(state) if carry_state else None
        loss, state = model_loss(model, x, y, state)
        if on_cpu:
            value = loss.item()
            _check_diverged(value, epoch, step, step, optimizer)
            total_loss += value * y.numel()
        else:
            total_loss += loss.detach().double() * y.numel()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip is not None:  # one exploding step would otherwise undo many good ones
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        total_tokens += y.numel()
        if not on_cpu and (step + 1) % GPU_CHECK_EVERY == 0:  # one sync per GPU_CHECK_EVERY steps
            _check_diverged(float(total_loss) / total_tokens, epoch, checked, step, optimizer)
            checked = step + 1
        if progress and step % 20 == 0:
            mean = float(total_loss) / total_tokens
            bar.set_postfix(loss=f"{mean:.3f}", ppl=f"{perplexity(mean):.1f}")
    if total_tokens == 0:
        raise ValueError("batches is empty: nothing to train on")
    mean = float(total_loss) / total_tokens
    if not on_cpu:
        _check_diverged(mean, epoch, checked, step, optimizer)
    return mean, total_tokens


def _check_diverged(loss: float, epoch: int, first_step: int, step: int, optimizer: torch.optim.Optimizer) -> None:
    """Stop a run whose loss is not finite or absurdly large, with what to do about it."""
    if math.isfinite(loss) and loss <= DIVERGED_NLL:
        return
    where = f"step {step}" if first_step == step else f"steps {first_step}-{step}"
    if step == "validation":
        where = "on the validation text"
    lr = optimizer.param_groups[0]["lr"]
    raise FloatingPointError(
        f"training diverged at epoch {epoch}, {where}: the loss is {loss:.4g} nats per token "
        f"(an untrained model scores about log(vocabulary size); above {DIVERGED_NLL:g} means the "
        f"weights blew up). Lower the learning rate (lr={lr:g} now, try {lr / 10:g}) and keep "
        "gradient clipping on (clip=1.0). Checkpoints of earlier epochs are kept."
    )


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable, carry_state: bool = True,
             device: torch.device | str | None = None) -> float:
    """Token-weighted mean NLL over `batches`; perplexity(evaluate(...)) is the perplexity.

    Dropout is switched off while evaluating (`model.eval()`), and the model is put back in the
    mode it was in. `device` defaults to the model's; the sum stays on it until the end.
    """
    device = model_device(model, device)
    was_training = model.training
    model.eval()
    try:
        state, total_tokens = None, 0
        total_loss = torch.zeros((), dtype=torch.float64, device=device)
        for x, y in batches:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss, state = model_loss(model, x, y, state if carry_state else None)
            total_loss += loss.double() * y.numel()
            total_tokens += y.numel()
    finally:
        model.train(was_training)
    if total_tokens == 0:
        raise ValueError("batches is empty: nothing to evaluate")
    return total_loss.item() / total_tokens


def evaluate_ids(model: nn.Module, ids, config: TrainConfig, device: torch.device | str | None = None,
                 name: str = "ids") -> float:
    """Token-weighted mean NLL on the 1-D `ids`, cut and carried the way `config.recipe` trains."""
    device = model_device(model, device)
    batches = _eval_batches(as_ids(ids, name).to(device), config, name)
    return evaluate(model, batches, config.recipe == "stream", device)


def _eval_batches(ids: torch.Tensor, config: TrainConfig, name: str):
    """`make_batches` for evaluation, with an error that blames `eval_batch_size`, not `batch_size`."""
    if config.recipe == "stream" and len(ids) // config.eval_batch_size < 2:
        raise ValueError(
            f"eval_batch_size={config.eval_batch_size} is too large for the {len(ids)} tokens of {name}: "
            f"each of the eval_batch_size streams needs at least 2 tokens; use "
            f"TrainConfig(eval_batch_size={max(1, len(ids) // 2)}) or less, or more {name}"
        )
    return make_batches(ids, config, config.eval_batch_size, for_eval=True)


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
    wall_seconds: float = 0.0  # training + validation time of the epochs so far, across resumes
    devices: list = field(default_factory=list)  # the devices that trained those epochs, in order


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
    # the ids go to the device once, for the whole run: batches are then views, never copies
    train_ids = as_ids(train_ids, "train_ids").to(device)
    valid_ids = as_ids(valid_ids, "valid_ids").to(device)
    carry = config.recipe == "stream"
    train_batches = make_batches(train_ids, config)
    valid_batches = _eval_batches(valid_ids, config, "valid_ids")
    state = FitState(budget=math.inf if config.max_seconds is None else config.max_seconds)
    if resume is not None:  # copy the lists: the caller's state stays as it was
        state = FitState(**{**vars(resume), "history": {k: list(v) for k, v in resume.history.items()},
                            "devices": list(resume.devices)})
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
        _check_diverged(valid_loss, epoch, "validation", "validation", optimizer)
        for key, value in zip(HISTORY_KEYS, (epoch, train_loss, perplexity(train_loss), valid_loss,
                                             perplexity(valid_loss), seconds, tokens / seconds, lr)):
            history[key].append(value)
        if config.progress:
            tqdm.write(f"epoch {epoch}: train ppl {perplexity(train_loss):.1f}, "
                       f"valid ppl {perplexity(valid_loss):.1f} ({seconds:.1f} s, lr {lr:.2g})")
        _after_epoch(state, model, optimizer, config, valid_loss)
        state.epoch, state.rng = epoch, rng_state()
        state.wall_seconds += time.perf_counter() - start
        if device_name(device) not in state.devices:
            state.devices.append(device_name(device))
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
