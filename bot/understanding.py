"""What a chat message in plain Chinese asks for: a poem, an analysis, a follow-up, or a chat.

People write 「来一首写秋天的五律」, 「用如梦令写一首春愁」, 「帮我写藏头诗：万事如意」, paste
静夜思, or say 「再来一首」 and 「你好」. `understand` reads such a message with rules and the
catalogue of forms and 词牌 — the words a request is made of are few and fixed, so no language
model is needed, and every reading can be tested — and returns one `Intent`. It is pure: the
conversation's memory (what 「再来一首」 refers to) is the handler's business (`bot.chat`).

The order matters and is the point of the module: small talk is only small talk when nothing
else is in the message; verse is recognised before anything is taken as a topic (a pasted
poem is read, not written about); form and scheme words are taken out wherever they stand,
together with the verb that governs them (用, 调寄, 改成); the topic is what is left once the
words of asking (请, 帮我, 写一首, 关于…的诗, 吧) are peeled off both ends.
"""

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import Literal

from bot import texts
from bot.parsing import (
    DEFAULT_FORM,
    TOPIC_MAX,
    FormCatalog,
    InputError,
    parse_acrostic,
    parse_continue,
)
from yinshi.prosody.forms import REGULAR_FORMS
from yinshi.prosody.text import CJK_RANGES
from yinshi.protocol import PoemRequest

MESSAGE_MAX = 400
"""Longer messages are neither requests nor one poem to analyse (the analyser's limit)."""
DEFAULT_TUNE = "浣溪沙"
"""The tune of 「写一首词」 when none is named: short, common, and every reader knows it."""


@dataclass(frozen=True)
class Write:
    """A poem to write. `understood` is the one line that says how the message was read, or
    None where there was nothing to read into (the message was the topic itself)."""

    request: PoemRequest
    understood: str | None = None
    form_named: bool = False
    """The message named the form (else the chat's wanted form, if any, applies)."""


@dataclass(frozen=True)
class Read:
    """Verse to analyse; `form` is a 词牌 when the lines have exactly one tune's shape."""

    text: str
    form: str | None = None


@dataclass(frozen=True)
class FollowUp:
    """About the last poem of the chat: write again, in another form or scheme, or analyse it."""

    action: Literal["again", "redo", "analyze"]
    form: str | None = None
    scheme: str | None = None


@dataclass(frozen=True)
class Chat:
    """Not a request: small talk, or a message with nothing the bot can write about."""

    kind: Literal["greeting", "thanks", "help", "who", "hint"]


Intent = Write | Read | FollowUp | Chat

_HAN = f"[{CJK_RANGES}]"
_PUNCT = r"[\s,，。.!！?？;；:：、~～…—\-·'\"“”‘’「」『』《》()（）\[\]【】]"
_QUOTED = re.compile(r"[「『“\"《【]([^」』”\"》】]+)[」』”\"》】]")

SMALL_TALK = {
    "greeting": (
        "你好 您好 你好呀 你好啊 哈喽 嗨 hi hello hey 在吗 在不在 在么 早 早上好 早安 "
        "上午好 中午好 下午好 晚上好 晚安 大家好 你好吗 您好呀"
    ),
    "thanks": (
        "谢谢 谢谢你 谢谢您 多谢 感谢 谢啦 谢了 thanks thankyou thx 好诗 写得好 写得真好 "
        "写得不错 太棒了 真棒 好棒 不错 厉害 赞 好的 好 ok 嗯 嗯嗯 收到 妙 妙啊"
    ),
    "help": (
        "帮助 help 怎么用 如何使用 怎么使用 你能做什么 你会什么 你会干什么 你能干什么 "
        "能做什么 功能 菜单 说明 使用说明 用法 start 怎么玩"
    ),
    "who": "你是谁 你叫什么 你叫什么名字 你是什么 你是机器人吗 你是ai吗 whoareyou 你是人吗",
}
_SMALL_TALK = {word: kind for kind, words in SMALL_TALK.items() for word in words.split()}
_GREETING_LEAD = re.compile(r"^(?:你好|您好|嗨|哈喽|hi|hello|hey)(?:呀|啊)?" + _PUNCT + "*")


