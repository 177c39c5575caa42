"""The character tokenizer: one id per character, one id per control token."""

import pytest
from transformers import AutoTokenizer

from model.prompt import BOS, EOS, PAD, SEP, UNK, train_text
from training.lm.data import char_lookup, encode
from training.lm.tokenizer import build_tokenizer, frequent_tunes, tokenizer_tunes

RECORDS = [
    {"form": "五绝", "title": "登楼", "tune": None, "text": "白日依山尽，黄河入海流。"},
    {"form": "五绝", "title": "登楼", "tune": None, "text": "白日依山尽，黄河入海流。"},
    {"form": "词", "title": "浣溪沙", "tune": "浣溪沙", "text": "一曲新词酒一杯，"},
    {"form": "词", "title": "浣溪沙", "tune": "浣溪沙", "text": "一曲新词酒一杯，"},
    {"form": "词", "title": "望远行", "tune": "望远行", "text": "玉砌雕阑新月上。"},
]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    built = build_tokenizer(RECORDS, min_char_count=2, min_tune_count=2)
    directory = tmp_path_factory.mktemp("tokenizer")
    built.save_pretrained(directory)
    return AutoTokenizer.from_pretrained(directory)


def test_special_tokens_have_fixed_ids(tokenizer):
    ids = [tokenizer.convert_tokens_to_ids(t) for t in (PAD, BOS, EOS, UNK, SEP)]
    assert ids == [0, 1, 2, 3, 4]
    assert tokenizer.pad_token_id == 0 and tokenizer.eos_token_id == 2


def test_control_tokens_are_single_ids_and_text_splits_per_character(tokenizer):
    text = train_text(RECORDS[0])
    tokens = tokenizer.convert_ids_to_tokens(tokenizer(text)["input_ids"])
    assert tokens[:2] == [BOS, "<五绝>"]
    assert tokens[-1] == EOS
    assert "".join(tokens) == text
    assert all(len(t) == 1 for t in tokens if not t.startswith("<"))


def test_round_trip(tokenizer):
    text = train_text(RECORDS[2], tunes={"浣溪沙"})
    ids = tokenizer(text)["input_ids"]
    assert tokenizer.decode(ids) == text
    assert tokenizer.decode(ids, skip_special_tokens=True) == "浣溪沙一曲新词酒一杯，"


def test_rare_and_unseen_characters_are_unk(tokenizer):
    # 玉 appears once (below min_char_count=2); 龘 never
    ids = tokenizer("玉龘白")["input_ids"]
    assert ids[:2] == [tokenizer.unk_token_id] * 2
    assert ids[2] != tokenizer.unk_token_id


def test_only_frequent_tunes_get_tokens(tokenizer):
    assert frequent_tunes(RECORDS, 2) == ["浣溪沙"]
    assert tokenizer_tunes(tokenizer, ["浣溪沙", "望远行"]) == {"浣溪沙"}


def test_fast_encode_matches_the_tokenizer(tokenizer):
    texts = [train_text(r, {"浣溪沙"}) for r in RECORDS] + ["<bos><七绝>玉x <sep>白<eos>"]
    assert char_lookup(tokenizer) is not None
    backend = tokenizer.backend_tokenizer
    expected = [e.ids for e in backend.encode_batch(texts, add_special_tokens=False)]
    assert encode(tokenizer, texts) == expected
