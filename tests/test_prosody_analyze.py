"""`analyze` on real poems: famous 合律 poems conform, known 拗 and 古体 poems do not, and one
changed character is caught where it stands."""

import json

import pytest

from yinshi.prosody import Analysis, ProsodyInputError, analyze, get_scheme

CONFORMING = {
    "登鹳雀楼": "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。",
    "春望": "国破山河在，城春草木深。感时花溅泪，恨别鸟惊心。"
    "烽火连三月，家书抵万金。白头搔更短，浑欲不胜簪。",
    "山居秋暝": "空山新雨后，天气晚来秋。明月松间照，清泉石上流。"
    "竹喧归浣女，莲动下渔舟。随意春芳歇，王孙自可留。",
    "枫桥夜泊": "月落乌啼霜满天，江枫渔火对愁眠。姑苏城外寒山寺，夜半钟声到客船。",
    "早发白帝城": "朝辞白帝彩云间，千里江陵一日还。两岸猿声啼不住，轻舟已过万重山。",
    "出塞": "秦时明月汉时关，万里长征人未还。但使龙城飞将在，不教胡马度阴山。",
    "凉州词": "黄河远上白云间，一片孤城万仞山。羌笛何须怨杨柳，春风不度玉门关。",
    "泊秦淮": "烟笼寒水月笼沙，夜泊秦淮近酒家。商女不知亡国恨，隔江犹唱后庭花。",
    "登高": "风急天高猿啸哀，渚清沙白鸟飞回。无边落木萧萧下，不尽长江滚滚来。"
    "万里悲秋常作客，百年多病独登台。艰难苦恨繁霜鬓，潦倒新停浊酒杯。",
    "登乐游原": "向晚意不适，驱车登古原。夕阳无限好，只是近黄昏。",  # 大拗 对句救
}
EXPECTED = {
    "登鹳雀楼": ("五绝", "仄起首句不入韵", "尤"),
    "春望": ("五律", "仄起首句不入韵", "侵"),
    "山居秋暝": ("五律", "平起首句不入韵", "尤"),
    "枫桥夜泊": ("七绝", "仄起首句入韵", "先"),
    "早发白帝城": ("七绝", "平起首句入韵", "删"),
    "登高": ("七律", "仄起首句入韵", "灰"),
}


def errors(result: Analysis) -> list[tuple[int, int, str]]:
    return [(v.line, v.pos, v.kind) for v in result.violations if v.severity == "error"]


@pytest.mark.parametrize("title", CONFORMING)
def test_famous_regular_poems_conform(title):
    result = analyze(CONFORMING[title])
    assert result.rules == "jinti"
    assert result.conforms, errors(result)
    if title in EXPECTED:
        assert (result.form, result.template, result.rhyme_group) == EXPECTED[title]


def test_traditional_text_reads_the_same():
    result = analyze("月落烏啼霜滿天，江楓漁火對愁眠。姑蘇城外寒山寺，夜半鐘聲到客船。")
    assert result.conforms and result.rhyme_group == "先"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        # 黄鹤楼: 黄鹤一去不复返 — the 4th character should be 平.
        ("昔人已乘黄鹤去，此地空余黄鹤楼。黄鹤一去不复返，白云千载空悠悠。"
         "晴川历历汉阳树，芳草萋萋鹦鹉洲。日暮乡关何处是，烟波江上使人愁。", 3),
        ("床前明月光，疑是地上霜。举头望明月，低头思故乡。", 2),  # 静夜思
    ],
)  # fmt: skip
def test_known_irregular_poems_fail_at_the_named_line(text, line):
    result = analyze(text)
    assert not result.conforms
    assert errors(result)[0][0] == line


@pytest.mark.parametrize(
    "text",
    [
        "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。",  # 春晓
        "千山鸟飞绝，万径人踪灭。孤舟蓑笠翁，独钓寒江雪。",  # 江雪
    ],
)
def test_oblique_rhyme_is_not_regular_verse(text):
    result = analyze(text)
    assert not result.conforms
    assert (2, 5, "rhyme") in errors(result)


def test_lost_nian_is_named():
    # 送元二使安西 is the classic 折腰体: line 3 breaks 粘 with line 2.
    result = analyze("渭城朝雨浥轻尘，客舍青青柳色新。劝君更尽一杯酒，西出阳关无故人。")
    assert errors(result) == [(3, 2, "nian")]


def _opposite_char(tone: str) -> str:
    return "山" if tone == "仄" else "石"  # 山: 平 only; 石: 仄 only


@pytest.mark.parametrize("title", ["登鹳雀楼", "枫桥夜泊", "春望"])
def test_one_changed_tone_is_caught_where_it_stands(title):
    result = analyze(CONFORMING[title])
    patterns = result.patterns
    for i, line in enumerate(result.lines):
        n = len(line)
        for j in [*range(1, n - 1, 2), n - 1]:
            want = patterns[i][j]
            if want == "中" or (j == n - 1 and want == "平"):
                continue
            changed = list(result.lines)
            changed[i] = line[:j] + _opposite_char(want) + line[j + 1 :]
            found = errors(analyze("，".join(changed) + "。", form=result.form))
            # A new 2nd character may turn the line into a sound line of the other kind:
            # then it is the 粘/对 that breaks, still at this very character.
            kinds = {"tone", "nian", "dui"} if j == 1 else {"tone"}
            assert len(found) == 1 and found[0][:2] == (i + 1, j + 1), (i, j, found)
            assert found[0][2] in kinds


