"""Content measures on hand-made poems and a hand-built corpus, where the answer is obvious."""

import math
import random

import pytest

from training.lm import content
from training.lm.content import (
    XUZI,
    TopicJudge,
    content_rows,
    group_of,
    jieba_classes,
    line_ends,
    parallelism,
    repeats,
    retrieval_hit,
    topic_chars,
    uses_title,
    word_classes,
    xuzi_end_share,
)

CHUNXIAO = "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。"


# --- 重字 ---------------------------------------------------------------------------------------


def test_a_poem_without_repeats_has_none_even_with_a_reduplication():
    assert repeats(CHUNXIAO) == 0  # 处处 is one use of 处
    assert repeats("无边落木萧萧下，不尽长江滚滚来。") == 0


def test_every_further_use_of_a_character_counts():
    assert repeats("青山横北郭，白水绕东城。山色连云起，山僧入寺行。") == 2  # 山 three times
    assert repeats("萧萧下，萧瑟秋。") == 1  # 萧萧 once, then 萧 again
    assert repeats("一山，山一。") == 2  # adjacent only across a line end: not 叠字
    assert repeats("春，。春！") == 1  # marks are not characters


# --- 句末虚字 -----------------------------------------------------------------------------------


def test_line_ends_and_their_xuzi_share():
    assert line_ends(CHUNXIAO) == ["晓", "鸟", "声", "少"]
    assert xuzi_end_share([CHUNXIAO]) == 0.0
    assert xuzi_end_share(["学而时习之，不亦说乎。", "白日依山尽，黄河入海流。"]) == 0.5
    assert xuzi_end_share([]) is None


def test_the_xuzi_list_is_one_clean_tuple():
    assert len(XUZI) == len(set(XUZI)) and all(len(c) == 1 for c in XUZI)
    assert {"之", "乎", "者", "也", "矣", "焉", "哉", "兮", "而", "不"} <= set(XUZI)
    assert not {"然", "山", "流", "人"} & set(XUZI)  # rhyme words and 实字 are not 虚字


# --- 对仗 ---------------------------------------------------------------------------------------


def lushi(couplet_3_4: tuple[str, str], couplet_5_6: tuple[str, str], length: int = 7) -> str:
    """An 8-line poem with the given middle couplets and filler around them."""
    filler = "甲乙丙丁戊己庚"[:length]
    lines = [filler, filler, *couplet_3_4, *couplet_5_6, filler, filler]
    return "".join(line + ("，" if i % 2 == 0 else "。") for i, line in enumerate(lines))


def test_word_classes_take_the_class_with_most_frequency_names_and_idioms_aside():
    dictionary = [
        "流 10 v",  # its own entry says verb …
        "流水 1000 n",  # … but the words it is in say noun, by far
        "山 5 zg",  # zg: no class
        "山水 50 n",
        "张 20 q",
        "张三 100000 nr",  # a name says nothing of 张
        "一 7 m",
        "一心一意 99999 i",  # an idiom says nothing either
        "bad line",
    ]
    assert word_classes(dictionary) == {"流": "noun", "水": "noun", "山": "noun", "张": "num",
                                        "一": "num"}  # fmt: skip


def test_parallelism_counts_positions_of_one_class_with_different_characters():
    classes = {c: "adj" for c in "明清"} | {c: "noun" for c in "月泉松石间上"}
    classes |= {"照": "verb", "流": "verb"}
    poem = lushi(("明月松间照", "清泉石上流"), ("明月松间照", "明月松间照"), length=5)
    # 颔联 all five parallel; 颈联 repeats itself: a character never parallels itself
    assert parallelism(poem, classes) == pytest.approx(5 / 10)
    assert parallelism(CHUNXIAO, classes) is None  # a 绝句 has no 颔联
    assert parallelism(lushi(("明月松间照", "清泉石上"), ("明", "清")), classes) is None


