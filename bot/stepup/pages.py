"""The step-up pages on the worker's HTTP server (mounted by `bot/server.py`):

    GET  /step-up/enrol/{token}           a small page: whose link it is, a field to name the passkey, a button
                                          (first, for a person who has a passkey: a button to confirm with it)
    POST /step-up/enrol/{token}/confirm/options   the authentication options one of the person's passkeys answers
    POST /step-up/enrol/{token}/confirm   {"credential"}: that assertion verified, the link confirmed (`vouched`)
    POST /step-up/enrol/{token}/options   the registration options (JSON), their challenge kept with the link
    POST /step-up/enrol/{token}           {"name", "credential"}: the passkey verified and stored, the link taken
    GET  /step-up/vote/{token}            the exact action a step-up Approve confirms, and a button
    POST /step-up/vote/{token}/options    the authentication options (JSON): the vote's challenge
    POST /step-up/vote/{token}            {"credential"}: the assertion verified, the Approve counted, the link taken

Each is used only by its link's person, signed in with Slack (`bot.signin`: a page not signed in is sent to sign
in, another person or an outsider is refused, audited); a link unknown, expired or used is answered first (410).
No external asset: the page's script is inline (allowed by its nonce in the Content-Security-Policy), every text it
shows is escaped (`html.escape`), and it is never cached nor sent as a referrer (the token is in its URL). Bad input
is a 400 with a JSON `{"error": ...}` saying what is wrong; a link unknown, expired or used is a 410; a vote whose
approval no longer waits for it, a 409; Redis out of reach, a 503 (try again). Every body is read by one helper
(`_read_json`: JSON, at most 64 KiB, nested at most `MAX_DEPTH` deep), and a catch-all (`page_errors`, mounted with
the routes) answers an error no check foresaw while reading a request (ValueError, TypeError, KeyError,
RecursionError...) as a 400 too: a parser never makes a 500 of bad input. Another fault of the bot is a 500 that says
so in JSON (logged, never its trace)."""

from __future__ import annotations

import html
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from agent_approvals.schemas import depth_of
from aiohttp import web
from aiohttp.typedefs import Handler

from bot.signin import SIGN_OUT, SignIn
from bot.stepup.enrolment import Enrolment, StepUpError
from bot.stepup.votes import Action, Confirmation
from bot.store import StoreUnavailable

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024  # a registration's JSON is a few kilobytes
MAX_DEPTH = 16  # objects and arrays within each other in a body (a browser's answer: 4)
PAGES = "/step-up/"
UNREAD = "The request could not be read ({what}): send the JSON this page sends."
FAULT = "The bot failed to answer this request (its log says why): try again, or tell its operator."
STORAGE_DOWN = "The bot cannot reach its storage right now: try again in a minute (the link still works)."
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}


Parts = Callable[[str], Awaitable[tuple[Enrolment, Confirmation]]]


