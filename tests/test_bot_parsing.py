"""What users type → poem requests and daily settings, and the input limits."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.parsing import (
    ANALYZE_MAX,
    TOPIC_MAX,
    FormCatalog,
    InputError,
    check_analyze_text,
    parse_acrostic,
    parse_continue,
    parse_daily,
    parse_poem,
)

CATALOG = FormCatalog.load()


@pytest.mark.parametrize(
    ("text", "topic", "form"),
    [
        ("春江", "春江", "七绝"),
        ("春江 五律", "春江", "五律"),
        ("五律 春江", "春江", "五律"),
        ("春江 如梦令", "春江", "如梦令"),
        ("如梦令 春江", "春江", "如梦令"),
        ("秋夜 七言律诗", "秋夜", "七律"),
        ("赤壁 怀古", "赤壁 怀古", "七绝"),  # 怀古 is a topic word, not a form
    ],
)
def test_form_first_or_last(text, topic, form):
    request = parse_poem(text, CATALOG)
    assert (request.topic, request.form) == (topic, form)


def test_unknown_form_lists_the_supported_ones():
    with pytest.raises(InputError) as raised:
        parse_poem("春江 浪淘沙慢", CATALOG)
    message = str(raised.value)
    assert "浪淘沙慢" in message
    assert all(form in message for form in ("五绝", "七绝", "五律", "七律", "如梦令"))


def test_a_form_alone_is_not_a_topic():
    with pytest.raises(InputError, match="题目"):
        parse_poem("五律", CATALOG)


def test_topic_length_limit():
    assert parse_poem("春" * TOPIC_MAX, CATALOG).topic == "春" * TOPIC_MAX
    with pytest.raises(InputError, match=str(TOPIC_MAX)):
        parse_poem("春" * (TOPIC_MAX + 1), CATALOG)


@given(st.text(alphabet="春江花月夜山水风雨<>&\"'ab", min_size=1, max_size=TOPIC_MAX))
def test_form_position_does_not_matter(topic):
    first = parse_poem(f"五律 {topic}", CATALOG)
    last = parse_poem(f"{topic} 五律", CATALOG)
    assert first == last
    assert first.topic == topic  # raw: escaping is the renderer's job


@pytest.mark.parametrize(("heads", "form"), [("春江花月", "七绝"), ("春江花月夜色正好", "七律")])
def test_acrostic_default_form_by_head_count(heads, form):
    request = parse_acrostic(heads, CATALOG)
    assert (request.acrostic, request.form) == (heads, form)


def test_acrostic_other_counts_take_a_tune_with_as_many_lines():
    request = parse_acrostic("春江花月夜", CATALOG)
    assert CATALOG.lines(request.form) == 5
    assert request.form in CATALOG.tunes


@pytest.mark.parametrize("text", ["春", "春江花月夜色正好啊", "spring", "春江 花月 五律"])
def test_acrostic_bad_heads_or_mismatched_form(text):
    with pytest.raises(InputError):
        parse_acrostic(text, CATALOG)


def test_continue_picks_the_form_from_the_line_length():
    assert parse_continue("白日依山尽", CATALOG).form == "五绝"
    assert parse_continue("朝辞白帝彩云间，", CATALOG).first_line == "朝辞白帝彩云间"
    assert parse_continue("白日依山尽 五律", CATALOG).form == "五律"
    with pytest.raises(InputError):
        parse_continue("白日依山尽 七律", CATALOG)
    with pytest.raises(InputError):
        parse_continue("白日依山", CATALOG)


def test_analyze_length_limit():
    assert check_analyze_text("诗" * ANALYZE_MAX) == "诗" * ANALYZE_MAX
    with pytest.raises(InputError, match=str(ANALYZE_MAX)):
        check_analyze_text("诗" * (ANALYZE_MAX + 1))


def test_daily_options_in_any_order():
    command = parse_daily("on 五律 Europe/Berlin 7:30", CATALOG, "Asia/Shanghai")
    assert (command.action, command.at.strftime("%H:%M")) == ("on", "07:30")
    assert (command.timezone, command.form) == ("Europe/Berlin", "五律")
    default = parse_daily("on", CATALOG, "Asia/Tokyo")
    assert (default.at.hour, default.timezone, default.form) == (8, "Asia/Tokyo", "七绝")
    assert parse_daily("", CATALOG, "UTC").action == "show"
    assert parse_daily("off", CATALOG, "UTC").action == "off"
    assert not command.card and parse_daily("on 诗笺 08:00", CATALOG, "UTC").card


@pytest.mark.parametrize("text", ["on 25:00", "on Mars/Olympus", "sometimes", "on 浪淘沙慢"])
def test_daily_bad_options(text):
    with pytest.raises(InputError):
        parse_daily(text, CATALOG, "Asia/Shanghai")
