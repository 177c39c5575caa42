"""`understand` on the phrasings people use: each message with the intent it must get.

The parser is pure, so this table is the spec: requests in plain Chinese (topic, form,
藏头, 续写, scheme), pasted poems, follow-ups, small talk and bad input. A row says what a
reader would expect, not what the code happens to do.
"""

import pytest

from bot.parsing import FormCatalog, InputError
from bot.understanding import Chat, FollowUp, Read, Write, understand

CATALOG = FormCatalog.load()

W = "write"
# (message, expected): ("write", topic, form[, extra fields]) / ("read", form or None) /
# ("again",) / ("redo", form, scheme) / ("analyze",) / ("chat", kind) / ("error", words)
TABLE = [
    # --- requests: topic and form --------------------------------------------------------
    ("写一首关于秋天的诗", (W, "秋", "七绝")),
    ("来一首写秋天的五律", (W, "秋", "五律")),
    ("用如梦令写一首春愁", (W, "春愁", "如梦令")),
    ("以黄河为题，七言绝句", (W, "黄河", "七绝")),
    ("春江", (W, "春江", "七绝")),
    ("春江 五律", (W, "春江", "五律")),
    ("五律 春江", (W, "春江", "五律")),
    ("如梦令 春江", (W, "春江", "如梦令")),
    ("春江 水调歌头", (W, "春江", "水调歌头")),
    ("秋夜", (W, "秋夜", "七绝")),
    ("帮我写一首思乡的诗吧", (W, "思乡", "七绝")),
    ("来首边塞诗", (W, "边塞", "七绝")),
    ("请以明月为题写一首五言绝句", (W, "明月", "五绝")),
    ("写一首关于妈妈的诗", (W, "母亲", "七绝")),
    ("来一首七律，题目是登高", (W, "登高", "七律")),
    ("写首水调歌头，中秋", (W, "中秋", "水调歌头")),
    ("我今天心情不好，想看看关于离别的诗", (W, "离别", "七绝")),
    ("春天来了，写一首桃花", (W, "桃花", "七绝")),
    ("再来一首关于冬天的", (W, "冬", "七绝")),
    ("用暗香写梅花", (W, "梅花", "暗香")),
    ("暗香", (W, "暗香", "七绝")),
    ("填一首词，写秋思", (W, "秋思", "浣溪沙")),
    ("调寄浣溪沙，写春雨", (W, "春雨", "浣溪沙")),
    ("写意", (W, "写意", "七绝")),
    ("写一首五绝", ("redo", "五绝", None)),
    ("请写一首关于月亮的五言律诗", (W, "月", "五律")),
    ("帮我作一首七言律诗，题目：登岳阳楼", (W, "登岳阳楼", "七律")),
    ("能不能写一首关于大海的诗", (W, "海", "七绝")),
    ("可以写一首关于友情的诗吗", (W, "友情", "七绝")),
    ("我想要一首写雪的诗", (W, "雪", "七绝")),
    ("给我来一首咏梅", (W, "咏梅", "七绝")),
    ("咏柳", (W, "咏柳", "七绝")),
    ("写一首描写江南春色的七绝", (W, "江南春色", "七绝")),
    ("以送别为题写一首五律", (W, "送别", "五律")),
    ("题目：中秋望月", (W, "中秋望月", "七绝")),
    ("主题是故乡", (W, "故乡", "七绝")),
    ("写一首绝句，关于春雨", (W, "春雨", "七绝")),
    ("写一首律诗，关于秋夜", (W, "秋夜", "七律")),
    ("来一首五言诗，写山居", (W, "山居", "五绝")),
    ("七言 登高", (W, "登高", "七绝")),
    ("用蝶恋花写离愁", (W, "离愁", "蝶恋花")),
    ("用《蝶恋花》写离愁", (W, "离愁", "蝶恋花")),
    ("填一阕西江月，夜行", (W, "夜行", "西江月")),
    ("调寄满江红 写怀古", (W, "怀古", "满江红")),
    ("清平乐 村居", (W, "村居", "清平乐")),
    ("写一首关于秋天的词", (W, "秋", "浣溪沙")),
    ("帮我写首菩萨蛮，题目叫闺怨", (W, "闺怨", "菩萨蛮")),
    ("请用沁园春写雪", (W, "雪", "沁园春")),
    ("来一首念奴娇，赤壁怀古", (W, "赤壁怀古", "念奴娇")),
    ("写一首关于春天的七绝吧", (W, "春", "七绝")),
    ("写一首关于夏天的诗呀", (W, "夏", "七绝")),
    ("写一首冬天的五绝", (W, "冬", "五绝")),
    ("你好，写一首关于秋天的诗", (W, "秋", "七绝")),
    ("你好！帮我写一首边塞诗", (W, "边塞", "七绝")),
    ("麻烦写一首关于老师的诗，谢谢", (W, "师", "七绝")),
    ("写一首关于家乡的诗", (W, "故乡", "七绝")),
    ("求一首关于朋友的诗", (W, "友人", "七绝")),
    ("为我写一首关于长江的七律", (W, "长江", "七律")),
    ("替我作一首咏菊的五律", (W, "咏菊", "五律")),
    ("写一首赞美黄山的诗", (W, "黄山", "七绝")),
    ("歌颂祖国", (W, "祖国", "七绝")),
    ("写写落日", (W, "落日", "七绝")),
    ("写一首关于下雪的诗", (W, "雪", "七绝")),
    ("以「春江花月夜」为题", (W, "春江花月夜", "七绝")),
    ("以夜泊为题", (W, "夜泊", "七绝")),
    ("以江雪为题作一首五绝", (W, "江雪", "五绝")),
    ("七律 秋兴", (W, "秋兴", "七律")),
    ("五言绝句 鹿柴", (W, "鹿柴", "五绝")),
    ("七言律诗：黄鹤楼", (W, "黄鹤楼", "七律")),
    ("来一首七绝 写清明", (W, "清明", "七绝")),
    ("写一首七言绝句，写西湖", (W, "西湖", "七绝")),
    ("一首关于重阳的诗", (W, "重阳", "七绝")),
    ("关于月亮", (W, "月", "七绝")),
    ("秋天", (W, "秋", "七绝")),
    ("月亮", (W, "月", "七绝")),
    ("春天的诗", (W, "春", "七绝")),
    ("离别的诗词", (W, "离别", "七绝")),
    ("春晓", (W, "春晓", "七绝")),
    ("大漠孤烟", (W, "大漠孤烟", "七绝")),
    ("写首送别诗吧", (W, "送别", "七绝")),
    # --- scheme ------------------------------------------------------------------------
    ("用新韵写一首春江", (W, "春江", "七绝", {"scheme": "xinyun"})),
    ("春江 五律 新韵", (W, "春江", "五律", {"scheme": "xinyun"})),
    ("以秋夜为题，押中华新韵，五绝", (W, "秋夜", "五绝", {"scheme": "xinyun"})),
    ("用平水韵写一首七律，题目登高", (W, "登高", "七律", {"scheme": "pingshui"})),
    ("写一首新韵七绝，关于春雨", (W, "春雨", "七绝", {"scheme": "xinyun"})),
    # --- 藏头 ----------------------------------------------------------------------------
    ("帮我写藏头诗：万事如意", (W, "万事如意", "七绝", {"acrostic": "万事如意"})),
    ("藏头诗 春江花月", (W, "春江花月", "七绝", {"acrostic": "春江花月"})),
    ("用万事如意写藏头诗", (W, "万事如意", "七绝", {"acrostic": "万事如意"})),
    ("写一首藏头诗，藏“春夏秋冬”", (W, "春夏秋冬", "七绝", {"acrostic": "春夏秋冬"})),
    ("万事如意藏头诗", (W, "万事如意", "七绝", {"acrostic": "万事如意"})),
    ("藏头：生日快乐 五绝", (W, "生日快乐", "五绝", {"acrostic": "生日快乐"})),
    (
        "藏头诗：春江花月夜色正浓",
        (W, "春江花月夜色正浓", "七律", {"acrostic": "春江花月夜色正浓"}),
    ),
    ("来首藏头诗，藏的是平安喜乐", (W, "平安喜乐", "七绝", {"acrostic": "平安喜乐"})),
    ("用「新年快乐」写一首藏头五绝", (W, "新年快乐", "五绝", {"acrostic": "新年快乐"})),
    ("藏头诗", ("error", "藏头")),
    ("藏头诗：好", ("error", "藏头")),
    ("藏头诗：春江花 七律", ("error", "藏头")),
    # --- 续写 ----------------------------------------------------------------------------
    ("续写：春眠不觉晓", (W, "春眠不觉晓", "五绝", {"first_line": "春眠不觉晓"})),
    ("春眠不觉晓，接着写", (W, "春眠不觉晓", "五绝", {"first_line": "春眠不觉晓"})),
    ("接着写：白日依山尽", (W, "白日依山尽", "五绝", {"first_line": "白日依山尽"})),
    ("续写 朝辞白帝彩云间", (W, "朝辞白帝彩云间", "七绝", {"first_line": "朝辞白帝彩云间"})),
    ("帮我续写“床前明月光”", (W, "床前明月光", "五绝", {"first_line": "床前明月光"})),
    ("续写一首：国破山河在 五律", (W, "国破山河在", "五律", {"first_line": "国破山河在"})),
    ("往下写：独在异乡为异客", (W, "独在异乡为异客", "七绝", {"first_line": "独在异乡为异客"})),
    ("续写：春天", ("error", "第一句")),
    ("续写", ("error", "第一句")),
    # --- pasted poems --------------------------------------------------------------------
    ("床前明月光，疑是地上霜。举头望明月，低头思故乡。", ("read", None)),
    ("静夜思\n床前明月光，疑是地上霜。\n举头望明月，低头思故乡。", ("read", None)),
    ("静夜思 李白\n床前明月光\n疑是地上霜\n举头望明月\n低头思故乡", ("read", None)),
    ("《春晓》\n春眠不觉晓，处处闻啼鸟。\n夜来风雨声，花落知多少。", ("read", None)),
    ("白日依山尽,黄河入海流.欲穷千里目,更上一层楼.", ("read", None)),
    ("白日依山尽黄河入海流欲穷千里目更上一层楼", ("read", None)),
    ("春眠不觉晓，处处闻啼鸟", ("read", None)),
    (
        "朝辞白帝彩云间，千里江陵一日还。两岸猿声啼不住，轻舟已过万重山。",
        ("read", None),
    ),
    (
        "国破山河在，城春草木深。感时花溅泪，恨别鸟惊心。"
        "烽火连三月，家书抵万金。白头搔更短，浑欲不胜簪。",
        ("read", None),
    ),
    ("白日依山尽，黄河入海长流。欲穷千里目，更上一层楼。", ("read", None)),
    (
        "昨夜雨疏风骤\n浓睡不消残酒\n试问卷帘人\n却道海棠依旧\n知否\n知否\n应是绿肥红瘦",
        ("read", "如梦令"),
    ),
    ("风急天高猿啸哀\n渚清沙白鸟飞回\n无边落木萧萧下\n不尽长江滚滚来", ("read", None)),
    # --- follow-ups ----------------------------------------------------------------------
    ("再来一首", ("again",)),
    ("换一首", ("again",)),
    ("再来一首吧", ("again",)),
    ("再写一首", ("again",)),
    ("重写", ("again",)),
    ("再来", ("again",)),
    ("另一首", ("again",)),
    ("不好，换一首", ("again",)),
    ("再来一个", ("again",)),
    ("重新写一首", ("again",)),
    ("改成五律", ("redo", "五律", None)),
    ("换成七律", ("redo", "七律", None)),
    ("改为五言绝句", ("redo", "五绝", None)),
    ("五律呢", ("redo", "五律", None)),
    ("再来一首五律", ("redo", "五律", None)),
    ("用如梦令再写一首", ("redo", "如梦令", None)),
    ("换成词牌浣溪沙", ("redo", "浣溪沙", None)),
    ("写成七律试试", ("redo", "七律", None)),
    ("用新韵", ("redo", None, "xinyun")),
    ("改用新韵", ("redo", None, "xinyun")),
    ("用新韵再写一首", ("redo", None, "xinyun")),
    ("用平水韵", ("redo", None, "pingshui")),
    ("改成五律，用新韵", ("redo", "五律", "xinyun")),
    ("写一首词", ("redo", "浣溪沙", None)),
    ("这首的格律", ("analyze",)),
    ("分析一下", ("analyze",)),
    ("格律", ("analyze",)),
    ("这首合律吗", ("analyze",)),
    ("分析这首诗的平仄", ("analyze",)),
    ("帮我分析一下格律", ("analyze",)),
    ("平仄对吗", ("analyze",)),
    ("刚才那首的格律分析", ("analyze",)),
    # --- small talk ----------------------------------------------------------------------
    ("你好", ("chat", "greeting")),
    ("您好！", ("chat", "greeting")),
    ("hello", ("chat", "greeting")),
    ("Hi", ("chat", "greeting")),
    ("在吗？", ("chat", "greeting")),
    ("早上好", ("chat", "greeting")),
    ("晚安", ("chat", "greeting")),
    ("你好呀", ("chat", "greeting")),
    ("谢谢", ("chat", "thanks")),
    ("谢谢你！", ("chat", "thanks")),
    ("多谢", ("chat", "thanks")),
    ("thanks", ("chat", "thanks")),
    ("Thank you", ("chat", "thanks")),
    ("写得真好", ("chat", "thanks")),
    ("好诗！", ("chat", "thanks")),
    ("太棒了", ("chat", "thanks")),
    ("帮助", ("chat", "help")),
    ("help", ("chat", "help")),
    ("怎么用？", ("chat", "help")),
    ("你能做什么", ("chat", "help")),
    ("你会什么", ("chat", "help")),
    ("你是谁", ("chat", "who")),
    ("你是谁？", ("chat", "who")),
    ("你叫什么名字", ("chat", "who")),
    ("你是机器人吗", ("chat", "who")),
    ("Who are you?", ("chat", "who")),
    # --- bad input -----------------------------------------------------------------------
    ("", ("chat", "hint")),
    ("   ", ("chat", "hint")),
    ("。。。！？", ("chat", "hint")),
    ("🌸🌸🌸", ("chat", "hint")),
    ("write a poem about the moon", ("chat", "hint")),
    ("spring river", ("chat", "hint")),
    ("12345", ("chat", "hint")),
    ("写一首关于moon的诗", ("error", "汉字")),
    ("春江 spring", ("error", "汉字")),
    ("写首诗", ("error", "题目")),
    ("来一首", ("error", "题目")),
    ("帮我写一首诗吧", ("error", "题目")),
    (
        "写一首关于我今天早上在公园里看到的一只小鸟的诗",
        (W, "我今天早上在公园里看到的一只小鸟", "七绝"),
    ),
    ("写一首关于我今天早上在公园里散步的时候看到的一只很可爱的小鸟的诗", ("error", "太长")),
    ("春" * 401, ("error", "太长")),
    ("写一首关于🌙的诗", ("error", "汉字")),
]


