"""How poets use characters: the derivation's counts, the weights, and the vocabulary tables."""

import json
import subprocess
import sys

import pytest

from training.corpus.usage import count_poems, to_usage
from yinshi.cli import main
from yinshi.prosody.text import split_lines
from yinshi.prosody.usage import FLOOR, NO_USAGE, Usage, load_usage, save_usage

# 李白《早发白帝城》: rhymes in 删 (间 还 山); 过 at the 4th (仄) and 重 at the 6th (平) of the
# last line; 间 ends line 1 as a tone polyphone, so the analyser's 首句入韵 is a guess.
BAIDI = "朝辞白帝彩云间，千里江陵一日还。两岸猿声啼不住，轻舟已过万重山。"
# 李白《望庐山瀑布》: 看 is the 2nd character of a 平平 line: 平.
LUSHAN = "日照香炉生紫烟，遥看瀑布挂前川。飞流直下三千尺，疑是银河落九天。"
# Line 3 is 平平?仄 of the pattern 平平平仄仄. With 花 (平) before it, 看 must be 仄; with 月
# (仄) before it, 平 (特拗 平平仄平仄) and 仄 (三仄尾, a warning) both pass: not counted.
FORCED_ZE = "白日依山尽，黄河入海流。春风花看尽，更上一层楼。"
EITHER = "白日依山尽，黄河入海流。春风月看尽，更上一层楼。"
# 看 rhymes (平), 过 ends the line that does not rhyme (仄).
ENDS = "白日依山尽，青天万里看。孤舟千里过，落日满江寒。"
BROKEN = "白日依山尽，黄河入海流。春风花看尽，更上一层山。"  # 山 does not rhyme with 流
CI = "昨夜雨疏风骤，浓睡不消残酒。试问卷帘人，却道海棠依旧。知否，知否？应是绿肥红瘦。"


def _item(form: str, text: str) -> tuple[str, list[str]]:
    return form, split_lines(text)


def _counts(*items: tuple[str, list[str]]):
    return count_poems(items)


def test_tone_of_a_polyphone_is_counted_where_the_line_forces_it():
    counts = _counts(_item("七绝", BAIDI), _item("七绝", LUSHAN), _item("五绝", FORCED_ZE))
    assert dict(counts.tones["看"]) == {"平": 1, "仄": 1}  # 遥看 平, 花看尽 仄
    assert dict(counts.tones["过"]) == {"仄": 1}
    assert dict(counts.tones["重"]) == {"平": 1}
    assert dict(counts.tones["不"]) == {"仄": 1}  # 啼不住: the 6th character of a 仄仄 end
    assert "轻" not in counts.tones  # the 1st character is free
    assert "间" not in counts.tones  # line 1's end: 入韵 or not is the analyser's guess
    assert counts.poems == {"shi": 3, "jinti": 3, "jinti_conforming": 3}


def test_a_line_end_counts_平_where_it_rhymes_and_仄_where_it_does_not():
    counts = _counts(_item("五绝", ENDS))
    assert dict(counts.tones["看"]) == {"平": 1}
    assert dict(counts.tones["过"]) == {"仄": 1}


def test_a_position_two_readings_can_fill_is_not_counted():
    counts = _counts(_item("五绝", EITHER))
    assert "看" not in counts.tones
    assert counts.poems["jinti_conforming"] == 1


def test_rhyme_group_is_counted_for_characters_of_several_groups():
    counts = _counts(_item("七绝", BAIDI), _item("七绝", LUSHAN))
    assert dict(counts.rhymes["还"]) == {"删": 1}
    assert "山" not in counts.rhymes and "川" not in counts.rhymes  # one 平 group only


def test_a_poem_that_breaks_the_rules_counts_no_tones():
    counts = _counts(_item("五绝", BROKEN))
    assert counts.tones == {} and counts.rhymes == {}
    assert counts.poems == {"shi": 1, "jinti": 1}
    assert counts.ends["shi"]["山"] == 1  # but its line ends still count


def test_line_ends_and_occurrences_per_kind():
    counts = _counts(
        _item("词", CI), _item("五古", "千山看不尽，归去一身还。"), _item("曲", "之乎")
    )
    assert counts.ends["ci"]["否"] == 2 and counts.seen["ci"]["否"] == 2
    assert counts.ends["ci"]["不"] == 0 and counts.seen["ci"]["不"] == 1
    assert counts.ends["shi"]["还"] == 1 and counts.seen["shi"]["看"] == 1
    assert counts.tones == {}  # 古体 and 词 give no tone counts
    assert counts.poems == {"ci": 1, "shi": 1}  # 曲 is left out


