"""The reveal page on the worker's HTTP server (mounted by `bot/server.py`):

    GET /reveal/{token}   after Sign in with Slack as the link's person: the approval's hidden values, once

A link unknown, expired or used is a 410; someone who may not decide the approval, a 403; Redis out of reach, a 503.
The values are never cached (`no-store`), never sent as a referrer, escaped (`html.escape`), and the page hides them
after `SHOWN_SECONDS` (its inline script, allowed by a nonce; without scripts, the page reloads to a used link)."""

from __future__ import annotations

import html
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.signin import SIGN_OUT, SignIn
from bot.stepup.enrolment import StepUpError
from bot.stepup.pages import HEADERS, STORAGE_DOWN
from bot.stepup.reveal import SHOWN_SECONDS, Reveal, Revealed
from bot.store import StoreUnavailable

STYLE = ("body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem; }"
         " td, th { padding: .25rem .5rem; text-align: left; }")


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
            return _page(_values_body(await reveal.show(token)), nonce=nonce, refresh=True)
        except StepUpError as exc:
            return _page(f'<p data-testid="message">{html.escape(exc.message)}</p>', nonce=nonce, status=exc.status)
        except StoreUnavailable:
            return _page(f'<p data-testid="message">{html.escape(STORAGE_DOWN)}</p>', nonce=nonce, status=503)

    async def reveal_of(token: str) -> Reveal:
        return home if reveal_for is None else await reveal_for(token)

    home = reveal
    app.router.add_get("/reveal/{token}", reveal_page)


def _values_body(revealed: Revealed) -> str:
    approval = revealed.approval
    rows = "".join(
        f'<tr data-testid="hidden-value"><td><code>{html.escape(v.where)}</code></td><td>{html.escape(v.kind)}</td>'
        f'<td><code data-testid="value">{html.escape(v.value)}</code></td></tr>' for v in revealed.values)
    return (f'<p>{html.escape(approval.task[:300])} · <code>{html.escape(approval.tool_name)}</code> · approval'
            f' <code>{html.escape(approval.id)}</code></p><p>Shown once, for {SHOWN_SECONDS} seconds; this view is'
            ' audited. Do not copy these values into Slack.</p>'
            f'<table id="values"><tr><th>Where</th><th>Kind</th><th>Value</th></tr>{rows}</table>'
            '<p id="expired" data-testid="expired" hidden>The values are hidden again. Click “Show hidden values”'
            ' on the card to see them once more.</p>')


def _page(body: str, *, nonce: str, status: int = 200, refresh: bool = False) -> web.Response:
    policy = (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; base-uri 'none';"
              " form-action 'self'; frame-ancestors 'none'")
    script = (f'<script nonce="{nonce}">setTimeout(() => {{ document.getElementById("values").remove();'
              f' document.getElementById("expired").hidden = false; }}, {SHOWN_SECONDS * 1000});</script>'
              if refresh else "")
    meta = f'<meta http-equiv="refresh" content="{SHOWN_SECONDS}">' if refresh else ""
    text = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">'
            f'{meta}<title>Agent approvals: hidden values</title><style nonce="{nonce}">{STYLE}</style></head><body>'
            f"<h1>Hidden values</h1>{body}{SIGN_OUT}{script}</body></html>")
    return web.Response(text=text, status=status, content_type="text/html",
                        headers={**HEADERS, "Content-Security-Policy": policy, "Pragma": "no-cache",
                                 "Expires": "0"})
