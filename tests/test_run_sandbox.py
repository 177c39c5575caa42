"""`yinshi run` as a user starts it: a subprocess with Redis, a worker (the tiny random model)
and the bot, talking to the fake Bot API behind the sandbox chat page.

One `yinshi run` serves the module (torch and the model load once); the page is driven over
its HTTP API and, where Chromium is installed, in a headless browser. The last test stops it.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from processes import alive

from bot import texts

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
VERSE = re.compile(r"[^\s，。？！；：·]{5,7}[，。？！；]")
"""One 句 of a 五言/七言 poem; the bot shows a couplet to a line."""
STARTUP_S = 120


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def post_json(url: str, payload: dict):
    request = urllib.request.Request(
        url, json.dumps(payload).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def verses(text: str) -> list[str]:
    return VERSE.findall(text)


def poems(messages: list[dict]) -> list[dict]:
    """The bot's poem messages: the ones with a 换一首 button."""
    return [
        m for m in messages if any("again:" in (b["data"] or "") for r in m["buttons"] for b in r)
    ]


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.fixture(scope="module")
def yinshi_run(module_redis_server, tiny_poet, tmp_path_factory):
    """A running `yinshi run`: (process, page URL, start time, log path)."""
    port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": module_redis_server.url,
        "YINSHI_MODEL_DIR": str(tiny_poet),
        "YINSHI_DATA_DIR": str(tmp_path_factory.mktemp("data")),
        "YINSHI_RATE_PER_MINUTE": "100",
    }
    env.pop("TELEGRAM_BOT_TOKEN", None)
    log_path = tmp_path_factory.mktemp("log") / "run.log"
    started = time.monotonic()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "yinshi.cli", "run", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path_factory.mktemp("cwd"),  # no .env of the checkout
        )
    url = f"http://127.0.0.1:{port}/"

    def page_up():
        try:
            return urllib.request.urlopen(url, timeout=2).status == 200
        except OSError:
            assert process.poll() is None, log_path.read_text()
            return False

    wait_until(page_up, 60, "the sandbox page")
    yield process, url, started, log_path
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=60)


def test_page_answers_a_poem_over_http(yinshi_run):
    _, url, started, _ = yinshi_run
    post_json(url + "api/chats/private/send", {"text": "/poem 春江"})
    found = wait_until(
        lambda: poems(get_json(url + "api/chats/private/messages")), STARTUP_S, "a poem"
    )
    print(f"yinshi run start → first poem: {time.monotonic() - started:.1f} s")
    assert len(verses(found[0]["text"])) == 4, found[0]["text"]
    assert found[0]["from_bot"] and found[0]["html"].startswith("<b>")


def test_group_chat_takes_daily(yinshi_run):
    """The page's second chat is a group whose admin the sandbox user is: /daily on works."""
    _, url, _, _ = yinshi_run
    post_json(url + "api/chats/group/send", {"text": "/daily on 08:00"})
    replies = wait_until(
        lambda: [m for m in get_json(url + "api/chats/group/messages") if m["from_bot"]],
        30,
        "the bot's answer in the group",
    )
    assert replies[0]["text"].startswith(texts.DAILY_ON.split("：")[0]), replies[0]["text"]
    private = get_json(url + "api/chats/private/messages")
    assert not [m for m in private if m["text"].startswith("/daily")]


def test_page_rejects_bad_input(yinshi_run):
    _, url, _, _ = yinshi_run
    for path, payload in [
        ("api/chats/private/send", {"text": "  "}),
        ("api/chats/private/press", {"message_id": 10**6, "data": "again:x"}),
    ]:
        with pytest.raises(urllib.error.HTTPError) as error:
            post_json(url + path, payload)
        assert error.value.code == 400
    with pytest.raises(urllib.error.HTTPError) as error:
        get_json(url + "api/chats/nowhere/messages")
    assert error.value.code == 404


@pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="no /usr/bin/chromium + chromedriver (apt-get install chromium chromium-driver)",
)
def test_browser_poem_then_another(yinshi_run, tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    _, url, _, _ = yinshi_run
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"):
        options.add_argument(flag)
    options.add_argument("--window-size=800,900")
    service = webdriver.ChromeService(executable_path=str(CHROMEDRIVER))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.get(url)
        stale = [StaleElementReferenceException]
        wait = WebDriverWait(driver, STARTUP_S, poll_frequency=0.2, ignored_exceptions=stale)

        def poem_texts(count: int):
            bubbles = driver.find_elements(By.CSS_SELECTOR, ".msg.bot")
            texts = [b.text for b in bubbles if "换一首" in b.text]
            return texts if len(texts) >= count else False

        # Other tests of this module already chatted here: let the page show that history
        # before counting, or an old poem would pass for the new one.
        history = len(get_json(url + "api/chats/private/messages"))
        wait.until(lambda _: len(driver.find_elements(By.CSS_SELECTOR, ".msg")) >= history)
        before = len(poem_texts(0))
        driver.find_element(By.ID, "text").send_keys("/poem 春江", Keys.ENTER)

        first = wait.until(lambda _: poem_texts(before + 1))[-1]
        assert len(verses(first)) == 4, first
        title = driver.find_elements(By.CSS_SELECTOR, ".msg.bot b")[-1]
        assert title.text == "春江"  # the bot's HTML rendered, not shown as markup
        again = "(//div[contains(@class,'bot')]//button[contains(., '换一首')])[last()]"
        driver.find_element(By.XPATH, again).click()
        second = wait.until(lambda _: poem_texts(before + 2))[-1]
        assert second != first and len(verses(second)) == 4
        driver.save_screenshot(str(tmp_path / "sandbox.png"))
        if target := os.environ.get("YINSHI_SANDBOX_SCREENSHOT"):
            shutil.copy(tmp_path / "sandbox.png", target)
    finally:
        driver.quit()


def test_sigterm_stops_everything(yinshi_run):
    process, _, _, log_path = yinshi_run
    children = children_of(process.pid)
    assert len(children) == 2, children  # the worker and the bot (Redis is the fixture's)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0, log_path.read_text()
    assert not [pid for pid in children if alive(pid)]
