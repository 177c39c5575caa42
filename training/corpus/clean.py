"""Turn a source's paragraphs into one clean body, or say why the work is dropped.

The package mixes editions: editors' notes in brackets (variant readings, line numbers, stage
directions in 元曲), □ for characters lost in the source, ``{上休下鳥}`` for characters Unicode
lacks, and OCR debris. A note is cut out when the verse around it is intact; a work with a
missing or unreadable character is dropped whole, because a poem with a hole in it teaches the
model a wrong line length.
"""

import re
from functools import cache

from yinshi.prosody.text import LINE_END, is_cjk, normalize

PLACEHOLDERS = "□○■●◎△囗"
"""Marks that stand for a character the source could not read (囗 is a Han character, but in
this corpus only ever a stand-in: ``囗囗囗囗囗囗囗`` for a lost line)."""

_OPEN = "（(〔【[〖［"
_CLOSE = "）)〕】]〗］"
_BRACKET = re.compile(f"[{re.escape(_OPEN + _CLOSE)}]")
_NOTE = re.compile(f"[{re.escape(_OPEN)}][^{re.escape(_OPEN + _CLOSE)}]*[{re.escape(_CLOSE)}]")
_QUOTES = str.maketrans("", "", "“”‘’「」『』《》〈〉\"'")
_INNER_SPACE = re.compile(r"\s+")
_ITERATION_MARK = re.compile(r"(.)々")
_TITLE_ONLY = ("詩題", "诗题")

is_han = cache(is_cjk)


def clean_title(title: str) -> str:
    """A title or author without notes and with single spaces."""
    return " ".join(strip_notes(title).split())


def strip_notes(text: str) -> str:
    """Remove bracketed notes, innermost first, so notes nested in notes go too."""
    while True:
        stripped = _NOTE.sub("", text)
        if stripped == text:
            return text
        text = stripped


def clean_body(paragraphs: list[str]) -> tuple[str, None] | tuple[None, str]:
    """``(body, None)`` with a normalised body, or ``(None, reason)`` when the work is dropped.

    Whitespace inside a paragraph separates lines (弟子规 is written ``弟子規 聖人訓 …``), so it
    becomes a line break, which ``normalize`` turns into a line end. 全宋诗 lists lost poems as
    ``詩題：…首句：…`` (a title and a first line): those are not bodies.
    """
    text = "\n".join(_INNER_SPACE.sub("\n", p.strip()) for p in paragraphs)
    if "{" in text or "}" in text:
        return None, "unencodable"
    text = strip_notes(text)
    if _BRACKET.search(text):
        return None, "unbalanced_note"
    body = normalize(_ITERATION_MARK.sub(r"\1\1", text.translate(_QUOTES)))
    if body.startswith(_TITLE_ONLY):
        return None, "title_only"
    chars = set(body)
    if chars.intersection(PLACEHOLDERS):
        return None, "placeholder"
    others = {char for char in chars if not is_han(char)}
    if others == chars:
        return None, "empty"
    if others.difference(LINE_END):
        return None, "non_cjk"
    return body, None