def add_stepup_routes(app: web.Application, enrolment: Enrolment, confirmation: Confirmation,
                      signin: SignIn, *, parts_for: Parts | None = None) -> None:
    """The pages and endpoints; each is used only by its link's person, signed in (`bot.signin`). `parts_for`: the
    enrolment and votes of a link's tenant (`bot.tenancy`: a link minted in another workspace resolves its person and
    approval in that workspace's data); None: these serve every link."""
    app.middlewares.append(page_errors)

    async def enrolment_of(request: web.Request) -> Enrolment:
        return enrolment if parts_for is None else (await parts_for(request.match_info["token"]))[0]

    async def confirmation_of(request: web.Request) -> Confirmation:
        return confirmation if parts_for is None else (await parts_for(request.match_info["token"]))[1]

    async def enrolling(request: web.Request) -> str:
        """The enrolment link's token, once its person is the one signed in (else the answer, raised)."""
        token = request.match_info["token"]
        found = await (await enrolment_of(request)).usable(token)
        await signin.require(request, person=found.user, page=f"/step-up/enrol/{token}")
        return token

    async def voting(request: web.Request) -> str:
        token = request.match_info["token"]
        found = await (await confirmation_of(request)).usable(token)
        await signin.require(request, person=found.user, page=f"/step-up/vote/{token}", approval=found.approval)
        return token

    async def enrol_page(request: web.Request) -> web.Response:
        async def body() -> str:
            _, name, confirm_first = await (await enrolment_of(request)).person(await enrolling(request))
            return _enrol_body(name, confirm_first=confirm_first)

        return await _html(body)

    async def enrol_options(request: web.Request) -> web.Response:
        async def options() -> dict[str, Any]:
            return await (await enrolment_of(request)).options(await enrolling(request))

        return await _answer(options)

    async def confirm_options(request: web.Request) -> web.Response:
        async def options() -> dict[str, Any]:
            return await (await enrolment_of(request)).confirm_options(await enrolling(request))

        return await _answer(options)

    async def confirm(request: web.Request) -> web.Response:
        async def confirmed() -> dict[str, object]:
            body = await _read_json(request)  # bad input is a 400 before any link or sign-in is looked at
            name = await (await enrolment_of(request)).confirm(await enrolling(request), body)
            return {"ok": True, "message": f"Confirmed with your passkey “{name}”. Now name the new one."}

        return await _answer(confirmed)

    async def enrol_finish(request: web.Request) -> web.Response:
        # the passkey is stored and the link taken in one step: neither happened, or both
        async def finish() -> dict[str, object]:
            body = await _read_json(request)
            passkey = await (await enrolment_of(request)).finish(await enrolling(request), body)
            return {"ok": True, "name": passkey.name}

        return await _answer(finish)

    async def vote_page(request: web.Request) -> web.Response:
        async def body() -> str:
            return _vote_body(await (await confirmation_of(request)).action(await voting(request)))

        return await _html(body)

    async def vote_options(request: web.Request) -> web.Response:
        async def options() -> dict[str, Any]:
            return await (await confirmation_of(request)).options(await voting(request))

        return await _answer(options)

    async def vote_finish(request: web.Request) -> web.Response:
        async def finish() -> dict[str, object]:
            body = await _read_json(request)
            result = await (await confirmation_of(request)).finish(await voting(request), body)
            approval = result.approval
            if result.status == "vote" and approval is not None:
                said = (f"Your approval counts: {len(approval.voters)} of {approval.required_approvals}. You can close"
                        " this page.")
            else:
                said = "Approved. You can close this page."
            return {"ok": True, "status": result.status, "message": said}

        return await _answer(finish)

    app.router.add_get("/step-up/enrol/{token}", enrol_page)
    app.router.add_post("/step-up/enrol/{token}/options", enrol_options)
    app.router.add_post("/step-up/enrol/{token}/confirm/options", confirm_options)
    app.router.add_post("/step-up/enrol/{token}/confirm", confirm)
    app.router.add_post("/step-up/enrol/{token}", enrol_finish)
    app.router.add_get("/step-up/vote/{token}", vote_page)
    app.router.add_post("/step-up/vote/{token}/options", vote_options)
    app.router.add_post("/step-up/vote/{token}", vote_finish)


async def _html(body: Callable[[], Awaitable[str]]) -> web.Response:
    """A page whose body `body` makes; a refusal or Redis out of reach is a page saying so, with its status."""
    nonce = secrets.token_urlsafe(16)
    try:
        return _page(await body(), nonce=nonce)
    except StepUpError as exc:
        return _page(_message_body(exc.message), nonce=nonce, status=exc.status)
    except StoreUnavailable:
        return _page(_message_body(STORAGE_DOWN), nonce=nonce, status=503)


async def _answer(work: Callable[[], Awaitable[object]]) -> web.Response:
    """`work`'s JSON answer; a refusal is its status and `{"error": ...}`, Redis out of reach a 503."""
    try:
        return _json(await work())
    except StepUpError as exc:
        return _error(exc)
    except StoreUnavailable:
        return _error(StepUpError(503, STORAGE_DOWN))


