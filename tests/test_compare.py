"""The equal-time recipe race (`compare`) and the record's wording for the book (`report`)."""
import copy
import itertools
import json
import math
from pathlib import Path

import pytest
import torch

from companion.compare import (check_window_scorer, growing_pieces, run_recipe, score_both_ways, text_per_step,
                               unigram_perplexity)
from companion.corpora import corpus_texts, load_corpus
from companion.model import ModelConfig, SimpleRnnlm
from companion.report import (BENCHMARKED, PTB_PUBLISHED, benchmarked_facts, compare_phrase, compare_ppl, gap_note,
                              method_text, race_facts, reading_facts, record_facts, unigram_verdict, verdict)
from companion.results import published_record
from companion.train import TrainConfig, evaluate, make_batches, perplexity
from companion.vocab import Vocabulary

TEXT = "\n".join(["the cat sat on the mat", "the dog sat on the log", "a cat saw a dog"] * 30)


def test_growing_pieces_double_and_wrap_around():
    ids = torch.arange(10)
    pieces = list(itertools.islice(growing_pieces(ids, 2), 5))
    # 2, 4, then 8 tokens do not fit after position 6: a new pass; then all 10 (at most the text)
    assert [p.tolist() for p in pieces] == [[0, 1], [2, 3, 4, 5], list(range(8)), list(range(10)), list(range(10))]


def test_growing_pieces_refuses_bad_arguments():
    with pytest.raises(ValueError, match="first must be an integer >= 2"):
        next(growing_pieces(torch.arange(10), 1))
    with pytest.raises(ValueError, match="at least 2 tokens"):
        next(growing_pieces(torch.arange(1), 2))


def test_text_per_step_counts_new_text():
    assert text_per_step(TrainConfig(recipe="window", batch_size=128, seq_len=5)) == 128
    assert text_per_step(TrainConfig(recipe="stream", batch_size=32, seq_len=35)) == 32 * 35


@pytest.mark.parametrize("recipe", ["stream", "window"])
def test_run_recipe_spends_the_budget_and_learns(recipe):
    vocab = Vocabulary("ptb").build(TEXT)
    ids = torch.tensor(vocab.encode(TEXT))
    torch.manual_seed(0)
    model = SimpleRnnlm(ModelConfig(len(vocab), 8, 8))
    config = TrainConfig(recipe=recipe, batch_size=4, seq_len=5, lr=1e-2, eval_batch_size=4, progress=False)
    before = perplexity(evaluate(model, make_batches(ids, config, 4, for_eval=True), recipe == "stream"))
    history = run_recipe(model, ids, ids, config, seconds=0.5, first_eval_targets=40)
    assert history["elapsed"][-1] >= 0.5 and history["valid_ppl"][-1] < before
    # how many pieces fit in 0.5 s depends on the machine's load: one at least (growth: test_growing_pieces)
    assert len(history["valid_ppl"]) == len(history["elapsed"]) == len(history["text_read"]) >= 1
    assert all(a < b for a, b in zip(history["elapsed"], history["elapsed"][1:]))
    # windows move one token on per T targets; streams one token per target
    per_target = 1 / config.seq_len if recipe == "window" else 1.0
    assert math.isclose(history["text_read"][-1], history["targets"][-1] * per_target)
    assert history["config"]["recipe"] == recipe


def test_run_recipe_refuses_a_bad_budget():
    model = SimpleRnnlm(ModelConfig(5, 2, 2))
    with pytest.raises(ValueError, match="seconds must be a positive number"):
        run_recipe(model, torch.arange(5).repeat(10), torch.arange(5), TrainConfig(), 0, 10)


