"""A worker's HTTP edges as an operator and an attacker meet them (#76.13, #76.14): `python -m bot` processes on a
real Redis and the local Slack, spoken to over raw sockets where HTTP itself is malformed, and their logs read."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.cluster import Cluster, WorkerProcess

pytestmark = pytest.mark.slow  # worker processes


async def raw(worker: WorkerProcess, request: bytes) -> bytes:
    """Send `request` as bytes over a socket; the status line of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", worker.port)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(10):
            return await reader.readline()
    finally:
        writer.close()


async def logged_lines(worker: WorkerProcess, said: str, count: int, *, within: float = 10.0) -> list[str]:
    """The lines of the worker's log holding `said`, once there are `count` of them (within `within` seconds)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        lines = [line for line in worker.log.read_text().splitlines() if said in line]
        if len(lines) >= count:
            return lines
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not {count} log lines with {said!r}: {worker.log.read_text()[-3000:]}")
        await asyncio.sleep(0.05)


async def test_malformed_http_is_a_400_and_one_warning_line_never_an_error_with_a_traceback(cluster: Cluster) -> None:
    worker = await cluster.start()
    big = b"POST /slack/mcp HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\nContent-Length: 0\r\n\r\n"
    assert (await raw(worker, big)).split(b" ")[1] == b"400"
    bare_cr = b"POST /slack/mcp HTTP/1.1\r\nHost: x\rX-Evil: 1\r\nContent-Length: 0\r\n\r\n"
    assert (await raw(worker, bare_cr)).split(b" ")[1] == b"400"
    lines = await logged_lines(worker, "refused a malformed HTTP request", 2)
    assert len(lines) == 2 and all(" WARNING " in line for line in lines), lines
    text = worker.log.read_text()
    assert "Traceback" not in text and " ERROR " not in text, text[-3000:]
    assert "a" * 300 not in text  # the header's bytes are not copied whole into the log
    assert worker.process.poll() is None
