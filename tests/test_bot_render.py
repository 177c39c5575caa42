"""Replies as Telegram HTML: escaped, parseable by Telegram's rules, never over 4096."""

import pytest

from bot import render
from fake_telegram.bot_api import ApiError, html_to_text, utf16_len
from yinshi.prosody import analyze
from yinshi.protocol import Poem


def make_poem(title="春江", lines=None, form="七绝", **fields) -> Poem:
    lines = lines or [
        "春江潮水连海平，",
        "海上明月共潮生。",
        "滟滟随波千万里，",
        "何处春江无月明。",
    ]
    return Poem(
        title=title, lines=lines, form=form, conforms=True, analysis={}, score=-1.0, **fields
    )


def test_poem_reads_as_couplets_with_its_form_and_rhyme():
    html = render.poem_html(make_poem(rhyme_group="下平八庚", template="平起首句入韵"))
    text = html_to_text(html)
    assert "春江潮水连海平，海上明月共潮生。\n滟滟随波千万里，何处春江无月明。" in text
    assert "七绝" in text and "下平八庚" in text and "平起首句入韵" in text


def test_user_text_is_escaped():
    html = render.poem_html(make_poem(title="<script>alert(1)</script>&amp;"))
    assert "<script>" not in html
    assert "<script>alert(1)</script>&amp;" in html_to_text(html)


def test_unescaped_html_is_what_telegram_refuses():
    with pytest.raises(ApiError, match="parse entities"):
        html_to_text("<b>春江</b><script>x</script>")
    with pytest.raises(ApiError):
        html_to_text("a < b & c")


def test_a_huge_poem_is_cut_at_a_row_and_fits():
    poem = make_poem(lines=["春江潮水连海平。"] * 2000, form="杂言")
    html = render.poem_html(poem)
    assert utf16_len(html) <= render.MAX_MESSAGE
    assert html_to_text(html).endswith("……")


def test_analysis_of_the_longest_allowed_text_fits():
    text = "，".join(["春眠不觉晓"] * 66) + "。"  # 396 characters of a shapeless poem
    html = render.analysis_html(analyze(text))
    assert utf16_len(html) <= render.MAX_MESSAGE
    html_to_text(html)


def test_analysis_shows_marks_and_violations():
    html = render.analysis_html(
        analyze("白日依山尽，黄河入海流。欲穷千里目，更上一层楼。", form="七绝")
    )
    text = html_to_text(html)
    assert "白日依山尽" in text and "应为7字" in text


def test_callback_data_fits_in_64_bytes():
    keyboard = render.poem_keyboard("A" * 8)
    for button in keyboard.inline_keyboard[0]:
        assert len(button.callback_data.encode()) <= 64