def test_famous_couplets_score_high_with_jiebas_classes_and_prose_pairs_low():
    classes = jieba_classes()
    assert classes["山"] == "noun" and classes["我"] == "pron" and classes["三"] == "num"
    parallel = lushi(("两个黄鹂鸣翠柳", "一行白鹭上青天"), ("窗含西岭千秋雪", "门泊东吴万里船"))
    loose = lushi(("借问酒家何处有", "牧童遥指杏花村"), ("劝君更尽一杯酒", "西出阳关无故人"))
    assert parallelism(parallel, classes) > 0.7
    assert parallelism(loose, classes) < 0.35
    five = lushi(("野火烧不尽", "春风吹又生"), ("君自故乡来", "应知故乡事"), length=5)
    assert parallelism(five, classes) == pytest.approx(5 / 10)  # all of one, none of the other


# --- 切题 ---------------------------------------------------------------------------------------

TOPICS = {
    "梅": "香蕊枝寒",
    "竹": "节筠箫翠",
    "松": "鹤涛针苍",
    "菊": "篱陶黄霜",
    "兰": "幽谷佩芷",
    "荷": "莲藕塘蓬",
    "柳": "丝絮堤腰",
    "桃": "源灼夭蹊",
    "雪": "絮冰皑琼",
    "雨": "檐滴霖湿",
    "风": "吹飘拂猎",
    "月": "婵蟾桂皎",
    "山": "峰岭峦岫",
    "江": "帆舟渡浪",
    "湖": "鸥苇镜波",
    "海": "潮鲸蜃涯",
    "秋": "雁蛩砧凉",
    "春": "莺燕暖芳",
    "夜": "灯漏更烛",
    "酒": "杯醉樽酌",
}
"""Twenty one-character topics, each with its own four body characters."""
COMMON = "人来去"
"""Characters every body has: they say nothing of any topic."""


@pytest.fixture(scope="module")
def judge() -> TopicJudge:
    works = [
        {"title": f"{title}{k}", "form": "五绝", "text": f"{words}{COMMON}{k}。"}
        for title, words in TOPICS.items()
        for k in "甲乙丙"
    ]
    return TopicJudge.build(works, min_count=1)


def test_the_judge_ranks_a_poem_under_its_own_title(judge):
    poem = "香蕊枝寒人。"
    assert judge.score("梅", poem) > 0
    assert judge.score("梅", poem) > max(judge.score(t, poem) for t in TOPICS if t != "梅")
    assert judge.score("无", poem) == 0.0  # a title it knows nothing of
    assert judge.score("梅", "。") == 0.0


def test_ppmi_and_baseline_follow_their_definition():
    works = [
        {"title": "梅", "text": "花雪。"},
        {"title": "梅", "text": "花。"},
        {"title": "竹", "text": "雪。"},
    ]
    judge = TopicJudge.build(works, min_count=1)
    ppmi = judge.ppmi[judge.title_index["梅"]]
    # 梅 with 花: seen twice, expected 2·2/3 → log(3 / (4/3 + 1)); with 雪 once, expected 4/3
    assert ppmi[judge.body_index["花"]] == pytest.approx(math.log(3 / (7 / 3)))
    assert ppmi[judge.body_index["雪"]] == 0.0  # log(2 / (7/3)) < 0, clipped
    # baseline: mean PPMI with a body character drawn by document frequency (花 2, 雪 2)
    assert judge.baseline[judge.title_index["梅"]] == pytest.approx(math.log(9 / 7) / 2)
    assert judge.score("梅", "花。") == pytest.approx(math.log(9 / 7) / 2)
    assert judge.works == 3
    rare = TopicJudge.build(works, min_count=5)  # every character too rare to be known
    assert rare.ppmi.shape == (0, 0) and rare.score("梅", "花。") == 0.0
    assert TopicJudge.build([]).score("梅", "花。") == 0.0