def test_to_usage_keeps_only_what_the_weights_need():
    many = [_item("七绝", BAIDI)] * 3 + [_item("七绝", LUSHAN)] * 3 + [_item("词", CI)]
    usage = to_usage(count_poems(many), {"split": "train"})
    assert usage.tones["看"] == (3, 0) and usage.rhymes["还"] == {"删": 3}
    assert set(usage.tones) <= {c for c in BAIDI + LUSHAN}
    assert "否" not in usage.ends  # seen twice: below MIN_OCCURRENCES
    assert usage.ends["山"] == (3, 3, 0, 0)
    assert usage.lines["ci"] == (7, 33)
    assert usage.corpus["poems"]["jinti_conforming"] == 6


# --- weights ---------------------------------------------------------------------------------


def _usage() -> Usage:
    ends = {"之": (0, 900, 1, 400), "花": (400, 1000, 50, 100), "风": (250, 1000, 30, 100)}
    ends["也"] = (60, 600, 20, 100)
    return Usage(
        tones={"看": (300, 0), "思": (50, 40), "听": (1, 0)},
        rhymes={"还": {"删": 200}, "听": {"青": 30, "文": 1}},
        ends=ends,
        lines={"shi": (10_000, 60_000), "ci": (2_000, 10_000)},
    )


def test_tone_weights_are_relative_to_the_more_used_reading():
    usage = _usage()
    assert usage.tone_weight("看", "平") == 1.0
    assert usage.tone_weight("看", "仄") < 0.2
    assert usage.tone_weight("看", "仄") >= FLOOR
    assert 0.7 < usage.tone_weight("思", "仄") < 1.0
    assert usage.tone_weight("听", "仄") > 0.5  # one poem is no verdict
    assert usage.tone_weight("山", "平") == usage.tone_weight("山", "仄") == 1.0  # no data


def test_group_weights_are_relative_to_the_most_used_group():
    usage = _usage()
    assert usage.group_weight("还", "删") == 1.0
    assert usage.group_weight("还", "先") < 0.2
    assert 0.05 < usage.group_weight("听", "文") < 0.2
    assert usage.group_weight("东", "东") == 1.0


def test_end_weight_is_small_for_characters_that_never_end_a_line():
    usage = _usage()
    assert usage.end_weight("之") < 0.2
    assert usage.end_weight("花") == usage.end_weight("风") == 1.0
    assert usage.end_weight("也") > 0.85  # ends lines at about the average rate: barely touched
    assert usage.end_weight("无数据") == 1.0
    assert usage.end_weight("之", "ci") < 0.3
    with pytest.raises(ValueError):
        usage.end_weight("之", "qu")


def test_without_data_every_weight_is_one():
    assert NO_USAGE.tone_weight("看", "仄") == 1.0
    assert NO_USAGE.group_weight("还", "先") == 1.0
    assert NO_USAGE.end_weight("之") == 1.0


def test_save_and_load_round_trip(tmp_path):
    path = tmp_path / "usage.json"
    save_usage(path, _usage())
    assert load_usage(path) == _usage()
    assert [p.name for p in tmp_path.iterdir()] == ["usage.json"]  # no temp file left


def test_the_loader_does_not_import_torch():
    code = "import sys, yinshi.prosody.usage; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- the command ---------------------------------------------------------------------------


def test_corpus_usage_command_writes_the_table(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    records = [
        {"form": form, "lines": lines, "text": "".join(lines)}
        for form, lines in [_item("七绝", BAIDI), _item("七绝", LUSHAN), _item("词", CI)]
    ]
    (corpus / "train.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )
    out = tmp_path / "usage.json"
    assert main(["corpus", "usage", "--corpus", str(corpus), "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["poems"] == {"ci": 1, "jinti": 2, "jinti_conforming": 2, "shi": 2}
    usage = load_usage(out)
    assert usage.tones["看"] == (1, 0) and usage.rhymes["还"] == {"删": 1}
    assert len(usage.corpus["sha256"]) == 64


def test_corpus_usage_without_a_corpus_is_a_user_error(tmp_path):
    assert main(["corpus", "usage", "--corpus", str(tmp_path), "--out", str(tmp_path / "u")]) == 2


def test_without_the_shipped_file_the_weights_are_all_one(tmp_path, monkeypatch):
    import yinshi.prosody.usage as usage_module

    monkeypatch.setattr(usage_module, "DEFAULT_PATH", tmp_path / "missing.json")
    usage_module._shipped.cache_clear()
    try:
        assert load_usage() is NO_USAGE
    finally:
        usage_module._shipped.cache_clear()
