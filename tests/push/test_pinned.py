"""A push's connection pinned to a checked address (issue 90, bot/push/pinned.py): a push service's host that answers
a public address when checked and a private one when the push connects (DNS rebinding) is not connected to, the device
not pushed to and the refusal audited `push_refused`; the resolver answers only checked addresses under the host's
name, refuses any private one among them, says a host that does not resolve as aiohttp's OSError, and leaves the local
push service's host and port unchecked; a push through it connects to the answer and keeps the name as its Host."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import replace

import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bot.approvals.events import ApprovalOpened
from bot.approvals.opening import Opened
from bot.core.metrics import Metrics
from bot.core.settings import Settings
from bot.core.tasks import Background
from bot.devslack.server import SlackStandIn
from bot.push.devices import BadSubscription
from bot.push.pinned import PinnedResolver
from bot.push.sender import Push, PushSender
from bot.push.surface import push_surface
from bot.store import Store
from bot.store.push import Subscription
from tests.conftest import bot_env
from tests.support.hitl import until
from tests.support.mail import KEY
from tests.support.push import SUBJECT, vapid_private
from tests.support.records import approval

BOB = "U0BOB"
PUBLIC = "93.184.215.14"  # a global address (never connected to here)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def a_device(endpoint: str) -> Subscription:
    """A device's subscription at `endpoint` with real keys (the push is encrypted to them before it is sent)."""
    point = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(Encoding.X962,
                                                                             PublicFormat.UncompressedPoint)
    return Subscription(endpoint=endpoint, p256dh=b64(point), auth=b64(os.urandom(16)), added=time.time())


@pytest.mark.slow  # a local server, a push encrypted and attempted
async def test_a_host_answering_public_then_private_is_not_connected_to_and_the_refusal_audited(
    store: Store, slack: SlackStandIn,
) -> None:
    connections: list[object] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer.get_extra_info("peername"))
        writer.close()

    server = await asyncio.start_server(record, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    asked: list[tuple[str, int]] = []

    async def rebinding(host: str, port: int) -> Sequence[str]:  # public when checked, this machine afterwards
        asked.append((host, port))
        return [PUBLIC] if len(asked) == 1 else ["127.0.0.1"]

    env = bot_env(slack=slack, redis_url="redis://127.0.0.1:1/0", model_config=None)
    settings = Settings.from_env({**env, "VAPID_PRIVATE_KEY": vapid_private(), "VAPID_SUBJECT": SUBJECT,
                                  "SECRETS_KEY": KEY})
    surface = push_surface(settings, store=store, background=Background(), metrics=Metrics(), lookup=rebinding)
    assert surface is not None
    # "localhost": what the system's resolver would answer 127.0.0.1 for, had the push resolved it again itself
    assert await store.push.subscribe(BOB, a_device(f"http://localhost:{port}/push/rebound"), limit=10) == "added"
    record_ = replace(approval(), approvers=(BOB,))
    assert await store.approvals.create(record_) == "ok"
    try:
        surface.listener(ApprovalOpened(run=None, request=None,  # type: ignore[arg-type]
                                        answer=Opened("ok", record_.id)))

        async def refused() -> list[dict[str, str]]:
            return [e for e in await store.audit.entries() if e.get("event") == "push_refused"]

        [entry] = await until(refused, within=10, what="the refusal audited")
        assert (entry["person"], entry["by"], entry["surface"]) == (BOB, "system", "push")
        assert "private network" in entry["why"] and "rebound" not in entry["why"]
        assert asked == [("localhost", port), ("localhost", port)]  # checked, then the connection's own, refused
        assert connections == []
    finally:
        await surface.close()
        server.close()
        await server.wait_closed()


async def test_the_resolver_answers_only_checked_addresses_under_the_hosts_name() -> None:
    answers = {"push.example.com": ["2606:4700::1111", PUBLIC, PUBLIC], "mixed.example.com": [PUBLIC, "10.0.0.8"],
               "meta.example.com": ["169.254.169.254"], "localhost": ["127.0.0.1"]}

    async def lookup(host: str, port: int) -> Sequence[str]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "not known")
        return answers[host]

    resolver = PinnedResolver(lookup, local_service="http://localhost:8088")
    found = await resolver.resolve("push.example.com", 443, family=socket.AF_UNSPEC)
    assert [(r["hostname"], r["host"], r["port"], r["family"]) for r in found] == [
        ("push.example.com", "2606:4700::1111", 443, socket.AF_INET6),
        ("push.example.com", PUBLIC, 443, socket.AF_INET)]
    assert [r["host"] for r in await resolver.resolve("push.example.com", 443, family=socket.AF_INET)] == [PUBLIC]
    for host in ("mixed.example.com", "meta.example.com", "localhost"):  # (localhost on another port than 8088)
        with pytest.raises(BadSubscription, match="private network"):
            await resolver.resolve(host, 443)
    with pytest.raises(OSError, match="does not resolve"):
        await resolver.resolve("nowhere.example.com", 443)
    assert [r["host"] for r in await resolver.resolve("localhost", 8088)] == ["127.0.0.1"]  # the local service


@pytest.mark.slow  # a local push service (aiohttp) taking a push
async def test_a_push_through_the_pinned_resolver_connects_to_its_answer_under_the_endpoints_name(store: Store) -> None:
    hosts: list[str] = []

    async def took(request: web.Request) -> web.Response:
        hosts.append(request.host)
        return web.Response(status=201)

    app = web.Application()
    app.router.add_post("/push/{device}", took)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    asked: list[str] = []

    async def lookup(host: str, port: int) -> Sequence[str]:
        asked.append(host)
        return ["127.0.0.1"]

    local = f"http://localhost:{port}"  # a name (an address would not be resolved at all)
    sender = PushSender(store=store.push, vapid_key=vapid_private(), subject=SUBJECT, local_service=local,
                        lookup=lookup)
    try:
        done = await sender.send(Push(approval_id="a-pinned", person=BOB, kind="opened", data=b"{}", keep=60),
                                 devices=[a_device(f"{local}/push/phone")])
        assert (done.outcome, done.devices) == ("sent", 1)
        assert asked == ["localhost"] and hosts == [f"localhost:{port}"]
    finally:
        await sender.close()
        await runner.cleanup()
