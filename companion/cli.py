"""`python -m companion`: train, evaluate and sample outside the notebooks, same code and settings.

    python -m companion info
    python -m companion train --corpus auto --epochs 2 --out runs/model.pt
    python -m companion train --corpus auto --epochs 2 --out runs/model.pt --resume
    python -m companion evaluate runs/model.pt --split test
    python -m companion sample runs/model.pt --prompt "the company" --top-k 10 --seed 0

`train` rewrites its checkpoint (--out) after every epoch. With --resume it continues from
that checkpoint when one exists, exactly where it stopped; the full run (COURSE_FULL_RUN=1 or
--mode full) resumes by default (--no-resume starts afresh). Resuming with other settings or
another corpus is refused.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

from .checkpoint import fit_with_checkpoints, load_model
from .corpora import CORPORA, load_corpus
from .generate import sample
from .mode import get_settings
from .model import SimpleRnnlm
from .ptb import ptb_available, ptb_root
from .results import git_commit, make_record, save_results
from .train import RECIPES, TrainConfig, evaluate_ids, perplexity, pick_device, set_seed


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m companion", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="show the run mode, device and whether PTB is on disk")

    t = sub.add_parser("train", help="train a SimpleRnnlm and save a checkpoint")
    t.add_argument("--corpus", choices=CORPORA, default="auto", help="auto = PTB if available, else toy")
    t.add_argument("--mode", choices=("quick", "full"), help="default: from COURSE_FULL_RUN")
    t.add_argument("--epochs", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--seq-len", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--recipe", choices=RECIPES)
    t.add_argument("--embed-dim", type=int)
    t.add_argument("--hidden-size", type=int)
    t.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    t.add_argument("--out", type=Path, default=Path("runs/model.pt"),
                   help="checkpoint path, rewritten after every epoch")
    t.add_argument("--resume", action=argparse.BooleanOptionalAction, default=None,
                   help="continue from --out if it exists (default: yes in full mode, no in quick mode)")
    t.add_argument("--results", type=Path, help="also evaluate on test and write a results JSON here")

    e = sub.add_parser("evaluate", help="perplexity of a checkpoint on a split")
    e.add_argument("checkpoint", type=Path)
    e.add_argument("--split", choices=("valid", "test"), default="valid")
    e.add_argument("--device")

    s = sub.add_parser("sample", help="sample text from a checkpoint")
    s.add_argument("checkpoint", type=Path)
    s.add_argument("--prompt", required=True)
    s.add_argument("--max-new-tokens", type=int, default=30)
    s.add_argument("--temperature", type=float, default=1.0)
    s.add_argument("--top-k", type=int)
    s.add_argument("--seed", type=int)
    return p


def _train(args) -> None:
    settings = get_settings(args.mode, args.device)
    overrides = {k: v for k, v in dict(epochs=args.epochs, batch_size=args.batch_size, seq_len=args.seq_len,
                                       lr=args.lr, recipe=args.recipe).items() if v is not None}
    config = replace(settings.train, progress=True, **overrides)
    corpus = load_corpus(args.corpus, max_train_tokens=settings.ptb_train_tokens,
                         toy_sentences=settings.toy_sentences)
    print(f"{settings.describe()}\ncorpus: {corpus.note}")
    set_seed(config.seed)  # the initial weights, too, follow the config's seed
    model_config = replace(settings.model_config(len(corpus.vocab)),
                           embed_dim=args.embed_dim or settings.embed_dim,
                           hidden_size=args.hidden_size or settings.hidden_size)
    model = SimpleRnnlm(model_config)
    start, commit = time.perf_counter(), git_commit()  # the code this run starts from
    resume = settings.full if args.resume is None else args.resume
    if resume and args.out.exists():
        print(f"resuming from {args.out}")
    corpus_args = {"name": corpus.name, "toy_sentences": settings.toy_sentences}
    try:
        history = fit_with_checkpoints(model, corpus.vocab, corpus.train, corpus.valid, config, args.out,
                                       device=settings.device, resume=resume, extra={"corpus": corpus_args})
    except KeyboardInterrupt:
        print(f"\ninterrupted: {args.out} keeps the last finished epoch; add --resume to continue",
              file=sys.stderr)
        raise
    print(f"best valid perplexity {min(history['valid_ppl']):.1f}; checkpoint written to {args.out}")
    if args.results:
        test_loss = evaluate_ids(model, corpus.test, config, settings.device)
        record = make_record(history, test_loss, asdict(model.config), corpus.note, settings.device,
                             time.perf_counter() - start, settings.mode, commit)
        save_results(args.results, record)
        print(f"test perplexity {record['test_ppl']:.1f}; results written to {args.results}")


def _load(path: Path, device):
    model, vocab, checkpoint = load_model(path, map_location=device)
    config = TrainConfig(**{**(checkpoint["train_config"] or {}), "progress": False})
    return model, vocab, config, checkpoint["extra"]


def _evaluate(args) -> None:
    device = pick_device(args.device)
    model, vocab, config, extra = _load(args.checkpoint, device)
    if "corpus" not in extra:
        raise ValueError(f"{args.checkpoint} does not say which corpus it was trained on; "
                         "evaluate it with companion.evaluate() in Python instead")
    corpus = load_corpus(**extra["corpus"])
    if corpus.vocab != vocab:
        raise ValueError("the corpus on disk no longer gives the vocabulary this checkpoint was trained with")
    ids = getattr(corpus, args.split)
    nll = evaluate_ids(model, ids, config, device)
    print(f"{args.split} loss {nll:.4f}  perplexity {perplexity(nll):.2f}  ({corpus.note})")


def _sample(args) -> None:
    model, vocab, _, _ = _load(args.checkpoint, "cpu")
    print(sample(model, vocab, args.prompt, args.max_new_tokens, args.temperature, args.top_k, args.seed))


def _info(_args) -> None:
    print(get_settings().describe())
    print(f"PTB root: {ptb_root()} ({'verified' if ptb_available() else 'not on disk'})")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        {"info": _info, "train": _train, "evaluate": _evaluate, "sample": _sample}[args.command](args)
    except (ValueError, FileNotFoundError, RuntimeError) as err:  # caller mistakes: no traceback
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
