"""One key's flood does not reach other keys (issue #45 item 9), against a real worker's API, real Redis and the
Slack stand-in: a key's requests past its admission are refused at once with 429 and `Retry-After`, before their
bodies are read, while another key's ask goes through; the receipt-spend endpoint (no key) is limited the same
way; and neither flood writes a log line per request. The routes are mounted (`add_routes`) on the worker's own
API service with small rates, so what is admitted is bounded by the bucket whatever the machine's speed."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.api.admission import Admission, LogThrottle
from bot.api.routes import add_routes
from tests.conftest import Worker
from tests.support.api import new_key, tool_ask

RATE, BURST = 2.0, 20.0
FLOOD = 200


@dataclass
class Mounted:
    worker: Worker
    url: str


@pytest.fixture
async def small(api: Worker) -> AsyncIterator[Mounted]:
    """The API routes on the worker's own API service, admitting `RATE` a second after a burst of `BURST`."""
    app = web.Application()
    add_routes(app, api.services.api, allow_private_callbacks=True, key_rate=RATE, key_burst=BURST,
               spend_rate=RATE, spend_burst=BURST)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield Mounted(api, f"http://127.0.0.1:{runner.addresses[0][1]}")
    await runner.cleanup()


def most_admitted(started: float) -> int:
    """What a bucket of `BURST` refilled at `RATE` can have let through since `started`."""
    return int(BURST + math.ceil((time.monotonic() - started) * RATE))


async def flood(url: str, n: int, *, headers: dict[str, str], body: Any) -> list[tuple[int, dict[str, str], Any]]:
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def one() -> tuple[int, dict[str, str], Any]:
            async with http.post(url, json=body, headers=headers) as response:
                return response.status, dict(response.headers), await response.json()

        return await asyncio.gather(*(one() for _ in range(n)))


def refusal_lines(caplog: pytest.LogCaptureFixture, needle: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and needle in r.getMessage()]


async def test_a_keys_flood_is_refused_before_its_bodies_and_another_key_goes_through(
    small: Mounted, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    flooder = await new_key(small.worker, "flooder", per_minute=100_000, max_pending=100_000)
    other = await new_key(small.worker, "other")
    headers = {"Authorization": f"Bearer {flooder.key}"}
    bad = {"kind": "tool"}  # refused with 400 once parsed: an admitted request is parsed, a refused one is not
    started = time.monotonic()
    answers = await flood(small.url + "/api/v1/approvals", FLOOD, headers=headers, body=bad)
    admitted = most_admitted(started)
    limited = [(h, b) for status, h, b in answers if status == 429]
    parsed = [b for status, _, b in answers if status == 400]
    assert parsed and len(limited) + len(parsed) == FLOOD, sorted({s for s, _, _ in answers})
    assert len(parsed) <= admitted  # only what the bucket let through was read and parsed
    assert limited and all(b["error"]["code"] == "rate_limited" and int(h["Retry-After"]) >= 1 for h, b in limited)
    answers = await flood(small.url + "/api/v1/approvals", 1, headers={"Authorization": f"Bearer {other.key}"},
                          body=tool_ask())  # another key, at once: its own bucket
    assert answers[0][0] == 201, answers
    lines = refusal_lines(caplog, f"for key {flooder.record.id} with 429")
    assert 1 <= len(lines) <= 3, len(lines)  # a line now and then, not one per request


async def test_receipt_spends_without_a_key_are_limited_and_their_log_throttled(
    small: Mounted, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    forged = {"receipt": "eyJhbGciOiJFZERTQSJ9.e30.AAAA", "token": "executor-1"}
    url = small.url + "/api/v1/approvals/a-" + "x" * 24 + "/use"
    started = time.monotonic()
    answers = await flood(url, FLOOD, headers={}, body=forged)
    admitted = most_admitted(started)
    statuses = [status for status, _, _ in answers]
    assert 429 in statuses and 401 in statuses, sorted(set(statuses))
    assert all(int(h["Retry-After"]) >= 1 for status, h, _ in answers if status == 429)
    assert statuses.count(401) <= admitted  # a forgery past the limit is not even read
    lines = refusal_lines(caplog, "API refused /api/v1/approvals/{id}/use")
    assert 1 <= len(lines) <= 4, len(lines)  # one per kind of refusal now and then, not one per forgery


def test_a_token_bucket_refills_at_its_rate_and_a_throttle_counts_what_it_left_out() -> None:
    bucket = Admission(rate=10, burst=3)
    assert [bucket.admit("a", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.admit("a", 0.0) == pytest.approx(0.1)
    assert bucket.admit("b", 0.0) == 0.0  # another name: its own bucket
    assert bucket.admit("a", 0.1) == 0.0 and bucket.admit("a", 0.1) > 0
    small = Admission(rate=1, burst=1, max_buckets=2)
    for name in ("x", "y", "z"):  # remembering at most 2: a new name still gets a full bucket
        assert small.admit(name, 0.0) == 0.0
    throttle = LogThrottle(every=10)
    assert throttle.allow("k", 0.0) == 0
    assert [throttle.allow("k", t) for t in (1.0, 2.0, 3.0)] == [None, None, None]
    assert throttle.allow("k", 10.5) == 3 and throttle.allow("other", 10.5) == 0
