"""The poem as a picture card (bot/card): every form fits, every character is really drawn, and
the 🖼 button and /card send it through the fake Bot API with sendPhoto.

The rendering tests need a CJK font (Debian: fonts-lxgw-wenkai fonts-noto-cjk, as .ci/run
installs) and skip with that reason where fontconfig finds none; the no-font tests play a
machine without fonts by pointing the lookup at a missing fc-list, and run everywhere.
"""

import asyncio
import io
import itertools
import re
import threading

import pytest
from PIL import Image
from serving_fakes import FakeEngine

from bot import keys, texts
from bot.card import fonts, send
from bot.card.fonts import NoFontError, face_for, find_faces, parse_charset
from bot.card.render import MAX_SIDE, Layout, is_text, layout, paint, render_card
from fake_telegram.sandbox.server import Sandbox
from yinshi.connection import connect
from yinshi.prosody import analyze
from yinshi.protocol import Poem

_ids = itertools.count(7000)

CLASSICS = {
    "五绝": ("登鹳雀楼", "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。"),
    "七绝": ("早发白帝城", "朝辞白帝彩云间，千里江陵一日还。两岸猿声啼不住，轻舟已过万重山。"),
    "五律": (
        "春望",
        "国破山河在，城春草木深。感时花溅泪，恨别鸟惊心。"
        "烽火连三月，家书抵万金。白头搔更短，浑欲不胜簪。",
    ),
    "七律": (
        "登高",
        "风急天高猿啸哀，渚清沙白鸟飞回。无边落木萧萧下，不尽长江滚滚来。"
        "万里悲秋常作客，百年多病独登台。艰难苦恨繁霜鬓，潦倒新停浊酒杯。",
    ),
    "如梦令": (
        "如梦令",
        "常记溪亭日暮，沉醉不知归路。兴尽晚回舟，误入藕花深处。争渡，争渡，惊起一滩鸥鹭。",
    ),
    "五古": (
        "饮马长城窟行",
        "塞外悲风切，交河冰已结。瀚海百重波，阴山千里雪。迥戍危烽火，层峦引高节。"
        "悠悠卷斾旌，饮马出长城。寒沙连骑迹，朔吹断边声。胡尘清玉塞，羌笛韵金钲。",
    ),
}
QINYUANCHUN = (
    "沁园春",
    "天下稼轩，文章有弟，看来未迟。正三齐盗起，两河民散，势倾似土，国泛如杯。"
    "猛士云飞，狂胡灰灭，机会之来人共知。何为者，望桂林西去，一骑星驰。"
    "离筵不用多悲。唤红袖佳人分藕丝。种黄柑千户，梅花万里，等闲游戏，毕竟男儿。"
    "入幕来南，筹边如北，翻覆手高来去棋。公馀且，画玉簪珠履，倩米元晖。",
)
"""刘过's 沁园春: 114 characters in 25 phrases, the longest card a common 词牌 makes."""


def classic(title: str, text: str, form: str) -> Poem:
    """A poem as the worker would return it: phrases with their marks, and its analysis."""
    analysis = analyze(text, form=form)
    return Poem(
        title=title,
        lines=re.findall(r"[^，。！？；、]+[，。！？；、]?", text),
        form=analysis.form,
        tune=analysis.tune,
        template=analysis.template,
        rhyme_group=analysis.rhyme_group,
        conforms=analysis.conforms,
        analysis=analysis.to_dict(),
        score=0.0,
    )


@pytest.fixture(scope="module")
def faces():
    try:
        found = find_faces()
    except NoFontError as error:
        pytest.skip(f"no CJK font ({error}): apt-get install fonts-lxgw-wenkai fonts-noto-cjk")
    if not all(face_for(c, found) for c in "吟诗春江"):
        pytest.skip("no installed font covers common CJK: install fonts-noto-cjk")
    return found


@pytest.fixture
def no_fonts(monkeypatch):
    """A machine without fontconfig fonts: the lookup finds nothing."""
    monkeypatch.setattr(fonts, "FC_LIST", "/nonexistent/fc-list")
    find_faces.cache_clear()
    yield
    find_faces.cache_clear()


