"""近体 rules as data: templates, the tone strings a line may take, and per-position masks."""

from itertools import product

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yinshi.prosody import allowed_tones, line_variants, templates
from yinshi.prosody.rules import FORM_SHAPES, faults, line_pattern, loose

FIVE = ["仄仄平平仄", "平平仄仄平", "平平平仄仄", "仄仄仄平平"]
SEVEN = ["平平仄仄平平仄", "仄仄平平仄仄平", "仄仄平平平仄仄", "平平仄仄仄平平"]
ALL = FIVE + SEVEN


def test_seven_character_lines_prefix_the_opposite_two():
    for five, seven in zip(FIVE, SEVEN, strict=True):
        assert seven[2:] == five
        assert seven[0] == seven[1] != five[0]


@pytest.mark.parametrize("form", list(FORM_SHAPES))
def test_four_templates_per_form(form):
    count, length = FORM_SHAPES[form]
    found = templates(form)
    assert sorted(t.name for t in found) == sorted(
        ["平起首句入韵", "平起首句不入韵", "仄起首句入韵", "仄起首句不入韵"]
    )
    for template in found:
        assert len(template.base) == len(template.lines) == count
        assert all(len(p) == length and p in ALL for p in template.base)
        assert template.name[0] == template.base[0][1]  # 平起/仄起: the 2nd character
        first_rhymes = "不入韵" not in template.name
        assert template.rhyme_lines == tuple(
            i for i in range(count) if i % 2 == 1 or (i == 0 and first_rhymes)
        )
        for i in range(count):
            assert (template.base[i][-1] == "平") == (i in template.rhyme_lines)
            assert template.lines[i] == loose(template.base[i])
            if i % 2 == 1:  # 对
                assert template.base[i][1] != template.base[i - 1][1]
            elif i > 0:  # 粘
                assert template.base[i][1] == template.base[i - 1][1]


def test_well_known_templates():
    by_name = {t.name: t for t in templates("五绝")}
    assert by_name["仄起首句不入韵"].base == (
        "仄仄平平仄",
        "平平仄仄平",
        "平平平仄仄",
        "仄仄仄平平",
    )
    assert by_name["平起首句入韵"].lines == ("中平中仄平", "中仄中平平", "中仄中平仄", "中平中仄平")
    assert templates("七律")[0].base[0] == "平平仄仄仄平平"


def test_templates_refuse_other_forms():
    with pytest.raises(ValueError):
        templates("五古")


@pytest.mark.parametrize("pattern", ALL)
def test_every_variant_keeps_the_fixed_positions(pattern):
    variants = line_variants(pattern)
    assert pattern in variants
    for tones in variants:
        assert len(tones) == len(pattern) and tones[-1] == pattern[-1]
        if tones[-5:] != "平平仄平仄":  # 特拗 moves the 4th (七言 6th) character
            assert all(tones[j] == pattern[j] for j in range(1, len(pattern), 2))


def test_known_exceptions():
    assert "仄平仄仄平" not in line_variants("平平仄仄平")  # 孤平
    assert "仄平平仄平" in line_variants("平平仄仄平")  # 孤平拗救
    assert "仄仄仄平仄仄平" not in line_variants("仄仄平平仄仄平")  # 七言孤平
    assert "平仄平平平" not in line_variants("仄仄仄平平")  # 三平尾
    assert "平平仄平仄" in line_variants("平平平仄仄")  # 特拗
    assert "仄平仄平仄" not in line_variants("平平平仄仄")  # 特拗 needs 平 first
    assert "仄仄平平仄平仄" in line_variants("仄仄平平平仄仄")  # 七言特拗
    assert "平平仄仄仄" not in line_variants("平平平仄仄")  # 三仄尾: left to warnings
    assert faults("平平平仄仄", "平平仄仄仄") == ((2, "san_ze"),)
    assert "仄仄平仄仄" not in line_variants("仄仄平平仄")  # 大拗: only with the next line
    assert faults("仄仄平平仄", "仄仄平仄仄", rescued=True) == ()


@pytest.mark.parametrize("pattern", ALL)
def test_variants_are_exactly_the_fault_free_strings(pattern):
    for free in product("平仄", repeat=len(pattern) - 1):
        tones = "".join(free) + pattern[-1]
        assert (tones in line_variants(pattern)) == (faults(pattern, tones) == ())


@given(st.sampled_from(ALL), st.data())
def test_allowed_tones_walk_to_a_variant(pattern, data):
    """Choosing any allowed tone at every step always ends in a variant, and can reach all."""
    prefix = ""
    while len(prefix) < len(pattern):
        allowed = allowed_tones(pattern, prefix)
        assert allowed
        prefix += data.draw(st.sampled_from(sorted(allowed)))
    assert prefix in line_variants(pattern)
    assert allowed_tones(pattern, prefix) == set()


def test_allowed_tones_depend_on_the_prefix():
    # 平平仄仄平: a 仄 first character forces 平 at position 3 (else 孤平).
    assert allowed_tones("平平仄仄平", "") == {"平", "仄"}
    assert allowed_tones("平平仄仄平", "仄平") == {"平"}
    assert allowed_tones("平平仄仄平", "平平") == {"平", "仄"}


def test_line_pattern_by_start_and_end():
    assert line_pattern(5, "仄", "仄") == "仄仄平平仄"
    assert line_pattern(7, "平", "平") == "平平仄仄仄平平"
    with pytest.raises(ValueError):
        line_pattern(6, "平", "平")