def outcome(text: str) -> tuple:
    try:
        intent = understand(text, CATALOG)
    except InputError as error:
        return ("error", str(error))
    if isinstance(intent, Write):
        request = intent.request
        return (W, request.topic, request.form, request)
    if isinstance(intent, Read):
        return ("read", intent.form)
    if isinstance(intent, FollowUp):
        if intent.action == "redo":
            return ("redo", intent.form, intent.scheme)
        return (intent.action,)
    assert isinstance(intent, Chat)
    return ("chat", intent.kind)


def test_the_table_is_wide():
    assert len(TABLE) >= 150
    assert len({text for text, _ in TABLE}) == len(TABLE)


@pytest.mark.parametrize(("text", "expected"), TABLE, ids=[t[:16] or "empty" for t, _ in TABLE])
def test_understands(text, expected):
    got = outcome(text)
    if expected[0] == "error":
        assert got[0] == "error" and expected[1] in got[1], got
    elif expected[0] == W:
        assert got[:3] == expected[:3], got[:3]
        extra = expected[3] if len(expected) > 3 else {}
        request = got[3]
        for field, value in extra.items():
            assert getattr(request, field) == value, (field, getattr(request, field))
        if "scheme" not in extra:
            assert request.scheme == "pingshui"
    else:
        assert got == expected