def test_retrieval_finds_the_true_title_among_nineteen_distractors(judge):
    pool = list(TOPICS)
    for title, words in TOPICS.items():
        rng = random.Random(title)
        assert retrieval_hit(judge, title, f"{words}。", pool, rng) == 1.0, title
    # a poem about 酒 under the title 梅 loses
    assert retrieval_hit(judge, "梅", "杯醉樽酌。", pool, random.Random(0)) == 0.0
    # nothing known of the poem's characters: a tie, the win shared with all nineteen
    assert retrieval_hit(judge, "梅", "无无。", pool, random.Random(0)) == pytest.approx(1 / 20)


def test_retrieval_needs_a_topic_and_enough_distractors(judge):
    pool = list(TOPICS)
    assert retrieval_hit(judge, "", "香。", pool, random.Random(0)) is None
    assert retrieval_hit(judge, "其二", "香。", pool, random.Random(0)) is None
    assert retrieval_hit(judge, "梅", "香。", pool[:19], random.Random(0)) is None  # 18 others
    same = [*pool, "梅其二"]  # the same topic is never a distractor
    assert retrieval_hit(judge, "梅", "香。", same, random.Random(0)) is not None


def test_topic_titles_drop_the_tune_and_title_use_ignores_numbering():
    assert topic_chars("春江 花月夜") == "春江花月夜"
    assert topic_chars("春春江") == "春江"
    assert topic_chars("浣溪沙", "浣溪沙") == ""
    assert topic_chars("浣溪沙·谁念西风独自凉", "浣溪沙") == "谁念西风独自凉"
    assert topic_chars("山花子 春景", "摊破浣溪沙・山花子") == "春景"
    assert uses_title("春江", "江水流。") is True
    assert uses_title("春江", "白日依山尽。") is False
    assert uses_title("其二", "其二也。") is None  # nothing to use
    assert uses_title("送人之", "之。") is False  # 之 is no topic


def test_rows_per_form_and_overall(judge):
    classes = {c: "noun" for c in "月泉松石"}

    def poem(index, group, title, text, mask_nll=None, tune=None) -> dict:
        return {"index": index, "group": group, "title": title, "text": text,
                "mask_nll": mask_nll, "tune": tune}  # fmt: skip

    poems = [
        poem(0, "五绝", "梅", "香蕊枝寒，山山山水。", 0.5),
        poem(1, "五绝", "竹", "节筠箫翠，人来之。"),
        poem(2, "五律", "月", lushi(("月松泉石月", "泉石月松泉"), ("月松泉石月",) * 2, 5), 1.5),
        poem(3, "词", "浣溪沙", "香香蕊，蕊。", tune="浣溪沙"),
    ]
    rows = content_rows(poems, judge, classes, {"五绝": list(TOPICS)}, seed=0)
    assert list(rows) == ["五绝", "五律", "词", "all"]
    five = rows["五绝"]
    assert five["n"] == 2 and five["repeats"] == 0.0 and five["repeats_share"] == 0.0
    assert five["retrieval"] == 1.0 and five["title_use"] == 0.0 and five["titled"] == 2
    assert five["xuzi_end"] == 0.25  # 之 of four line ends
    assert five["parallel"] is None and five["mask_nll"] == 0.5
    assert rows["五律"]["parallel"] == 0.5  # the 颔联 pairs nouns, the 颈联 repeats itself
    assert rows["五律"]["repeats"] == 40 - 9  # 40 characters, 9 distinct
    assert rows["五律"]["retrieval"] is None  # no 五律 titles to draw distractors from
    ci = rows["词"]
    assert ci["repeats"] == 1.0 and ci["titled"] == 0 and ci["title_use"] is None
    assert ci["parallel"] is None and ci["mask_nll"] is None
    overall = rows["all"]
    assert overall["n"] == 4 and overall["repeats_share"] == 0.5
    assert overall["mask_nll"] == 1.0 and overall["repeats"] == pytest.approx(32 / 4)


def test_groups_and_the_dictionary_check(monkeypatch):
    assert [group_of(f) for f in ("五绝", "七律", "浣溪沙", "词")] == ["五绝", "七律", "词", "词"]
    assert content.jieba_dictionary().name == "dict.txt"
    monkeypatch.setattr(content.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(content.UserError, match="jieba"):
        content.jieba_dictionary()