def ink_in(image: Image.Image, glyph) -> bool:
    """Something dark (or, on the seal, something light) inside the glyph's cell."""
    half = glyph.size * 0.45
    cell = image.convert("L").crop((glyph.x - half, glyph.y - half, glyph.x + half, glyph.y + half))
    low, high = cell.getextrema()
    return high > 200 if glyph.role == "seal" else low < 120


def assert_all_drawn(poem: Poem, plan: Layout, image: Image.Image) -> None:
    body = [g for g in plan.glyphs if g.role == "body"]
    assert "".join(g.char for g in body) == "".join(c for c in "".join(poem.lines) if is_text(c))
    assert "".join(plan.columns) == "".join(g.char for g in body)
    assert not plan.missing
    for glyph in plan.glyphs:
        assert glyph.face.covers(glyph.char), glyph
        assert 0 < glyph.x < plan.width and 0 < glyph.y < plan.height, glyph
        assert ink_in(image, glyph), f"nothing drawn for {glyph.char!r} ({glyph.role})"


@pytest.mark.parametrize("form", [*CLASSICS, "沁园春"])
@pytest.mark.parametrize("marks", [False, True], ids=["plain", "格律"])
def test_every_form_fits_and_every_character_is_drawn(faces, form, marks):
    title, text = QINYUANCHUN if form == "沁园春" else CLASSICS[form]
    poem = classic(title, text, form)
    plan = layout(poem, marks=marks, faces=faces)
    assert plan.width <= MAX_SIDE and plan.height <= MAX_SIDE
    assert plan.marked == marks
    image = paint(plan)
    assert_all_drawn(poem, plan, image)
    titles = "".join(g.char for g in plan.glyphs if g.role == "title")
    assert titles == title
    assert "".join(g.char for g in plan.glyphs if g.role == "seal") == "吟诗"
    if poem.form in ("五绝", "七绝", "五律", "七律"):  # a line a column
        assert plan.columns == [re.sub(r"\W", "", line) for line in poem.lines]
    else:  # phrases are never split between two columns
        phrases = [re.sub(r"\W", "", line) for line in poem.lines]
        assert all(any(p in column for column in plan.columns) for p in phrases)
    png = render_card(poem, marks=marks)
    decoded = Image.open(io.BytesIO(png))
    assert decoded.format == "PNG" and decoded.size == (plan.width, plan.height)
    assert len(png) <= 300 * 1024


def test_the_long_ci_is_a_dozen_columns_not_one_per_phrase(faces):
    poem = classic(*QINYUANCHUN, "沁园春")
    plan = layout(poem, faces=faces)
    assert len("".join(plan.columns)) == 114
    assert 6 <= len(plan.columns) <= 14
    assert plan.unit >= 48  # still readable at full size


def test_tone_marks_stand_beside_each_character_and_breaches_are_red(faces):
    poem = classic("静夜思", "床前明月光，疑是地上霜。举头望明月，低头思故乡。", "五绝")
    plan = layout(poem, marks=True, faces=faces)
    marks = "".join(poem.analysis["marks"])
    drawn = [m.kind for m in plan.marks] + [g.char for g in plan.glyphs if g.role == "mark"]
    assert sorted(drawn) == sorted(marks)
    wrong = [m for m in plan.marks if m.wrong]
    assert len(wrong) == sum(v["severity"] == "error" for v in poem.analysis["violations"])
    body = [g for g in plan.glyphs if g.role == "body"]
    for mark in plan.marks:  # each mark sits right of a character, at its height
        assert any(abs(g.y - mark.y) < 1 and 0 < mark.x - g.x < plan.unit for g in body)


def test_without_an_analysis_the_marks_are_left_off():
    poem = Poem(title="春江", lines=["春江第0首，", "fake-1。"], form="七绝", conforms=True,
                analysis={}, score=0)  # fmt: skip
    try:
        plan = layout(poem, marks=True)
    except NoFontError:
        pytest.skip("no CJK font: apt-get install fonts-lxgw-wenkai fonts-noto-cjk")
    assert not plan.marked and not plan.marks
    assert plan.columns == ["春江第0首", "fake1"]