async def _read_json(request: web.Request) -> object:
    if request.content_type != "application/json":
        raise StepUpError(400, "Send JSON (Content-Type: application/json).")
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise StepUpError(400, f"The request is too large (at most {MAX_BODY // 1024} KiB).")
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise StepUpError(400, f"The request is too large (at most {MAX_BODY // 1024} KiB).")
    nested = StepUpError(400, f"The request is nested too deep (objects and arrays at most {MAX_DEPTH} levels).")
    try:
        data = json.loads(raw)
    except RecursionError:  # not a ValueError: the parser gave up a thousand levels down
        raise nested from None
    except (ValueError, TypeError):  # UnicodeDecodeError is a ValueError
        raise StepUpError(400, "The request is not valid JSON.") from None
    if depth_of(data) > MAX_DEPTH:
        raise nested
    return data


@web.middleware
async def page_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The pages' catch-all: an error no check foresaw while reading a request is a 400 saying so, another fault a
    500 saying so (logged); never aiohttp's bare 500. Other paths than the pages' pass untouched."""
    if not request.path.startswith(PAGES):
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError) as exc:
        log.warning("%s %s could not be read: %s", request.method, _route(request), type(exc).__name__)
        return _caught(request, StepUpError(400, UNREAD.format(what=type(exc).__name__)))
    except Exception:
        log.exception("%s %s failed", request.method, _route(request))
        return _caught(request, StepUpError(500, FAULT))


def _route(request: web.Request) -> str:
    """The request's route, never its path (a link's token is in it)."""
    return request.match_info.route.resource.canonical if request.match_info.route.resource else PAGES


def _caught(request: web.Request, exc: StepUpError) -> web.Response:
    """A caught error's answer in the form the request expects: a page for a GET, JSON otherwise."""
    if request.method == "GET":
        return _page(_message_body(exc.message), nonce=secrets.token_urlsafe(16), status=exc.status)
    return _error(exc)


def _json(data: object, *, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, headers=HEADERS)


def _error(exc: StepUpError) -> web.Response:
    return _json({"error": exc.message}, status=exc.status)


