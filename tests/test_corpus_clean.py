"""Cleaning a body, and reading tunes out of 元曲 titles."""

import pytest

from training.corpus.clean import clean_body, clean_title
from training.corpus.sources import qu_tune
from yinshi.prosody.text import LINE_END, split_lines


def test_notes_are_cut_and_the_poem_kept():
    body, reason = clean_body(
        ["闌風長雨（一作「東風細雨」）秋紛紛，四海（一作「萬里」）八荒同一雲。"]
    )
    assert reason is None
    assert body == "闌風長雨秋紛紛，四海八荒同一雲。"


def test_nested_and_square_notes_go_too():
    body, _ = clean_body(["南橋昏曉人萬萬[二]，北邙新故塚千千。（〖1〗校：見〖一○七七〗石刻本。）"])
    assert body == "南橋昏曉人萬萬，北邙新故塚千千。"


def test_a_heading_in_lenticular_brackets_is_cut():
    body, _ = clean_body(["〔黄鍾爲角一奏〕我將我享，涓選休成。"])
    assert body == "我將我享，涓選休成。"


@pytest.mark.parametrize(
    ("paragraphs", "reason"),
    [
        (["今宵冬律盡，冰□已鏤津。"], "placeholder"),
        (["萬里長聞隨戰角，十年不得掩郊扉。", "囗囗囗囗囗囗囗，但將詞賦奉恩輝。"], "placeholder"),
        (["日隱山光暗，醉髮亂鬅鬙）。"], "unbalanced_note"),
        (["宿雨一番蔬甲拆，春山幾處茗旗香。ff。"], "non_cjk"),
        (["Ｂ亂後碧井廢，時清瑤殿深。"], "non_cjk"),
        (["何人坐有{上休下鳥}氊。"], "unencodable"),
        (["", "  "], "empty"),
        (["（以上劉瑛整理）。"], "empty"),
        (["詩題：送梵才大師歸天台首句：玉宇重來訪舊游。"], "title_only"),
    ],
)
def test_broken_bodies_are_dropped_with_a_reason(paragraphs, reason):
    assert clean_body(paragraphs) == (None, reason)


def test_punctuation_is_full_width_and_every_line_closes():
    body, _ = clean_body(
        ["何不改乎此度?", "吉日兮辰良,穆將愉兮上皇", "子曰：“學而時習之，不亦說乎？”"]
    )
    assert body == "何不改乎此度？吉日兮辰良，穆將愉兮上皇，子曰：學而時習之，不亦說乎？"
    assert all(line[-1] in LINE_END for line in split_lines(body))


def test_spaces_inside_a_paragraph_separate_lines():
    body, _ = clean_body(["弟子規 聖人訓 首孝弟 次謹信"])
    assert split_lines(body) == ["弟子規，", "聖人訓，", "首孝弟，", "次謹信。"]


def test_iteration_mark_repeats_the_character():
    assert (
        clean_body(["雲冥冥兮羌晝晦，東風飄々兮神靈雨。"])[0]
        == "雲冥冥兮羌晝晦，東風飄飄兮神靈雨。"
    )


def test_title_notes_and_spaces():
    assert clean_title("  帝京篇十首  一（一作某）") == "帝京篇十首 一"


@pytest.mark.parametrize(
    ("title", "previous", "tune"),
    [
        ("诈妮子调风月・仙吕/点绛唇", None, "点绛唇"),
        ("诈妮子调风月・混江龙", None, "混江龙"),
        ("红绣鞋", None, "红绣鞋"),
        ("前腔", "山坡羊", "山坡羊"),
        ("苏子瞻风雪贬黄州・幺篇", "醉春风", "醉春风"),
        ("猫儿坠・绿荷萧索无可盖眠鸥，碧粼粼露远洲。", None, "猫儿坠"),
        ("越调・小桃红花篮区髻", None, None),
    ],
)
def test_qu_tune_from_title(title, previous, tune):
    assert qu_tune(title, previous) == tune
