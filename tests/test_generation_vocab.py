"""The vocabulary tables: exact 0/1 facts, and the usage weights that only scale them."""

import pytest
import torch

from model.generation.vocab import build_tables
from training.lm.tokenizer import build_tokenizer
from yinshi.prosody.usage import NO_USAGE, Usage

TEXT = "还看思过重长教听忘之而不如花风人也山年间东。"


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer([{"title": "", "text": TEXT}], min_char_count=1, min_tune_count=1)


USAGE = Usage(
    tones={"看": (300, 10), "过": (5, 400)},
    rhymes={"还": {"删": 200, "先": 1}},
    ends={"之": (1, 5000, 0, 500), "花": (900, 3000, 200, 600), "风": (800, 3000, 100, 600)},
    lines={"shi": (10_000, 60_000), "ci": (2_000, 10_000)},
)


def _row(tables, kind: str, group: str) -> int:
    return tables.group_index[kind, group]


@pytest.mark.parametrize("scheme", ["pingshui", "xinyun"])
def test_without_usage_data_every_weight_is_the_fact_itself(tokenizer, scheme):
    tables = build_tables(tokenizer, scheme, usage=NO_USAGE)
    assert torch.equal(tables.ping_weight, tables.ping.float())
    assert torch.equal(tables.ze_weight, tables.ze.float())
    assert torch.equal(tables.member_weight, tables.member.float())
    assert torch.equal(tables.end_weight, torch.ones(len(tables.chars)))


def test_weights_scale_only_where_the_fact_holds(tokenizer):
    tables = build_tables(tokenizer, "pingshui", usage=USAGE)
    assert torch.equal(tables.ping_weight > 0, tables.ping)
    assert torch.equal(tables.ze_weight > 0, tables.ze)
    assert torch.equal(tables.member_weight > 0, tables.member)
    assert bool((tables.end_weight > 0).all()) and bool((tables.end_weight <= 1).all())


def test_a_rare_reading_weighs_little_and_the_common_one_fully(tokenizer):
    tables = build_tables(tokenizer, "pingshui", usage=USAGE)
    kan, guo, shan = (tables.ids[c] for c in "看过山")
    assert tables.ping_weight[kan] == 1.0 and tables.ze_weight[kan] < 0.1
    assert tables.ze_weight[guo] == 1.0 and tables.ping_weight[guo] < 0.1
    assert tables.ping_weight[shan] == 1.0 and tables.ze_weight[shan] == 0.0  # 山 has no 仄
    huan = tables.ids["还"]
    assert tables.member_weight[_row(tables, "shi", "删"), huan] == 1.0
    assert tables.member_weight[_row(tables, "shi", "先"), huan] < 0.1
    ci = [row for row, (kind, _) in enumerate(tables.groups) if kind == "ci"]
    assert set(tables.member_weight[ci, huan].unique().tolist()) <= {0.0, 1.0}


def test_end_weight_is_small_for_function_words(tokenizer):
    tables = build_tables(tokenizer, "pingshui", usage=USAGE)
    assert tables.end_weight[tables.ids["之"]] < 0.1
    assert tables.end_weight[tables.ids["花"]] == tables.end_weight[tables.ids["风"]] == 1.0
    assert tables.end_weight[tables.eos_id] == 1.0


def test_xinyun_has_no_tone_or_rhyme_weights_but_end_weights(tokenizer):
    tables = build_tables(tokenizer, "xinyun", usage=USAGE)
    assert torch.equal(tables.ping_weight, tables.ping.float())
    assert torch.equal(tables.member_weight, tables.member.float())
    assert tables.end_weight[tables.ids["之"]] < 0.1


def test_to_moves_the_weights_too(tokenizer):
    tables = build_tables(tokenizer, "pingshui", usage=USAGE).to("meta")
    for name in ("ping_weight", "ze_weight", "member_weight", "end_weight"):
        assert getattr(tables, name).device.type == "meta"
