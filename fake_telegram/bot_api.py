"""A small fake Telegram Bot API server: the real bot talks HTTP to it as it would to Telegram.

It plays both sides of Telegram: people (inject messages, button presses, inline queries and
membership changes, delivered through `getUpdates` long polling) and the server (answers the
bot's calls, keeps the chats with every edit applied, records each call). It checks what
Telegram checks and a careless bot gets wrong: HTML that does not parse, text over 4096
characters, callback data over 64 bytes, an edit that changes nothing, a chat that blocked
the bot. `fail(method, …)` makes chosen methods answer with an error, as Telegram does.

Point PTB at it with ``ApplicationBuilder().token(fake.token).base_url(fake.base_url)``.
It is a real component (the local sandbox grows from it), not test-only code. Standalone::

    python -m fake_telegram.bot_api --port 8081        # then: yinshi bot --base-url http://127.0.0.1:8081/bot
    curl -d '{"text": "/poem 春江", "user_id": 1}' http://127.0.0.1:8081/_fake/send
    curl http://127.0.0.1:8081/_fake/chats/1
"""

import argparse
import asyncio
import contextlib
import html
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64
MAX_CAPTION = 1024
MAX_PHOTO_BYTES = 10 * 1024 * 1024
"""sendPhoto's limits: 10 MB, width + height at most 10000, a side ratio at most 20."""
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ALLOWED_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
    "code", "pre", "blockquote", "tg-emoji",
}  # fmt: skip
TEXT_FIELDS = {
    "text", "parse_mode", "action", "callback_query_id", "inline_query_id", "url",
    "secret_token", "next_offset", "inline_message_id", "description", "short_description",
    "caption",
}  # fmt: skip
"""Form fields PTB sends as plain strings; every other field is JSON (numbers, objects)."""

_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s[^<>]*)?)>")
_ENTITY = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);")


ANONYMOUS_ADMIN = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}
"""Who Telegram says sent a message an anonymous admin wrote as the group."""


