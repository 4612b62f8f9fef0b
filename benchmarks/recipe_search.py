"""One trial of the full-run recipe search: train the 100/100 tanh RNN on PTB with the given
settings and append a JSON line (settings, per-epoch curve, test perplexity) to a log.

    python benchmarks/recipe_search.py --name tied-d0.3 --tie --dropout 0.3 --epochs 8 \
        --log benchmarks/recipe_search.jsonl

Each trial is short (a few epochs, equal for all), so it ranks recipes rather than
predicting the final number; README.md in this folder holds the table of the trials run.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict

import torch

from companion import ModelConfig, SimpleRnnlm, TrainConfig, fit, perplexity
from companion.corpora import load_corpus
from companion.train import evaluate_ids


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--name", required=True)
    p.add_argument("--log", default="benchmarks/recipe_search.jsonl")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=35)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--lr-schedule", default="cosine")
    p.add_argument("--optimizer", default="adam")
    p.add_argument("--clip", type=float, default=0.5)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--tie", action="store_true")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    corpus = load_corpus("ptb", download=False)
    model = SimpleRnnlm(ModelConfig(len(corpus.vocab), 100, 100, dropout=args.dropout, tie_weights=args.tie))
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, seq_len=args.seq_len, lr=args.lr,
                         lr_schedule=args.lr_schedule, optimizer=args.optimizer, clip=args.clip,
                         restore_best=True, progress=True)
    start = time.perf_counter()
    history = fit(model, corpus.train, corpus.valid, config, device="cpu")
    test_ppl = perplexity(evaluate_ids(model, corpus.test, config))
    record = {"name": args.name, "model": asdict(model.config), "train": asdict(config),
              "valid_ppl": [round(v, 1) for v in history["valid_ppl"]],
              "train_ppl": [round(v, 1) for v in history["train_ppl"]],
              "best_valid_ppl": round(min(history["valid_ppl"]), 1), "test_ppl": round(test_ppl, 1),
              "tokens_per_s": round(sum(history["tokens_per_s"]) / len(history["tokens_per_s"])),
              "wall_s": round(time.perf_counter() - start)}
    print(json.dumps(record))
    with open(args.log, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
