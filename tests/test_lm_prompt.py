"""The conditional text format shared by training and inference."""

import pytest

from model.prompt import (
    BASE_TOKENS,
    BOS,
    EOS,
    MAX_TITLE_CHARS,
    SEP,
    clean_title,
    control_tokens,
    prompt_text,
    train_text,
)
from yinshi.prosody.forms import FORMS


def test_prompt_is_bos_form_title_sep():
    assert prompt_text("七绝", "春江") == f"{BOS}<七绝>春江{SEP}"


def test_tune_token_follows_the_form_token():
    assert prompt_text("词", "春景", tune="浣溪沙") == f"{BOS}<词><浣溪沙>春景{SEP}"


def test_train_text_is_prompt_then_body_then_eos():
    record = {"form": "五绝", "title": "登鹳雀楼", "tune": None, "text": "白日依山尽，黄河入海流。"}
    assert train_text(record) == f"{BOS}<五绝>登鹳雀楼{SEP}白日依山尽，黄河入海流。{EOS}"


def test_rare_tune_is_written_with_the_form_token_alone():
    record = {"form": "词", "title": "秋思", "tune": "望远行", "text": "一二三四，"}
    assert "<望远行>" in train_text(record)
    assert "<望远行>" not in train_text(record, tunes={"浣溪沙"})
    assert train_text(record, tunes={"浣溪沙"}).startswith(f"{BOS}<词>秋思{SEP}")


def test_title_cannot_smuggle_control_tokens_or_whitespace():
    assert clean_title("帝京篇 <sep>十首\t一") == "帝京篇sep十首一"
    assert len(clean_title("长" * 100)) == MAX_TITLE_CHARS


def test_unknown_form_is_refused():
    with pytest.raises(ValueError, match="unknown form"):
        prompt_text("十四行诗", "x")


def test_control_tokens_start_with_the_base_tokens_and_cover_every_form():
    tokens = control_tokens(["浣溪沙"])
    assert tuple(tokens[: len(BASE_TOKENS)]) == BASE_TOKENS
    assert all(f"<{form}>" in tokens for form in FORMS)
    assert tokens[-1] == "<浣溪沙>"
    assert len(set(tokens)) == len(tokens)
