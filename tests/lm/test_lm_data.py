"""Corpus loading through `datasets`, vocabulary, cache, batching."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from imm_ray.lm import data as lmdata


def test_ptb_token_counts_match_readme(ptb_corpus):
    assert (len(ptb_corpus.train), len(ptb_corpus.valid), len(ptb_corpus.test)) == (
        929_589, 73_760, 82_430)
    assert ptb_corpus.vocab_size == 10_000
    assert ptb_corpus.vocab[0] == "<eos>"


def test_eos_after_every_line_and_vocab_from_train(tiny_dir, tiny_corpus):
    lines = (tiny_dir / "ptb.train.txt").read_text().splitlines()
    eos = tiny_corpus.vocab.index("<eos>")
    assert int((tiny_corpus.train == eos).sum()) == len(lines)
    assert len(tiny_corpus.train) == sum(len(line.split()) + 1 for line in lines)
    train_words = {w for line in lines for w in line.split()} | {"<eos>"}
    assert set(tiny_corpus.vocab) == train_words
    first = [tiny_corpus.vocab[i] for i in tiny_corpus.train[: len(lines[0].split())]]
    assert first == lines[0].split()


def test_cache_is_keyed_by_file_hash(tiny_dir, tmp_path):
    a = lmdata.prepare_corpus(tiny_dir, cache_dir=tmp_path)
    mtime = os.stat(a).st_mtime_ns
    assert lmdata.prepare_corpus(tiny_dir, cache_dir=tmp_path) == a
    assert os.stat(a).st_mtime_ns == mtime  # reused, not rewritten
    other = tmp_path / "changed"
    other.mkdir()
    for s in lmdata.SPLITS:
        text = (tiny_dir / f"ptb.{s}.txt").read_text()
        (other / f"ptb.{s}.txt").write_text(text + (" w0 w1 \n" if s == "train" else ""))
    assert lmdata.prepare_corpus(other, cache_dir=tmp_path) != a


def test_missing_file_names_the_path(tmp_path, tiny_dir):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        lmdata.prepare_corpus(tmp_path / "nowhere", cache_dir=tmp_path)
    (tmp_path / "ptb.train.txt").write_text((tiny_dir / "ptb.train.txt").read_text())
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "ptb.valid.txt")):
        lmdata.prepare_corpus(tmp_path, cache_dir=tmp_path / "c")
    with pytest.raises(FileNotFoundError, match="prepared corpus not found"):
        lmdata.load_corpus(tmp_path / "missing.npz")


@pytest.mark.parametrize("content,match", [(b"", "empty"), (b"\x00\x01\x02 abc", "binary"),
                                           (b"\xff\xfe bad \n", "not UTF-8")])
def test_malformed_file_says_what_was_expected(tmp_path, tiny_dir, content, match):
    for s in ("train", "test"):
        (tmp_path / f"ptb.{s}.txt").write_text((tiny_dir / f"ptb.{s}.txt").read_text())
    (tmp_path / "ptb.valid.txt").write_bytes(content)
    with pytest.raises(ValueError, match=match):
        lmdata.prepare_corpus(tmp_path, cache_dir=tmp_path / "c")


def test_out_of_vocabulary_without_unk_is_an_error():
    with pytest.raises(ValueError, match="not in the training vocabulary"):
        lmdata.tokenize_splits({"train": ["a b", "b c"], "valid": ["a z"], "test": ["a"]})
    c = lmdata.tokenize_splits({"train": ["a <unk>"], "valid": ["a z"], "test": ["a"]})
    assert c.vocab[int(c.valid[1])] == "<unk>"


def test_not_a_prepared_corpus(tmp_path):
    bad = tmp_path / "x.npz"
    np.savez(bad, foo=np.zeros(3))
    with pytest.raises(ValueError, match="not a prepared corpus"):
        lmdata.load_corpus(bad)


def test_batchify_and_bptt_windows():
    data = np.arange(103)
    rows = lmdata.batchify(data, 4)
    assert rows.shape == (4, 25) and rows[1, 0] == 25
    pairs = list(lmdata.bptt_batches(rows, 7))
    assert len(pairs) == lmdata.num_bptt_batches(rows, 7) == 4
    x, y = pairs[-1]
    assert x.shape == (4, 3) and torch.equal(y, x + 1)
    assert sum(p[0].shape[1] for p in pairs) == 24


def test_train_prefix():
    assert len(lmdata.train_prefix(np.arange(1000), 0.05)) == 50
    with pytest.raises(ValueError, match="train_fraction"):
        lmdata.train_prefix(np.arange(10), 0.0)


def test_data_dir_comes_from_one_variable(monkeypatch, tmp_path):
    monkeypatch.setenv(lmdata.DATA_DIR_ENV, str(tmp_path))
    assert lmdata.default_data_dir() == tmp_path
    monkeypatch.delenv(lmdata.DATA_DIR_ENV)
    assert lmdata.default_data_dir().parts[-3:] == ("shared", "data", "ptb")


def test_prepare_command_prints_the_cache_path(tiny_dir, tmp_path, capsys):
    lmdata.main(["prepare", "--data-dir", str(tiny_dir), "--cache-dir", str(tmp_path)])
    path = capsys.readouterr().out.split()[0]
    assert path == str(lmdata.prepare_corpus(tiny_dir, cache_dir=tmp_path))
    with pytest.raises(SystemExit):
        lmdata.main(["prepare", "--data-dir", str(tmp_path / "nowhere")])
    assert "nowhere" in capsys.readouterr().err
