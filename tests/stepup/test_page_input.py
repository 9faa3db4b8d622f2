"""The passkey pages' endpoints answer whatever anyone sends with a 400 and a message, never a 500 (#63.4): a body
nested a thousand deep, sent before any token is checked (anyone can), a registration whose `transports` is not a
list of words; and a catch-all answers an error while reading a request as a 400 too. Against a real worker over
HTTP, with redis-server and the Slack stand-in."""

from __future__ import annotations

import socket

import aiohttp
from aiohttp import web

from bot.stepup.pages import page_errors
from tests.conftest import ALICE, Worker
from tests.support.passkeys import registration
from tests.support.stepup import ORIGIN, post

DEEP = (b"[" * 1000 + b"]" * 1000, b'{"a":' * 1000 + b"1" + b"}" * 1000, b'{"credential":' * 3000 + b"{}" +
        b"}" * 3000)
UNKNOWN = "A" * 43  # a well-formed token no link has


async def test_a_deeply_nested_body_is_a_400_before_any_token_is_checked(stepup: Worker,
                                                                       http: aiohttp.ClientSession) -> None:
    path = (await stepup.services.stepup.link(ALICE)).removeprefix(ORIGIN)
    for url in (f"/step-up/enrol/{UNKNOWN}", f"/step-up/vote/{UNKNOWN}", f"/step-up/enrol/{UNKNOWN}/confirm", path):
        for body in DEEP:
            async with http.post(stepup.url + url, data=body, headers={"Content-Type": "application/json"}) as answer:
                said = await answer.json()
                assert answer.status == 400 and "nested" in said["error"], (url, body[:20], answer.status, said)
    # a body shallow enough for the parser but deeper than a browser's answer ever is: refused the same way
    shallow = b'{"name":"laptop","credential":' + b'{"a":' * 60 + b"1" + b"}" * 61
    async with http.post(stepup.url + path, data=shallow, headers={"Content-Type": "application/json"}) as answer:
        assert answer.status == 400 and "nested" in (await answer.json())["error"]
    status, options = await post(http, stepup.url + path + "/options", {})
    assert status == 200, options  # the link still works


async def test_transports_that_are_not_a_list_of_words_are_a_400_and_the_link_still_works(
    stepup: Worker, http: aiohttp.ClientSession,
) -> None:
    url = stepup.url + (await stepup.services.stepup.link(ALICE)).removeprefix(ORIGIN)
    status, options = await post(http, url + "/options", {})
    assert status == 200, options
    for transports in (5, "usb", {"usb": True}, [1, 2], ["usb", None], True):
        made = registration(options, origin=ORIGIN)
        made["response"]["transports"] = transports
        status, said = await post(http, url, {"name": "laptop", "credential": made})
        assert status == 400 and "transports" in said["error"], (transports, status, said)
    assert await stepup.services.store.passkeys.of(ALICE) == []
    status, said = await post(http, url, {"name": "laptop", "credential": registration(options, origin=ORIGIN)})
    assert status == 200, said


async def test_the_catch_all_turns_an_error_reading_a_request_into_a_400() -> None:
    """A handler of a page that fails to read what it was sent (a parser error no check foresaw) answers 400 with a
    message; another fault is a 500 that says so in JSON, never a stack trace."""
    app = web.Application(middlewares=[page_errors])

    async def unread(request: web.Request) -> web.Response:
        raise RecursionError("maximum recursion depth exceeded")

    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("a fault of the bot's own")

    app.router.add_post("/step-up/enrol/{token}", unread)
    app.router.add_get("/step-up/vote/{token}", broken)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    await web.SockSite(runner, sock).start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"http://127.0.0.1:{port}/step-up/enrol/{UNKNOWN}", data=b"{}") as answer:
                assert answer.status == 400 and "could not be read" in (await answer.json())["error"]
            async with http.get(f"http://127.0.0.1:{port}/step-up/vote/{UNKNOWN}") as answer:
                text = await answer.text()
                assert answer.status == 500 and "Traceback" not in text and "fault of the bot" not in text
    finally:
        await runner.cleanup()
