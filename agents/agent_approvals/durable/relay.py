"""The relay: the bot's signed webhook in, a durable workflow's decision out (`agent-approvals-relay`).

An ask made from a workflow (`agent_approvals.durable.temporal`) gives the bot this relay's URL as its `callback_url`,
with the workflow's routing in the query (`?engine=temporal&namespace=default&workflow_id=refund-7`). When the
approval is decided the bot POSTs it here, signed with the key's webhook secret, and retries until a 2xx (at
least once, for at least a day; a 400 it gives up at once). The relay checks the timestamp (ASCII digits, five
minutes either way) and the signature of the route, the timestamp and the body (`X-Approvals-Route-Signature`,
`X-Approvals-Route`: the path and query the bot POSTed to), then that the query it arrived with is the one signed,
and delivers to the engine that route names:

- 200 `{"delivered": true}`: the workflow took it;
- 200 `{"delivered": false, "why": ...}`: nothing to deliver to, and a retry would not change it: the workflow
  had already finished (completed, cancelled, timed out on its own), or it had this decision already;
- 409: the workflow has not yet recorded the ask (a decision faster than the ask's own record): the bot's retry
  delivers it;
- 401: not signed by the bot (a bad or old signature, another secret, or no signed route: a bot older than this
  relay, whose retries go through once the bot is upgraded): nothing delivered;
- 400: wrong whoever sent it (a timestamp that is not ASCII digits, a body that is not an approval, an unknown
  engine, a query other than the one signed: a delivery replayed to another workflow): nothing delivered, and the
  bot does not try it again;
- 503: the engine did not answer: the bot's retry delivers it.

Importable (`Relay.handle` takes the body, the headers and the route, for any HTTP server) or served
(`agent-approvals-relay --temporal localhost:7233` and/or `--dbos <system database URL>`, the secret from
`AGENT_APPROVALS_WEBHOOK_SECRET`, never printed). Delivering twice is safe: the engine drops a repeat by the
approval id.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import logging
import os
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl

from agent_approvals._extras import missing_extra
from agent_approvals.durable.engines import ENGINES, GONE, Deliver, Delivered, connect

__all__ = ["GONE", "Deliver", "Delivered", "Relay", "application", "engines", "main", "serve"]
log = logging.getLogger(__name__)

SIGNATURE = "x-approvals-signature"
TIMESTAMP = "x-approvals-timestamp"
DELIVERY = "x-approvals-delivery"
ROUTE = "x-approvals-route"
ROUTE_SIGNATURE = "x-approvals-route-signature"
MAX_SIGNATURES = 4  # signatures read from one header (comma-separated: a key's new and old secret while it rotates)
_STAMP = re.compile(r"[0-9]{1,12}", re.ASCII)  # `str.isdigit` also takes "²" (`int` raises) and "١" (`int` reads)
TOLERANCE = 300  # seconds a signed delivery stays good, either way
SECRET_ENV = "AGENT_APPROVALS_WEBHOOK_SECRET"
MAX_BODY = 256 * 1024


class Relay:
    """`Relay(secret, {"temporal": TemporalDelivery(client)})`: checks deliveries signed with `secret` and
    hands each to the engine its route names."""

    def __init__(self, secret: str, engines: Mapping[str, Deliver], *, tolerance: int = TOLERANCE) -> None:
        if not secret:
            raise ValueError(f"the relay needs the API key's webhook secret ({SECRET_ENV})")
        self._secret = secret.encode("utf-8")
        self.engines = dict(engines)
        self.tolerance = tolerance

    async def handle(
        self, body: bytes, headers: Mapping[str, str], route: Mapping[str, str]
    ) -> tuple[int, dict[str, Any]]:
        """The HTTP status and JSON answer for one webhook delivery."""
        said = {name.lower(): value for name, value in headers.items()}
        stamp = said.get(TIMESTAMP, "")
        if stamp and not _STAMP.fullmatch(stamp):
            return 400, {"error": "X-Approvals-Timestamp is not a number (ASCII digits)"}
        why = self._unsigned(body, said)
        if why:
            return 401, {"error": why}
        signed = _query(said[ROUTE])
        if sorted(signed) != sorted(route.items()):
            return 400, {"error": "misrouted: the query this delivery arrived with is not the one the bot signed"}
        try:
            approval = json.loads(body)
        except ValueError:
            return 400, {"error": "the body is not JSON"}
        if not isinstance(approval, dict) or not isinstance(approval.get("id"), str):
            return 400, {"error": "the body is not an approval"}
        if said.get(DELIVERY, approval["id"]) != approval["id"]:
            return 400, {"error": "X-Approvals-Delivery names another approval than the body"}
        to = dict(signed)
        deliver = self.engines.get(to.get("engine", ""))
        if deliver is None:
            known = ", ".join(sorted(self.engines)) or "none"
            return 400, {"error": f"no engine {to.get('engine', '')!r} here (this relay delivers to: {known})"}
        try:
            done = await deliver(to, approval)
        except Exception as exc:  # the engine did not answer: the bot tries again
            log.warning("approval %s not delivered: %s", approval["id"], type(exc).__name__)
            return 503, {"error": f"the engine did not answer ({type(exc).__name__}); try again"}
        log.info("approval %s: %s%s", approval["id"], done.outcome, f" ({done.why})" if done.why else "")
        if done.outcome == "delivered":
            return 200, {"delivered": True}
        if done.outcome in ("done", "gone"):
            return 200, {"delivered": False, "why": done.why}
        return (409 if done.outcome == "later" else 400), {"error": done.why}

    def _unsigned(self, body: bytes, headers: Mapping[str, str]) -> str:
        """Why the delivery is not the bot's ("": it is). The timestamp is ASCII digits or absent (`handle`)."""
        stamp, route, signature = headers.get(TIMESTAMP, ""), headers.get(ROUTE), headers.get(ROUTE_SIGNATURE)
        if not stamp or abs(time.time() - int(stamp)) > self.tolerance:
            return "no timestamp, or one more than five minutes away"
        if route is None or signature is None:
            return "the route is not signed (X-Approvals-Route-Signature): is the bot older than this relay?"
        if not route.isascii():
            return "X-Approvals-Route is not the route the bot signs (ASCII)"
        signed = b"v2:" + stamp.encode("ascii") + b":" + route.encode("ascii") + b"\n" + body
        mac = f"v2={hmac.new(self._secret, signed, hashlib.sha256).hexdigest()}".encode()
        # while a key's secret is rotated (`keys rotate --grace`), the bot signs with the new and the old: any one does
        given = [part.strip().encode("utf-8", "replace") for part in signature.split(",")[:MAX_SIGNATURES]]
        if not any(hmac.compare_digest(part, mac) for part in given):
            return "the signature does not match (is this the key's webhook secret?)"
        return ""


