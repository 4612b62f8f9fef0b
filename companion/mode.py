"""Quick or full: one switch, `COURSE_FULL_RUN=1`, decides how big every run in the course is.

Quick (the default) keeps each chapter under a minute on two CPU cores: small models, a few
epochs, PTB cut short (or the embedded toy language when PTB is not on disk). Full uses all
of PTB, the article's model size (embedding 100, hidden 100) and trains to convergence.
Notebooks call `get_settings()` once and pass its configs explicitly.
"""
from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field

import torch

from .model import ModelConfig
from .runtime import pick_device
from .train import TrainConfig

ENV_FLAG = "COURSE_FULL_RUN"
FULL_EPOCHS = 25  # the full run: 52 min on 2 CPU cores (companion/records/ptb_full_run.json)


def run_mode() -> str:
    """'full' when COURSE_FULL_RUN is 1/true/yes/on, 'quick' when it is 0/false/no/off or unset
    (case and surrounding spaces do not matter). Any other value is a typo worth reporting."""
    value = os.environ.get(ENV_FLAG, "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return "full"
    if value in ("", "0", "false", "no", "off"):
        return "quick"
    raise ValueError(f"{ENV_FLAG} must be one of 1, true, yes, on (full run) or 0, false, no, off, empty or "
                     f"unset (quick run), got {os.environ[ENV_FLAG]!r}; e.g. export {ENV_FLAG}=1")


@dataclass
class RunSettings:
    mode: str  # "quick" or "full"
    device: str  # "cuda" or "cpu"
    embed_dim: int  # E of the language model
    hidden_size: int  # H of the language model
    train: TrainConfig  # the training recipe for this mode
    ptb_train_tokens: int | None  # cut PTB's training ids to this many (None = all)
    toy_sentences: dict = field(default_factory=dict)  # split -> sentences of the toy language
    dropout: float = 0.0  # the language model's dropout (0 = the article's model)
    tie_weights: bool = False  # share the embedding and output matrices (E == H)
    compare_seconds: float = 20.0  # training seconds per recipe when the training chapter races two
    corpus: str | None = None  # the corpus these settings are for, when they are for one ("tang", "tang-all")

    def model_config(self, vocab_size: int) -> ModelConfig:
        """The language model of this mode for a vocabulary of `vocab_size` words."""
        return ModelConfig(vocab_size, self.embed_dim, self.hidden_size, dropout=self.dropout,
                           tie_weights=self.tie_weights)

    @property
    def full(self) -> bool:
        return self.mode == "full"

    def describe(self) -> str:
        """One line for the top of a chapter: which mode, which device, which torch."""
        if self.device == "cuda":
            name = torch.cuda.get_device_name(0)
        else:
            name = f"{platform.machine() or 'CPU'}, {os.cpu_count()} cores"
        return (f"mode: {self.mode} · device: {self.device} ({name}) · "
                f"torch {torch.__version__} · threads {torch.get_num_threads()}")


def _mode_and_device(mode: str | None, device: str | None) -> tuple[str, str]:
    """`mode` ('quick'/'full'; default: from COURSE_FULL_RUN) checked, and the device type to use."""
    mode = mode or run_mode()
    if mode not in ("quick", "full"):
        raise ValueError(f"mode must be 'quick' or 'full', got {mode!r}")
    return mode, pick_device(device).type


# Training seconds per recipe in the full-mode race of the training chapter. A GPU does in 2 minutes far
# more steps than 2 CPU cores in 5: the race stays fair (both recipes get the same time) and short.
FULL_RACE_SECONDS = {"cpu": 300.0, "cuda": 120.0}


def get_settings(mode: str | None = None, device: str | None = None) -> RunSettings:
    """The settings for `mode` ('quick'/'full'; default: from COURSE_FULL_RUN) on `device`."""
    mode, device = _mode_and_device(mode, device)
    if mode == "full":
        # the recipe search in benchmarks/README.md: the article's 100/100 tanh RNN with tied
        # weights and dropout, streaming truncated BPTT, Adam with a cosine learning-rate decay
        train = TrainConfig(epochs=FULL_EPOCHS, batch_size=32, seq_len=35, lr=6e-3, lr_schedule="cosine",
                            clip=0.5, restore_best=True, progress=True)
        compare = FULL_RACE_SECONDS["cuda" if device == "cuda" else "cpu"]
        return RunSettings("full", device, 100, 100, train, None,
                           {"train": 20000, "valid": 2000, "test": 2000}, dropout=0.25, tie_weights=True,
                           compare_seconds=compare)
    train = TrainConfig(epochs=2, batch_size=32, seq_len=35, lr=3e-3, clip=1.0, progress=False)
    return RunSettings("quick", device, 64, 64, train, 100_000,
                       {"train": 4000, "valid": 400, "test": 400})


TANG_FULL_EPOCHS = 3  # all of 全唐诗 (2.8 M characters a pass), character by character


def tang_settings(mode: str | None = None, device: str | None = None) -> RunSettings:
    """The settings of the Tang-poetry chapter: a character-level `SimpleRnnlm` trained with
    streaming truncated BPTT. Quick: the shipped quatrains, 300 steps (about 25 s on 2 busy cores).
    Full: every poem of 全唐诗 (downloaded), E = H = 128 with tied weights, a cosine schedule."""
    mode, device = _mode_and_device(mode, device)
    if mode == "full":
        # 8,800 characters x 128: the output layer is most of the work (about 7 min a pass on 2 CPU cores)
        train = TrainConfig(epochs=TANG_FULL_EPOCHS, batch_size=64, seq_len=48, lr=3e-3, lr_schedule="cosine",
                            clip=1.0, restore_best=True, progress=True)
        return RunSettings("full", device, 128, 128, train, None, dropout=0.1, tie_weights=True,
                           corpus="tang-all")
    # a line is 6 or 8 characters with its mark, a quatrain 24 or 32: seq_len 32 holds one poem.
    # A fixed number of steps, not seconds: the chapter asserts what the model has learned (to
    # end its lines after 5 or 7 characters), and a time budget on a busy machine left it with
    # too few steps to learn it. 300 steps read 38 % of the quatrains, about 25 s on 2 busy
    # cores. Within so little training more, bolder steps win: B = 16 and lr = 1e-2 ended 93 % of
    # free lines after 5 or 7 characters, B = 32 and lr = 3e-3 only 38 %.
    train = TrainConfig(epochs=1, batch_size=16, seq_len=32, lr=1e-2, clip=1.0, max_batches=300, progress=False)
    return RunSettings("quick", device, 64, 128, train, None, corpus="tang")