def test_a_character_the_text_face_lacks_comes_from_the_fallback(faces):
    first, *others = faces
    if not others:
        pytest.skip("only one CJK face installed: install fonts-noto-cjk for the fallback")
    rare = next(
        (
            chr(code)
            for code in itertools.chain(range(0x3400, 0x4DC0), range(0x20000, 0x2A6E0))
            if not first.covers(chr(code)) and face_for(chr(code), faces)
        ),
        None,
    )
    if rare is None:
        pytest.skip(f"{first.family} covers everything the fallback does")
    text = f"白日依山{rare}，黄河入海流。欲穷千里目，更上一层楼。"
    poem = Poem(title="试", lines=re.findall(r"[^，。]+[，。]", text), form="五绝",
                conforms=True, analysis={}, score=0)  # fmt: skip
    plan = layout(poem, faces=faces)
    [glyph] = [g for g in plan.glyphs if g.char == rare]
    assert glyph.face != first and glyph.face.covers(rare)
    assert_all_drawn(poem, plan, paint(plan))


def test_a_character_no_face_has_is_left_out_not_boxed(faces):
    unknown = "\U00013000"  # an Egyptian hieroglyph (a letter): no CJK font maps it
    assert face_for(unknown, faces) is None
    poem = Poem(title="试", lines=[f"白日依山{unknown}，", "黄河入海流。"], form="五绝",
                conforms=True, analysis={}, score=0)  # fmt: skip
    plan = layout(poem, faces=faces)
    assert plan.missing == [unknown]
    assert unknown not in {g.char for g in plan.glyphs}
    assert render_card(poem)[:8] == b"\x89PNG\r\n\x1a\n"


def test_fontconfig_charset_is_read_as_ranges():
    assert parse_charset("20-7e a0 4e00-9fff\n") == ((0x20, 0x7E), (0xA0, 0xA0), (0x4E00, 0x9FFF))


def test_no_font_is_a_clear_error(no_fonts):
    with pytest.raises(NoFontError):
        layout(classic(*CLASSICS["七绝"], "七绝"))
    assert "fonts-lxgw-wenkai" in texts.CARD_NO_FONT and "fonts-noto-cjk" in texts.CARD_NO_FONT


# --- through the bot: the fake Bot API, a real Redis, a fake engine --------------------------


async def poem_message(fake, chat_id: int) -> dict:
    """The bot's poem in the chat, once it carries its buttons."""

    def found():
        return next((m for m in fake.bot_messages(chat_id) if m.get("reply_markup")), None)

    return await fake.wait_for(found, 15)


def card_button(message: dict) -> str:
    buttons = [b for row in message["reply_markup"]["inline_keyboard"] for b in row]
    [button] = [b for b in buttons if b["text"] == texts.BUTTON_CARD]
    return button["callback_data"]


async def photos(fake, chat_id: int, count: int) -> list[dict]:
    def found():
        sent = [m for m in fake.bot_messages(chat_id) if "photo" in m]
        return len(sent) >= count and sent

    return await fake.wait_for(found, 15)


@pytest.fixture
async def poet(redis_server, start_worker, start_bot):
    """A bot on a fresh Redis with an instant fake engine; yields the Redis URL."""
    start_worker(FakeEngine())
    await start_bot(redis_server.url)
    return redis_server.url


