"""What the client says when it cannot reach the bot, or is pointed at the wrong address (#46.8): one line naming the
URL (`Unreachable`, an `ApprovalsError`), after a few tries of each URL while no bot has answered it (counted at the
socket: a closed port, and a listener that hangs up on each connection), never httpx's exceptions; a bot that
answered once and then went away is retried as a restart, until `retry_for`, the pauses growing from
`retry_backoff`. A base URL ending in `/` or `/api/v1/` is the same bot (a real worker); a URL where something else
answers says so (`not_the_api`); `check()` tries the URL and the key; `on_waiting` hands over each card once, with its
link."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import httpx
import pytest
from agent_approvals import ApprovalsClient, ApprovalsError, BadKey, NotFound, Unreachable
from agent_approvals.client import Approval
from agent_approvals.wire import FIRST_TRIES, Wire, base_url

from bot.devslack.server import SlackStandIn
from bot.store.api_keys import id_of_key
from tests.conftest import APPROVALS, SALES, Worker, free_port
from tests.support.examples import Counted, HangingUp
from tests.support.hitl import nth_card

EMAIL = {"to": "bob@example.com", "body": "Prices go up 5% on May 1."}
@pytest.fixture
async def hanging_up() -> AsyncIterator[HangingUp]:
    async with HangingUp() as listener:
        yield listener


@pytest.mark.slow
async def test_nothing_listening_is_one_line_naming_the_url_after_a_few_tries() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    transport = Counted()
    async with ApprovalsClient(url + "/", "aak_nothing", transport=transport) as client:
        with pytest.raises(Unreachable) as raised:
            await client.request_tool("send_email", EMAIL, title="Tell Bob")
    error = raised.value
    assert str(error) == (f"the approvals bot at {url} is unreachable (ConnectError: Connection refused): is it"
                          " running, and is this its URL?")
    assert isinstance(error, ApprovalsError) and error.url == url and error.status == 0 and error.code == "unreachable"
    assert error.__cause__ is None and error.__suppress_context__  # no httpx traceback chained under it
    assert transport.tries == FIRST_TRIES  # a few tries, not a minute of them (retry_for is 60 s)


@pytest.mark.slow
async def test_a_listener_that_hangs_up_is_unreachable_after_as_many_connections(hanging_up: HangingUp) -> None:
    async with ApprovalsClient(hanging_up.url, "aak_nothing") as client:
        with pytest.raises(Unreachable) as raised:
            await client.wait("a-1")
    assert str(raised.value).startswith(f"the approvals bot at {hanging_up.url} is unreachable (RemoteProtocolError")
    assert "\n" not in str(raised.value)
    assert hanging_up.connections == FIRST_TRIES


async def test_each_of_several_urls_is_tried_and_named(hanging_up: HangingUp) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    async with ApprovalsClient([closed, hanging_up.url + "/api/v1"], "aak_nothing", retry_backoff=0.01) as client:
        with pytest.raises(Unreachable) as raised:
            await client.check()
    assert raised.value.url == f"{closed}, {hanging_up.url}"
    assert hanging_up.connections == FIRST_TRIES  # (and as many tries of the closed one, in turn)


async def test_a_bot_that_answered_once_is_retried_as_a_restart_until_retry_for() -> None:
    # retry_for 0.4 s: tries by 0, 0.01, 0.03, 0.07, 0.15 and 0.31 s at the latest (the backoff doubles from
    # retry_backoff, 0.01 s), past FIRST_TRIES
    async with HangingUp(answered=1) as listener, ApprovalsClient(listener.url, "aak_x", retry_for=0.4,
                                                                  retry_backoff=0.01) as client:
        assert (await client.check())["name"] == "emailer"  # the bot answers and takes the key
        with pytest.raises(Unreachable):
            await client.get("a-1")
    assert listener.connections > 1 + FIRST_TRIES


@pytest.mark.parametrize("backoff", [0, -1.0, float("nan")])
def test_a_retry_backoff_that_is_not_a_positive_number_is_refused_saying_so(backoff: float) -> None:
    with pytest.raises(ValueError, match="retry_backoff must be a positive number of seconds"):
        ApprovalsClient("http://127.0.0.1:3000", "aak_x", retry_backoff=backoff)


@pytest.mark.parametrize(("given", "base"), [
    ("http://127.0.0.1:3000", "http://127.0.0.1:3000"),
    ("http://127.0.0.1:3000/", "http://127.0.0.1:3000"),
    ("http://127.0.0.1:3000/api/v1", "http://127.0.0.1:3000"),
    ("http://127.0.0.1:3000/api/v1/", "http://127.0.0.1:3000"),
    (" https://approvals.example.com/API/V1/ ", "https://approvals.example.com"),
    ("https://example.com/approvals/api/v1/", "https://example.com/approvals"),  # behind a proxy, under a path
    ("https://example.com/approvals/", "https://example.com/approvals"),
])
def test_a_base_url_is_the_bots_address(given: str, base: str) -> None:
    assert base_url(given) == base
    assert ApprovalsClient(given, "aak_x").urls == [base]


@pytest.mark.parametrize("given", ["localhost:3000", "127.0.0.1:3000", "ftp://example.com", "http://", ""])
def test_a_url_that_is_not_http_is_refused_saying_so(given: str) -> None:
    with pytest.raises(ValueError, match="must start with http:// or https://"):
        ApprovalsClient(given, "aak_x")


async def test_a_url_ending_in_api_v1_asks_the_bot(emailer: tuple[Worker, str], slack: SlackStandIn) -> None:
    worker, key = emailer
    waiting: list[Approval] = []
    async with ApprovalsClient(worker.url + "/api/v1/", key, title="Tell Bob", on_waiting=waiting.append) as client:
        await client.check()
        asked = await client.request_tool("send_email", EMAIL)
        card = await nth_card(slack, 1)
        assert asked.pending and (await client.wait(asked.id, at_most=0)).pending
    assert asked.card_url == f"{slack.base_url}/archives/{APPROVALS}/p{card['ts'].replace('.', '')}"
    assert waiting == [asked]  # once, with its card's link, though it was seen pending twice


async def test_a_url_where_the_bot_is_not_says_so(emailer: tuple[Worker, str]) -> None:
    worker, key = emailer
    async with ApprovalsClient(worker.url + "/slack/events", key) as client:
        with pytest.raises(NotFound) as raised:
            await client.request_tool("send_email", EMAIL, title="Tell Bob")
    assert raised.value.code == "not_the_api"
    assert str(raised.value) == (f"404 not_the_api: {worker.url}/slack/events answered POST /api/v1/approvals with"
                                 " HTTP 404, not as the Approvals API does: is it the bot's URL (its address,"
                                 " without /api/v1 or other paths)?")


async def test_check_says_a_wrong_key_and_takes_a_good_one(emailer: tuple[Worker, str]) -> None:
    worker, key = emailer
    async with ApprovalsClient(worker.url, "aak_wrong") as wrong:
        with pytest.raises(BadKey):
            await wrong.check()
    async with ApprovalsClient(worker.url, key) as good:
        stands = await good.check()
    assert stands == {"id": id_of_key(key), "name": "emailer", "channels": [SALES]}  # the id: its receipts' aud


async def test_the_clients_of_a_process_share_one_tls_context(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading the authorities is 20 to 80 ms of CPU: once a process for the certificates it is told of."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    wires = [Wire(["https://approvals.example.com"], "key", retry_for=1, timeout=httpx.Timeout(1)) for _ in range(2)]
    contexts = [wire._http._transport._pool._ssl_context for wire in wires]  # type: ignore[attr-defined]
    assert contexts[0] is contexts[1] and contexts[0].verify_mode == ssl.CERT_REQUIRED and contexts[0].check_hostname
    for wire in wires:
        await wire.aclose()
