"""`yinshi poem`: poems on stdout, JSON on request, one clear line for every bad input."""

import json

import pytest
import torch

from yinshi.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def one_thread():
    """On a busy 2-core machine two intra-op threads spin against each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_prints_poems_with_their_form(tiny_poet, capsys):
    assert main(["poem", "春江", "--model", str(tiny_poet), "--n", "2", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert out.count("春江\n") == 2 and out.count("七绝 · ") == 2 and "合律 ✓" in out


def test_json_lists_poems(tiny_poet, capsys):
    args = ["poem", "秋月", "--model", str(tiny_poet), "--form", "七律", "--seed", "1"]
    assert main([*args, "--acrostic", "秋月春风夏雨冬雪", "--json", "--scheme", "pingshui"]) == 0
    poems = json.loads(capsys.readouterr().out)
    assert len(poems) == 1
    poem = poems[0]
    assert poem["title"] == "秋月" and poem["form"] == "七律" and poem["conforms"] is True
    assert "".join(line[0] for line in poem["lines"]) == "秋月春风夏雨冬雪"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--acrostic", "春江花"], "藏头字数"),
        (["--first-line", "日出江花红", "--form", "五绝"], "不合五绝"),
        (["--n", "20"], "n"),
        (["--form", "十四行"], "未知体裁"),
    ],
)
def test_bad_input_is_one_line(tiny_poet, capsys, args, message):
    assert main(["poem", "春江", "--model", str(tiny_poet), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_missing_model_says_how_to_get_one(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("model.checkpoint.DEFAULT_DIR", tmp_path / "none")
    monkeypatch.delenv("YINSHI_MODEL_DIR", raising=False)
    assert main(["poem", "春江"]) == 2
    assert "make model" in capsys.readouterr().err
