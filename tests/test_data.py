import pytest
import torch

from companion.data import (OffsetBatcher, StreamBatcher, WindowDataset, batchify, make_windows,
                            pad_sentences, pad_sequences)

IDS = list(range(100, 123))  # 23 distinct ids: every position is recognisable


def test_windows_are_shifted_by_one_and_keep_the_last_window():
    ds = WindowDataset(IDS, seq_len=5)
    assert len(ds) == len(IDS) - 5  # the article's length formula dropped one window
    for i in range(len(ds)):
        x, y = ds[i]
        assert x.tolist() == IDS[i : i + 5] and y.tolist() == IDS[i + 1 : i + 6]
    assert ds[-1][1].tolist()[-1] == IDS[-1]


@pytest.mark.parametrize("stride", [1, 2, 5])
def test_vectorised_windows_equal_the_dataset(stride):
    ds = WindowDataset(IDS, seq_len=5, stride=stride)
    x, y = make_windows(IDS, 5, stride)
    assert x.shape == y.shape == (len(ds), 5)
    for i in range(len(ds)):
        assert torch.equal(x[i], ds[i][0]) and torch.equal(y[i], ds[i][1])


def test_batchify_lays_out_contiguous_rows():
    streams = batchify(IDS, 3)  # 23 // 3 = 7 columns; the 2 leftover ids are dropped
    assert streams.tolist() == [IDS[0:7], IDS[7:14], IDS[14:21]]


def test_stream_chunks_cover_every_target_once_with_shift():
    batcher = StreamBatcher(IDS, batch_size=3, seq_len=4)
    chunks = list(batcher)
    assert len(chunks) == len(batcher) == 2  # 6 targets per row: chunks of 4 and 2
    assert [x.shape for x, _ in chunks] == [(3, 4), (3, 2)]
    xs = torch.cat([x for x, _ in chunks], 1)
    ys = torch.cat([y for _, y in chunks], 1)
    streams = batchify(IDS, 3)
    assert torch.equal(xs, streams[:, :-1]) and torch.equal(ys, streams[:, 1:])
    assert batcher.num_targets == ys.numel() == 18


def test_offset_batcher_reproduces_dlfs2_including_drift():
    ids = list(range(1000, 1023))  # corpus_size 23 -> data_size 22, jump 22 // 2 = 11
    batcher = OffsetBatcher(ids, batch_size=2, seq_len=3)
    xs, ts = ids[:-1], ids[1:]
    data_size, jump = 22, 11
    assert len(batcher) == data_size // (2 * 3) == 3
    time_idx = 0
    for epoch in range(3):  # the book's loop, written out by hand
        for x, t in batcher:
            for b in range(2):
                for s in range(3):
                    pos = (b * jump + time_idx + s) % data_size
                    assert x[b, s] == xs[pos] and t[b, s] == ts[pos]
            time_idx += 3
    # an epoch advances 9 steps < jump = 11: the second epoch starts 9 tokens further on
    assert batcher.time_idx == 27
    assert OffsetBatcher(ids, 2, 3).__iter__().__next__()[0][0, 0] == xs[0]


def test_padding_lengths_and_mask():
    batch = pad_sentences([[5, 6, 7, 8], [9, 10], [11, 12, 13]], pad_id=0)
    assert batch.inputs.tolist() == [[5, 6, 7], [9, 0, 0], [11, 12, 0]]
    assert batch.targets.tolist() == [[6, 7, 8], [10, 0, 0], [12, 13, 0]]
    assert batch.lengths.tolist() == [3, 1, 2] and batch.lengths.device.type == "cpu"
    assert batch.mask.tolist() == [[True] * 3, [True, False, False], [True, True, False]]
    padded, lengths = pad_sequences([[1], [2, 3]], pad_id=9)
    assert padded.tolist() == [[1, 9], [2, 3]] and lengths.tolist() == [1, 2]


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="seq_len"):
        WindowDataset(IDS, seq_len=0)
    with pytest.raises(ValueError, match="seq_len"):
        WindowDataset(IDS, seq_len=len(IDS))
    with pytest.raises(ValueError, match="batch_size"):
        batchify(IDS, 0)
    with pytest.raises(ValueError, match="batch_size"):
        StreamBatcher(IDS, batch_size=20, seq_len=2)
    with pytest.raises(ValueError, match="too few"):
        OffsetBatcher(IDS, batch_size=10, seq_len=10)
    with pytest.raises(TypeError, match="encode"):
        WindowDataset("some text")
    with pytest.raises(TypeError, match="integer"):
        batchify(torch.rand(10), 2)
    with pytest.raises(ValueError, match="at least 2 ids"):
        pad_sentences([[1, 2], [3]], pad_id=0)
    with pytest.raises(ValueError, match="seqs"):
        pad_sequences([], pad_id=0)
    with pytest.raises(IndexError):
        WindowDataset(IDS, 5)[100]