_SCHEMES = (
    (re.compile(r"(?:改用|换用|换成|改成|用|按|押|依)?(?:中华新韵|新韵|普通话(?:韵)?)"), "xinyun"),
    (re.compile(r"(?:改用|换用|换成|改成|用|按|押|依)?(?:平水韵|古韵|旧韵)"), "pingshui"),
)
_REGULAR_NAMES = {
    "五言绝句": "五绝",
    "七言绝句": "七绝",
    "五言律诗": "五律",
    "七言律诗": "七律",
    "五言绝": "五绝",
    "七言绝": "七绝",
    "五言律": "五律",
    "七言律": "七律",
    **{form: form for form in REGULAR_FORMS},
    "绝句": "七绝",
    "律诗": "七律",
    "五言诗": "五绝",
    "七言诗": "七绝",
    "五言": "五绝",
    "七言": "七绝",
}
_FORM_VERB = r"(?:改写成|改成|改为|换成|换为|写成|作成|变成|用|以|按照|按|依|调寄|填)?"
_FORM_TAIL = r"(?:的)?(?:词牌|形式|格式|体裁|体)?"
_CUED_VERB = r"(?:改写成|改成|改为|换成|换为|写成|用|以|按照|按|调寄|填|词牌)"
_GENERIC_CI = re.compile(r"(?:(?:填|写|作|来)?(?:一|1)?(?:首|阕)|填|的)(?:宋)?词(?!牌)")
"""「写一首词」「填词」「关于秋天的词」: a 词 with no tune named (not 诗词, not 词牌)."""

_PREFIXES = re.compile(
    "^(?:"
    + "|".join(
        (
            r"请你|请|麻烦你|麻烦|劳驾|拜托|帮我|帮忙|给我|为我|替我|你能不能|你能|你可以|写写"
            r"|能不能|能否|可否|可不可以|可以|我想要|我想|我要|想要",
            r"(?:想|求|帮|再|给)(?=写|作|来|做|吟|赋|填|要|看)",
            r"(?:写|作|做|吟|赋|填|来|创作|写作|整|看|读|要)(?:一|两|几|1)?(?:首|篇|阕|个|段)",
            r"(?:一|1)(?:首|篇|阕)",
            r"关于|有关|描写|描绘|描述|歌颂|赞美|抒发|表达|讲述|题为|题目是|题目|主题是|主题",
        )
    )
    + r")"
    + _PUNCT
    + "*"
)
_VERB_AFTER_ASKING = re.compile(r"^(?:写|作|做|吟|赋|来)(?=" + _HAN + ")")
"""A bare verb is a word of asking only after another: 来一首「写」秋天的, not 写意."""
_SUFFIXES = re.compile(
    "(?:"
    + "|".join(
        (
            r"吧|呀|啊|呢|嘛|哦|哈|啦|咯|好吗|好不好|可以吗|行吗|行不行|谢谢你|谢谢|多谢|感谢",
            r"的(?:古诗词|诗词|诗歌|古诗|诗|词|作品)",
            r"为题目|为主题|为题",
            r"一首|的",
        )
    )
    + r")"
    + _PUNCT
    + "*$"
)
_POEM_WORD = re.compile(r"(?:古诗词|诗词|诗歌|古诗|诗)$")
_EXPLICIT_TOPIC = (
    re.compile(r"以(" + _HAN + r"{1,20}?)为(?:题|主题|题目)"),
    re.compile(r"(?:题目|主题|题)(?:是|为|叫)?[:：]\s*(" + _HAN + r"{1,20})"),
    re.compile(r"(?:题目|主题)(?:是|为|叫)(" + _HAN + r"{1,20})"),
    re.compile(r"关于(" + _HAN + r"+?)的(?=古诗词|诗词|诗歌|古诗|诗|词|[五七][绝律言]|$)"),
)
PLAIN_TOPICS = {
    "春天": "春",
    "夏天": "夏",
    "秋天": "秋",
    "冬天": "冬",
    "春季": "春",
    "夏季": "夏",
    "秋季": "秋",
    "冬季": "冬",
    "月亮": "月",
    "太阳": "日",
    "雪花": "雪",
    "下雪": "雪",
    "下雨": "雨",
    "大海": "海",
    "家乡": "故乡",
    "老家": "故乡",
    "想家": "思乡",
    "朋友": "友人",
    "好朋友": "友人",
    "妈妈": "母亲",
    "爸爸": "父亲",
    "老师": "师",
    "花儿": "花",
    "鸟儿": "鸟",
    "梅花儿": "梅花",
    "过年": "新年",
}
"""Everyday words for what the classical poems call otherwise: 「写秋天」 is a poem on 秋."""