FILLERS = ("写", "来", "作", "一首", "帮我", "关于", "的诗", "吧", "请")


@pytest.mark.parametrize("text", [t for t, e in TABLE if e[0] == W and e[1] == "秋"])
def test_fillers_never_reach_the_title(text):
    topic = understand(text, CATALOG).request.topic
    assert not any(filler in topic for filler in FILLERS)


def test_the_line_above_the_poem_says_what_was_understood():
    assert understand("来一首写秋天的五律", CATALOG).understood == "以「秋」为题，作五律"
    assert understand("帮我写藏头诗：万事如意", CATALOG).understood == "藏头「万事如意」，作七绝"
    assert (
        understand("用新韵写一首春江", CATALOG).understood == "以「春江」为题，作七绝，押中华新韵"
    )
    # A message that is the topic itself needs no explanation.
    assert understand("春江", CATALOG).understood is None
    assert understand("春江 五律", CATALOG).understood is None


def test_a_pasted_ci_is_read_as_its_tune():
    intent = understand(
        "昨夜雨疏风骤\n浓睡不消残酒\n试问卷帘人\n却道海棠依旧\n知否\n知否\n应是绿肥红瘦", CATALOG
    )
    assert isinstance(intent, Read) and intent.form == "如梦令"


def test_a_pasted_poem_loses_its_heading():
    intent = understand("静夜思 李白\n床前明月光，疑是地上霜。\n举头望明月，低头思故乡。", CATALOG)
    assert isinstance(intent, Read) and "李白" not in intent.text