class ApiError(Exception):
    def __init__(
        self,
        code: int,
        description: str,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after
        self.migrate_to_chat_id = migrate_to_chat_id


def html_to_text(source: str) -> str:
    """What a reader sees of an HTML message; raises ApiError where Telegram would."""
    out, stack, pos = [], [], 0
    while pos < len(source):
        char = source[pos]
        if char == "<":
            tag = _TAG.match(source, pos)
            if not tag:
                raise ApiError(400, f"Bad Request: can't parse entities: unexpected < at {pos}")
            closing, name = tag[1] == "/", tag[2].lower()
            if name not in ALLOWED_TAGS:
                raise ApiError(400, f'Bad Request: can\'t parse entities: unsupported tag "{name}"')
            if closing:
                if not stack or stack.pop() != name:
                    raise ApiError(
                        400, f'Bad Request: can\'t parse entities: unmatched "</{name}>"'
                    )
            else:
                stack.append(name)
            pos = tag.end()
        elif char == "&":
            entity = _ENTITY.match(source, pos)
            if not entity:
                raise ApiError(400, f"Bad Request: can't parse entities: bare & at {pos}")
            out.append(html.unescape(entity[0]))
            pos = entity.end()
        else:
            out.append(char)
            pos += 1
    if stack:
        raise ApiError(400, f'Bad Request: can\'t parse entities: unclosed "<{stack[-1]}>"')
    return "".join(out)


def utf16_len(text: str) -> int:
    """Telegram measures text in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    ok: bool
    result: Any = None


class FakeBotAPI:
    """One bot, its chats and its users, served over HTTP on a loopback port."""

    def __init__(
        self,
        token: str = "123456:FAKE-token",
        username: str = "yinshi_test_bot",
        max_poll_s: float = 30.0,
    ) -> None:
        self.token = token
        self.bot = {
            "id": int(token.split(":")[0]),
            "is_bot": True,
            "first_name": "吟诗",
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": True,
        }
        self.calls: list[Call] = []
        self.chats: dict[int, dict[str, Any]] = {}
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        """(chat id, message id) → the message as it stands now, edits applied."""
        self._chat_log: dict[int, list[dict[str, Any]]] = {}
        """Per chat, the same message objects in the order they were sent."""
        self.admins: dict[int, set[int]] = {}
        self.blocked: set[int] = set()
        self.migrated: dict[int, int] = {}
        """A group that became a supergroup → the supergroup's id (sends answer 400)."""
        self.failures: dict[str, tuple[int, str]] = {}
        self.flooded: dict[int, float] = {}
        """Chat → monotonic time until which messages into it answer 429."""
        self.webhook_url = ""
        self.files: dict[str, bytes] = {}
        """file_id → the bytes of a photo the bot uploaded (the sandbox shows them)."""
        self._file_ids = itertools.count(1)
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._max_poll_s = max_poll_s
        self._runner: web.AppRunner | None = None
        self._closing = False
        self.port = 0

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application(client_max_size=MAX_PHOTO_BYTES + 1024 * 1024)  # uploads
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_post("/_fake/send", self._control_send)
        app.router.add_get("/_fake/chats/{chat_id}", self._control_chat)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.host = host

    async def stop(self) -> None:
        self._closing = True  # release long polls now rather than at their timeout
        async with self._changed:
            self._changed.notify_all()
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/bot"

    # --- people's side -----------------------------------------------------------------------

    def user(self, user_id: int, first_name: str = "读者") -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "zh"}

    def chat(self, chat_id: int, kind: str = "private") -> dict[str, Any]:
        if chat_id not in self.chats:
            chat: dict[str, Any] = {"id": chat_id, "type": kind}
            if kind == "private":
                chat["first_name"] = "读者"
            else:
                chat["title"] = f"诗社 {chat_id}"
            self.chats[chat_id] = chat
        return self.chats[chat_id]

    def send(
        self,
        text: str,
        *,
        user_id: int,
        chat_id: int | None = None,
        chat_type: str = "private",
        reply_to: int | None = None,
        anonymous: bool = False,
    ) -> dict[str, Any]:
        """A person writes in a chat (their private chat with the bot unless chat_id is given);
        `anonymous`: an anonymous group admin, whose message comes from the group itself."""
        chat = self.chat(user_id if chat_id is None else chat_id, chat_type)
        content: dict[str, Any] = {"text": text}
        if anonymous:
            content |= {"from": ANONYMOUS_ADMIN, "sender_chat": chat}
        if text.startswith("/"):
            command = text.split()[0]
            content["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_len(command)}
            ]
        if reply_to is not None:
            content["reply_to_message"] = _public(self.messages[(chat["id"], reply_to)])
        return self._said(chat, user_id, content)

    def _said(self, chat: dict[str, Any], user_id: int, content: dict[str, Any]) -> dict[str, Any]:
        """A new message from a person in a chat (`content` may override its sender)."""
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": self.user(user_id),
            **content,
        }
        self._store(message)
        self._push({"message": message})
        return message

    def edit(self, chat_id: int, message_id: int, text: str) -> dict[str, Any]:
        """A person edits a message they sent."""
        message = {**self.messages[(chat_id, message_id)], "text": text}
        message["edit_date"] = int(time.time())
        self.messages[(chat_id, message_id)] = message
        self._push({"edited_message": message})
        return message

    def send_media(
        self, kind: str, *, user_id: int, chat_id: int | None = None, chat_type: str = "private"
    ) -> dict[str, Any]:
        """A person sends a sticker or a photo (no text)."""
        chat = self.chat(user_id if chat_id is None else chat_id, chat_type)
        media = {"file_id": "f1", "file_unique_id": "u1", "width": 512, "height": 512}
        content: dict[str, Any] = {
            "sticker": {**media, "type": "regular", "is_animated": False, "is_video": False},
            "photo": [{**media}],
        }[kind]
        return self._said(chat, user_id, {kind: content})

    def press(self, chat_id: int, message_id: int, data: str | None, *, user_id: int) -> str:
        """A person taps an inline keyboard button (None: a button without data, as a game's);
        returns the callback query id."""
        query_id = str(next(self._query_ids))
        query = {
            "id": query_id,
            "from": self.user(user_id),
            "message": _public(self.messages[(chat_id, message_id)]),
            "chat_instance": str(chat_id),
        }
        self._push({"callback_query": query if data is None else {**query, "data": data}})
        return query_id

    def inline_query(self, query: str, *, user_id: int) -> str:
        query_id = str(next(self._query_ids))
        self._push(
            {
                "inline_query": {
                    "id": query_id,
                    "from": self.user(user_id),
                    "query": query,
                    "offset": "",
                    "chat_type": "sender",
                }
            }
        )
        return query_id

    def remove_bot(self, chat_id: int, *, by_user: int, kind: str = "group") -> None:
        """The bot is kicked from a group (or blocked in a private chat)."""
        self.blocked.add(chat_id)
        bot_user = {k: self.bot[k] for k in ("id", "is_bot", "first_name", "username")}
        self._push(
            {
                "my_chat_member": {
                    "chat": self.chat(chat_id, kind),
                    "from": self.user(by_user),
                    "date": int(time.time()),
                    "old_chat_member": {"status": "member", "user": bot_user},
                    "new_chat_member": {"status": "kicked", "user": bot_user, "until_date": 0},
                }
            }
        )

    def migrate(
        self, chat_id: int, new_chat_id: int, *, by_user: int, announce: bool = True
    ) -> None:
        """A group is upgraded to a supergroup with a new id: messages to the old id fail with
        `migrate_to_chat_id`, and (`announce`) both chats get the service message."""
        self.migrated[chat_id] = new_chat_id
        self.chats.pop(new_chat_id, None)
        supergroup = self.chat(new_chat_id, "supergroup")
        if not announce:
            return
        for chat, field, other in (
            (self.chat(chat_id, "group"), "migrate_to_chat_id", new_chat_id),
            (supergroup, "migrate_from_chat_id", chat_id),
        ):
            self._said(chat, by_user, {field: other})

    def fail(self, method: str, code: int = 400, description: str = "Bad Request: test") -> None:
        """From now on `method` answers with this error (until `heal`)."""
        self.failures[method] = (code, description)

    def heal(self, method: str) -> None:
        self.failures.pop(method, None)

    def flood(self, chat_id: int, seconds: int) -> None:
        """Messages into this chat answer 429 (retry after the rest of `seconds`) until then,
        as Telegram does for a group past its 20 messages a minute."""
        self.flooded[chat_id] = time.monotonic() + seconds

    def _check_flood(self, method: str, params: dict[str, Any]) -> None:
        if method not in ("sendMessage", "editMessageText") or "chat_id" not in params:
            return
        left = self.flooded.get(int(params["chat_id"]), 0.0) - time.monotonic()
        if left > 0:
            wait = max(1, round(left))
            raise ApiError(429, f"Too Many Requests: retry after {wait}", retry_after=wait)

    def _push(self, update: dict[str, Any]) -> None:
        self._updates.append({"update_id": next(self._update_ids), **update})
        self._notify()

    def _notify(self) -> None:
        async def notify() -> None:
            async with self._changed:
                self._changed.notify_all()

        asyncio.get_running_loop().create_task(notify())

    # --- what tests and the sandbox look at ----------------------------------------------------

    def bot_messages(self, chat_id: int) -> list[dict[str, Any]]:
        """The bot's messages in a chat, oldest first, as they read now."""
        bot_id = self.bot["id"]
        return [m for m in self._chat_log.get(chat_id, []) if m["from"]["id"] == bot_id]

    def chat_log(self, chat_id: int) -> list[dict[str, Any]]:
        """Everything said in a chat, people's messages and the bot's, oldest first, edits
        applied; bot messages keep the HTML they were sent with (the sandbox renders it)."""
        return list(self._chat_log.get(chat_id, []))

    def _store(self, message: dict[str, Any]) -> None:
        chat_id = message["chat"]["id"]
        self.messages[(chat_id, message["message_id"])] = message
        self._chat_log.setdefault(chat_id, []).append(message)

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    @property
    def pending_updates(self) -> int:
        return len(self._updates)

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Wait until predicate() is truthy (checked after every call the bot makes)."""
        async with asyncio.timeout(timeout), self._changed:
            while not (value := predicate()):
                await self._changed.wait()
            return value

    # --- the same over HTTP, for a person or a program outside this process -----------------

    async def _control_send(self, request: web.Request) -> web.Response:
        body = await request.json()
        options = {k: body[k] for k in ("chat_id", "chat_type", "reply_to") if k in body}
        try:
            message = self.send(str(body["text"]), user_id=int(body["user_id"]), **options)
        except (KeyError, ValueError, TypeError) as error:
            return web.json_response({"ok": False, "description": repr(error)}, status=400)
        return web.json_response({"ok": True, "result": _public(message)})

    async def _control_chat(self, request: web.Request) -> web.Response:
        messages = [_public(m) for m in self.bot_messages(int(request.match_info["chat_id"]))]
        return web.json_response({"ok": True, "result": messages})

    # --- the server's side ---------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        method = request.match_info["method"]
        params = await _params(request)
        handler = getattr(self, f"_api_{method}", None)
        try:
            if method in self.failures:
                raise ApiError(*self.failures[method])
            self._check_flood(method, params)
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            result = await handler(params)
        except ApiError as error:
            self._record(Call(method, params, ok=False, result=error.description))
            body = {"ok": False, "error_code": error.code, "description": error.description}
            if error.retry_after is not None:
                body["parameters"] = {"retry_after": error.retry_after}
            if error.migrate_to_chat_id is not None:
                body["parameters"] = {"migrate_to_chat_id": error.migrate_to_chat_id}
            return web.json_response(body, status=error.code)
        self._record(Call(method, params, ok=True, result=result))
        return web.json_response({"ok": True, "result": result})

    def _record(self, call: Call) -> None:
        self.calls.append(call)
        self._notify()

    async def _api_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.bot

    async def _api_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        if offset:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        limit = int(params.get("limit") or 100)
        wait = min(float(params.get("timeout") or 0), self._max_poll_s)
        if not self._updates and wait > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait), self._changed:
                    await self._changed.wait_for(lambda: bool(self._updates) or self._closing)
        return self._updates[:limit]

    async def _api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        if chat_id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if chat_id in self.migrated:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                migrate_to_chat_id=self.migrated[chat_id],
            )
        text = self._checked_text(params)
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": self.chat(chat_id),
            "from": {k: self.bot[k] for k in ("id", "is_bot", "first_name", "username")},
            "text": text,
            "html": params["text"] if params.get("parse_mode") == "HTML" else None,
        }
        return self._bot_said(message, params)

    def _bot_said(self, message: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        """Store a message the bot sent, with its keyboard and the message it replies to."""
        if "reply_markup" in params:
            message["reply_markup"] = _checked_markup(params["reply_markup"])
        reply = params.get("reply_parameters") or {}
        if reply.get("message_id"):
            key = (message["chat"]["id"], reply["message_id"])
            message["reply_to_message"] = self.messages.get(key)
        self._store(message)
        return _public(message)

    async def _api_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._message(params)
        text = self._checked_text(params)
        markup = _checked_markup(params["reply_markup"]) if "reply_markup" in params else None
        if text == message["text"] and markup == message.get("reply_markup"):
            raise ApiError(400, "Bad Request: message is not modified")
        message["text"] = text
        message["html"] = params["text"] if params.get("parse_mode") == "HTML" else None
        message["edit_date"] = int(time.time())
        message.pop("reply_markup", None)
        if markup:
            message["reply_markup"] = markup
        return _public(message)

    async def _api_editMessageReplyMarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._message(params)
        markup = _checked_markup(params["reply_markup"]) if "reply_markup" in params else None
        message.pop("reply_markup", None)
        if markup:
            message["reply_markup"] = markup
        return _public(message)

    async def _api_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        """A photo uploaded (multipart: `photo` is a file part) or resent by its file_id."""
        chat_id = int(params["chat_id"])
        if chat_id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        photo = params.get("photo")
        if isinstance(photo, str):
            if photo not in self.files:
                raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
            file_id, data = photo, self.files[photo]
        elif hasattr(photo, "file"):
            data = photo.file.read()
            file_id = f"AgACfake{next(self._file_ids)}"
        else:
            raise ApiError(400, "Bad Request: there is no photo in the request")
        width, height = _png_size(data)
        caption = params.get("caption") or ""
        html_caption = caption if params.get("parse_mode") == "HTML" else None
        if html_caption is not None:
            caption = html_to_text(caption)
        if utf16_len(caption) > MAX_CAPTION:
            raise ApiError(400, "Bad Request: message caption is too long")
        self.files[file_id] = data
        size = {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": len(data)}
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": self.chat(chat_id),
            "from": {k: self.bot[k] for k in ("id", "is_bot", "first_name", "username")},
            "photo": [{**size, "width": width, "height": height}],
            "html": html_caption,
        }
        if caption:
            message["caption"] = caption
        return self._bot_said(message, params)

    async def _api_sendChatAction(self, params: dict[str, Any]) -> bool:
        if int(params["chat_id"]) in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return True

    async def _api_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        if len(params.get("text") or "") > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        return True

    async def _api_answerInlineQuery(self, params: dict[str, Any]) -> bool:
        results = params.get("results") or []
        if len(results) > 50:
            raise ApiError(400, "Bad Request: RESULTS_TOO_MUCH")
        for result in results:
            content = result.get("input_message_content") or {}
            if content.get("parse_mode") == "HTML":
                html_to_text(content["message_text"])
        return True

    async def _api_getChatMember(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id, user_id = int(params["chat_id"]), int(params["user_id"])
        user = self.user(user_id)
        if user_id in self.admins.get(chat_id, set()):
            rights = dict.fromkeys(_ADMIN_RIGHTS, False)
            return {"status": "administrator", "user": user, **rights, "can_manage_chat": True}
        return {"status": "member", "user": user}

    async def _api_setMyCommands(self, params: dict[str, Any]) -> bool:
        return True

    async def _api_deleteWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url = ""
        return True

    async def _api_setWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url = params.get("url", "")
        return True

    async def _api_getWebhookInfo(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"url": self.webhook_url, "has_custom_certificate": False, "pending_update_count": 0}

    async def _api_close(self, params: dict[str, Any]) -> bool:
        return True

    def _message(self, params: dict[str, Any]) -> dict[str, Any]:
        key = (int(params["chat_id"]), int(params["message_id"]))
        if key not in self.messages:
            raise ApiError(400, "Bad Request: message to edit not found")
        return self.messages[key]

    @staticmethod
    def _checked_text(params: dict[str, Any]) -> str:
        text = params.get("text") or ""
        if params.get("parse_mode") == "HTML":
            text = html_to_text(text)
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(text) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        return text


_ADMIN_RIGHTS = (
    "can_be_edited", "is_anonymous", "can_manage_chat", "can_delete_messages",
    "can_manage_video_chats", "can_restrict_members", "can_promote_members", "can_change_info",
    "can_invite_users", "can_post_stories", "can_edit_stories", "can_delete_stories",
)  # fmt: skip


def _checked_markup(markup: dict[str, Any]) -> dict[str, Any]:
    for row in markup.get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    return markup


def _png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG, checked against sendPhoto's limits (the fake takes PNG only:
    it is all this bot sends)."""
    if len(data) > MAX_PHOTO_BYTES:
        raise ApiError(400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
    if data[:8] != PNG_SIGNATURE or len(data) < 24:
        raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if not (0 < width + height <= 10000) or max(width, height) > 20 * min(width, height):
        raise ApiError(400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
    return width, height


def _public(message: dict[str, Any]) -> dict[str, Any]:
    """The message as the Bot API returns it (without the fake's own bookkeeping)."""
    return {k: v for k, v in message.items() if k != "html"}


async def _params(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        return await request.json()
    form = await request.post() if request.can_read_body else request.query
    params: dict[str, Any] = {}
    for key, value in {**request.query, **form}.items():
        if key in TEXT_FIELDS or not isinstance(value, str):
            params[key] = value
            continue
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return params


async def _serve(host: str, port: int, token: str) -> None:
    fake = FakeBotAPI(token=token)
    await fake.start(host, port)
    print(f"fake Bot API at {fake.base_url} (token {fake.token})", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="a fake Telegram Bot API server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default="123456:FAKE-token")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.host, args.port, args.token))


if __name__ == "__main__":
    main()
