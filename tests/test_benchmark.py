"""The training benchmark runs end to end (on the toy language, a smoke test) and writes its
figures; its arithmetic is checked on made-up curves. No wall-clock time is asserted."""
import importlib.util
import json
from pathlib import Path

import pytest

from companion.model import ModelConfig

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_training.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_training", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_seconds_to_interpolates_between_measurements(bench):
    curve = [{"train_s": 10.0, "valid_ppl": 400.0}, {"train_s": 20.0, "valid_ppl": 240.0},
             {"train_s": 40.0, "valid_ppl": 160.0}]
    assert bench.seconds_to(curve, 200.0) == pytest.approx(30.0)
    assert bench.seconds_to(curve, 500.0) == 10.0
    assert bench.seconds_to(curve, 100.0) is None


def test_flops_per_target_is_dominated_by_the_output_layer(bench):
    flops = bench.flops_per_target(ModelConfig(10_000, 100, 100))
    assert flops == 6 * (100 * 100 + 100 * 100 + 100 * 10_000)
    assert 6.0e6 < flops < 6.2e6


def test_compare_falls_back_to_the_article_best_when_200_is_never_reached(bench):
    article = {"tokens_per_s": 1000, "curve": [{"train_s": 100.0, "valid_ppl": 300.0},
                                               {"train_s": 200.0, "valid_ppl": 250.0}]}
    recommended = {"tokens_per_s": 2000, "curve": [{"train_s": 10.0, "valid_ppl": 260.0},
                                                   {"train_s": 20.0, "valid_ppl": 240.0}]}
    summary = bench.compare(article, recommended, peak=100.0, flops=10**6)
    assert summary["target_ppl"] == 250.0 and "never reached 200" in summary["target_note"]
    assert summary["time_ratio"] == pytest.approx(200.0 / 15.0, rel=1e-2)
    assert summary["tokens_per_s_ratio"] == 2.0
    assert article["fraction_of_peak"] == pytest.approx(0.01)


def test_smoke_run_on_the_toy_language_writes_every_figure(bench, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench.main(["--corpus", "toy", "--budget", "1", "--peak-size", "256", "--device", "cpu",
                       "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    assert [run["name"] for run in record["runs"]] == ["article", "recommended"]
    for run in record["runs"]:
        assert run["tokens_per_s"] > 0 and 0 < run["fraction_of_peak"] and run["curve"]
        assert run["train_s"] >= 1.0
    assert set(record["summary"]) >= {"target_ppl", "article_s", "recommended_s", "time_ratio", "tokens_per_s_ratio"}
    assert record["loss_path_ablation"]["fused_over_plain"] > 0
    assert "matmul peak" in capsys.readouterr().out


def test_bad_budget_is_refused(bench):
    with pytest.raises(SystemExit):
        bench.main(["--budget", "0", "--corpus", "toy"])