async def test_the_card_button_sends_a_photo_then_reuses_its_file_id(
    fake_telegram, poet, faces, monkeypatch
):
    fake, user = fake_telegram, next(_ids)
    threads = []

    def render_in(poem, **options):  # where the bot draws: never on the event loop's thread
        threads.append(threading.current_thread())
        return render_card(poem, **options)

    monkeypatch.setattr(send, "render_card", render_in)
    fake.send("/poem 春江", user_id=user)
    poem = await poem_message(fake, user)
    data = card_button(poem)
    record_id = data.partition(":")[2]

    fake.press(user, poem["message_id"], data, user_id=user)
    [card] = await photos(fake, user, 1)
    assert card["reply_to_message"]["message_id"] == poem["message_id"]
    assert card["caption"] == poem["text"]  # the poem's text under its picture
    [upload] = fake.calls_to("sendPhoto")
    assert not isinstance(upload.params["photo"], str)  # the bytes went up once
    file_id = card["photo"][-1]["file_id"]
    image = Image.open(io.BytesIO(fake.files[file_id]))
    assert image.format == "PNG" and max(image.size) <= MAX_SIDE
    assert card["photo"][-1]["width"] == image.size[0]

    redis = connect(poet)
    try:
        cached = await redis.hgetall(keys.card(record_id, "plain"))
        assert cached == {"file_id": file_id}  # the PNG is dropped once Telegram has it
        assert 0 < await redis.ttl(keys.card(record_id, "plain")) <= keys.CARD_TTL
    finally:
        await redis.aclose()

    fake.press(user, poem["message_id"], data, user_id=user)
    await photos(fake, user, 2)
    again = fake.calls_to("sendPhoto")[-1]
    assert again.params["photo"] == file_id  # sent by file_id: no render, no upload
    assert len(threads) == 1 and threads[0] is not threading.main_thread()


async def test_card_command_on_a_reply_alone_and_with_marks(fake_telegram, poet, faces):
    fake, user = fake_telegram, next(_ids)
    fake.send("/poem 秋夜 五律", user_id=user)
    poem = await poem_message(fake, user)

    fake.send("/card", user_id=user, reply_to=poem["message_id"])
    [card] = await photos(fake, user, 1)
    assert card["reply_to_message"]["message_id"] == poem["message_id"]

    fake.send("/card 格律", user_id=user)  # no reply: the chat's last poem
    await photos(fake, user, 2)
    assert len([c for c in fake.calls_to("sendPhoto") if c.ok]) == 2

    hello = fake.send("你好", user_id=user)
    fake.send("/card", user_id=user, reply_to=hello["message_id"])  # not a poem of ours
    usage = await fake.wait_for(
        lambda: next(
            (m for m in fake.bot_messages(user) if m.get("text") == html_text(texts.CARD_USAGE)),
            None,
        )
    )
    assert usage


def html_text(html: str) -> str:
    from fake_telegram.bot_api import html_to_text

    return html_to_text(html)


async def test_without_fonts_the_button_says_how_to_install_them(fake_telegram, poet, no_fonts):
    fake, user = fake_telegram, next(_ids)
    fake.send("/poem 春江", user_id=user)
    poem = await poem_message(fake, user)
    fake.press(user, poem["message_id"], card_button(poem), user_id=user)
    hint = await fake.wait_for(
        lambda: next((m for m in fake.bot_messages(user) if "fonts-noto-cjk" in m["text"]), None)
    )
    assert "apt-get install fonts-lxgw-wenkai fonts-noto-cjk" in hint["text"]
    assert not fake.calls_to("sendPhoto")
    await asyncio.sleep(0.2)
    assert not [c for c in fake.calls if not c.ok and c.method != "getUpdates"]


async def test_the_sandbox_page_shows_the_card(fake_telegram, poet, faces):
    import aiohttp

    from fake_telegram.sandbox.server import USER_ID

    fake = fake_telegram
    sandbox = Sandbox(fake)
    await sandbox.start(port=0)
    try:
        fake.send("/poem 春江", user_id=USER_ID)
        poem = await poem_message(fake, USER_ID)
        fake.press(USER_ID, poem["message_id"], card_button(poem), user_id=USER_ID)
        await photos(fake, USER_ID, 1)
        async with aiohttp.ClientSession() as session:
            async with session.get(sandbox.url + "api/chats/private/messages") as response:
                messages = await response.json()
            [card] = [m for m in messages if m.get("photo")]
            assert card["text"].startswith("春江") and card["html"].startswith("<b>")
            async with session.get(sandbox.url + card["photo"].lstrip("/")) as response:
                assert response.status == 200 and response.content_type == "image/png"
                assert (await response.read())[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        await sandbox.stop()