def _page(body: str, *, nonce: str, status: int = 200) -> web.Response:
    policy = (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self';"
              " base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
    text = PAGE.replace("{nonce}", nonce).replace("{body}", body + SIGN_OUT)
    return web.Response(text=text, status=status, content_type="text/html",
                        headers={**HEADERS, "Content-Security-Policy": policy})


def _message_body(message: str) -> str:
    return f'<h1>Passkey</h1><p data-testid="message">{html.escape(message)}</p>'


def _enrol_body(name: str, *, confirm_first: bool = False) -> str:
    """The enrolment page's body; with `confirm_first`, a passkey the person has confirms the link before the form
    that makes the new one shows."""
    first = ('<form id="vouch"><p>You have a passkey already: confirm with it first, so that nobody with only your'
             ' Slack session adds one.</p><button id="confirm-first" type="submit">Confirm with a passkey I have'
             '</button></form>') if confirm_first else ""
    return (
        f'<h1>Set up a passkey</h1><p>For <strong data-testid="person">{html.escape(name)}</strong>. This link works'
        f" once, for 10 minutes. Your passkey will confirm risky approvals you vote on.</p>{first}"
        f'<form id="enrol"{" hidden" if confirm_first else ""}><label for="name">Name this passkey</label>'
        '<input id="name" name="name" maxlength="40" required placeholder="laptop" autocomplete="off">'
        '<button id="create" type="submit">Create passkey</button></form>'
        '<p id="status" data-testid="status" role="status"></p>'
    )


def _vote_body(action: Action) -> str:
    approval = action.approval
    what = (f'<dt>Tool</dt><dd><code data-testid="tool">{html.escape(approval.tool_name)}</code></dd>'
            f'<dt>Arguments</dt><dd><pre data-testid="arguments">{html.escape(action.arguments)}</pre></dd>'
            if approval.kind == "tool_call" else
            f'<dt>{"Code" if approval.kind == "code" else "Message"}</dt>'
            f'<dd><pre data-testid="arguments">{html.escape(action.arguments)}</pre></dd>')
    amounts = "".join(f'<dd data-testid="amount">{html.escape(line)}</dd>' for line in action.amount_lines)
    quorum = (f"<p>{approval.required_approvals} approvals are needed; yours is one of them.</p>"
              if approval.required_approvals > 1 else "")
    return (
        f'<h1>Confirm your approval</h1><p>For <strong data-testid="person">{html.escape(action.person)}</strong>.'
        " Your passkey confirms that you approve exactly this action; this link works once, for 5 minutes.</p>"
        f'<dl><dt>Request</dt><dd data-testid="title">{html.escape(approval.task[:300])}</dd>{what}'
        + (f'<dt>Why a person decides</dt><dd data-testid="why">{html.escape(approval.policy_reason[:500])}</dd>'
           if approval.policy_reason else "")
        + '<dt>Arguments digest (SHA-256)</dt>'
        + f'<dd><code data-testid="digest">{html.escape(approval.digest)}</code></dd>'
        + (f"<dt>Amount</dt>{amounts}" if amounts else "")
        + f'<dt>Approval</dt><dd><code>{html.escape(approval.id)}</code></dd></dl>{quorum}'
        '<form id="vote"><button id="confirm" type="submit">Approve with my passkey</button></form>'
        '<p id="status" data-testid="status" role="status"></p>'
    )


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>Agent approvals: passkey</title>
<style nonce="{nonce}">
body { font: 16px/1.5 system-ui, sans-serif; max-width: 32rem; margin: 3rem auto; padding: 0 1rem; color: #1d1c1d; }
input { display: block; width: 100%; box-sizing: border-box; padding: .5rem; margin: .25rem 0 1rem; font: inherit; }
pre { white-space: pre-wrap; word-break: break-all; background: #f8f8f8; padding: .5rem; }
code { word-break: break-all; }
dt { font-weight: 600; margin-top: .5rem; }
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
// The browser's NotAllowedError says only "timed out or was not allowed" (and links a spec): say what it means here
function failed(error, none) {
  return error && error.name === "NotAllowedError" ? none : ((error && error.message) || String(error));
}
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
    say(failed(error, "No passkey was made: it was cancelled or timed out. Nothing was set up; try again."), true);
  }
});
// An assertion as the bot reads it: the browser's answer to `navigator.credentials.get`, base64url
async function asserted(url) {
  const options = await post(url);
  options.challenge = toBytes(options.challenge);
  options.allowCredentials = (options.allowCredentials || []).map((c) => ({ ...c, id: toBytes(c.id) }));
  const got = await navigator.credentials.get({ publicKey: options });
  const response = got.response;
  return { id: got.id, rawId: toText(got.rawId), type: got.type,
    authenticatorAttachment: got.authenticatorAttachment || undefined,
    clientExtensionResults: got.getClientExtensionResults(),
    response: { clientDataJSON: toText(response.clientDataJSON),
                authenticatorData: toText(response.authenticatorData),
                signature: toText(response.signature),
                userHandle: response.userHandle ? toText(response.userHandle) : undefined } };
}
const vouch = document.getElementById("vouch");
if (vouch) vouch.addEventListener("submit", async (event) => {
  event.preventDefault();
  document.getElementById("confirm-first").disabled = true;
  try {
    say("Asking your browser for one of your passkeys…");
    const credential = await asserted(location.pathname + "/confirm/options");
    const done = await post(location.pathname + "/confirm", { credential: credential });
    vouch.remove();
    form.hidden = false;
    say(done.message);
  } catch (error) {
    document.getElementById("confirm-first").disabled = false;
    say(failed(error, "No passkey of yours answered: it was cancelled or timed out, or none is on this device."
      + " Nothing was added; try again (the link still works)."), true);
  }
});
const vote = document.getElementById("vote");
if (vote) vote.addEventListener("submit", async (event) => {
  event.preventDefault();
  document.getElementById("confirm").disabled = true;
  try {
    say("Asking your browser for your passkey…");
    const credential = await asserted(location.pathname + "/options");
    const done = await post(location.pathname, { credential: credential });
    vote.remove();
    say(done.message);
  } catch (error) {
    document.getElementById("confirm").disabled = false;
    say(failed(error, "No passkey answered: it was cancelled or timed out, or none of the passkeys this link allows"
      + " is on this device. Nothing was approved; try again (the link still works)."), true);
  }
});
</script></body></html>
"""
