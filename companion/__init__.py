"""companion: the small, tested package behind the course "RNN: teaching a network to take notes".

Modules, one concept each:
    vocab       tokenizers and the build-once `Vocabulary`
    ptb         the Penn Treebank: declared, downloaded, verified, cached
    toy         an embedded toy language with long-range agreement (no data files needed)
    corpora     `load_corpus`: PTB or the toy language, as ids with a frozen vocabulary
    data        windows, streams (truncated BPTT), the original book's offsets, padding
    model       the hand-written `RNNCell`/`HandRNN` and `SimpleRnnlm`
    loss        `lm_loss`, `model_loss`, `perplexity`: each computed one way
    train       `TrainConfig`, `train_epoch`, `evaluate`, `fit` (stops a diverging run)
    runtime     devices (functions follow the model's), seeds, generator states
    runs        a run on disk: default paths per mode and corpus, trained and recorded once
    checkpoint  checkpoints as dicts, refusing a mismatched vocabulary; training that resumes
    generate    sampling with temperature and top-k
    results     the JSON record of a training run, with its provenance; the shipped records
    report      a run's record worded for the book: facts, method, verdicts (a tie is a tie)
    compare     two recipes raced on equal training time; one model scored under both protocols
    plots       the training chapter's result figures (needs matplotlib)
    mode        quick or full runs (`COURSE_FULL_RUN=1`)
    notebook    `glue` and the run banner for the book's pages
    diagrams    the book's diagrams (matplotlib), drawn from the package's own cuts (not imported here)
    numpy_layers  the original book's NumPy time layers, with hand-written backward passes
    numpy_rnnlm   the original book's SimpleRnnlm and SGD in NumPy, weight copies to PyTorch

Importing the package does no I/O (beyond reading its own installed version) and no seeding.
"""
from importlib import metadata as _metadata

from .checkpoint import fit_with_checkpoints, load_checkpoint, load_model, save_checkpoint
from .corpora import Corpus, load_corpus
from .data import (OffsetBatcher, PaddedBatch, StreamBatcher, WindowDataset, batchify, make_windows,
                   pad_sentences, pad_sequences)
from .generate import sample
from .mode import RunSettings, get_settings, run_mode
from .model import HandRNN, ModelConfig, RNNCell, SimpleRnnlm, copy_rnn_weights, detach_state
from .ptb import PTBError, load_ptb_text, ptb_available, ptb_path
from .toy import BigramModel, agreement_accuracy, agreement_items, toy_corpus, toy_splits
from .train import TrainConfig, evaluate, fit, lm_loss, perplexity, pick_device, set_seed, train_epoch
from .vocab import EOS, PAD, UNK, Vocabulary, char_tokenize, default_tokenize, ptb_tokenize

# The version is set once, in pyproject.toml; the Colab set-up cells install the tag v{__version__}.
__version__ = _metadata.version("companion")
__all__ = [
    "BigramModel",
    "Corpus",
    "EOS",
    "HandRNN",
    "ModelConfig",
    "OffsetBatcher",
    "PAD",
    "PTBError",
    "PaddedBatch",
    "RNNCell",
    "RunSettings",
    "SimpleRnnlm",
    "StreamBatcher",
    "TrainConfig",
    "UNK",
    "Vocabulary",
    "WindowDataset",
    "agreement_accuracy",
    "agreement_items",
    "batchify",
    "char_tokenize",
    "copy_rnn_weights",
    "default_tokenize",
    "detach_state",
    "evaluate",
    "fit_with_checkpoints",
    "fit",
    "get_settings",
    "lm_loss",
    "load_checkpoint",
    "load_corpus",
    "load_model",
    "load_ptb_text",
    "make_windows",
    "pad_sentences",
    "pad_sequences",
    "perplexity",
    "pick_device",
    "ptb_available",
    "ptb_path",
    "ptb_tokenize",
    "run_mode",
    "sample",
    "save_checkpoint",
    "set_seed",
    "toy_corpus",
    "toy_splits",
    "train_epoch",
]
