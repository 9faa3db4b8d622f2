"""What the tests of `examples/` and of the client's reach share: the environment an example runs in (`KEEP`), reading
an example's "waiting for approval in Slack: <link>" line before anyone decides, and stand-ins for a bot that is
not there: `HangingUp` (a listener that hangs up, counting connections) and `Counted` (httpx's transport,
counting requests)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from bot.devslack.server import SlackStandIn
from tests.conftest import APPROVALS

WAITING = "waiting for approval in Slack: "
KEEP = ("PATH", "HOME", "LANG", "SYSTEMROOT", "VIRTUAL_ENV", "PYTHONPATH")  # (PYTHONPATH: the code under test)


THE_KEY = b'{"id": "k-0", "name": "emailer", "channels": ["C0SALES"]}'
KEY_STANDS = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(THE_KEY), THE_KEY))


class Counted(httpx.AsyncBaseTransport):
    """httpx's own transport (real sockets), counting the requests it is given."""

    def __init__(self) -> None:
        self.real = httpx.AsyncHTTPTransport()
        self.tries = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.tries += 1
        return await self.real.handle_async_request(request)

    async def aclose(self) -> None:
        await self.real.aclose()


class HangingUp:
    """A TCP listener on loopback that hangs up on each connection (after answering the first `answered` of them
    as the API answers `GET /api/v1/key` for a key that stands), counting the connections."""

    def __init__(self, answered: int = 0) -> None:
        self.answered, self.connections = answered, 0
        self.server: asyncio.Server | None = None
        self.url = ""

    async def __aenter__(self) -> HangingUp:
        self.server = await asyncio.start_server(self._connected, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.connections <= self.answered:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(KEY_STANDS)
            await writer.drain()
        writer.close()


def card_link(slack: SlackStandIn, card: dict[str, Any]) -> str:
    """The link to `card` as the API gives it (the workspace's URL from `auth.test`, the channel, the ts)."""
    return f"{slack.base_url}/archives/{APPROVALS}/p{card['ts'].replace('.', '')}"


async def said_until_waiting(program: asyncio.subprocess.Process, *, within: float = 90) -> list[str]:
    """The example's standard output, line by line, up to its next "waiting for approval in Slack: …" line."""
    assert program.stdout is not None
    said: list[str] = []
    while not (said and said[-1].startswith(WAITING)):
        line = await asyncio.wait_for(program.stdout.readline(), within)
        assert line, f"the example ended without saying where its card waits: {said}"
        said.append(line.decode().rstrip("\n"))
    return said


async def told_where_it_waits(program: asyncio.subprocess.Process, slack: SlackStandIn, card: dict[str, Any]
                              ) -> list[str]:
    """What the example printed up to saying where `card` waits, with its link; nothing of it a decision."""
    said = await said_until_waiting(program)
    assert said[-1] == WAITING + card_link(slack, card), said
    return said