_ACROSTIC = re.compile(r"藏头(?:诗)?")
_CONTINUE = re.compile(
    r"续写|接着写|接下去写|接下去|往下写|续一首|续上|续诗|接龙|补全|帮我续|续完|续"
)
_ASKING_START = re.compile(r"^(?:写|来|作|填)(?:一|1)?(?:首|篇|阕)|^(?:请|帮我|帮忙|给我|麻烦)")
_VERSE_LINE = re.compile(r"[\n，,。.！!？?；;]+")
_ANALYZE_WORDS = ("格律", "平仄", "合律", "分析", "押韵", "韵脚", "出律")
_ANALYZE_LAST = re.compile(
    r"(?:请|帮我|给我)?(?:分析一下|分析|看看|检查一下|检查)?"
    r"(?:这首|这|上一首|上首|刚才那首|刚才的|刚才|那首)?(?:诗|词)?(?:的)?"
    r"(?:格律|平仄|押韵|韵脚|合律|出律)?(?:分析一下|分析)?"
    r"(?:怎么样|如何|对吗|对不对|合律吗|合不合律|出律吗|有没有出律|吗|呢|吧)?"
)
_AGAIN = re.compile(
    r"(?:不好|不行|不喜欢|不满意|一般|还行|挺好|很好|不错)?(?:请|麻烦|帮我|给我)?"
    r"(?:再|重新|另|换|重)(?:来|写|作|做|吟|赋|整)?(?:一|1)?(?:首|个|篇|阕)?"
)
_AROUND_FORM = re.compile(
    r"^(?:试试|看看|的|请|帮我|给我|(?:写|来|作|填|做)(?:一|1)?(?:首|阕|个)?|一首)+"
    r"|(?:试试|看看|吧|呢|写|的|来|一首)+$"
)
_PARTICLES = re.compile(r"(?:呀|啊|哈|啦|呢|吧|哦|嘛)+$")


def understand(text: str, catalog: FormCatalog) -> Intent:
    """The intent of one chat message; InputError (ready to send) for what cannot be done."""
    plain = unicodedata.normalize("NFKC", text).strip()
    if not plain:
        return Chat("hint")
    if len(plain) > MESSAGE_MAX:
        raise InputError(texts.TEXT_TOO_LONG.format(limit=MESSAGE_MAX))
    compact = re.sub(_PUNCT, "", plain).lower()
    compact = _PARTICLES.sub("", compact) or compact
    if compact in _SMALL_TALK:
        return Chat(_SMALL_TALK[compact])  # type: ignore[arg-type]
    if not re.search(_HAN, plain):
        return Chat("hint")  # English, emoji, digits, punctuation: nothing to write about
    body = _without_title(plain)
    if is_verse(body):
        return Read(body, guess_tune(body, catalog))
    plain = _GREETING_LEAD.sub("", plain) or plain
    return _follow_up(plain, catalog) or _request(plain, catalog)


def _lines(text: str) -> list[str]:
    return [line for line in (re.sub(_PUNCT, "", x) for x in _VERSE_LINE.split(text)) if line]


def _without_title(text: str) -> str:
    """A pasted poem without its heading line (「静夜思 李白」, 「《春晓》」), if it has one: a
    first row with no line-end mark, above verse, that is unlike its lines — of another
    length, with a space or brackets in it, or unmarked above marked lines."""
    marks = r"[，,。.！!？?；;]"
    head, newline, rest = text.partition("\n")
    if not newline or re.search(marks, head) or not is_verse(rest.strip()):
        return text
    lengths = [len(line) for line in _lines(rest)]
    common = max(set(lengths), key=lengths.count)
    unlike = (
        len(re.sub(_PUNCT, "", head)) != common
        or re.search(r"[\s《》()（）]", head.strip())
        or re.search(marks, rest)
    )
    return rest.strip() if unlike else text


def is_verse(text: str) -> bool:
    """Lines of verse, not a request: several lines of 3–11 characters, mostly alike in length
    (a 近体) or set out in rows (a 词), and no word of asking in front of them."""
    if _ASKING_START.match(text) or _CONTINUE.search(text[:6]) or _ACROSTIC.search(text):
        return False
    lines = _lines(text)
    if not lines or not all(re.fullmatch(f"{_HAN}+", line) for line in lines):
        return False
    lengths = [len(line) for line in lines]
    if len(lines) == 1:
        return lengths[0] in (20, 28, 40, 56)  # a 近体 pasted without marks
    if len(lines) == 2:
        return lengths[0] == lengths[1] and lengths[0] in (5, 7)
    if "\n" in text.strip():  # set out in rows: a 词 may have lines of two (知否，知否)
        return all(2 <= n <= 11 for n in lengths)
    common = max(set(lengths), key=lengths.count)
    return all(3 <= n <= 11 for n in lengths) and lengths.count(common) >= len(lengths) * 0.6


