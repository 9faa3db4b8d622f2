"""A tool's schema from a hostile program (issue #33, items 1, 2 and 9): nothing is fetched or read, nothing freezes
the worker, and whatever a body holds the answer is never a 500. Against a real `python -m bot` worker process,
whose `/healthz` keeps answering while the hostile asks are checked."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import BOB, SALES
from tests.support.cluster import Cluster, WorkerProcess
from tests.support.hostile_schemas import HOSTILE, tool

pytestmark = pytest.mark.slow  # workers as processes

OK_STATUSES = {200, 201, 400, 409, 413, 429}


class Listener:
    """A local HTTP server that records every request (a `$ref` must never reach it) and, asked to, never answers."""

    def __init__(self) -> None:
        self.requests: list[str] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request.path)
        await asyncio.Event().wait()  # a listener that never answers (it froze a worker before)
        return web.Response()


@pytest.fixture
async def listener() -> AsyncIterator[tuple[Listener, str]]:
    heard = Listener()
    app = web.Application()
    app.router.add_get("/{tail:.*}", heard.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield heard, f"http://127.0.0.1:{port}"
    await runner.cleanup()


class Program:
    def __init__(self, worker: WorkerProcess, key: str) -> None:
        self.worker, self.key = worker, key

    async def ask(self, body: Any, *, raw: bytes | None = None) -> tuple[int, dict[str, Any]]:
        data = raw if raw is not None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        async with aiohttp.ClientSession() as http, http.post(
            self.worker.url + "/api/v1/approvals", data=data, headers=headers, timeout=aiohttp.ClientTimeout(30)
        ) as response:
            try:
                return response.status, await response.json()
            except (aiohttp.ContentTypeError, json.JSONDecodeError):
                return response.status, {"text": await response.text()}


async def healthz(worker: WorkerProcess) -> None:
    async with aiohttp.ClientSession() as http, http.get(worker.url + "/healthz") as response:
        assert response.status == 200


@pytest.fixture
async def program(cluster: Cluster, store: Store, slack: SlackStandIn) -> Program:
    worker = await cluster.start()
    slack.events_url = worker.events
    made = await store.api_keys.create("hostile", [SALES], by=BOB, per_minute=100_000, max_pending=100_000)
    assert made is not None
    return Program(worker, made.key)


async def test_no_ref_is_ever_fetched_or_read(program: Program, listener: tuple[Listener, str]) -> None:
    heard, url = listener
    for ref in (f"{url}/schema.json", "file:///etc/hostname", "file:///etc/passwd", "//127.0.0.1/x", "other.json#/a",
                "#anchor"):
        status, body = await asyncio.wait_for(program.ask(tool({"$ref": ref}, {"to": "x"})), 5)
        assert status == 400 and body["error"]["field"] == "tool.schema", (ref, body)
        assert "root:" not in json.dumps(body)  # nothing read from the worker's disk comes back
    nested = {"type": "object", "properties": {"to": {"$ref": f"{url}/to.json"}}}
    status, body = await program.ask(tool(nested, {"to": "x"}))
    assert status == 400 and body["error"]["field"] == "tool.schema"
    assert heard.requests == []


NOT_AN_INDEX = ("²", "٣", "１", "01", "-1", "1e0")  # `"²".isdigit()` is True and `int("²")` raises


async def test_a_ref_whose_array_index_is_not_ascii_digits_is_a_400(program: Program) -> None:
    """#63.8: `"$ref": "#/x/²"` was a 500 (the pointer took `isdigit` for a number); an index is ASCII digits as
    RFC 6901 writes it, anything else points at nothing: a 400 naming the field, and nothing asked."""
    def schema(index: str) -> dict[str, Any]:
        return {"anyOf": [{"type": "object"}, {"type": "object"}], "properties": {"to": {"$ref": f"#/anyOf/{index}"}}}

    for index in NOT_AN_INDEX:
        status, body = await program.ask(tool(schema(index), {"to": {}}))
        assert status == 400 and body["error"]["field"] == "tool.schema", (index, body)
        assert "points at nothing in the schema" in body["error"]["message"], body
    status, body = await program.ask(tool(schema("1"), {"to": {}}))
    assert status == 201 and body["status"] == "pending", body  # an ASCII index points where it says


async def test_a_hostile_schema_never_freezes_the_worker(program: Program) -> None:
    """The catastrophic pattern, an anyOf/$ref expansion, a recursive $ref, a schema nested 3,000 deep and a check
    that takes long are each a 400 naming the field, and /healthz keeps answering meanwhile (how fast it answers
    under this load, against a quiet worker: tests/benchmarks/hostile_load.py)."""
    answered = 0
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal answered
        while not done.is_set():
            await healthz(program.worker)
            answered += 1
            await asyncio.sleep(0.02)

    watcher = asyncio.create_task(watch())
    try:
        for body, field in HOSTILE:
            status, answer = await (program.ask(None, raw=body) if isinstance(body, bytes) else program.ask(body))
            assert status == 400 and answer["error"].get("field", "") == field, (field, answer)
        during = answered
        answers = await asyncio.gather(*(program.ask(body) for body, _ in HOSTILE[:-1] * 3))  # at once, too
        assert {status for status, _ in answers} == {400}
        assert answered > during  # /healthz answered while 15 hostile asks were being checked at once
    finally:
        done.set()
        await watcher


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30,
)
KEYWORD = st.sampled_from(["type", "properties", "items", "anyOf", "allOf", "oneOf", "not", "$ref", "pattern",
                           "patternProperties", "additionalProperties", "required", "enum", "const", "$defs",
                           "minLength", "maxItems", "if", "then", "else", "$id", "$dynamicRef", "format"])
SCHEMA = st.recursive(
    st.booleans() | st.dictionaries(KEYWORD, JSON, max_size=3),
    lambda children: st.dictionaries(KEYWORD, children | JSON | st.lists(children, max_size=3), max_size=4),
    max_leaves=25,
)
REF = st.sampled_from(["#", "#/$defs/a", "#/properties", "http://127.0.0.1:9/x", "file:///etc/passwd", "x.json",
                       "#/$defs/%7E", "#/items/0"])


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
async def test_whatever_a_body_holds_the_answer_is_never_a_500(program: Program, data: st.DataObject) -> None:
    schema = data.draw(SCHEMA | st.fixed_dictionaries({"$ref": REF, "$defs": st.dictionaries(st.text(max_size=3),
                                                                                               SCHEMA, max_size=3)}))
    arguments = data.draw(st.dictionaries(st.text(max_size=8), JSON, max_size=4))
    body = data.draw(st.sampled_from(["schema", "arguments", "raw", "fields"]))
    if body == "raw":
        raw = data.draw(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
        status, answer = await program.ask(None, raw=raw)
    elif body == "fields":
        status, answer = await program.ask(data.draw(st.dictionaries(st.text(max_size=12), JSON, max_size=6)))
    else:
        status, answer = await program.ask(tool(schema, arguments))
    assert status in OK_STATUSES, (status, answer)
    await healthz(program.worker)  # the worker still answers
