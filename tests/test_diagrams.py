"""The book's diagrams: each is a Figure holding the parts it promises, and bad input is refused."""
from collections import Counter

import pytest
import torch
from matplotlib.figure import Figure

from companion import diagrams
from companion.data import StreamBatcher, make_windows
from companion.generate import next_token_distribution

WORDS = "the cat sat on the mat . a dog ran off <eos>".split()


def parts(fig: Figure) -> Counter:
    """How many artists carry each gid."""
    return Counter(a.get_gid() for a in fig.findobj() if a.get_gid())


def texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]


def test_unrolled_rnn_has_one_cell_per_word_and_one_weight_box():
    fig = diagrams.unrolled_rnn(["I", "love", "you"])
    assert isinstance(fig, Figure)
    p = parts(fig)
    assert p["cell"] == p["input"] == p["recurrent-arrow"] == p["tie"] == 3
    assert p["shared-weights"] == 1  # one set of weights, tied to every step
    assert {"I", "love", "you"} <= set(texts(fig))


def test_truncated_bptt_cuts_the_gradient_at_every_chunk_border():
    fig = diagrams.truncated_bptt(num_chunks=3, seq_len=4)
    p = parts(fig)
    assert p["chunk"] == 3 and p["backward"] == 3  # one backward pass per chunk
    assert p["carried"] == p["detach"] == 2  # state crosses each border, the gradient does not
    assert p["forward"] == 3 * 4 - 1 - 2
    assert texts(fig).count("detach") == 2


def test_windows_vs_streams_draws_the_package_cut():
    fig = diagrams.windows_vs_streams(WORDS, seq_len=3, batch_size=2, max_windows=4)
    p = parts(fig)
    assert p["window"] == min(4, len(make_windows(torch.arange(len(WORDS)), 3)[0]))
    chunks_per_stream = len(StreamBatcher(torch.arange(len(WORDS)), 2, 3))  # the package's input chunks
    assert p["stream-chunk"] == 2 * chunks_per_stream and p["carried"] == 2 * (chunks_per_stream - 1)
    assert p["target-only"] == 2  # each stream's last token is only a target


def test_sampling_distributions_shows_the_package_probabilities():
    logits = torch.tensor([2.0, 1.0, 0.5, -1.0])
    words = ["a", "b", "c", "d"]
    fig = diagrams.sampling_distributions(logits, words, temperatures=(0.5, 1.0, 2.0), top_k=2)
    bars = [a for a in fig.findobj() if a.get_gid() == "bar"]
    assert len(bars) == 4 * 4  # four panels, a bar per word
    widths = [b.get_width() for b in bars]
    expected = [next_token_distribution(logits, temperature=t) for t in (0.5, 1.0, 2.0)]
    expected.append(next_token_distribution(logits, top_k=2))
    assert widths == pytest.approx([float(p) for probs in expected for p in probs])  # logits are sorted
    assert widths[-2:] == [0.0, 0.0]  # top-k = 2 removes the two least likely words


@pytest.mark.parametrize("call, message", [
    (lambda: diagrams.unrolled_rnn("I love you"), "words must be a sequence of str"),
    (lambda: diagrams.unrolled_rnn([]), "words must hold 1 to 5"),
    (lambda: diagrams.truncated_bptt(num_chunks=0), "num_chunks must be in"),
    (lambda: diagrams.windows_vs_streams(WORDS, seq_len=12), "seq_len must be in"),
    (lambda: diagrams.windows_vs_streams(WORDS, batch_size=7), "batch_size must be in"),
    (lambda: diagrams.sampling_distributions(torch.zeros(3), ["a", "b"]), "words must name every logit"),
    (lambda: diagrams.sampling_distributions(torch.zeros(2), ["a", "b"], temperatures=(0.0,)), "temperature"),
])
def test_bad_input_is_refused_with_the_argument_named(call, message):
    with pytest.raises((TypeError, ValueError), match=message):
        call()
