"""Text shape: splitting is lossless, normalising always closes lines, forms follow the shape."""

from hypothesis import given
from hypothesis import strategies as st

from yinshi.prosody.forms import FORMS, form_from_shape
from yinshi.prosody.text import LINE_END, is_cjk, normalize, split_lines, strip_mark

HAN = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
MARK = st.sampled_from(LINE_END)
MESSY = st.text(
    alphabet=st.one_of(HAN, MARK, st.sampled_from(" \n\t,.?!;:　")), min_size=0, max_size=60
)


@given(st.text(alphabet=st.one_of(HAN, MARK), max_size=80))
def test_split_lines_is_lossless(body):
    lines = split_lines(body)
    assert "".join(lines) == body
    assert all(lines)
    assert all(line[-1] in LINE_END for line in lines[:-1])
    assert all(not any(c in LINE_END for c in line[:-1]) for line in lines)


@given(MESSY)
def test_normalized_lines_all_end_in_a_mark(text):
    body = normalize(text)
    assert normalize(body) == body
    assert not any(c.isspace() for c in body)
    for line in split_lines(body):
        assert line[-1] in LINE_END
        assert strip_mark(line)  # no empty line: mark runs collapse
        assert all(is_cjk(c) for c in strip_mark(line))


def _body(lengths, chars="山", marks="，。"):
    return "".join(chars * n + marks[i % len(marks)] for i, n in enumerate(lengths))


def test_regular_shapes():
    assert form_from_shape(_body([5] * 4)) == "五绝"
    assert form_from_shape(_body([7] * 4)) == "七绝"
    assert form_from_shape(_body([5] * 8)) == "五律"
    assert form_from_shape(_body([7] * 8)) == "七律"
    assert form_from_shape(_body([5] * 12)) == "排律"
    assert form_from_shape(_body([7] * 6)) == "七古"
    assert form_from_shape(_body([4, 5, 7])) == "杂言"
    assert form_from_shape("") == "其他"


LENGTHS = st.lists(st.integers(min_value=1, max_value=12), min_size=1, max_size=16)


@given(LENGTHS, st.randoms())
def test_form_ignores_line_order(lengths, random):
    shuffled = list(lengths)
    random.shuffle(shuffled)
    assert form_from_shape(_body(lengths)) == form_from_shape(_body(shuffled))


@given(LENGTHS, HAN, st.text(alphabet=MARK, min_size=1, max_size=3))
def test_form_depends_only_on_line_lengths(lengths, char, marks):
    form = form_from_shape(_body(lengths))
    assert form in FORMS
    assert form_from_shape(_body(lengths, chars=char, marks=marks)) == form


@given(st.sampled_from([5, 7]), st.integers(min_value=1, max_value=20))
def test_uniform_five_or_seven_is_never_free_verse(length, count):
    form = form_from_shape(_body([length] * count))
    assert form in ("五绝", "七绝", "五律", "七律", "排律", "五古", "七古")
    assert (form in ("五绝", "七绝", "五律", "七律")) == (count in (4, 8))
