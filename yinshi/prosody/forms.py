"""Poem forms and how to tell them from a poem's shape."""

from .text import split_lines, strip_mark

REGULAR_FORMS = ("五绝", "七绝", "五律", "七律")
"""近体诗: the forms with full 格律 rules."""

FORMS = (*REGULAR_FORMS, "排律", "五古", "七古", "杂言", "词", "曲", "其他")
"""Every value of a corpus record's ``form``."""

_REGULAR = {(4, 5): "五绝", (4, 7): "七绝", (8, 5): "五律", (8, 7): "七律"}


def form_from_shape(body: str) -> str:
    """Classify a shi body by line count and line lengths alone.

    词 and 曲 are not recognisable by shape: the caller knows them from the source (a tune
    name, the 元曲 collection) and does not ask here.
    """
    lengths = [len(strip_mark(line)) for line in split_lines(body)]
    if not lengths or 0 in lengths:
        return "其他"
    uniform = len(set(lengths)) == 1
    count, length = len(lengths), lengths[0]
    if uniform and (count, length) in _REGULAR:
        return _REGULAR[(count, length)]
    if uniform and length in (5, 7):
        if count >= 10 and count % 2 == 0:
            return "排律"
        return "五古" if length == 5 else "七古"
    if count >= 2 and all(3 <= n <= 11 for n in lengths):
        return "杂言"
    return "其他"


def nearest_regular(lengths: list[int]) -> str | None:
    """The 近体 form a poem nearly has: four or eight lines of five or seven characters, one
    line in four a character or two off. Such a poem is a 五绝 with a slip, not 杂言 with no
    rules: judged against that form, the analysis says which line has a character too many."""
    for (count, size), form in _REGULAR.items():
        off = [n for n in lengths if n != size]
        near = all(abs(n - size) <= 2 for n in off)
        if len(lengths) == count and 0 < len(off) <= count // 4 and near:
            return form
    return None