def guess_tune(text: str, catalog: FormCatalog) -> str | None:
    """The 词牌 whose line lengths the verse has exactly (the best attested, where aliases of
    one tune share the shape): a pasted 词 is then checked as that tune instead of passing as
    杂言 with no rules."""
    lengths = tuple(len(line) for line in _lines(text))
    if len(set(lengths)) == 1:
        return None  # 近体 or 古体: the analyser knows those by shape
    matches = [
        tune
        for tune, shape in catalog.tunes.items()
        if tuple(line["length"] for line in shape["lines"]) == lengths
    ]
    return max(matches, key=lambda tune: catalog.tunes[tune]["examples"], default=None)


def _follow_up(text: str, catalog: FormCatalog) -> FollowUp | None:
    """「再来一首」「改成五律」「用新韵」「这首的格律」; None when the message is a new request."""
    compact = _PARTICLES.sub("", re.sub(_PUNCT, "", text))
    if any(word in compact for word in _ANALYZE_WORDS) and _ANALYZE_LAST.fullmatch(compact):
        return FollowUp("analyze")
    form, scheme, left = _take_form_and_scheme(compact, catalog)
    left = _AROUND_FORM.sub("", _AGAIN.sub("", left.replace(" ", "")))
    if not left and (form or scheme):
        return FollowUp("redo", form=form, scheme=scheme)
    if _AGAIN.fullmatch(compact):
        return FollowUp("again")
    return None


def _take_form_and_scheme(text: str, catalog: FormCatalog) -> tuple[str | None, str | None, str]:
    """(form, scheme, the rest): each form and scheme word taken out with the verb before it.

    A 词牌 of two characters (暗香, 疏影, 天香) is also an everyday topic: it is a form only
    after a verb that names one (用暗香写梅花).
    """
    scheme = None
    for pattern, name in _SCHEMES:
        if pattern.search(text):
            scheme, text = name, pattern.sub(" ", text)
    form = None
    for name in _tune_names(catalog):
        verb = _FORM_VERB if len(name) >= 3 else _CUED_VERB
        found = re.search(f"{verb}(?:词牌)?[「『“《]?{name}[」』”》]?{_FORM_TAIL}", text)
        if found:
            form = catalog.resolve(name)
            text = text[: found.start()] + " " + text[found.end() :]
            break
    if form is None:
        for word, regular in _REGULAR_NAMES.items():
            found = re.search(f"{_FORM_VERB}{word}{_FORM_TAIL}", text)
            if found:
                form = regular
                text = text[: found.start()] + " " + text[found.end() :]
                break
    if form is None:
        found = _GENERIC_CI.search(text)
        if found:
            form = catalog.resolve(DEFAULT_TUNE)
            text = text[: found.start()] + " " + text[found.end() :]
    return form, scheme, text.strip()


@cache
def _tune_names_of(tunes: tuple[str, ...]) -> tuple[str, ...]:
    names = {name for tune in tunes for name in tune.split("・") if len(name) >= 2}
    return tuple(sorted(names, key=len, reverse=True))  # 减字木兰花 before 木兰花


def _tune_names(catalog: FormCatalog) -> tuple[str, ...]:
    return _tune_names_of(tuple(catalog.tunes))


def _request(text: str, catalog: FormCatalog) -> Write:
    form, scheme, rest = _take_form_and_scheme(text, catalog)
    named = rest != text.strip()  # 用如梦令「写」春愁: the verb after a form is asking too
    if _ACROSTIC.search(rest):
        heads = _heads(rest)
        if not heads:
            raise InputError(texts.CHAT_NO_HEADS)
        request = parse_acrostic(f"{heads} {form or ''}", catalog)
    elif _CONTINUE.search(rest):
        request = parse_continue(f"{_first_line(rest)} {form or ''}", catalog)
    else:
        request = PoemRequest(topic=_topic(rest, named), form=form or DEFAULT_FORM)
    if scheme:
        request = request.model_copy(update={"scheme": scheme})
    as_typed = text.split()[0] == request.topic and scheme is None  # 「春江」, 「春江 五律」
    return Write(request, None if as_typed else understood(request), form is not None)


