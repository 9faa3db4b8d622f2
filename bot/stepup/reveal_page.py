"""The reveal page on the worker's HTTP server (mounted by `bot/server.py`):

    GET /reveal/{token}            after Sign in with Slack as the link's person: the approval's hidden values, once;
                                   where it needs step-up, a page that asks for their passkey first (its script:)
    POST /reveal/{token}/options   the passkey's authentication options for this reveal
    POST /reveal/{token}           {"credential"}: the passkey's answer; the values, once

A link unknown, expired or used is a 410; someone who may not decide the approval, a 403; Redis out of reach, a 503.
The values are never cached (`no-store`), never sent as a referrer, escaped (the page is a template,
bot/templates/reveal/, rendered by `bot.core.templates`), and the page hides them after `SHOWN_SECONDS` (its inline
script, allowed by a nonce; without scripts, the page reloads to a used link)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.core.templates import PAGE_HEADERS
from bot.signin import SignIn
from bot.stepup.enrolment import StepUpError
from bot.stepup.pages import STORAGE_DOWN, Page, page_response
from bot.stepup.reveal import SHOWN_SECONDS, Reveal, Revealed
from bot.store import StoreUnavailable


def add_reveal_routes(app: web.Application, reveal: Reveal, signin: SignIn, *,
                      reveal_for: Callable[[str], Awaitable[Reveal]] | None = None) -> None:
    """`GET /reveal/{token}`. `reveal_for`: the reveals of a link's tenant (`bot.tenancy`: a link minted in another
    workspace shows its approval from that workspace's data, as the step-up pages do); None: `reveal` serves all."""

    async def reveal_page(request: web.Request) -> web.Response:
        token = request.match_info["token"]
        nonce = secrets.token_urlsafe(16)
        try:
            reveal = await reveal_of(token)
            user, approval = await reveal.usable(token)
            await signin.require(request, person=user, page=f"/reveal/{token}", approval=approval)
            if await reveal.needs_passkey(token):  # its values after the person's passkey (the page's script)
                return _page(CONFIRM, nonce=nonce)
            return _page(values_page(await reveal.show(token)), nonce=nonce)
        except StepUpError as exc:
            return _page(message_page(exc.message), nonce=nonce, status=exc.status)
        except StoreUnavailable:
            return _page(message_page(STORAGE_DOWN), nonce=nonce, status=503)

    async def answer(request: web.Request, work: Callable[[Reveal, str], Awaitable[object]]) -> web.Response:
        """A page script's call: signed in as the link's person, `work` done; a refusal is its status and error."""
        token = request.match_info["token"]
        try:
            reveal = await reveal_of(token)
            user, approval = await reveal.usable(token)
            await signin.require(request, person=user, page=f"/reveal/{token}", approval=approval)
            return web.json_response(await work(reveal, token), headers=PAGE_HEADERS)
        except StepUpError as exc:
            return web.json_response({"error": exc.message}, status=exc.status, headers=PAGE_HEADERS)
        except StoreUnavailable:
            return web.json_response({"error": STORAGE_DOWN}, status=503, headers=PAGE_HEADERS)

    async def options(request: web.Request) -> web.Response:
        return await answer(request, lambda reveal, token: reveal.options(token))

    async def confirmed(request: web.Request) -> web.Response:
        body = await read_json(request)

        async def shown(reveal: Reveal, token: str) -> object:
            revealed = await reveal.show(token, credential=body.get("credential") if isinstance(body, dict) else None)
            return {"values": [{"where": v.where, "kind": v.kind, "value": v.value} for v in revealed.values],
                    "shown_seconds": SHOWN_SECONDS}
        return await answer(request, shown)

    async def reveal_of(token: str) -> Reveal:
        return home if reveal_for is None else await reveal_for(token)

    home = reveal
    app.router.add_get("/reveal/{token}", reveal_page)
    app.router.add_post("/reveal/{token}/options", options)
    app.router.add_post("/reveal/{token}", confirmed)


async def read_json(request: web.Request) -> object:
    """A page script's small JSON body (anything else: an empty object, refused by what reads it)."""
    raw = await request.content.read(64 * 1024 + 1)
    try:
        return json.loads(raw) if len(raw) <= 64 * 1024 else {}
    except (ValueError, RecursionError):
        return {}


CONFIRM: Page = ("reveal/confirm.html", {})  # the person's passkey first (its script), then the values, as text


def message_page(message: str) -> Page:
    return "reveal/message.html", {"message": message}


def values_page(revealed: Revealed) -> Page:
    """The values, once; hidden again after `SHOWN_SECONDS` (by the page's script, or a reload to the used link)."""
    return "reveal/values.html", {"revealed": revealed, "shown_seconds": SHOWN_SECONDS}


def _page(page: Page, *, nonce: str, status: int = 200) -> web.Response:
    return page_response(page, nonce=nonce, status=status, scripts=True, headers={"Pragma": "no-cache", "Expires": "0"})
