"""The local chat sandbox: talk to the real bot in a browser, with no Telegram account."""

from fake_telegram.sandbox.server import CHATS, USER_ID, Sandbox

__all__ = ["CHATS", "USER_ID", "Sandbox"]
