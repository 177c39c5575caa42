"""A web chat page in front of the fake Bot API: a person plays the Telegram user.

The bot runs unchanged and talks to `fake_telegram.bot_api.FakeBotAPI` as it would to Telegram; this
page only speaks the fake's people's side (`send`, `press`) and reads its chat log, polled by
the page every half second (no websockets: a chat with one person needs no push). It binds
loopback by default because it has no login: whoever reaches it speaks as the sandbox user.

Nor may another web site speak for that user through the browser: a POST must be JSON (a
cross-site form or `no-cors` fetch can only send text/plain or form data, and a JSON one
needs a preflight this server never grants), an Origin must be the page's own, and on
loopback the Host must be a loopback name (a DNS-rebound name is refused).
"""

from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from fake_telegram.bot_api import FakeBotAPI

USER_ID = 1
GROUP_ID = -1001
CHATS: dict[str, dict[str, Any]] = {
    "private": {"id": USER_ID, "type": "private", "title": "私聊 吟诗"},
    "group": {"id": GROUP_ID, "type": "group", "title": "诗社（群聊，可试 /daily）"},
}
"""The two chats the page offers; the sandbox user is an admin of the group, as /daily needs."""

PAGE = Path(__file__).parent / "static" / "index.html"
LOOPBACK = ("127.0.0.1", "::1", "localhost")
LOOPBACK_NAMES = ("127.0.0.1", "[::1]", "localhost")
MAX_TEXT = 4096


class Sandbox:
    """The page and its JSON routes, served next to (not inside) the fake Bot API."""

    def __init__(self, fake: FakeBotAPI) -> None:
        self.fake = fake
        fake.admins.setdefault(GROUP_ID, set()).add(USER_ID)
        self._runner: web.AppRunner | None = None
        self.host, self.port = "127.0.0.1", 0

    async def start(self, host: str = "127.0.0.1", port: int = 8080) -> None:
        app = web.Application(middlewares=[self._same_site])
        app.router.add_get("/", self._page)
        app.router.add_get("/api/chats", self._chats)
        app.router.add_get("/api/chats/{chat}/messages", self._messages)
        app.router.add_post("/api/chats/{chat}/send", self._send)
        app.router.add_post("/api/chats/{chat}/press", self._press)
        app.router.add_get("/api/photos/{file_id}", self._photo)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.host, self.port = host, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @web.middleware
    async def _same_site(self, request: web.Request, handler) -> web.StreamResponse:
        host = request.headers.get("Host", "")
        if self.host in LOOPBACK and host.rsplit(":", 1)[0] not in LOOPBACK_NAMES:
            raise web.HTTPForbidden(text="the sandbox answers only to a loopback host name")
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"http://{host}":
            raise web.HTTPForbidden(text="cross-site requests are refused")
        if request.method == "POST" and request.content_type != "application/json":
            raise web.HTTPUnsupportedMediaType(text="send application/json")
        return await handler(request)

    async def _page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(PAGE, headers={"Cache-Control": "no-store"})

    async def _chats(self, request: web.Request) -> web.Response:
        return web.json_response([{"name": name, **chat} for name, chat in CHATS.items()])

    async def _messages(self, request: web.Request) -> web.Response:
        chat = _chat(request)
        return web.json_response([_view(m) for m in self.fake.chat_log(chat["id"])])

    async def _send(self, request: web.Request) -> web.Response:
        chat = _chat(request)
        body = await _body(request)
        text = body.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
            raise _bad("text: 1 to 4096 characters")
        message = self.fake.send(
            text.strip(), user_id=USER_ID, chat_id=chat["id"], chat_type=chat["type"]
        )
        return web.json_response(_view(message))

    async def _press(self, request: web.Request) -> web.Response:
        chat = _chat(request)
        body = await _body(request)
        message_id, data = body.get("message_id"), body.get("data")
        if not isinstance(message_id, int) or not isinstance(data, str):
            raise _bad("message_id (number) and data (text) are required")
        if (chat["id"], message_id) not in self.fake.messages:
            raise _bad("no such message")
        query_id = self.fake.press(chat["id"], message_id, data, user_id=USER_ID)
        return web.json_response({"query_id": query_id})

    async def _photo(self, request: web.Request) -> web.Response:
        """A photo the bot sent (a poem's card), as the fake Bot API stored it."""
        data = self.fake.files.get(request.match_info["file_id"])
        if data is None:
            raise web.HTTPNotFound(text="no such photo")
        return web.Response(
            body=data, content_type="image/png", headers={"Cache-Control": "max-age=86400"}
        )


def _view(message: dict[str, Any]) -> dict[str, Any]:
    """What the page draws: the HTML the bot sent (rendered there through an allow-list); a
    photo (a card) as the URL of its bytes, with its caption for the text."""
    keyboard = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    reply = message.get("reply_to_message") or {}
    photo = (message.get("photo") or [{}])[-1].get("file_id")
    return {
        "id": message["message_id"],
        "from_bot": message["from"]["is_bot"],
        "text": message.get("text", message.get("caption", "")),
        "photo": f"/api/photos/{quote(photo, safe='')}" if photo else None,
        "html": message.get("html"),
        "edited": "edit_date" in message,
        "reply_to": reply.get("message_id"),
        "buttons": [
            [{"text": b["text"], "data": b.get("callback_data"), "url": b.get("url")} for b in row]
            for row in keyboard
        ],
    }


def _chat(request: web.Request) -> dict[str, Any]:
    name = request.match_info["chat"]
    if name not in CHATS:
        raise web.HTTPNotFound(text=f"no chat {name!r}; chats: {', '.join(CHATS)}")
    return CHATS[name]


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise _bad("the body must be JSON") from None
    if not isinstance(body, dict):
        raise _bad("the body must be a JSON object")
    return body


def _bad(reason: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=reason)
