"""A conversation in plain Chinese through the real bot: PTB over HTTP to the fake Bot API,
a real Redis, a worker with the tiny model. The chat's memory lives in Redis, so a bot
restarted between two turns still knows what 「改成五律」 refers to.
"""

import re

from test_bot_e2e import body_of, new_id, poems_in, tiny_generator, wait_poems, worker_url

from bot import texts
from bot.app import stop_polling
from bot.understanding import MESSAGE_MAX
from yinshi.prosody import analyze

__all__ = ["tiny_generator", "worker_url"]  # fixtures, shared with the bot's other e2e tests

JINGYESI = "静夜思\n床前明月光，疑是地上霜。\n举头望明月，低头思故乡。"


def header_of(message: dict) -> str:
    return message["text"].split("\n")[0]


async def reply_after(fake, chat_id: int, count: int, timeout: float = 10) -> dict:
    """The bot's next message once it has sent more than `count` in the chat."""
    messages = await fake.wait_for(
        lambda: len(fake.bot_messages(chat_id)) > count and fake.bot_messages(chat_id), timeout
    )
    return messages[count]


async def test_a_conversation(fake_telegram, start_bot, worker_url):
    fake, user = fake_telegram, new_id()
    bot = await start_bot(worker_url)

    fake.send("写一首关于秋天的诗", user_id=user)
    [first] = await wait_poems(fake, user)
    assert header_of(first) == "以「秋」为题，作七绝"  # what was understood, above the poem
    assert first["text"].split("\n")[1] == "秋"  # the title is the topic, not the sentence
    assert analyze(body_of(first), form="七绝").conforms

    fake.send("再来一首", user_id=user)
    _, second = await wait_poems(fake, user, count=2)
    assert second["text"].split("\n")[1] == "秋" and body_of(second) != body_of(first)

    await stop_polling(bot)  # the memory is in Redis: a new process still has it
    await start_bot(worker_url)

    fake.send("改成五律", user_id=user)
    *_, third = await wait_poems(fake, user, count=3)
    assert header_of(third) == "以「秋」为题，作五律"
    lines = [line for line in re.split("[，。\n]", body_of(third)) if line]
    assert len(lines) == 8 and all(len(line) == 5 for line in lines)
    assert analyze(body_of(third), form="五律").conforms

    sent = len(fake.bot_messages(user))
    fake.send("这首的格律", user_id=user)
    report = await reply_after(fake, user, sent)
    assert "格律分析" in report["text"] and "五律" in report["text"]
    assert lines[0] in report["text"]

    sent = len(fake.bot_messages(user))
    fake.send(JINGYESI, user_id=user)  # a pasted poem is read, not used as a title
    report = await reply_after(fake, user, sent)
    assert "格律分析 · 五绝" in report["text"]
    assert "第2句第4字" in report["text"]  # 静夜思 is a 古绝: 上 where the rule wants 平
    [[same]] = report["reply_markup"]["inline_keyboard"]
    assert same["text"] == texts.BUTTON_SAME_FORM
    fake.press(user, report["message_id"], same["callback_data"], user_id=user)
    prompt = await reply_after(fake, user, sent + 1)
    assert prompt["text"] == texts.SAME_FORM_PROMPT.format(form="五绝")
    fake.send("明月", user_id=user)
    *_, fourth = await wait_poems(fake, user, count=4)
    assert header_of(fourth) == "以「明月」为题，作五绝"
    assert analyze(body_of(fourth), form="五绝").conforms


async def test_requests_in_plain_chinese(fake_telegram, start_bot, worker_url):
    fake, user = fake_telegram, new_id()
    await start_bot(worker_url)
    fake.send("帮我写藏头诗：万事如意", user_id=user)
    [poem] = await wait_poems(fake, user)
    assert header_of(poem) == "藏头「万事如意」，作七绝"
    lines = [line for line in re.split("[，。\n]", body_of(poem)) if line]
    assert [line[0] for line in lines] == list("万事如意")
    fake.send("用如梦令写一首春愁", user_id=user)
    _, ci = await wait_poems(fake, user, count=2)
    assert header_of(ci) == "以「春愁」为题，作如梦令" and "如梦令" in ci["text"]


async def test_small_talk_and_bad_input_get_short_answers(fake_telegram, start_bot, worker_url):
    """Never a crash, never silence, never a poem titled 你好 — and no poem budget spent."""
    fake, user = fake_telegram, new_id()
    await start_bot(worker_url, rate_per_minute=2)  # 「再来一首」 counts: it asks for a poem
    expected = [
        ("你好", texts.CHAT_GREETING),
        ("谢谢！", texts.CHAT_THANKS),
        ("你是谁", texts.CHAT_WHO),
        ("帮助", "吟诗"),
        ("hello there, write me a poem", "Send a topic in Chinese"),
        ("。。。！？", "Send a topic in Chinese"),
        ("🌸🌙🌸", "Send a topic in Chinese"),
        ("写一首关于moon的诗", "汉字"),
        ("写首诗", "请给个题目"),
        ("再来一首", texts.NO_LAST_POEM),
        ("这首的格律", texts.NO_LAST_POEM),
        ("春" * 4000, f"最多 {MESSAGE_MAX} 个字"),
    ]
    for count, (text, answer) in enumerate(expected):
        fake.send(text, user_id=user)
        reply = await reply_after(fake, user, count)
        assert answer.split("<")[0].strip() in reply["html"], (text, reply["html"])
        assert "Traceback" not in reply["text"]
    sent = len(expected)
    fake.send_media("sticker", user_id=user)
    assert (await reply_after(fake, user, sent))["html"] == texts.CHAT_MEDIA
    fake.send_media("photo", user_id=user)
    assert (await reply_after(fake, user, sent + 1))["html"] == texts.CHAT_MEDIA
    asked = fake.send("秋夜", user_id=user)  # the last poem this minute allows
    await wait_poems(fake, user)
    fake.edit(user, asked["message_id"], "春夜")
    assert (await reply_after(fake, user, sent + 3))["text"] == texts.CHAT_EDITED
    assert len(poems_in(fake, user)) == 1


async def test_in_a_group_only_replies_to_the_bot_are_read(fake_telegram, start_bot, worker_url):
    fake, chat, user = fake_telegram, -new_id(), new_id()
    await start_bot(worker_url)
    fake.send("你好", user_id=user, chat_id=chat, chat_type="group")
    fake.send_media("sticker", user_id=user, chat_id=chat, chat_type="group")
    fake.send("/poem 春江", user_id=user, chat_id=chat, chat_type="group")
    [poem] = await wait_poems(fake, chat)
    fake.send(
        "改成五绝", user_id=user, chat_id=chat, chat_type="group", reply_to=poem["message_id"]
    )
    _, again = await wait_poems(fake, chat, count=2)
    assert header_of(again) == "以「春江」为题，作五绝"
    assert len(fake.bot_messages(chat)) == 2  # nothing said to 你好 or the sticker
