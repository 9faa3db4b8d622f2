"""Enrolment through the worker's pages (`/step-up/enrol/<token>`), as a browser would use them: the page, the
options, the verified registration; a link works once, for its person only, for 10 minutes; every bad input is a
400 (or 410 for a link that cannot be used) with a clear message, never a 500."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from webauthn.helpers import bytes_to_base64url

from bot.core.passkeys import credential_digest
from bot.stepup.enrolment import Enrolment, StepUpError
from bot.stepup.pages import _enrol_page, _message_page, page_response, page_text
from bot.stepup.reveal_page import _page as reveal_page
from bot.stepup.reveal_page import message_page as reveal_message
from tests.conftest import ALICE, BOB, Worker
from tests.support.passkeys import Authenticator, registration, user_id_of
from tests.support.stepup import ORIGIN, vouch

STYLES = "default-src 'none'; style-src 'nonce-N'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
SCRIPTS = ("default-src 'none'; script-src 'nonce-N'; style-src 'nonce-N'; connect-src 'self'; base-uri 'none';"
           " form-action 'self'; frame-ancestors 'none'")


def test_every_step_up_page_answers_with_the_pages_policy() -> None:
    """One answer for bot/stepup's pages: never kept, styles (and a page's scripts and their calls home) by its
    nonce alone, never framed; the reveal's page of secrets says Pragma and Expires too."""
    styled = page_response(_message_page("Done."), nonce="N", status=404)
    assert (styled.status, styled.content_type, styled.headers["Content-Security-Policy"]) == (404, "text/html", STYLES)
    assert styled.headers["Cache-Control"] == "no-store" and "Pragma" not in styled.headers
    scripted = page_response(_message_page("Done."), nonce="N", scripts=True)
    assert scripted.headers["Content-Security-Policy"] == SCRIPTS and 'nonce="N"' in (scripted.text or "")
    revealing = reveal_page(reveal_message("Gone."), nonce="N")
    assert revealing.headers["Content-Security-Policy"] == SCRIPTS
    assert (revealing.headers["Pragma"], revealing.headers["Expires"]) == ("no-cache", "0")


async def link(worker: Worker, user: str = ALICE) -> str:
    """The path of a new one-time link (on the worker: the link's origin is ORIGIN, the browser's)."""
    url = await worker.services.stepup.link(user)
    assert url.startswith(ORIGIN + "/step-up/enrol/")
    return url.removeprefix(ORIGIN)


