"""The Approvals API from a test: a key made in the store, a bare HTTP client of the API, a tool ask."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from bot.core.key_records import DEFAULT_MAX_PENDING, DEFAULT_PER_MINUTE
from bot.store import NewKey
from tests.conftest import ALICE, SALES, Worker
from tests.support.oauth import Served

EMAIL = {"to": "bob@example.com", "body": "Prices go up 5% on May 1."}
SCHEMA = {
    "type": "object",
    "properties": {"to": {"type": "string", "format": "email"}, "body": {"type": "string"}},
    "required": ["to", "body"],
    "additionalProperties": False,
}


async def new_key(
    worker: Worker, name: str = "nightly", *channels: str, max_pending: int = DEFAULT_MAX_PENDING,
    per_minute: int = DEFAULT_PER_MINUTE,
) -> NewKey:
    made = await worker.services.store.api_keys.create(name, channels or (SALES,), by="test", max_pending=max_pending,
                                                       per_minute=per_minute)
    assert made is not None
    return made


class Client:
    """A bare HTTP client of the API (the package's own client is tested apart)."""

    def __init__(self, worker: Served, key: str) -> None:  # (an in-process `Worker`, or a `python -m bot` process)
        self.url = worker.url
        self.key = key

    async def call(
        self, method: str, path: str, *, body: Any = None, raw: bytes | None = None, key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        sent = {"Authorization": f"Bearer {self.key if key is None else key}", **(headers or {})}
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        async with aiohttp.ClientSession() as session, session.request(
            method, self.url + path, data=data, headers=sent
        ) as response:
            return response.status, await response.json(), dict(response.headers)

    async def ask(self, body: dict[str, Any], **kw: Any) -> tuple[int, dict[str, Any]]:
        status, answer, _ = await self.call("POST", "/api/v1/approvals", body=body, **kw)
        return status, answer

    async def wait(self, approval_id: str, wait: float = 10) -> dict[str, Any]:
        status, answer, _ = await self.call("GET", f"/api/v1/approvals/{approval_id}?wait={wait}")
        assert status == 200, answer
        return answer


def tool_ask(**extra: Any) -> dict[str, Any]:
    return {"kind": "tool", "title": "Tell Bob about the prices", "requester": ALICE,
            "tool": {"name": "send_email", "arguments": EMAIL, "schema": SCHEMA}, **extra}
