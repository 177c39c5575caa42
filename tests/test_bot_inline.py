"""Inline queries as Telegram sends them — one per pause in typing — against a real Redis, a
worker and the fake Bot API: cached poems first, only the latest query generated, and a
budget of their own. Before: every query enqueued three poems and spent /poem's budget."""

import asyncio

from serving_fakes import FakeEngine
from test_bot_e2e import new_id, wait_poems, wait_reply

from bot import texts


def answer_to(fake, query_id: str):
    found = [
        c for c in fake.calls_to("answerInlineQuery") if c.params["inline_query_id"] == query_id
    ]
    return found[0] if found else None


async def test_only_the_latest_query_is_written(
    fake_telegram, start_bot, start_worker, redis_server
):
    fake, user = fake_telegram, new_id()
    engine = FakeEngine()
    start_worker(engine)
    await start_bot(redis_server.url, inline_debounce_s=0.5, inline_timeout_s=10)
    typed = []
    for text in ("春", "春江", "春江花"):
        typed.append(fake.inline_query(text, user_id=user))
        await asyncio.sleep(0.1)
    answers = await fake.wait_for(lambda: all(answer_to(fake, q) for q in typed) and typed)
    results = [answer_to(fake, q).params["results"] for q in answers]
    assert [len(r) for r in results] == [0, 0, 3]
    assert all("春江花" in r["title"] for r in results[2])
    assert sum(engine.calls) == 1  # one request, for the query typed last


async def test_inline_has_its_own_budget_and_serves_the_cache_first(
    fake_telegram, start_bot, start_worker, redis_server
):
    fake, user = fake_telegram, new_id()
    engine = FakeEngine()
    start_worker(engine)
    await start_bot(redis_server.url, rate_per_minute=1, inline_per_minute=2, inline_debounce_s=0)
    for topic, expected in (("春", 3), ("夏", 3), ("秋", 0)):
        query = fake.inline_query(topic, user_id=user)
        answer = await fake.wait_for(lambda q=query: answer_to(fake, q))
        assert len(answer.params["results"]) == expected
    assert answer.params["button"]["text"] == texts.INLINE_LIMITED
    fake.send("/poem 冬", user_id=user)  # the /poem budget is untouched
    await wait_poems(fake, user)
    generated = sum(engine.calls)
    query = fake.inline_query("冬", user_id=user)  # over the inline budget, but cached
    answer = await fake.wait_for(lambda: answer_to(fake, query))
    assert [r["title"] for r in answer.params["results"]] == ["冬 · 七绝"]
    assert sum(engine.calls) == generated
    fake.send("/poem 雪", user_id=user)  # and now /poem's one a minute is spent
    await wait_reply(fake, user, "每分钟最多 1 首")