async def post(http: aiohttp.ClientSession, url: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
    sent = {"json": body} if body is not None else kwargs
    async with http.post(url, **sent) as answer:
        assert answer.content_type == "application/json"
        return answer.status, await answer.json()


async def enrol(http: aiohttp.ClientSession, worker: Worker, path: str, name: str = "laptop") -> tuple[int, Any]:
    status, options = await post(http, worker.url + path + "/options", {})
    assert status == 200, options
    return await post(http, worker.url + path, {"name": name, "credential": registration(options, origin=ORIGIN)})


async def test_a_person_enrols_a_passkey_once_and_it_is_audited(stepup: Worker, http: aiohttp.ClientSession) -> None:
    path = await link(stepup)
    async with http.get(stepup.url + path) as page:
        assert page.status == 200 and page.content_type == "text/html"
        text = await page.text()
        assert "Set up a passkey" in text and ("Alice Example" in text or ">alice<" in text)
        assert "script-src 'nonce-" in page.headers["Content-Security-Policy"]
        assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"
        assert "<script src" not in text and "http" not in text.split("<script", 1)[1]  # no external asset
    status, options = await post(http, stepup.url + path + "/options", {})
    assert status == 200
    assert options["rp"] == {"id": "localhost", "name": "Agent approvals"}
    assert user_id_of(options) == ALICE
    assert options["authenticatorSelection"]["userVerification"] == "required"
    alices = Authenticator()
    answer = alices.register(options, origin=ORIGIN)
    status, said = await post(http, stepup.url + path, {"name": " laptop ", "credential": answer})
    assert (status, said) == (200, {"ok": True, "name": "laptop"})
    [passkey] = await stepup.services.store.passkeys.of(ALICE)
    assert passkey.name == "laptop" and passkey.credential_id == answer["id"] and passkey.transports == ("internal",)
    [entry] = [e for e in await stepup.services.store.audit.entries() if e["event"] == "passkey_enrolled"]
    assert entry["by"] == ALICE and entry["passkey"] == credential_digest(answer["id"]) and entry["name"] == "laptop"
    assert passkey.public_key not in str(entry) and answer["id"] not in str(entry)  # never the key, nor the id
    # the same link a second time: refused, clearly
    async with http.get(stepup.url + path) as page:
        assert page.status == 410 and "already used" in await page.text()
    for url in (path + "/options", path):
        status, said = await post(http, stepup.url + url, {"name": "again", "credential": answer})
        assert status == 410 and "unknown, expired or already used" in said["error"]
    # a second passkey (another link, confirmed by the first): both listed; the first is excluded from the new options
    second = await link(stepup)
    status, said = await vouch(http, stepup, second, alices)
    assert status == 200, said
    status, options = await post(http, stepup.url + second + "/options", {})
    assert [c["id"] for c in options["excludeCredentials"]] == [answer["id"]]
    status, said = await post(http, stepup.url + second, {"name": "phone",
                                                          "credential": registration(options, origin=ORIGIN)})
    assert status == 200
    assert [p.name for p in await stepup.services.store.passkeys.of(ALICE)] == ["laptop", "phone"]


async def test_a_link_enrols_only_its_own_person(stepup: Worker, http: aiohttp.ClientSession) -> None:
    """Bob's link makes Bob's passkey, whoever opens it: nothing in a request names the person."""
    path = await link(stepup, BOB)
    status, options = await post(http, stepup.url + path + "/options", {"user": ALICE})
    assert status == 200 and user_id_of(options) == BOB
    answer = registration(options, origin=ORIGIN)
    status, _ = await post(http, stepup.url + path, {"name": "laptop", "credential": answer, "user": ALICE})
    assert status == 200
    assert await stepup.services.store.passkeys.of(ALICE) == []
    assert [p.credential_id for p in await stepup.services.store.passkeys.of(BOB)] == [answer["id"]]


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_an_expired_link_is_refused(stepup: Worker, http: aiohttp.ClientSession) -> None:
    token = await stepup.services.store.passkeys.issue_token(ALICE, seconds=1)
    await asyncio.sleep(1.2)
    async with http.get(f"{stepup.url}/step-up/enrol/{token}") as page:
        assert page.status == 410 and "expired" in await page.text()
    status, said = await post(http, f"{stepup.url}/step-up/enrol/{token}/options", {})
    assert status == 410 and "Set up a passkey" in said["error"]


async def test_bad_input_is_a_400_with_a_clear_message_and_the_link_still_works(
    stepup: Worker, http: aiohttp.ClientSession
) -> None:
    path = await link(stepup)
    url = stepup.url + path
    status, said = await post(http, url, {"name": "laptop", "credential": {}})
    assert status == 400 and "options first" in said["error"]  # no challenge yet
    status, options = await post(http, url + "/options", {})
    good = registration(options, origin=ORIGIN)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"data": b"not json", "headers": {"Content-Type": "application/json"}}, "not valid JSON"),
        ({"data": b"name=laptop", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}, "Send JSON"),
        ({"json": ["a", "list"]}, "JSON object"),
        ({"json": {"credential": good}}, "Name the passkey"),
        ({"json": {"name": "x" * 41, "credential": good}}, "Name the passkey"),
        ({"json": {"name": "laptop"}}, "No passkey was sent"),
        ({"json": {"name": "laptop", "credential": "a string"}}, "No passkey was sent"),
        ({"json": {"name": "laptop", "credential": {"id": 3, "response": None}}}, "not accepted"),
        ({"json": {"name": "laptop", "credential": {**good, "response": {"clientDataJSON": "%%%"}}}}, "not accepted"),
        ({"json": {"name": "laptop", "credential": registration(options, origin="https://evil.example")}},
         "not accepted"),
        ({"json": {"name": "laptop", "credential": registration(options, origin=ORIGIN, rp_id="evil.example")}},
         "not accepted"),
        ({"json": {"name": "laptop", "credential": registration(
            options, origin=ORIGIN, challenge=bytes_to_base64url(b"another challenge"))}}, "not accepted"),
        ({"json": {"name": "laptop", "credential": registration(options, origin=ORIGIN, verified=False)}},
         "not accepted"),
        ({"data": b"{" + b" " * 70_000 + b"}", "headers": {"Content-Type": "application/json"}}, "too large"),
    ]
    for sent, words in cases:
        async with http.post(url, **sent) as answer:
            said = await answer.json()
            assert answer.status == 400 and words in said["error"], (sent.keys(), answer.status, said)
    status, said = await post(http, url, {"name": "laptop", "credential": good})
    assert status == 200, said  # none of the above used the link up
    for bad in ("short", "A" * 43, "dots.are.not.in.a.token.dots.are.not.in.a.token", "a" * 65):
        status, said = await post(http, f"{stepup.url}/step-up/enrol/{bad}/options", {})
        assert status == 410 and "unknown" in said["error"]
        async with http.get(f"{stepup.url}/step-up/enrol/{bad}") as page:
            assert page.status == 410


async def told(person: str, text: str) -> None:
    """A direct message nobody reads."""


async def test_without_a_relying_party_links_are_refused_clearly(stepup: Worker) -> None:
    """No STEP_UP_URL nor PUBLIC_URL (or an IP address): nobody is given a link that cannot work."""
    off = Enrolment(stepup.services.store, stepup.services.directory, None, changed=stepup.services.homes.mark_due,
                    tell=told)
    with pytest.raises(StepUpError) as refused:
        await off.link(ALICE)
    assert refused.value.status == 503 and "STEP_UP_URL" in refused.value.message


def test_what_the_page_shows_is_escaped() -> None:
    enrol = page_text(_enrol_page("<b>Eve</b>"), nonce="n")
    assert "<b>" not in enrol and "&lt;b&gt;Eve&lt;/b&gt;" in enrol
    assert "&lt;script&gt;" in page_text(_message_page("<script>"), nonce="n")
