"""Print the Markdown tables of benchmarks/README.md from the files the runs wrote, so that no
figure in the README is typed by hand.

    python benchmarks/tables.py [benchmarks/results/bench_cpu.json] [benchmarks/recipe_search.jsonl]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def bench_table(record: dict) -> str:
    peak = max(record["matmul_peak_gflops"].values())
    s = record["summary"]
    lines = [f"Run of {record['created'][:10]} on {record['device']}, torch {record['torch']}, "
             f"commit `{_short(record['commit'])}`; {record['budget_s']:.0f} training seconds per recipe; "
             f"float32 matmul peak {peak:.1f} GFLOP/s (4096³, best of before/after: "
             f"{record['matmul_peak_gflops']['before']} / {record['matmul_peak_gflops']['after']}); "
             f"{record['flops_per_target'] / 1e6:.2f} MFLOP per target token.", "",
             "| recipe | target tokens/s | GFLOP/s | of peak | best valid ppl | seconds to "
             f"{s['target_ppl']:.1f} |", "|---|---|---|---|---|---|"]
    times = {"article": s["article_s"], "recommended": s["recommended_s"]}
    for run in record["runs"]:
        t = times[run["name"]]
        lines.append(f"| {run['name']} ({_recipe(run)}) | {run['tokens_per_s']:,} | {run['gflops']:.1f} | "
                     f"{run['fraction_of_peak']:.0%} | {run['best_valid_ppl']:.1f} | "
                     f"{'not reached' if t is None else f'{t:.0f}'} |")
    lines += ["", f"Time to {s['target_note']}: recommended is **{s['time_ratio']}×** faster; "
              f"throughput ratio {s['tokens_per_s_ratio']}×.", ""]
    ablation = record["loss_path_ablation"]
    lines += ["| loss path (same step, interleaved rounds) | target tokens/s |", "|---|---|"]
    lines += [f"| {name} | {rate:,} |" for name, rate in ablation["tokens_per_s"].items()]
    lines.append(f"| fused / plain | {ablation['fused_over_plain']}× |")
    return "\n".join(lines)


def search_table(trials: list[dict]) -> str:
    lines = ["| trial | model | recipe | epochs | valid ppl by epoch | best valid | test ppl |",
             "|---|---|---|---|---|---|---|"]
    for t in trials:
        m, c = t["model"], t["train"]
        model = f"dropout {m['dropout']:g}, {'tied' if m['tie_weights'] else 'untied'}"
        recipe = (f"B={c['batch_size']} T={c['seq_len']} {c['optimizer']} lr={c['lr']:g} "
                  f"{c.get('lr_schedule', 'plateau')} clip={c['clip']}")
        curve = " → ".join(f"{v:.0f}" for v in t["valid_ppl"])
        lines.append(f"| {t['name']} | {model} | {recipe} | {len(t['valid_ppl'])} | {curve} | "
                     f"{t['best_valid_ppl']:.1f} | {t['test_ppl']:.1f} |")
    return "\n".join(lines)


def full_run_line(record: dict) -> str:
    m, c, e = record["model_config"], record["train_config"], record["epochs"]
    curve = " → ".join(f"{epoch['valid_ppl']:.0f}" for epoch in e)
    return (f"The full run (`companion/records/ptb_full_run.json`, {record['created'][:10]}, {record['device']}, commit "
            f"`{_short(record['commit'])}`): dropout {m['dropout']:g}, {'tied' if m['tie_weights'] else 'untied'}, "
            f"{c['optimizer']} lr={c['lr']:g} {c['lr_schedule']}, {len(e)} epochs in "
            f"{record['wall_seconds'] / 60:.0f} min; validation perplexity "
            f"{curve}; best validation "
            f"{record['best_valid_ppl']:.1f} (epoch {record['best_epoch']}), **test perplexity "
            f"{record['test_ppl']:.1f}**.")


def _short(commit: str) -> str:
    return commit[:12] + ("+dirty" if commit.endswith("+dirty") else "")


def _recipe(run: dict) -> str:
    c, m = run["train"], run["model"]
    extra = f", dropout {m['dropout']:g}{', tied' if m['tie_weights'] else ''}" if m["dropout"] or m["tie_weights"] else ""
    return f"{c['recipe']}, B={c['batch_size']}, T={c['seq_len']}, {c['optimizer']} {c['lr']:g}{extra}"


def main(argv: list[str]) -> int:
    bench = Path(argv[0]) if argv else HERE / "results" / "bench_cpu.json"
    search = Path(argv[1]) if len(argv) > 1 else HERE / "recipe_search.jsonl"
    if bench.exists():
        print(bench_table(json.loads(bench.read_text(encoding="utf-8"))), end="\n\n")
    if search.exists():
        lines = search.read_text(encoding="utf-8").splitlines()
        print(search_table([json.loads(line) for line in lines if line.strip()]), end="\n\n")
    full = HERE.parent / "companion" / "records" / "ptb_full_run.json"
    if full.exists():
        print(full_run_line(json.loads(full.read_text(encoding="utf-8"))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
