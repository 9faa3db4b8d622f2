"""The reveal page on the worker's HTTP server (mounted by `bot/server.py`):

    GET /reveal/{token}            after Sign in with Slack as the link's person: the approval's hidden values, once;
                                   where it needs step-up, a page that asks for their passkey first (its script:)
    POST /reveal/{token}/options   the passkey's authentication options for this reveal
    POST /reveal/{token}           {"credential"}: the passkey's answer; the values, once

A link unknown, expired or used is a 410; someone who may not decide the approval, a 403; Redis out of reach, a 503.
The values are never cached (`no-store`), never sent as a referrer, escaped (`html.escape`), and the page hides them
after `SHOWN_SECONDS` (its inline script, allowed by a nonce; without scripts, the page reloads to a used link)."""

from __future__ import annotations

import html
import json
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
            if await reveal.needs_passkey(token):  # its values after the person's passkey (the page's script)
                return _page(CONFIRM, nonce=nonce, script=True)
            return _page(_values_body(await reveal.show(token)), nonce=nonce, refresh=True)
        except StepUpError as exc:
            return _page(f'<p data-testid="message">{html.escape(exc.message)}</p>', nonce=nonce, status=exc.status)
        except StoreUnavailable:
            return _page(f'<p data-testid="message">{html.escape(STORAGE_DOWN)}</p>', nonce=nonce, status=503)

    async def answer(request: web.Request, work: Callable[[Reveal, str], Awaitable[object]]) -> web.Response:
        """A page script's call: signed in as the link's person, `work` done; a refusal is its status and error."""
        token = request.match_info["token"]
        try:
            reveal = await reveal_of(token)
            user, approval = await reveal.usable(token)
            await signin.require(request, person=user, page=f"/reveal/{token}", approval=approval)
            return web.json_response(await work(reveal, token), headers=HEADERS)
        except StepUpError as exc:
            return web.json_response({"error": exc.message}, status=exc.status, headers=HEADERS)
        except StoreUnavailable:
            return web.json_response({"error": STORAGE_DOWN}, status=503, headers=HEADERS)

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


CONFIRM = ('<p>This approval needs your passkey before its hidden values are shown.</p>'
           '<button id="confirm" data-testid="confirm-reveal" type="button">Show them with my passkey</button>'
           '<p id="status" data-testid="status" role="status"></p><table id="values" hidden><tr><th>Where</th>'
           '<th>Kind</th><th>Value</th></tr></table><p id="expired" data-testid="expired" hidden>The values are hidden'
           ' again. Click “Show hidden values” on the card to see them once more.</p>')
# The confirm page's script: the passkey's answer to this reveal's options, posted; the values it gets shown as text
# (never as markup), hidden again after SHOWN_SECONDS.
CONFIRM_SCRIPT = r"""
const toBytes = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
const toText = (b) => btoa(String.fromCharCode(...new Uint8Array(b)))
  .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const status = document.getElementById("status");
async function post(url, body) {
  const answer = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" },
                                    body: JSON.stringify(body || {}), credentials: "same-origin" });
  const said = await answer.json().catch(() => ({ error: "The bot answered " + answer.status + "." }));
  if (!answer.ok) throw new Error(said.error || ("The bot answered " + answer.status + "."));
  return said;
}
document.getElementById("confirm").addEventListener("click", async () => {
  const button = document.getElementById("confirm");
  button.disabled = true;
  try {
    status.textContent = "Asking your browser for your passkey…";
    const options = await post(location.pathname + "/options");
    options.challenge = toBytes(options.challenge);
    options.allowCredentials = (options.allowCredentials || []).map((c) => ({ ...c, id: toBytes(c.id) }));
    const got = await navigator.credentials.get({ publicKey: options });
    const r = got.response;
    const credential = { id: got.id, rawId: toText(got.rawId), type: got.type,
      authenticatorAttachment: got.authenticatorAttachment || undefined,
      clientExtensionResults: got.getClientExtensionResults(),
      response: { clientDataJSON: toText(r.clientDataJSON), authenticatorData: toText(r.authenticatorData),
                  signature: toText(r.signature), userHandle: r.userHandle ? toText(r.userHandle) : undefined } };
    const done = await post(location.pathname, { credential: credential });
    const table = document.getElementById("values");
    for (const v of done.values) {
      const row = table.insertRow();
      row.dataset.testid = "hidden-value";
      row.insertCell().textContent = v.where;
      row.insertCell().textContent = v.kind;
      const code = document.createElement("code");
      code.dataset.testid = "value";
      code.textContent = v.value;
      row.insertCell().appendChild(code);
    }
    button.remove();
    table.hidden = false;
    status.textContent = "Shown once, for " + done.shown_seconds + " seconds; this view is audited.";
    setTimeout(() => { table.remove(); document.getElementById("expired").hidden = false; },
               done.shown_seconds * 1000);
  } catch (error) {
    button.disabled = false;
    status.textContent = (error && error.name === "NotAllowedError")
      ? "No passkey answered: it was cancelled or timed out. Nothing was shown; try again (the link still works)."
      : ((error && error.message) || String(error));
  }
});
"""


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


def _page(body: str, *, nonce: str, status: int = 200, refresh: bool = False, script: bool = False) -> web.Response:
    policy = (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; base-uri 'none';"
              " connect-src 'self'; form-action 'self'; frame-ancestors 'none'")
    code = (f'<script nonce="{nonce}">setTimeout(() => {{ document.getElementById("values").remove();'
            f' document.getElementById("expired").hidden = false; }}, {SHOWN_SECONDS * 1000});</script>'
            if refresh else f'<script nonce="{nonce}">{CONFIRM_SCRIPT}</script>' if script else "")
    meta = f'<meta http-equiv="refresh" content="{SHOWN_SECONDS}">' if refresh else ""
    text = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">'
            f'{meta}<title>Agent approvals: hidden values</title><style nonce="{nonce}">{STYLE}</style></head><body>'
            f"<h1>Hidden values</h1>{body}{SIGN_OUT}{code}</body></html>")
    return web.Response(text=text, status=status, content_type="text/html",
                        headers={**HEADERS, "Content-Security-Policy": policy, "Pragma": "no-cache",
                                 "Expires": "0"})
