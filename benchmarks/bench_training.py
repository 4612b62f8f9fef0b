"""Training speed, in one run: the source article's recipe against the package's recommended one.

    python benchmarks/bench_training.py                     # PTB, 240 training seconds per recipe
    python benchmarks/bench_training.py --budget 60 --out /tmp/bench.json

Both recipes train the same model size (embedding 100, hidden 100, PTB's 10,000 words) on the
same data, on this machine, one after the other, each for the same number of *training*
seconds (evaluation is not counted). The script prints and writes as JSON:

- the float32 matmul peak of this machine (a 4096^3 matmul), measured before and after;
- per recipe: target tokens/s, achieved GFLOP/s and its fraction of that peak, and the
  validation-perplexity curve against training seconds;
- the seconds each recipe needs to reach validation perplexity 200 (or, when the article's
  recipe never gets there, the seconds each needs to reach the article's best), and ratios;
- an ablation of the loss path: `F.cross_entropy` on materialised logits against the fused,
  chunked `linear_cross_entropy` that the package uses, step throughput measured interleaved.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, replace

import torch

from companion import SimpleRnnlm, TrainConfig, perplexity, set_seed, train_epoch
from companion.corpora import load_corpus
from companion.files import atomic_write_text
from companion.mode import get_settings
from companion.model import ModelConfig
from companion.ptb import PTBError
from companion.results import device_name, git_commit
from companion.train import evaluate_ids, lm_loss, make_batches, make_optimizer, pick_device

TARGET_PPL = 200.0
ARTICLE = TrainConfig(recipe="window", seq_len=5, batch_size=128, lr=1e-3, eval_batch_size=128, progress=False)


def matmul_peak_gflops(device: torch.device, n: int = 4096, repeats: int = 5) -> float:
    """The best of `repeats` n^3 float32 matmuls, in GFLOP/s: what this machine can do at most."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    out = torch.empty(n, n, device=device)
    best = float("inf")
    for _ in range(repeats + 1):  # the first call warms up the library
        _sync(device)
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def flops_per_target(config: ModelConfig) -> int:
    """Forward + backward multiply-adds per target token, x2 for FLOPs: the RNN's two matmuls and
    the output layer (backward costs twice the forward). The embedding lookup is no arithmetic."""
    E, H, V = config.embed_dim, config.hidden_size, config.vocab_size
    return 3 * 2 * (E * H + H * H + H * V)


def race(name: str, model_config: ModelConfig, config: TrainConfig, corpus, budget: float,
         device: torch.device, first_slice: float) -> dict:
    """Train for `budget` seconds; after slices of doubling length (capped at 30 s), measure the
    validation perplexity. Returns the curve and the throughput."""
    set_seed(0)
    model = SimpleRnnlm(model_config).to(device)
    optimizer = make_optimizer(model, config)
    batches = itertools.chain.from_iterable(itertools.repeat(make_batches(corpus.train, config)))
    curve, trained_s, targets, slice_s = [], 0.0, 0, first_slice
    print(f"\n{name}: {_describe(model_config, config)}")
    while trained_s < budget:
        seconds = min(slice_s, budget - trained_s)
        _sync(device)
        start = time.perf_counter()
        _, n = train_epoch(model, batches, optimizer, config.clip, config.recipe == "stream",
                           device=device, deadline=start + seconds)
        _sync(device)
        trained_s += time.perf_counter() - start
        targets += n
        ppl = perplexity(evaluate_ids(model, corpus.valid, config, device))
        curve.append({"train_s": round(trained_s, 2), "targets": targets, "valid_ppl": round(ppl, 2)})
        print(f"  {trained_s:7.1f} s  {targets:>10,} targets  valid ppl {ppl:8.1f}")
        slice_s = min(2 * slice_s, 30.0)
    return {"name": name, "model": asdict(model_config), "train": asdict(config), "curve": curve,
            "train_s": round(trained_s, 2), "targets": targets, "tokens_per_s": round(targets / trained_s)}


def seconds_to(curve: list[dict], ppl: float) -> float | None:
    """Training seconds until the curve first reaches `ppl` (linear between measurements)."""
    previous = {"train_s": 0.0, "valid_ppl": float("inf")}
    for point in curve:
        if point["valid_ppl"] <= ppl:
            if previous["valid_ppl"] == float("inf"):
                return point["train_s"]
            share = (previous["valid_ppl"] - ppl) / (previous["valid_ppl"] - point["valid_ppl"])
            return previous["train_s"] + share * (point["train_s"] - previous["train_s"])
        previous = point
    return None


