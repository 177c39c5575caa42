"""The local stand-in for Telegram: a Bot API server that keeps chats in memory
(`fake_telegram.bot_api`) and a web chat page where a person plays the Telegram user
(`fake_telegram.sandbox`).

`yinshi run` uses both when no bot token is set; the tests drive the real bot against the
Bot API server over HTTP. The production bot never imports this package
(tests/test_layout_imports.py).
"""
