"""Reading a corpus split and packing token ids into blocks."""

import json

import pytest
import torch

from training.lm.data import IGNORE, BlockDataset, pack_stream, pack_whole, read_records
from yinshi.errors import UserError


def test_pack_stream_concatenates_and_drops_the_ragged_tail():
    blocks = pack_stream([[1, 2, 3], [4, 5], [6, 7, 8, 9]], block_size=4)
    assert blocks.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]


def test_pack_whole_never_splits_a_sequence_and_cuts_overlong_ones():
    blocks = pack_whole([[1, 2], [3, 4, 5], [6], [7, 8, 9, 10, 11]], block_size=4, pad_id=0)
    assert blocks.tolist() == [[1, 2, 0, 0], [3, 4, 5, 6], [7, 8, 9, 10]]


def test_padding_is_masked_out_of_loss_and_attention():
    example = BlockDataset(torch.tensor([[5, 6, 0, 0]], dtype=torch.int32), pad_id=0)[0]
    assert example["input_ids"].tolist() == [5, 6, 0, 0]
    assert example["labels"].tolist() == [5, 6, IGNORE, IGNORE]
    assert example["attention_mask"].tolist() == [1, 1, 0, 0]
    assert "attention_mask" not in BlockDataset(torch.tensor([[5, 6]]))[0]


def test_read_records_keeps_what_training_needs(tmp_path):
    record = {"id": "a", "form": "五绝", "text": "白日依山尽，", "lines": ["白日依山尽，"]}
    (tmp_path / "train.jsonl").write_text(json.dumps(record, ensure_ascii=False) + "\n\n")
    [read] = read_records(tmp_path, "train")
    assert read["text"] == "白日依山尽，" and "lines" not in read


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "找不到语料"),
        ("", "语料为空"),
        ("{not json\n", "train.jsonl:1"),
        ('{"text": 1}\n', ":1"),
    ],
)
def test_bad_corpus_is_a_clear_user_error(tmp_path, content, message):
    if content is not None:
        (tmp_path / "train.jsonl").write_text(content)
    with pytest.raises(UserError, match=message):
        read_records(tmp_path, "train")