@pytest.mark.parametrize(("title", "replacement"), [("登鹳雀楼", "天"), ("枫桥夜泊", "楼")])
def test_a_rhyme_from_another_group_is_caught(title, replacement):
    result = analyze(CONFORMING[title])
    last = len(result.lines) - 1
    changed = list(result.lines)
    changed[last] = changed[last][:-1] + replacement
    found = analyze("，".join(changed) + "。")
    assert errors(found) == [(last + 1, len(changed[last]), "rhyme")]
    assert found.rhyme_group == result.rhyme_group


def test_an_oblique_rhyme_foot_is_a_rhyme_fault():
    found = analyze("白日依山尽，黄河入海流。欲穷千里目，更上一层石。")
    assert errors(found) == [(4, 5, "rhyme")]


def test_gu_ping_and_san_ping():
    # 平平仄仄平 → 仄平仄仄平 (孤平); 仄仄仄平平 → 仄仄平平平 (三平尾).
    found = analyze("白日依山尽，石河入海流。欲穷千里目，更上山层楼。")
    assert errors(found) == [(2, 1, "gu_ping"), (4, 3, "san_ping")]


def test_san_ze_is_a_warning_only():
    result = analyze("白日依山尽，黄河入海流。欲穷石里目，更上一层楼。")
    assert result.conforms
    assert [(v.line, v.pos, v.kind, v.severity) for v in result.violations] == [
        (3, 3, "san_ze", "warning")
    ]


def test_repeated_rhyme_character():
    found = analyze("白日依山尽，黄河入海流。欲穷千里目，更上一层流。")
    assert (4, 5, "repeat_rhyme") in errors(found)


def test_first_line_may_borrow_a_neighbour_rhyme():
    # 东 (一东) opening a poem that rhymes in 二冬 (钟 龙 峰).
    result = analyze("云开万里东，远寺一声钟。夜静山如睡，天高月近龙。")
    assert result.rhyme_group == "冬"
    kinds = [(v.line, v.kind, v.severity) for v in result.violations]
    assert (1, "borrowed_rhyme", "warning") in kinds


def test_unknown_character_at_a_fixed_position():
    result = analyze("白日依山尽，黄河入们流。欲穷千里目，更上一层楼。")
    assert result.marks[1] == "○○●?○"
    assert errors(result) == [(2, 4, "unknown_char")]


def test_shape_faults_for_a_named_form():
    result = analyze("白日依山尽，黄河入海流。", form="五绝")
    assert errors(result) == [(0, 0, "lines")]
    result = analyze("白日依山尽，黄河入海流。欲穷千里目，更上一层楼。", form="七绝")
    assert {kind for _, _, kind in errors(result)} == {"length"}


def test_unpunctuated_input_is_cut_into_lines():
    spaced = analyze("白日依山尽 黄河入海流 欲穷千里目 更上一层楼")
    couplets = analyze("白日依山尽黄河入海流\n欲穷千里目更上一层楼")
    assert (
        spaced.lines == couplets.lines == ["白日依山尽", "黄河入海流", "欲穷千里目", "更上一层楼"]
    )
    assert spaced.conforms and couplets.form == "五绝"


def test_mixed_punctuation_and_titles_just_work():
    result = analyze("《登鹳雀楼》\n白日依山尽,黄河入海流.\n欲穷千里目；更上一层楼！")
    assert result.form == "五绝" and result.conforms


def test_ancient_forms_get_marks_only():
    result = analyze("君不见黄河之水天上来，奔流到海不复回。君不见高堂明镜悲白发，朝如青丝暮成雪。")
    assert (result.rules, result.conforms, result.violations) == ("none", True, [])
    assert all(len(m) == len(line) for m, line in zip(result.marks, result.lines, strict=True))


def test_xinyun_scheme():
    result = analyze("白日依山尽，黄河入海流。欲穷千里目，更上一层楼。", scheme="xinyun")
    assert result.conforms and result.rhyme_group == "尤"
    assert result.rhyme_group_name == get_scheme("xinyun").groups["尤"].name


def test_regulated_long_verse_checks_nian_and_dui():
    lines = ["白日依山尽", "黄河入海流", "欲穷千里目", "更上一层楼"] * 2 + [
        "白日依山尽",
        "黄河入海流",
    ]
    result = analyze("，".join(lines) + "。")
    assert result.form == "排律"
    assert not any(v.kind in ("nian", "dui") for v in result.violations)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("   \n ", "empty"),
        ("hello world", "no Chinese"),
        ("😀😀😀", "no Chinese"),
        ("床前明月光😀", "only Chinese"),
        ("山" * 1001, "1000"),
    ],
)
def test_bad_input_is_one_clear_line(text, says):
    with pytest.raises(ProsodyInputError, match=says) as caught:
        analyze(text)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("form", "says"), [("五言", "unknown form"), ("词", "tune")])
def test_bad_form_is_one_clear_line(form, says):
    with pytest.raises(ProsodyInputError, match=says):
        analyze("春眠不觉晓", form=form)


def test_to_dict_is_json():
    data = analyze("床前明月光，疑是地上霜。举头望明月，低头思故乡。").to_dict()
    assert json.loads(json.dumps(data, ensure_ascii=False)) == data
    assert {"form", "conforms", "rhyme_group", "violations", "template", "lines", "marks"} <= set(
        data
    )
    assert set(data["violations"][0]) >= {"line", "pos", "kind", "message"}


def test_a_near_regular_poem_is_judged_against_its_form():
    """Four lines of 5, 6, 5, 5 are a 五绝 with one slip, not 杂言 that passes."""
    result = analyze("白日依山尽，黄河入海长流。欲穷千里目，更上一层楼。")
    assert result.form == "五绝" and not result.conforms
    assert [(v.line, v.kind, v.message) for v in result.violations] == [
        (2, "length", "应为5字，今为6字")
    ]
    assert analyze("白日依山尽，黄河入海流长又长。欲穷千里目，更上一层楼。").form == "杂言"