def _query(route: str) -> list[tuple[str, str]]:
    """The query of a signed route (the path and query the bot POSTed to), as pairs."""
    return parse_qsl(route.partition("?")[2], keep_blank_values=True)


def application(relay: Relay, path: str = "/decisions") -> Any:
    """An aiohttp application answering `POST path` with `relay`."""
    try:
        from aiohttp import web
    except ImportError as exc:
        raise missing_extra(__name__, "temporal", exc) from exc

    async def post(request: web.Request) -> web.Response:
        if (request.content_length or 0) > MAX_BODY:
            return web.json_response({"error": "the body is too large"}, status=413)
        body = await request.read()
        status, answer = await relay.handle(body, request.headers, request.query)
        return web.json_response(answer, status=status)

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post(path, post)
    return app


async def serve(relay: Relay, host: str, port: int) -> None:
    from aiohttp import web

    runner = web.AppRunner(application(relay))
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("relay listening on http://%s:%d/decisions (engines: %s)", host, port, ", ".join(relay.engines))
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


async def engines(options: argparse.Namespace) -> dict[str, Deliver]:
    """The engines the command line names (`--temporal`, `--dbos`), connected: each found by name in the registry
    (`agent_approvals.durable.engines`), its module imported only now."""
    return {name: await connect(name, address, namespace=options.namespace)
            for name in ENGINES if (address := getattr(options, name, ""))}


async def _run(options: argparse.Namespace) -> None:
    await serve(Relay(os.environ.get(SECRET_ENV, ""), await engines(options)), options.host, options.port)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="agent-approvals-relay", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8790)
    parser.add_argument("--temporal", default="", help="deliver to Temporal: its frontend (host:port)")
    parser.add_argument("--namespace", default="default", help="the Temporal namespace")
    parser.add_argument("--dbos", default="", help="deliver to DBOS: its system database URL")
    options = parser.parse_args(argv)
    if not (options.temporal or options.dbos):
        parser.error("name an engine to deliver to: --temporal host:port, --dbos <system database URL>, or both")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if not os.environ.get(SECRET_ENV):
        parser.error(f"{SECRET_ENV} is not set: the API key's webhook secret (shown once, when the key was made)")
    try:
        asyncio.run(_run(options))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
