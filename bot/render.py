"""Replies as Telegram HTML: poems, 格律 analyses, keyboards.

Every string that came from a user or the model is escaped here (`html.escape`), and every
reply is built from whole blocks that are dropped from the end, never cut mid-tag, until it
fits Telegram's 4096 characters (counted, as Telegram does, in UTF-16 code units).
"""

from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import texts
from yinshi.prosody import Analysis, ProsodyInputError, analyze
from yinshi.prosody.text import LINE_END
from yinshi.protocol import Poem, PoemRequest

MAX_MESSAGE = 4096
MAX_CAPTION = 1024
"""A photo's caption (the card's poem text) is limited to 1024 characters."""
MAX_VIOLATIONS = 12
SENTENCE_END = "。！？；"

# Callback data prefixes: "<action>:<record id>" stays far below the 64-byte limit.
AGAIN, ANALYZE, ACROSTIC, EXAMPLE = "again", "analyze", "acrostic", "example"
CARD = "card"
"""The 🖼 button: the poem as a picture card (`bot.card`)."""


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def fit(blocks: list[str], limit: int = MAX_MESSAGE, separator: str = "\n") -> str:
    """Join whole blocks while they fit; mark the cut with an ellipsis block."""
    kept: list[str] = []
    for block in blocks:
        if utf16_len(separator.join([*kept, block, "……"])) > limit:
            return separator.join([*kept, "……"])
        kept.append(block)
    return separator.join(kept)


def poem_body(poem: Poem) -> list[str]:
    """The poem as rows: a row ends at a sentence mark, so a 绝句 reads as two couplets."""
    rows, row = [], ""
    for index, line in enumerate(poem.lines):
        if line[-1:] not in LINE_END:
            line += "。" if index % 2 else "，"
        row += line
        if line[-1] in SENTENCE_END:
            rows.append(row)
            row = ""
    if row:
        rows.append(row)
    return rows


def poem_text(poem: Poem) -> str:
    """Plain text of the body, for analysis."""
    return "".join(poem_body(poem))


def poem_html(poem: Poem, header: str | None = None, limit: int = MAX_MESSAGE) -> str:
    meta = [poem.form if not poem.tune or poem.tune == poem.form else f"词 · {poem.tune}"]
    if poem.template:
        meta.append(poem.template)
    rhyme = poem.analysis.get("rhyme_group_name") or poem.rhyme_group  # 下平十一尤, not 尤
    if rhyme:
        meta.append(texts.RHYME.format(group=rhyme))
    footer = escape(" · ".join(meta))
    if not poem.conforms:
        footer += texts.NOT_CONFORMING
    blocks = [header] if header else []
    blocks += [f"<b>{escape(poem.title)}</b>", ""]
    blocks += [escape(row) for row in poem_body(poem)]
    blocks += ["", f"<i>{footer}</i>"]
    return fit(blocks, limit)


def poem_caption(poem: Poem) -> str:
    """The poem's text under its picture card: the same as its message, in a caption's room."""
    return poem_html(poem, limit=MAX_CAPTION)


def poem_keyboard(record_id: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(texts.BUTTON_AGAIN, callback_data=f"{AGAIN}:{record_id}"),
                InlineKeyboardButton(texts.BUTTON_ANALYZE, callback_data=f"{ANALYZE}:{record_id}"),
                InlineKeyboardButton(texts.BUTTON_ACROSTIC, callback_data=ACROSTIC),
                InlineKeyboardButton(texts.BUTTON_CARD, callback_data=f"{CARD}:{record_id}"),
            ]
        ]
    )


def examples_keyboard(examples: list[str]) -> InlineKeyboardMarkup:
    """One button per example command; tapping it runs the example."""
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(text, callback_data=f"{EXAMPLE}:{i}")]
            for i, text in enumerate(examples)
        ]
    )


def record_analysis_html(request: PoemRequest, poem: Poem) -> str:
    """The 格律 of one of our poems, judged against the form and scheme it was written in."""
    try:
        analysis = analyze(poem_text(poem), form=request.form, scheme=request.scheme)
    except ProsodyInputError as error:
        return escape(str(error))
    return analysis_html(analysis)


def analysis_html(analysis: Analysis) -> str:
    """Each line with its tone marks under it, the rhyme group, then what breaks the rules."""
    form = analysis.form if not analysis.tune else f"词 · {analysis.tune}"
    scheme = texts.ANALYSIS_SCHEME.get(analysis.scheme, analysis.scheme)
    title = texts.ANALYSIS_TITLE.format(form=escape(form)) + f" · {escape(scheme)}"
    meta = [escape(part) for part in (analysis.template, analysis.rhyme_group_name) if part]
    blocks = [title + (" · " + " · ".join(meta) if meta else ""), ""]
    for line, marks in zip(analysis.lines, analysis.marks, strict=True):
        blocks.append(f"{escape(line)}\n<code>{escape(marks)}</code>")
    blocks.append("")
    errors = [v for v in analysis.violations if v.severity == "error"]
    if analysis.conforms:
        blocks.append(texts.ANALYSIS_OK)
    else:
        blocks.append(texts.ANALYSIS_VIOLATIONS.format(count=len(errors)))
    shown = analysis.violations[:MAX_VIOLATIONS]
    for violation in shown:
        where = f"第{violation.line}句" if violation.line else "全篇"
        if violation.pos:
            where += f"第{violation.pos}字"
        icon = "•" if violation.severity == "error" else "◦"
        blocks.append(f"{icon} {where}：{escape(violation.message)}")
    if len(analysis.violations) > len(shown):
        blocks.append(texts.ANALYSIS_MORE.format(count=len(analysis.violations) - len(shown)))
    blocks.append(texts.ANALYSIS_LEGEND)
    return fit(blocks)