def loss_path_ablation(model_config: ModelConfig, config: TrainConfig, corpus, device: torch.device,
                       rounds: int = 5, steps: int = 8) -> dict:
    """Step throughput (target tokens/s) of the two loss paths, interleaved round by round so
    that both see the same machine; the median of the rounds is reported."""
    paths = {"F.cross_entropy on (B*T, V) logits": lambda m, x, y: lm_loss(m(x)[0], y),
             "fused linear_cross_entropy (package)": lambda m, x, y: m.loss(x, y)[0]}
    set_seed(0)
    model = SimpleRnnlm(model_config).to(device)
    optimizer = make_optimizer(model, config)
    x, y = next(iter(make_batches(corpus.train, config)))
    x, y = x.to(device), y.to(device)
    rates: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(rounds):
        for name, loss_fn in paths.items():
            for step in range(steps + 1):  # the first step of each round is a warm-up
                if step == 1:
                    _sync(device)
                    start = time.perf_counter()
                loss = loss_fn(model, x, y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            _sync(device)
            rates[name].append(steps * y.numel() / (time.perf_counter() - start))
    result = {name: round(statistics.median(r)) for name, r in rates.items()}
    plain, fused = result.values()
    print("\nloss path (median target tokens/s of the same training step):")
    for name, rate in result.items():
        print(f"  {name:40s} {rate:>8,}")
    print(f"  fused / plain: {fused / plain:.2f}x")
    return {"tokens_per_s": result, "fused_over_plain": round(fused / plain, 3)}


def compare(article: dict, recommended: dict, peak: float, flops: int) -> dict:
    """Throughput, GFLOP/s and time-to-perplexity of both recipes, and their ratios."""
    for run in (article, recommended):
        run["gflops"] = round(run["tokens_per_s"] * flops / 1e9, 2)
        run["fraction_of_peak"] = round(run["gflops"] / peak, 3)
        run["best_valid_ppl"] = min(p["valid_ppl"] for p in run["curve"])
    target = TARGET_PPL if seconds_to(article["curve"], TARGET_PPL) is not None else article["best_valid_ppl"]
    t_article, t_recommended = seconds_to(article["curve"], target), seconds_to(recommended["curve"], target)
    return {
        "target_ppl": target,
        "target_note": "validation perplexity 200" if target == TARGET_PPL else
                       "the article recipe's best validation perplexity (it never reached 200 in the budget)",
        "article_s": t_article, "recommended_s": t_recommended,
        "time_ratio": None if not t_recommended else round(t_article / t_recommended, 2),
        "tokens_per_s_ratio": round(recommended["tokens_per_s"] / article["tokens_per_s"], 2),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Compare the article's training recipe with the package's.")
    p.add_argument("--budget", type=float, default=240.0, help="training seconds per recipe (default 240)")
    p.add_argument("--corpus", default="ptb", choices=("ptb", "toy"), help="toy: a smoke test, not a benchmark")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    p.add_argument("--out", default="benchmarks/last_run.json", help="where to write the JSON results")
    p.add_argument("--peak-size", type=int, default=4096, help="n of the n^3 matmul that measures the peak")
    args = p.parse_args(argv)
    if not args.budget > 0:
        p.error("--budget must be > 0 seconds")
    device = pick_device(args.device)
    try:
        corpus = load_corpus(args.corpus, toy_sentences={"train": 4000, "valid": 400, "test": 400})
    except PTBError as err:  # its message says where PTB was looked for and how to point at it
        p.error(f"{err}\n(or pass --corpus toy for a smoke test)")
    settings = get_settings("full", device.type)
    recommended_model = settings.model_config(len(corpus.vocab))
    article_model = ModelConfig(len(corpus.vocab), 100, 100)  # the article: no dropout, untied
    # the recommended recipe as its full run starts: the first epoch's learning rate
    recommended = replace(settings.train, epochs=1, lr_schedule="plateau", progress=False)
    print(f"{device_name(device)} · torch {torch.__version__} · {corpus.note}")
    peak_before = matmul_peak_gflops(device, args.peak_size)
    print(f"float32 matmul peak: {peak_before:.1f} GFLOP/s")
    first_slice = max(args.budget / 64, 0.5)
    runs = [race("article", article_model, ARTICLE, corpus, args.budget, device, first_slice),
            race("recommended", recommended_model, recommended, corpus, args.budget, device, first_slice)]
    ablation = loss_path_ablation(recommended_model, recommended, corpus, device)
    peak_after = matmul_peak_gflops(device, args.peak_size)
    peak = max(peak_before, peak_after)
    flops = flops_per_target(article_model)
    summary = compare(*runs, peak, flops)
    record = {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "commit": git_commit(),
              "device": device_name(device), "machine": platform.machine(), "cpu_count": os.cpu_count(),
              "torch": torch.__version__, "threads": torch.get_num_threads(), "corpus": corpus.note,
              "budget_s": args.budget, "flops_per_target": flops,
              "matmul_peak_gflops": {"before": round(peak_before, 1), "after": round(peak_after, 1)},
              "runs": runs, "summary": summary, "loss_path_ablation": ablation}
    _report(record)
    atomic_write_text(args.out, json.dumps(record, indent=1) + "\n")
    print(f"\nwritten to {args.out}")
    return 0


def _report(record: dict) -> None:
    peak = max(record["matmul_peak_gflops"].values())
    print(f"\nfloat32 matmul peak {peak:.1f} GFLOP/s (before {record['matmul_peak_gflops']['before']}, "
          f"after {record['matmul_peak_gflops']['after']}); {record['flops_per_target'] / 1e6:.2f} MFLOP per target")
    print(f"{'recipe':12s} {'tokens/s':>9s} {'GFLOP/s':>8s} {'of peak':>8s} {'best ppl':>9s}")
    for run in record["runs"]:
        print(f"{run['name']:12s} {run['tokens_per_s']:>9,} {run['gflops']:>8.1f} "
              f"{run['fraction_of_peak']:>8.0%} {run['best_valid_ppl']:>9.1f}")
    s = record["summary"]
    fmt = lambda t: "never" if t is None else f"{t:.0f} s"  # noqa: E731
    print(f"seconds to {s['target_note']} ({s['target_ppl']:.1f}): article {fmt(s['article_s'])}, "
          f"recommended {fmt(s['recommended_s'])}; ratio {s['time_ratio']}x")
    print(f"throughput ratio (recommended / article): {s['tokens_per_s_ratio']}x")


def _describe(model: ModelConfig, config: TrainConfig) -> str:
    return (f"recipe={config.recipe} B={config.batch_size} T={config.seq_len} {config.optimizer} lr={config.lr:g} "
            f"clip={config.clip} dropout={model.dropout} tied={model.tie_weights}")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


if __name__ == "__main__":
    sys.exit(main())
