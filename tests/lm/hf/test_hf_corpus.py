"""text_corpus and the tokenizer recipe: splits found by name, any tokenizer, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from imm_ray.lm.hf import TextCorpus, text_corpus, train_tokenizer


def test_folder_splits_are_found_by_name_and_lines_end_in_eos(text_dir, tokenizer):
    c = text_corpus(text_dir, tokenizer, block_size=16)
    eos = tokenizer.eos_token_id
    n_lines = sum(1 for ln in (text_dir / "valid.txt").read_text().splitlines() if ln.strip())
    assert (c.valid_ids == eos).sum() == n_lines
    assert c.test_ids is not None and c.vocab_size == len(tokenizer)
    blocks = c.train
    assert len(blocks) == len(c.train_ids) // 16
    item = blocks[1]
    assert np.array_equal(item["input_ids"].numpy(), c.train_ids[16:32])
    assert item["labels"].equal(item["input_ids"])


def test_one_file_holds_out_the_validation_tail(text_dir, tokenizer):
    c = text_corpus([text_dir / "train.txt"], tokenizer, block_size=8, valid_fraction=0.1)
    full = text_corpus({"train": text_dir / "train.txt"}, tokenizer, block_size=8,
                       valid_fraction=0.5)
    n = len(full.train_ids) + len(full.valid_ids)
    assert len(c.train_ids) + len(c.valid_ids) == n
    assert len(c.valid_ids) == n - int(n * 0.9)
    assert c.test_ids is None and c.test is None


def test_a_datasets_dataset_gives_the_same_stream_as_the_files(text_dir, tokenizer):
    datasets = pytest.importorskip("datasets")
    lines = {s: (text_dir / f"{s}.txt").read_text().splitlines() for s in ("train", "valid")}
    dd = datasets.DatasetDict({("validation" if s == "valid" else s): datasets.Dataset.from_dict(
        {"text": v}) for s, v in lines.items()})
    a = text_corpus(dd, tokenizer, block_size=16)
    b = text_corpus({s: text_dir / f"{s}.txt" for s in lines}, tokenizer, block_size=16)
    assert np.array_equal(a.train_ids, b.train_ids) and np.array_equal(a.valid_ids, b.valid_ids)


def test_save_and_load_round_trip(corpus, tmp_path):
    corpus.save(tmp_path / "c.npz")
    back = TextCorpus.load(tmp_path / "c.npz")
    assert np.array_equal(back.train_ids, corpus.train_ids) and back.block_size == 16
    assert back.vocab_size == corpus.vocab_size


def test_bpe_recipe_reloads_with_auto_tokenizer(text_dir, tmp_path):
    from transformers import AutoTokenizer

    tok = train_tokenizer([text_dir / "train.txt"], "bpe", 300, tmp_path / "bpe")
    again = AutoTokenizer.from_pretrained(tmp_path / "bpe")
    text = "w1 w2 <unk> w3"
    assert tok(text)["input_ids"] == again(text)["input_ids"]
    assert again.convert_tokens_to_ids("<unk>") in again(text)["input_ids"]
    assert again.eos_token == "<eos>" and len(again) <= 300


def test_wordpiece_recipe_is_berts_pair_template_with_fixed_special_ids(text_dir, tmp_path):
    from transformers import AutoTokenizer

    train_tokenizer([text_dir / "train.txt"], "wordpiece", 64, tmp_path / "wp")
    tok = AutoTokenizer.from_pretrained(tmp_path / "wp")
    assert tok.convert_tokens_to_ids(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]) == \
        [0, 1, 2, 3, 4]
    enc = tok("W1 w2", "w3")
    assert enc["input_ids"][0] == 2 and enc["input_ids"].count(3) == 2  # [CLS] a [SEP] b [SEP]
    first = enc["input_ids"].index(3)
    assert set(enc["token_type_ids"][:first + 1]) == {0}
    assert set(enc["token_type_ids"][first + 1:]) == {1}
    assert tok.convert_ids_to_tokens(enc["input_ids"][1]) == "w1"  # lower-cased


@pytest.mark.parametrize("make, match", [
    (lambda d, t: text_corpus(d / "empty", t, 8), "source folder .* has no text files"),
    (lambda d, t: text_corpus({"train": d / "train.txt", "valid": d / "blank.txt"}, t, 8),
     "the valid split .* has no text"),
    (lambda d, t: text_corpus(d, t, block_size=1), "block_size must be an integer >= 2"),
    (lambda d, t: text_corpus(d, t, block_size=10**6), "source: the train split has"),
    (lambda d, t: text_corpus({"training": d / "train.txt"}, t, 8), "split names"),
    (lambda d, t: train_tokenizer([d / "train.txt"], "unigram", 50), "kind must be one of"),
    (lambda d, t: train_tokenizer([d / "train.txt"], "wordpiece", 7), "vocab_size must be .* "
     ">= 8 for wordpiece"),
])
def test_bad_input_names_the_argument(text_dir, tokenizer, tmp_path, make, match):
    d = tmp_path / "src"
    d.mkdir()
    (d / "empty").mkdir()
    (d / "empty" / "notes.md").write_text("not a text split")
    (d / "train.txt").write_text((text_dir / "train.txt").read_text())
    (d / "blank.txt").write_text("\n  \n")
    with pytest.raises(ValueError, match=match):
        make(d, tokenizer)