def _heads(text: str) -> str:
    """The characters to hide at the line heads (万事如意 in 「藏头诗：万事如意」)."""
    return _beside(
        text,
        _ACROSTIC,
        after=f"^{_PUNCT}*(?:藏的是|藏|是|为|内容是|内容为)?{_PUNCT}*",
        before=r"^(?:用|把|将|以)|(?:写|作|来|做)(?:成|一首|首|个)?(?:一首)?$",
    )


def _first_line(text: str) -> str:
    """The line to continue from (春眠不觉晓 in 「续写：春眠不觉晓」)."""
    return _beside(text, _CONTINUE, after=f"^(?:一首|一下|下去|这句|这一句|诗)?{_PUNCT}*")


def _beside(text: str, cue: re.Pattern, after: str, before: str = "") -> str:
    """What a cue (藏头诗, 续写) is about: the quoted part, else what follows the cue, else what
    precedes it — with the words that join it to the cue (`after`, `before`) taken off."""
    quoted = _QUOTED.search(text)
    if quoted:
        return re.sub(_PUNCT, "", quoted[1])
    ahead, behind = cue.split(text, maxsplit=1)
    behind = re.sub(after, "", behind)
    ahead = re.sub(before, "", ahead) if before else ahead
    return re.sub(_PUNCT, "", _strip_asking(behind) or _strip_asking(ahead))


def _strip_asking(text: str, asked: bool = False) -> str:
    """Peel the words of asking off both ends (请, 帮我写一首, 关于, …的诗, 吧); `asked`: some
    were there already (a form was named), so a bare verb in front is one of them."""
    text = re.sub(f"^{_PUNCT}+|{_PUNCT}+$", "", text)
    while True:
        before = text
        text = _PREFIXES.sub("", text)
        if asked or text != before:
            text = _VERB_AFTER_ASKING.sub("", text)
        text = _SUFFIXES.sub("", text)
        if text == before:
            break
        asked = True
    if asked:
        text = _POEM_WORD.sub("", text)  # 边塞诗 → 边塞; 写首诗 → nothing: no topic given
    return text.strip()


def _topic(text: str, asked: bool = False) -> str:
    """The topic of a request, as the poem's title: 秋 for 「写一首关于秋天的诗」.

    Of several clauses, the one with words of asking around it carries the topic
    (「春天来了，写一首桃花」 is on 桃花); with none, the clauses together are the topic.
    """
    text = re.sub(r"[「」『』“”‘’\"《》]", "", text)
    for pattern in _EXPLICIT_TOPIC:
        found = pattern.search(text)
        if found:
            return _checked(found[1])
    clauses = [c for c in re.split(r"[,，。!！?？;；\n]", text) if re.sub(_PUNCT, "", c)]
    read = [(_strip_asking(c, asked), _strip_asking(c) != re.sub(_PUNCT, "", c)) for c in clauses]
    read = [(topic, asked) for topic, asked in read if topic]
    if not read:
        raise InputError(texts.CHAT_NO_TOPIC)
    asked = [topic for topic, was_asked in read if was_asked]
    return _checked(asked[0] if asked else "".join(topic for topic, _ in read))


def _checked(topic: str) -> str:
    topic = re.sub(r"\s+", "", topic)
    topic = PLAIN_TOPICS.get(topic, topic)
    if not re.fullmatch(f"{_HAN}+", topic):
        raise InputError(texts.CHAT_NOT_CHINESE)
    if len(topic) > TOPIC_MAX:
        raise InputError(texts.TOPIC_TOO_LONG.format(limit=TOPIC_MAX))
    return topic


def understood(request: PoemRequest) -> str:
    """The one line above the poem that says how the message was read (HTML-safe: the parts
    are Han characters and catalogue names)."""
    if request.acrostic:
        line = texts.UNDERSTOOD_ACROSTIC.format(heads=request.acrostic, form=request.form)
    elif request.first_line:
        line = texts.UNDERSTOOD_CONTINUE.format(first_line=request.first_line, form=request.form)
    else:
        line = texts.UNDERSTOOD.format(topic=request.topic, form=request.form)
    return line + (texts.UNDERSTOOD_XINYUN if request.scheme == "xinyun" else "")
