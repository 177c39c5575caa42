"""Text shape shared by the corpus pipeline, the analyser and the generator.

A poem body is a run of 句 (lines), each ending in one full-width punctuation mark. Keeping the
mark on its line makes splitting lossless: ``"".join(split_lines(body)) == body``.
"""

import re

LINE_END = "，。？！；、："
"""Marks that close a 句. `、` and `：` appear in 词 and 曲; both still end a line."""

_HALF_TO_FULL = str.maketrans(
    {",": "，", ".": "。", "?": "？", "!": "！", ";": "；", ":": "：", "．": "。", "﹐": "，"}
)
_SPACES = re.compile(r"\s+")
_MARK_RUN = re.compile(f"([{LINE_END}])[{LINE_END}]+")
CJK_RANGES = "\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0003134f"
"""Han characters: the BMP blocks and the supplementary ideograph planes, as a regex class body."""
_CJK = re.compile(f"[{CJK_RANGES}]")


def is_cjk(char: str) -> bool:
    """True for a Han character (BMP blocks and the supplementary ideograph planes)."""
    return bool(_CJK.fullmatch(char))


def normalize(text: str) -> str:
    """Full-width marks, no whitespace, one mark between lines, a closing mark at the end.

    Users paste poems with half-width commas, spaces and line breaks; the corpus mixes
    styles. Line breaks become line ends so that an unpunctuated, one-line-per-row poem
    still splits into its lines.
    """
    text = text.translate(_HALF_TO_FULL).strip()
    text = re.sub(r"\s*\n\s*", "，", text)
    text = _SPACES.sub("", text)
    text = _MARK_RUN.sub(r"\1", text)
    text = text.lstrip(LINE_END)
    if text and text[-1] not in LINE_END:
        text += "。"
    return text


def split_lines(body: str) -> list[str]:
    """Split a normalised body into 句, each keeping its closing mark."""
    lines: list[str] = []
    start = 0
    for i, char in enumerate(body):
        if char in LINE_END:
            lines.append(body[start : i + 1])
            start = i + 1
    if start < len(body):
        lines.append(body[start:])
    return lines


def strip_mark(line: str) -> str:
    """The characters of a line without its closing mark."""
    return line.rstrip(LINE_END)
