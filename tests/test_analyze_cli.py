"""`yinshi analyze`: human and JSON output, stdin, and one-line errors with exit status 2."""

import io
import json

import pytest

from yinshi.cli import main

POEM = "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。"


def test_human_output_marks_under_each_line(capsys):
    assert main(["analyze", POEM]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:8] == [
        "白日依山尽", "●●○○●", "黄河入海流", "○○●●○",
        "欲穷千里目", "●○○●●", "更上一层楼", "⊙●●○○",
    ]  # fmt: skip
    text = "\n".join(out)
    assert "五绝" in text and "仄起首句不入韵" in text and "下平十一尤" in text
    assert "合律" in text and "不合律" not in text


def test_human_output_lists_violations_with_place(capsys):
    assert main(["analyze", "床前明月光，疑是地上霜。举头望明月，低头思故乡。"]) == 0
    text = capsys.readouterr().out
    assert "不合律：2 处" in text
    assert "第2句第4字" in text and "第3句第2字" in text


def test_json_output(capsys):
    assert main(["analyze", POEM, "--json", "--scheme", "xinyun"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["form"] == "五绝" and data["conforms"] is True
    assert data["scheme"] == "xinyun" and data["rhyme_group"] == "尤"
    assert data["lines"][0] == "白日依山尽" and len(data["marks"]) == 4
    assert data["violations"] == []


def test_json_violation_shape(capsys):
    assert main(["analyze", "白日依山尽，黄河入海流。欲穷千里目，更上一层天。", "--json"]) == 0
    (violation,) = json.loads(capsys.readouterr().out)["violations"]
    assert violation["line"] == 4 and violation["pos"] == 5 and violation["kind"] == "rhyme"
    assert violation["message"] and violation["severity"] == "error"


def test_form_option_checks_a_ci(capsys):
    text = "昨夜雨疏风骤，浓睡不消残酒。试问卷帘人，却道海棠依旧。知否，知否？应是绿肥红瘦。"
    assert main(["analyze", text, "--form", "如梦令"]) == 0
    assert "词 · 如梦令" in capsys.readouterr().out


def test_ancient_form_says_no_rules(capsys):
    assert main(["analyze", POEM, "--form", "五古"]) == 0
    assert "不拘格律" in capsys.readouterr().out


def test_text_from_stdin(capsys, monkeypatch):
    monkeypatch.setattr(
        "sys.stdin", io.StringIO("白日依山尽\n黄河入海流\n欲穷千里目\n更上一层楼\n")
    )
    assert main(["analyze", "-", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["conforms"] is True


@pytest.mark.parametrize(
    "argv",
    [
        ["analyze", ""],
        ["analyze", "hello, world"],
        ["analyze", "🌙🌙🌙"],
        ["analyze", "床前明月光🌙"],
        ["analyze", "山" * 1001],
        ["analyze", POEM, "--form", "五言"],
        ["analyze", POEM, "--form", "词"],
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1
    assert captured.err.startswith("yinshi: error: ")
