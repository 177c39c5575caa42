"""`yinshi ask` through a real Redis and a worker; bad input and queue errors as one line."""

import json

import pytest
import redis
from serving_fakes import IMPOSSIBLE, FakeEngine

from yinshi import keys
from yinshi.cli import main


@pytest.fixture
def queue(redis_server, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    return redis_server


def test_ask_prints_what_poem_prints(queue, start_worker, capsys):
    start_worker(FakeEngine())
    assert main(["ask", "春江", "--n", "2", "--json", "--fresh"]) == 0
    poems = json.loads(capsys.readouterr().out)
    assert [poem["title"] for poem in poems] == ["春江", "春江"]
    assert poems[0]["lines"] != poems[1]["lines"]
    assert {"title", "lines", "form", "conforms"} <= set(poems[0])

    assert main(["ask", "春江"]) == 0  # from the cache this time, printed for people
    text = capsys.readouterr().out
    assert text.startswith("春江\n") and "春江第" in text and "合律" in text


@pytest.mark.parametrize(
    "argv",
    [
        ["ask", ""],
        ["ask", "春江", "--n", "9"],
        ["ask", "春江" * 11],
        ["ask", "春江", "--acrostic", "春"],
        ["ask", "春江", "--timeout", "0"],
    ],
)
def test_bad_input_is_one_line(queue, argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("yinshi: error: ") and err.count("\n") == 1


def test_no_worker_times_out_with_a_hint(queue, capsys):
    assert main(["ask", "春江", "--timeout", "0.3"]) == 2
    err = capsys.readouterr().err
    assert "超时" in err and "yinshi worker" in err and err.count("\n") == 1


def test_a_refused_request_is_one_line(queue, start_worker, capsys):
    start_worker(FakeEngine())
    assert main(["ask", IMPOSSIBLE]) == 2
    err = capsys.readouterr().err
    assert "藏头字数不符" in err and err.count("\n") == 1


def test_a_full_queue_is_busy_at_once(queue, monkeypatch, capsys):
    monkeypatch.setenv("YINSHI_MAX_QUEUE", "1")
    waiting = redis.Redis.from_url(queue.url)
    waiting.xadd(keys.REQUESTS, {"job": "{}"})  # no worker runs: it stays queued
    waiting.close()
    assert main(["ask", "春江", "--timeout", "30"]) == 2
    err = capsys.readouterr().err
    assert "正忙" in err and err.count("\n") == 1
