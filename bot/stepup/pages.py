"""The step-up pages on the worker's HTTP server (mounted by `bot/server.py`):

    GET  /step-up/enrol/{token}           a small page: whose link it is, a field to name the passkey, a button
    POST /step-up/enrol/{token}/options   the registration options (JSON), their challenge kept with the link
    POST /step-up/enrol/{token}           {"name", "credential"}: the passkey verified and stored, the link taken

No external asset: the page's script is inline (allowed by its nonce in the Content-Security-Policy), every text it
shows is escaped (`html.escape`), and it is never cached nor sent as a referrer (the token is in its URL). Bad input
is a 400 with a JSON `{"error": ...}` saying what is wrong; a link unknown, expired or used is a 410; Redis out of
reach, a 503 (try again)."""

from __future__ import annotations

import html
import json
import secrets

from aiohttp import web

from bot.stepup.enrolment import Enrolment, StepUpError
from bot.store import StoreUnavailable

MAX_BODY = 64 * 1024  # a registration's JSON is a few kilobytes
STORAGE_DOWN = "The bot cannot reach its storage right now: try again in a minute (the link still works)."
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}


def add_stepup_routes(app: web.Application, enrolment: Enrolment) -> None:
    async def page(request: web.Request) -> web.Response:
        nonce = secrets.token_urlsafe(16)
        try:
            _, name = await enrolment.person(request.match_info["token"])
        except StepUpError as exc:
            return _page(_message_body(exc.message), nonce=nonce, status=exc.status)
        except StoreUnavailable:
            return _page(_message_body(STORAGE_DOWN), nonce=nonce, status=503)
        return _page(_enrol_body(name), nonce=nonce)

    async def options(request: web.Request) -> web.Response:
        try:
            return _json(await enrolment.options(request.match_info["token"]))
        except StepUpError as exc:
            return _error(exc)
        except StoreUnavailable:
            return _error(StepUpError(503, STORAGE_DOWN))

    async def finish(request: web.Request) -> web.Response:
        try:
            body = await _read_json(request)
            passkey = await enrolment.finish(request.match_info["token"], body)
        except StepUpError as exc:
            return _error(exc)
        except StoreUnavailable:  # the passkey is stored and the link taken in one step: neither happened, or both
            return _error(StepUpError(503, STORAGE_DOWN))
        return _json({"ok": True, "name": passkey.name})

    app.router.add_get("/step-up/enrol/{token}", page)
    app.router.add_post("/step-up/enrol/{token}/options", options)
    app.router.add_post("/step-up/enrol/{token}", finish)


async def _read_json(request: web.Request) -> object:
    if request.content_type != "application/json":
        raise StepUpError(400, "Send JSON (Content-Type: application/json).")
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise StepUpError(400, f"The request is too large (at most {MAX_BODY // 1024} KiB).")
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise StepUpError(400, f"The request is too large (at most {MAX_BODY // 1024} KiB).")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise StepUpError(400, "The request is not valid JSON.") from None


def _json(data: object, *, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, headers=HEADERS)


def _error(exc: StepUpError) -> web.Response:
    return _json({"error": exc.message}, status=exc.status)


def _page(body: str, *, nonce: str, status: int = 200) -> web.Response:
    policy = (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self';"
              " base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    text = PAGE.replace("{nonce}", nonce).replace("{body}", body)
    return web.Response(text=text, status=status, content_type="text/html",
                        headers={**HEADERS, "Content-Security-Policy": policy})


def _message_body(message: str) -> str:
    return f'<h1>Passkey</h1><p data-testid="message">{html.escape(message)}</p>'


def _enrol_body(name: str) -> str:
    return (
        f'<h1>Set up a passkey</h1><p>For <strong data-testid="person">{html.escape(name)}</strong>. This link works'
        " once, for 10 minutes. Your passkey will confirm risky approvals you vote on.</p>"
        '<form id="enrol"><label for="name">Name this passkey</label>'
        '<input id="name" name="name" maxlength="40" required placeholder="laptop" autocomplete="off">'
        '<button id="create" type="submit">Create passkey</button></form>'
        '<p id="status" data-testid="status" role="status"></p>'
    )


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>Agent approvals: passkey</title>
<style nonce="{nonce}">
body { font: 16px/1.5 system-ui, sans-serif; max-width: 32rem; margin: 3rem auto; padding: 0 1rem; color: #1d1c1d; }
input { display: block; width: 100%; box-sizing: border-box; padding: .5rem; margin: .25rem 0 1rem; font: inherit; }
button { padding: .5rem 1rem; font: inherit; background: #007a5a; color: #fff; border: 0; border-radius: 4px; }
#status.error { color: #b00020; }
</style></head><body>
{body}
<script nonce="{nonce}">
"use strict";
const toBytes = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
const toText = (b) => btoa(String.fromCharCode(...new Uint8Array(b)))
  .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
const form = document.getElementById("enrol");
const status = document.getElementById("status");
function say(text, error) { status.textContent = text; status.className = error ? "error" : ""; }
async function post(url, body) {
  const answer = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" },
                                    body: JSON.stringify(body || {}), credentials: "same-origin" });
  const said = await answer.json().catch(() => ({ error: "The bot answered " + answer.status + "." }));
  if (!answer.ok) throw new Error(said.error || ("The bot answered " + answer.status + "."));
  return said;
}
if (form) form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = document.getElementById("name").value.trim();
  document.getElementById("create").disabled = true;
  try {
    say("Asking your browser for a passkey…");
    const options = await post(location.pathname + "/options");
    options.challenge = toBytes(options.challenge);
    options.user.id = toBytes(options.user.id);
    options.excludeCredentials = (options.excludeCredentials || []).map((c) => ({ ...c, id: toBytes(c.id) }));
    const made = await navigator.credentials.create({ publicKey: options });
    const response = made.response;
    const credential = { id: made.id, rawId: toText(made.rawId), type: made.type,
      authenticatorAttachment: made.authenticatorAttachment || undefined,
      clientExtensionResults: made.getClientExtensionResults(),
      response: { clientDataJSON: toText(response.clientDataJSON),
                  attestationObject: toText(response.attestationObject),
                  transports: response.getTransports ? response.getTransports() : [] } };
    const done = await post(location.pathname, { name: name, credential: credential });
    form.remove();
    say("Passkey “" + done.name + "” is set up. You can close this page.");
  } catch (error) {
    document.getElementById("create").disabled = false;
    say(error.message || String(error), true);
  }
});
</script></body></html>
"""
