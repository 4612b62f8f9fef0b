"""`python -m companion`: train, evaluate and sample outside the notebooks, same code and settings.

    python -m companion info
    python -m companion train --corpus auto --epochs 2           # -> runs/quick-ptb.pt (or quick-toy)
    python -m companion train --corpus ptb --mode full            # -> runs/full-ptb.pt, resumes by default
    python -m companion evaluate runs/quick-ptb.pt --split test
    python -m companion sample runs/quick-ptb.pt --prompt "the company" --top-k 10 --seed 0
    python -m companion train --corpus tang                       # -> runs/quick-tang.pt (characters)
    python -m companion sample runs/quick-tang.pt --acrostic 春夏秋冬 --form 5 --seed 0

`train` rewrites its checkpoint after every epoch and writes the run's record (JSON, beside
the checkpoint) when it ends. Default paths depend on the mode and the corpus, so quick and
full runs never collide. With --resume it continues from the checkpoint when one exists,
exactly where it stopped; the full run (COURSE_FULL_RUN=1 or --mode full) resumes by default
(--no-resume starts afresh). A finished run is not trained again and its record is kept as
it is. Resuming with other settings or another corpus is refused.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from .checkpoint import load_model
from .corpora import CORPORA, load_corpus
from .generate import sample
from .mode import get_settings, tang_settings
from .model import SimpleRnnlm
from .ptb import ptb_available, ptb_root
from .results import load_results, save_results
from .runs import RunPaths, run_paths, train_run
from .runtime import pick_device, set_seed
from .train import RECIPES, TrainConfig, evaluate_ids, perplexity
from .verse import sample_poem, showcase as verse_showcase


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m companion", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="show the run mode, device and whether PTB is on disk")

    t = sub.add_parser("train", help="train a SimpleRnnlm and save a checkpoint")
    t.add_argument("--corpus", choices=CORPORA, default="auto",
                   help="auto = PTB if available, else toy; tang = Tang poems by character (quick: the "
                        "shipped quatrains, full: all of 全唐诗, downloaded); tang-all = all of 全唐诗")
    t.add_argument("--mode", choices=("quick", "full"), help="default: from COURSE_FULL_RUN")
    t.add_argument("--epochs", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--seq-len", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--recipe", choices=RECIPES)
    t.add_argument("--embed-dim", type=int)
    t.add_argument("--hidden-size", type=int)
    t.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    t.add_argument("--out", type=Path,
                   help="checkpoint path, rewritten after every epoch (default: runs/MODE-CORPUS.pt under "
                        "$COURSE_RUNS_DIR or ./runs; the record goes beside it as .json)")
    t.add_argument("--resume", action=argparse.BooleanOptionalAction, default=None,
                   help="continue from --out if it exists (default: yes in full mode, no in quick mode)")
    t.add_argument("--results", type=Path, help="also copy the run's record (JSON) here")

    e = sub.add_parser("evaluate", help="perplexity of a checkpoint on a split")
    e.add_argument("checkpoint", type=Path)
    e.add_argument("--split", choices=("valid", "test"), default="valid")
    e.add_argument("--device")

    s = sub.add_parser("sample", help="sample text (or a poem) from a checkpoint")
    s.add_argument("checkpoint", type=Path)
    s.add_argument("--prompt", help="text to continue (word or character models)")
    s.add_argument("--form", type=int, help="poetry models: 5 (五言) or 7 (七言) characters a line")
    s.add_argument("--lines", type=int, default=4, help="poetry models: lines of a --form poem (default 4)")
    s.add_argument("--acrostic", help="poetry models: 藏头诗, one character per line (4 or 8), needs --form")
    s.add_argument("--max-new-tokens", type=int, default=30)
    s.add_argument("--temperature", type=float, default=1.0)
    s.add_argument("--top-k", type=int)
    s.add_argument("--seed", type=int)
    return p


def _train(args) -> None:
    tang = args.corpus in ("tang", "tang-all")
    settings = tang_settings(args.mode, args.device) if tang else get_settings(args.mode, args.device)
    corpus_name = "tang-all" if args.corpus == "tang-all" else settings.corpus or args.corpus
    overrides = {k: v for k, v in dict(epochs=args.epochs, batch_size=args.batch_size, seq_len=args.seq_len,
                                       lr=args.lr, recipe=args.recipe).items() if v is not None}
    config = replace(settings.train, progress=True, **overrides)
    if args.out is not None:  # refuse a bad path now, not after an epoch of training
        RunPaths.for_checkpoint(args.out).check_writable()
    _check_results_path(args.results)
    corpus = load_corpus(corpus_name, max_train_tokens=settings.ptb_train_tokens,
                         toy_sentences=settings.toy_sentences or None)
    paths = RunPaths.for_checkpoint(args.out) if args.out else run_paths(settings.mode, corpus.name)
    paths.check_writable()
    print(f"{settings.describe()}\ncorpus: {corpus.note}\ncheckpoint: {paths.checkpoint}")
    set_seed(config.seed)  # the initial weights, too, follow the config's seed
    model_config = replace(settings.model_config(len(corpus.vocab)),
                           embed_dim=args.embed_dim or settings.embed_dim,
                           hidden_size=args.hidden_size or settings.hidden_size)
    model = SimpleRnnlm(model_config)
    resume = settings.full if args.resume is None else args.resume
    if resume and paths.checkpoint.exists():
        print(f"resuming from {paths.checkpoint}")
    corpus_args = {"name": corpus.name, "toy_sentences": settings.toy_sentences}
    try:
        showcase = (lambda m: verse_showcase(m, corpus.vocab)) if tang else None  # poems kept in the record
        record = train_run(model, corpus.vocab, corpus, config, paths, settings.mode, settings.device,
                           resume=resume, extra={"corpus": corpus_args}, showcase=showcase)
    except KeyboardInterrupt:
        print(f"\ninterrupted: {paths.checkpoint} keeps the last finished epoch; add --resume to continue",
              file=sys.stderr)
        raise
    print(f"best valid perplexity {record['best_valid_ppl']:.1f} (epoch {record['best_epoch']}), "
          f"test perplexity {record['test_ppl']:.1f}; {record['wall_seconds'] / 60:.1f} min on {record['device']}")
    print(f"checkpoint: {paths.checkpoint}\nrecord: {paths.record}")
    if args.results and _write_if_changed(args.results, record):
        print(f"record copied to {args.results}")


def _check_results_path(path: Path | None) -> None:
    if path is not None and path.is_dir():
        raise ValueError(f"--results {path} is a directory; give a file path such as {path / 'record.json'}")


def _write_if_changed(path: Path, record: dict) -> bool:
    """Copy `record` to `path` unless the same record is there already (a finished run's
    record is never rewritten, not even with equal content)."""
    if path.is_file():
        try:
            if load_results(path) == record:
                return False
        except ValueError:
            pass  # not a record (or damaged): replace it
    save_results(path, record)
    return True


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
    poem = args.form is not None or args.acrostic is not None
    if poem == (args.prompt is not None):
        raise ValueError("give either --prompt (continue a text) or --form/--acrostic (write a poem), not both")
    model, vocab, _, _ = _load(args.checkpoint, "cpu")
    if poem:
        print(sample_poem(model, vocab, args.form, args.lines, args.acrostic, args.temperature, args.top_k, args.seed))
    else:
        print(sample(model, vocab, args.prompt, args.max_new_tokens, args.temperature, args.top_k, args.seed))


def _info(_args) -> None:
    print(get_settings().describe())
    print(f"PTB root: {ptb_root()} ({'verified' if ptb_available() else 'not on disk'})")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        {"info": _info, "train": _train, "evaluate": _evaluate, "sample": _sample}[args.command](args)
    except (ValueError, TypeError, FileNotFoundError, IsADirectoryError, RuntimeError, FloatingPointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
