"""A worker's HTTP edges as an operator and an attacker meet them (#76.13, #76.14): `python -m bot` processes on a
real Redis and the local Slack, spoken to over raw sockets where HTTP itself is malformed, and their logs read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import free_port
from tests.support.cluster import Cluster, WorkerProcess

pytestmark = pytest.mark.slow  # worker processes

TOKEN = "metrics-token-8c1d"


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


@dataclass
class ReverseProxy:
    """A reverse proxy on this host, as nginx or Caddy runs in front of a worker: it passes each GET on to the
    worker's PORT, adding the headers it is configured with (none, as nginx's `proxy_pass` alone)."""

    upstream: str
    headers: dict[str, str] = field(default_factory=dict)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        passed = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "accept")}
        async with aiohttp.ClientSession() as http, http.get(self.upstream + request.path_qs,
                                                             headers={**passed, **self.headers}) as response:
            return web.Response(status=response.status, body=await response.read())


@pytest.fixture
async def proxy() -> AsyncIterator[ReverseProxy]:
    made = ReverseProxy(upstream="")
    app = web.Application()
    app.router.add_get("/{tail:.*}", made.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    made.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield made
    await runner.cleanup()


async def get(url: str, **headers: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        return response.status, await response.text()


async def test_metrics_through_a_reverse_proxy_is_refused_whatever_forwarding_headers_it_sets(
    cluster: Cluster, proxy: ReverseProxy
) -> None:
    """Without METRICS_LISTEN or METRICS_TOKEN, PORT answers /metrics to loopback only: a proxy on this host that
    sets any header of a proxy is refused (Via, X-Forwarded-Proto, ... not only X-Forwarded-For)."""
    worker = await cluster.start()
    proxy.upstream = worker.url
    assert (await get(worker.url + "/metrics"))[0] == 200  # Prometheus on this host
    for header, value in (("Via", "1.1 nginx"), ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "bot.example"),
                          ("X-Client-IP", "203.0.113.7"), ("True-Client-IP", "203.0.113.7"),
                          ("X-Forwarded-For", "203.0.113.7")):
        proxy.headers = {header: value}
        status, body = await get(proxy.url + "/metrics")
        assert status == 403 and "# HELP" not in body, (header, status, body)


async def test_metrics_listen_serves_metrics_apart_and_port_refuses_them_whatever_the_proxy_sets(
    cluster: Cluster, proxy: ReverseProxy
) -> None:
    """With METRICS_LISTEN, /metrics and /healthz are served on that address (the operators' port, with the probes
    a kubelet asks there: deploy/kubernetes/) and nothing else; PORT refuses both even to a proxy on this host that
    sets no header at all (nginx's `proxy_pass` alone), and still answers its probes; with METRICS_TOKEN too, PORT
    answers /metrics to the token."""
    apart = free_port()
    worker = await cluster.start(METRICS_LISTEN=f"127.0.0.1:{apart}")
    proxy.upstream = worker.url
    status, body = await get(f"http://127.0.0.1:{apart}/metrics")
    assert status == 200 and "# HELP hitl_" in body, body[:300]
    status, body = await get(f"http://127.0.0.1:{apart}/healthz")
    assert status == 200 and '"redis"' in body, body
    for probe in ("/livez", "/readyz"):
        assert (await get(f"http://127.0.0.1:{apart}{probe}"))[0] == 200, probe
    for elsewhere in ("/api/v1/approvals", "/slack/events", "/"):  # nothing else is served there
        assert (await get(f"http://127.0.0.1:{apart}{elsewhere}"))[0] == 404, elsewhere
    for where in (worker.url, proxy.url):
        for path in ("/metrics", "/healthz"):
            status, body = await get(where + path)
            assert status == 403 and "METRICS_LISTEN" in body and "# HELP" not in body and "redis" not in body, (
                where, path, body)
    assert (await get(proxy.url + "/livez"))[0] == 200  # the proxy itself works, and PORT's probes
    assert (f"serving /metrics, /healthz, /livez, /readyz apart on 127.0.0.1:{apart} (METRICS_LISTEN)"
            in worker.log.read_text())
    tokened = await cluster.start(METRICS_LISTEN=f"127.0.0.1:{free_port()}", METRICS_TOKEN=TOKEN)
    proxy.upstream = tokened.url
    assert (await get(proxy.url + "/metrics"))[0] == 401
    status, body = await get(proxy.url + "/metrics", Authorization=f"Bearer {TOKEN}")
    assert status == 200 and "# HELP hitl_" in body


async def test_host_is_the_address_the_worker_listens_on(cluster: Cluster) -> None:
    """HOST binds the worker to one address (127.0.0.2, on loopback's /8); unset, it listens on every interface."""
    everywhere = await cluster.start()
    for host in ("127.0.0.1", "127.0.0.2"):
        assert (await get(f"http://{host}:{everywhere.port}/livez"))[0] == 200
    bound = await cluster.start(HOST="127.0.0.2")
    assert (await get(f"http://127.0.0.2:{bound.port}/livez"))[0] == 200
    with pytest.raises(aiohttp.ClientConnectorError):
        await get(f"http://127.0.0.1:{bound.port}/livez")
    assert f"listening on 127.0.0.2, port {bound.port}: /slack/events" in bound.log.read_text()
    with pytest.raises(RuntimeError, match="HOST must be an IP address"):
        await cluster.start(HOST="not a host")