def test_score_both_ways_are_the_two_protocols():
    torch.manual_seed(0)
    model = SimpleRnnlm(ModelConfig(7, 4, 4))
    ids = torch.randint(0, 7, (203,))
    scores = score_both_ways(model, ids, window_len=5, seq_len=6, batch_size=3)
    windows = TrainConfig(recipe="window", seq_len=5)
    blank = evaluate(model, make_batches(ids, windows, 128, for_eval=True), carry_state=False)
    streams = ids[: 203 // 3 * 3].view(3, -1)  # three streams, read in one go with the state carried
    logits, _ = model(streams[:, :-1])
    carried = torch.nn.functional.cross_entropy(logits.flatten(0, 1), streams[:, 1:].flatten()).item()
    assert math.isclose(scores["windows"], perplexity(blank), rel_tol=1e-6)
    assert math.isclose(scores["streams"], math.exp(carried), rel_tol=1e-5)


def test_compare_ppl_calls_a_small_gap_a_tie():
    assert compare_ppl(124.4, 124.7).startswith("持平")  # 0.24 %: one seed cannot tell them apart
    assert compare_ppl(124.4, 141.2) == "低 12%"
    assert compare_ppl(150.0, 124.7) == "高 20%"
    with pytest.raises(ValueError, match="positive"):
        compare_ppl(0.0, 1.0)


def test_verdict_of_the_shipped_record_is_honest():
    record = published_record("ptb")
    text = verdict(record["test_ppl"])
    kn5, rnnlm = PTB_PUBLISHED
    assert text.startswith(f"比 {kn5.name_zh}（141.2）低 12%，")
    assert f"和 {rnnlm.name_zh}（124.7）持平（只差 0.26%" in text  # 124.4 vs 124.7 is not a win
    assert compare_phrase("流式模型", 90.0, "滑动窗口模型", 100.0) == "流式模型比滑动窗口模型低 10%"


def test_method_text_says_only_what_the_run_did():
    train_config = published_record("ptb")["train_config"]
    assert train_config["lr_schedule"] == "cosine" and train_config["patience"] is None
    text = method_text(train_config)
    assert "余弦学习率" in text and "不早停" in text and "早停" not in text.replace("不早停", "")
    assert "乘以" not in text  # no plateau decay: lr_decay is 1.0
    plateau = {**train_config, "lr_schedule": "plateau", "lr_decay": 0.5, "patience": 3}
    assert "乘以 0.5" in method_text(plateau) and "连续 3 轮没有进步就早停" in method_text(plateau)


def test_record_facts_quote_the_record():
    record = published_record("ptb")
    facts = record_facts(record)
    assert facts["full_test_ppl"] == f"{record['test_ppl']:.1f}"
    assert facts["full_best_epoch"] == str(record["best_epoch"])
    assert "dropout=0.25" in facts["full_model"] and "tie_weights=True" in facts["full_model"]
    assert "丢弃" in facts["full_regularization"] and "权重绑定" in facts["full_regularization"]
    assert all(isinstance(v, str) and v for v in facts.values())


def test_gap_note_covers_overfitting_and_dropout():
    record = copy.deepcopy(published_record("ptb"))
    best = record["epochs"][record["best_epoch"] - 1]
    best.update(train_ppl=80.0, valid_ppl=130.0)
    assert "最后一轮" in gap_note(record)  # the best epoch is the last one
    record["best_epoch"] = 1
    record["epochs"][0].update(train_ppl=80.0, valid_ppl=130.0)
    assert "过拟合" in gap_note(record)
    record["epochs"][0].update(train_ppl=140.0, valid_ppl=130.0)
    assert "丢弃开着" in gap_note(record)


def test_gap_note_explains_early_epochs_above_validation():
    record = published_record("ptb")  # epoch 1: train 416 (running mean, dropout on) over valid 230
    above = [e["epoch"] for e in record["epochs"] if e["train_ppl"] > e["valid_ppl"]]
    assert above[0] == 1
    assert f"前 {len(above)} 轮" in gap_note(record) or "第 1 轮" in gap_note(record)
    no_dropout = copy.deepcopy(record)
    no_dropout["model_config"]["dropout"] = 0.0
    assert "丢弃也开着" not in gap_note(no_dropout)


def test_corpus_texts_are_what_the_corpus_encodes():
    sentences = {"train": 30, "valid": 5, "test": 5}
    corpus = load_corpus("toy", toy_sentences=sentences)
    texts = corpus_texts(corpus, toy_sentences=sentences)
    assert torch.equal(torch.tensor(corpus.vocab.encode(texts["valid"])), corpus.valid)
    assert json.dumps(sorted(texts)) == json.dumps(["test", "train", "valid"])


def test_plots_draw_every_run_and_reference():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from companion.plots import plot_full_run, plot_race

    record = published_record("ptb")
    fig = plot_full_run(record, PTB_PUBLISHED)
    ax = fig.axes[0]
    assert len(ax.lines) == 3 + len(PTB_PUBLISHED)  # train, validation, test star, one line per reference
    assert list(ax.lines[1].get_ydata()) == [e["valid_ppl"] for e in record["epochs"]]
    history = {"elapsed": [1.0, 2.0], "text_read": [10.0, 30.0], "valid_ppl": [300.0, 200.0]}
    fig2 = plot_race({"a": history, "b": history}, {"a": "run a", "b": "run b"}, 2.0, unigram_ppl=250.0)
    assert [len(a.lines) for a in fig2.axes] == [3, 3]
    assert [t.get_text() for t in fig2.axes[0].get_legend().get_texts()][:2] == ["run a", "run b"]
    plt.close("all")


def test_reading_facts_count_passes_and_text_per_second():
    histories = {"window": {"elapsed": [1.0, 2.0], "text_read": [100.0, 200.0]},
                 "stream": {"elapsed": [1.0, 4.0], "text_read": [300.0, 1600.0]}}
    assert reading_facts(histories, n_train=400) == {"stream_passes": 4.0, "window_passes": 0.5,
                                                     "text_speedup": 4.0}  # 400 vs 100 tokens a second


def test_benchmarked_facts_are_the_benchmark_figures():
    facts = benchmarked_facts()
    assert facts["bench_untied_test"] == BENCHMARKED.untied_test_ppl and facts["bench_untied_lr"] == BENCHMARKED.untied_lr
    assert set(facts) == {f"bench_{k}" for k in ("fused_speedup", "untied_epochs", "untied_valid", "untied_test",
                                                   "untied_lr", "untied_clip")}


def test_log_axis_labels_are_short_enough_not_to_collide():
    from companion.plots import _short_number

    assert [_short_number(v) for v in (0.5, 200, 5000, 50_000, 200_000, 2_000_000)] == [
        "0.5", "200", "5000", "50k", "200k", "2M"]


def test_benchmarked_numbers_match_the_benchmark_readme():
    readme = (Path(__file__).resolve().parents[1] / "benchmarks" / "README.md").read_text(encoding="utf-8")
    assert f"| fused / plain | {BENCHMARKED.fused_speedup:.3f}× |" in readme
    first_run = next(line for line in readme.splitlines() if line.startswith("| first full run |"))
    cells = [cell.strip() for cell in first_run.strip("|").split("|")]
    assert cells[3:] and int(cells[3]) == BENCHMARKED.untied_epochs
    assert (float(cells[-2]), float(cells[-1])) == (BENCHMARKED.untied_valid_ppl, BENCHMARKED.untied_test_ppl)
    assert f"lr={BENCHMARKED.untied_lr:g} plateau clip={BENCHMARKED.untied_clip:.1f}" in cells[2]


def test_race_facts_and_the_unigram_floor():
    scores = {"window": {"windows": 100.0, "streams": 110.0}, "stream": {"windows": 95.0, "streams": 80.0}}
    facts = race_facts(scores, unigram_ppl=90.0)
    assert facts["windows_verdict"] == "流式模型比滑动窗口模型低 5%"
    assert facts["streams_verdict"] == "流式模型比滑动窗口模型低 27%"
    assert facts["notes_gain"] == "低 16%"
    assert facts["window_notes_gain"] == "高 10%"  # a window model never learned to use carried notes
    assert facts["stream_streams"] == 80.0
    assert facts["unigram_verdict"] == ("按各自训练时的量法，只有流式模型越过了只看词频的一元语法；"
                                        "不过流式模型换用从零状态的窗口来量（95），还不如一元语法")
    assert race_facts(scores, unigram_ppl=50.0)["unigram_verdict"].startswith("按各自训练时的量法，两个模型都还没")
    both = unigram_verdict(scores, unigram_ppl=120.0)
    assert both == "按各自训练时的量法，两个模型都越过了只看词频的一元语法"  # every score below the floor: no exception
    ids = torch.tensor([0, 1, 1, 2, 2, 2])
    expected = math.exp(-sum(math.log(c / 9) for c in (2, 3, 3, 4, 4, 4)) / 6)  # add-one counts 2, 3, 4 of 9
    assert math.isclose(unigram_perplexity(ids, ids, 3), expected)


def test_check_window_scorer_accepts_the_truth_and_names_a_wrong_number():
    torch.manual_seed(0)
    model, ids = SimpleRnnlm(ModelConfig(12, 4, 4)), torch.randint(12, (60,))
    check_window_scorer(lambda m, x, T: score_both_ways(m, x, T)["windows"], [model], ids)
    with pytest.raises(AssertionError, match="the package says"):
        check_window_scorer(lambda m, x, T: 1.0, [model], ids)
