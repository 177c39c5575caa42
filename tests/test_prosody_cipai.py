"""词牌: structures derived from records, the shipped table, and checking a 词 against it."""

import json

import pytest

from yinshi.prosody import ProsodyInputError, analyze
from yinshi.prosody.cipai import (
    DEFAULT_PATH,
    derive_tunes,
    find_tune,
    load_tunes,
    save_tunes,
    single_stanza,
)
from yinshi.prosody.text import split_lines


def _record(tune: str, text: str) -> dict:
    return {"tune": tune, "lines": split_lines(text), "text": text}


# A made-up tune: 4 / 5 / 7 characters; lines 1 and 3 rhyme (第一部: 东 冬 …), line 2 does
# not. The 2nd character is always 平, the 1st alternates; most poems break line 1 with 、.
TOY = [
    "山风入空、花开石上时。白云深处有孤鸿。",
    "落花谢红、春来雪满山。江南江北水流东。",
    "寒风吹蓬、云深月自明。天涯何处不相同。",
    "雪天征鸿、人来雪满衣。孤城落日大江红。",
    "微云随风，天寒石壁清。青山一点万家空。",
    "夕阳归篷，人归月下楼。春深何处觅行踪。",
]


@pytest.fixture(scope="module")
def toy():
    records = [_record("测调", text) for text in TOY]
    records.append(_record("测调", "春风吹雨落，花落水无声。"))  # another shape: outvoted
    records += [_record("稀调", "春风吹雨。") for _ in range(4)]  # too few poems
    records += [_record("失调名", "春风吹雨。") for _ in range(5)]  # the corpus's "unknown"
    return derive_tunes(records)


def test_derive_keeps_tunes_with_enough_poems(toy):
    assert list(toy) == ["测调"]
    tune = toy["测调"]
    assert (tune["examples"], tune["support"]) == (7, 6)


def test_derive_lengths_marks_and_rhymes(toy):
    lines = toy["测调"]["lines"]
    assert [line["length"] for line in lines] == [4, 5, 7]
    assert [line["mark"] for line in lines] == ["，", "。", "。"]  # 、 counts as ，
    assert toy["测调"]["rhymes"] == [[0, 2]]
    assert [line["rhyme"] for line in lines] == [0, None, 0]


def test_derive_tones_where_poems_agree(toy):
    lines = toy["测调"]["lines"]
    assert all(len(line["tones"]) == line["length"] for line in lines)
    assert lines[0]["tones"][:2] == "中平"  # 山 落 寒 雪 微 夕: mixed; 风 花 风 天 云 阳: 平
    assert lines[2]["tones"][-1] == "平"


def test_save_and_load_round_trip(tmp_path, toy):
    path = tmp_path / "sub" / "cipai.json"
    save_tunes(path, toy)
    assert load_tunes(path) == toy
    assert json.loads(path.read_text(encoding="utf-8")) == toy
    assert [p.name for p in path.parent.iterdir()] == ["cipai.json"]  # no temp file left


def test_shipped_table():
    tunes = load_tunes()
    assert DEFAULT_PATH.exists() and len(tunes) > 200
    assert "失调名" not in tunes
    assert tunes["浣溪沙"]["rhymes"] == [[0, 1, 2, 4, 5]]
    assert [len(s) for s in tunes["菩萨蛮"]["rhymes"]] == [2, 2, 2, 2]  # 换韵 four times
    for tune in tunes.values():
        assert tune["support"] >= 5
        for line in tune["lines"]:
            assert line["length"] > 0 and len(line["tones"]) == line["length"]


def test_find_tune_by_alias():
    name, tune = find_tune("忆江南")
    assert "忆江南" in name.replace("・", " ").split()
    assert find_tune(name) == (name, tune)
    with pytest.raises(ProsodyInputError, match="unknown ci tune"):
        find_tune("不是词牌")


def test_single_stanza_halves_a_repeated_tune():
    _, tune = find_tune("忆江南")
    half = single_stanza(tune)
    assert half is not None and len(half["lines"]) * 2 == len(tune["lines"])
    assert single_stanza(find_tune("沁园春")[1]) is None


FAMOUS = {
    "浣溪沙": "一曲新词酒一杯，去年天气旧亭台。夕阳西下几时回。"
    "无可奈何花落去，似曾相识燕归来。小园香径独徘徊。",
    "如梦令": "昨夜雨疏风骤，浓睡不消残酒。试问卷帘人，却道海棠依旧。知否，知否？应是绿肥红瘦。",
    "虞美人": "春花秋月何时了，往事知多少。小楼昨夜又东风，故国不堪回首月明中。"
    "雕栏玉砌应犹在，只是朱颜改。问君能有几多愁，恰似一江春水向东流。",
    "卜算子": "驿外断桥边，寂寞开无主。已是黄昏独自愁，更著风和雨。"
    "无意苦争春，一任群芳妒。零落成泥碾作尘，只有香如故。",
    "相见欢": "无言独上西楼，月如钩。寂寞梧桐深院锁清秋。"
    "剪不断，理还乱，是离愁。别是一般滋味在心头。",
    "忆江南": "江南好，风景旧曾谙。日出江花红胜火，春来江水绿如蓝。能不忆江南？",  # 单调
}


@pytest.mark.parametrize("tune", FAMOUS)
def test_famous_ci_conform(tune):
    result = analyze(FAMOUS[tune], form=tune)
    assert (result.form, result.rules) == ("词", "ci")
    assert result.conforms, [(v.line, v.pos, v.kind) for v in result.violations]
    assert result.rhyme_group and result.rhyme_group_name.startswith("词林正韵")
    assert len(result.patterns) == len(result.lines) == len(result.marks)


def test_ci_rhyme_fault_is_named():
    text = FAMOUS["浣溪沙"].replace("燕归来", "燕归家")  # 家: 平, but 第十部
    result = analyze(text, tune="浣溪沙")
    assert [(v.line, v.pos, v.kind) for v in result.violations] == [(5, 7, "rhyme")]


def test_ci_length_and_line_faults():
    longer = analyze(FAMOUS["浣溪沙"].replace("独徘徊", "独自徘徊"), form="浣溪沙")
    assert [(v.line, v.pos, v.kind) for v in longer.violations] == [(6, 0, "length")]
    shorter = analyze("一曲新词酒一杯，去年天气旧亭台。", form="浣溪沙")
    assert [(v.line, v.kind) for v in shorter.violations] == [(0, "lines")]


def test_ci_breaks_follow_the_tune():
    result = analyze(FAMOUS["相见欢"], form="相见欢")
    assert len(result.lines) == len(find_tune("相见欢")[1]["lines"])
    assert "".join(result.lines) == "".join(split_lines(FAMOUS["相见欢"])).replace(
        "，", ""
    ).replace("。", "")
