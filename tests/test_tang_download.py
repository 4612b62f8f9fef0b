"""全唐诗 through the shared download layer, against a local HTTP server: the same faults as PTB
(bad hash, truncation, stall, Ctrl-C, offline, malformed mirror, corrupt cache), and Chinese
paths percent-encoded on the wire."""
from __future__ import annotations

import hashlib
import json
import urllib.parse

import pytest

from companion import download, tang
from companion.corpora import load_corpus
from companion.download import Source
from companion.tang import PoetryError, PoetrySettingError, load_tang, tang_available
from http_helpers import (LocalServer, closed_port_url, in_turn, send_bytes, send_then_reset, send_truncated,
                          stall)

FAST = dict(timeout=2.0, backoff=0.01)
POEMS = {
    "全唐诗/poet.tang.0.json": [{"author": "王之渙", "title": "登鸛雀樓",
                               "paragraphs": ["白日依山盡，黃河入海流。", "欲窮千里目，更上一層樓。"]}],
    "全唐诗/poet.tang.1000.json": [{"author": "李白", "title": "早發白帝城",
                                  "paragraphs": ["朝辭白帝彩雲間，千里江陵一日還。", "兩岸猿聲啼不住，輕舟已過萬重山。"]},
                                 {"author": "佚名", "title": "殘", "paragraphs": ["□□□□□。"]}],
}


@pytest.fixture
def files(monkeypatch) -> dict[str, bytes]:
    """Two small 全唐诗 files; the declared source expects exactly these bytes."""
    bodies = {name: json.dumps(entries, ensure_ascii=False).encode() for name, entries in POEMS.items()}
    source = Source("Tang poems", tang.ROOT_ENV, tang.DEFAULT_ROOT, tang.URL_ENV, tang.DEFAULT_BASE_URL,
                    {name: hashlib.sha256(body).hexdigest() for name, body in bodies.items()},
                    PoetryError, PoetrySettingError)
    monkeypatch.setattr(tang, "tang_source", lambda: source)
    monkeypatch.setattr(download, "_digest_cache", {})
    monkeypatch.delenv(tang.ROOT_ENV, raising=False)
    monkeypatch.delenv(tang.URL_ENV, raising=False)
    return bodies


@pytest.fixture
def server(files):
    with LocalServer() as srv:
        for name, body in files.items():
            srv.route(urllib.parse.quote(name), send_bytes(body))
        yield srv


def path_of(name: str) -> str:
    return "/" + urllib.parse.quote(name)


def leftovers(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_downloads_verifies_and_parses(tmp_path, server, files):
    assert not tang_available(tmp_path)
    poems = load_tang(tmp_path, base_url=server.url, **FAST)
    assert [p.title for p in poems.poems] == ["登鸛雀樓", "早發白帝城"] and poems.dropped == 1
    assert tang_available(tmp_path) and leftovers(tmp_path) == sorted(files)
    assert server.count(path_of("全唐诗/poet.tang.0.json")) == 1  # Chinese folder percent-encoded
    load_tang(tmp_path, base_url=server.url, **FAST)  # cached and verified: no second request
    assert server.count() == 2


def test_a_wrong_hash_is_refused_and_nothing_saved(tmp_path, server, files):
    server.route(path_of("全唐诗/poet.tang.0.json"), send_bytes(b"[]"))
    with pytest.raises(PoetryError, match="SHA-256"):
        load_tang(tmp_path, base_url=server.url, **FAST)
    assert leftovers(tmp_path) == []


def test_truncation_is_retried_then_given_up_leaving_nothing(tmp_path, server, files):
    name = "全唐诗/poet.tang.1000.json"
    server.route(path_of(name), send_truncated(files[name], missing=10))
    with pytest.raises(PoetryError, match="after 2 attempts: the download was truncated"):
        load_tang(tmp_path, base_url=server.url, attempts=2, **FAST)
    assert server.count(path_of(name)) == 2
    assert leftovers(tmp_path) == ["全唐诗/poet.tang.0.json"]  # the good file is kept, verified


def test_a_reset_then_a_good_answer_succeeds(tmp_path, server, files):
    name = "全唐诗/poet.tang.0.json"
    server.route(path_of(name), in_turn(send_then_reset(files[name], sent=20), send_bytes(files[name])))
    assert len(load_tang(tmp_path, base_url=server.url, attempts=2, **FAST).poems) == 2


def test_a_stalled_server_times_out(tmp_path, server, files):
    name = "全唐诗/poet.tang.0.json"
    server.route(path_of(name), stall(files[name]))
    with pytest.raises(PoetryError, match=r"timeout=0\.5.*\n.*place these files"):
        load_tang(tmp_path, base_url=server.url, attempts=1, timeout=0.5)
    assert leftovers(tmp_path) == []


def test_ctrl_c_propagates_and_leaves_no_partial_file(tmp_path, server, monkeypatch):
    monkeypatch.setattr(download, "_stream", lambda *args: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        load_tang(tmp_path, base_url=server.url, **FAST)
    assert leftovers(tmp_path) == []


def test_offline_fails_fast_and_says_what_to_do(tmp_path, files):
    with pytest.raises(PoetryError, match="are you offline") as info:
        load_tang(tmp_path, base_url=closed_port_url(), **FAST)
    assert tang.ROOT_ENV in str(info.value) and leftovers(tmp_path) == []


def test_without_download_a_missing_file_is_an_error(tmp_path, files):
    with pytest.raises(PoetryError, match="missing and download=False"):
        load_tang(tmp_path, download=False)


def test_a_corrupt_cached_file_is_replaced(tmp_path, server, files):
    name = "全唐诗/poet.tang.0.json"
    (tmp_path / "全唐诗").mkdir()
    (tmp_path / name).write_bytes(b"[{\"broken\": ")
    load_tang(tmp_path, base_url=server.url, **FAST)
    assert (tmp_path / name).read_bytes() == files[name]


def test_a_malformed_mirror_url_is_a_setting_error(tmp_path, files, monkeypatch):
    monkeypatch.setenv(tang.URL_ENV, "not a url")
    with pytest.raises(PoetrySettingError, match=r"\$COURSE_POETRY_URL = 'not a url'"):
        load_tang(tmp_path, **FAST)
    assert isinstance(PoetrySettingError("x"), ValueError)


def test_the_shipped_quatrains_need_no_network(monkeypatch):
    monkeypatch.setenv(tang.URL_ENV, "http://127.0.0.1:9")
    monkeypatch.setenv(tang.ROOT_ENV, "/nonexistent")
    corpus = load_corpus("tang", max_train_tokens=5000, max_eval_tokens=500)
    assert corpus.name == "tang" and len(corpus.train) == 5000 and corpus.vocab.frozen
    assert "<eos>" in corpus.vocab and "，" in corpus.vocab
