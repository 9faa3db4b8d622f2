"""API keys' secrets at rest and over time (issue 76): a key's webhook secret is kept sealed under SECRETS_KEY, so a
copied Redis backup (BGSAVE, every key SCANned and DUMPed) holds no webhook secret while a relay still verifies the
deliveries; `keys rotate --grace` gives a new key and secret, the old key working until the grace ends (then 401) and
deliveries signed with both meanwhile; `keys create --expires` makes a key refused once expired (401 saying so);
`keys list` says when a key was last used. The commands run as `python -m bot keys` does, on the real Redis a real
worker serves."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from agent_approvals.durable.engines import Delivered
from redis.asyncio import Redis

from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, SALES, TEST_SECRETS_KEY, RedisServer, Worker
from tests.support.api import Client, tool_ask
from tests.support.cli import bot_command
from tests.support.durable import RelayServer, delivered
from tests.support.hitl import click, nth_card
from tests.support.redis_backup import backup

SECRET = re.compile(r"webhook secret: (whsec_\S+)")
KEY = re.compile(r"key: +(aak_\S+)")


def operator_env(redis_url: str) -> dict[str, str]:
    """What an operator's shell holds to run `python -m bot keys`: the workers' REDIS_URL and SECRETS_KEY."""
    return {"REDIS_URL": redis_url, "SECRETS_KEY": TEST_SECRETS_KEY}


async def keys(*args: str, redis_url: str) -> tuple[str, str]:
    """`python -m bot keys *args`: (the key, its webhook secret) it printed."""
    ran = await bot_command("keys", *args, environ=operator_env(redis_url))
    assert ran.returncode == 0, ran.stderr
    key, secret = KEY.search(ran.stdout), SECRET.search(ran.stdout)
    assert key is not None and secret is not None, ran.stdout
    return key.group(1), secret.group(1)


class Taken:
    """A relay's engine that takes every decision (what it took, by approval id)."""

    def __init__(self) -> None:
        self.taken: list[str] = []

    async def __call__(self, route: Mapping[str, str], approval: dict[str, Any]) -> Delivered:
        self.taken.append(str(approval["id"]))
        return Delivered("delivered")


async def every_key_dumped(redis_url: str) -> list[bytes]:
    """Every key of Redis (SCAN), each DUMPed whatever its type, with its name."""
    client = Redis.from_url(redis_url)
    try:
        return [key + b" " + (await client.dump(key) or b"") async for key in client.scan_iter(count=1000)]
    finally:
        await client.aclose()


async def approved_and_delivered(api: Worker, slack: SlackStandIn, key: str, relay: RelayServer, n: int) -> str:
    _, asked = await Client(api, key).ask(tool_ask(callback_url=relay.url + "?engine=test"))
    await click(slack, await nth_card(slack, n), "approval_approve", user=BOB)
    await delivered(api.services.store, asked["id"])
    return str(asked["id"])


async def test_a_copied_redis_backup_holds_no_webhook_secret_while_a_relay_still_verifies(
    api: Worker, slack: SlackStandIn, redis_url: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    key, secret = await keys("create", "nightly", "--channel", SALES, redis_url=redis_url)
    engine = Taken()
    relay = RelayServer(secret, "test", engine)
    await relay.start()
    try:
        approval = await approved_and_delivered(api, slack, key, relay, 1)
    finally:
        await relay.stop()
    assert engine.taken == [approval]  # the relay verified the delivery with the secret the operator was shown
    raw = secret.encode()
    assert not [dump for dump in await every_key_dumped(redis_url) if raw in dump]
    client = Redis.from_url(redis_url)
    try:
        await client.config_set("rdbcompression", "no")  # a clear secret would show in the file as it is
    finally:
        await client.aclose()
    copy = backup(redis_server, tmp_path / "copy.rdb")
    assert raw not in copy.read_bytes() and raw[len("whsec_"):] not in copy.read_bytes()


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_a_rotated_key_works_until_its_grace_ends_and_deliveries_are_signed_with_both_meanwhile(
    api: Worker, slack: SlackStandIn, redis_url: str
) -> None:
    old_key, old_secret = await keys("create", "nightly", "--channel", SALES, redis_url=redis_url)
    new_key, new_secret = await keys("rotate", "nightly", "--grace", "4s", "--as", "ops-anna", redis_url=redis_url)
    assert (new_key, new_secret) != (old_key, old_secret)
    rotated_at = time.monotonic()
    old, new = Client(api, old_key), Client(api, new_key)
    status, same, _ = await old.call("GET", "/api/v1/key")
    assert status == 200 and same["name"] == "nightly"
    status, now, _ = await new.call("GET", "/api/v1/key")
    assert status == 200 and now["id"] == same["id"]  # the same key id: its receipts' aud and approvals carry on

    engine = Taken()  # a relay still given the old secret, and one given the new: both take a delivery in the grace
    for n, secret in enumerate((old_secret, new_secret), 1):
        relay = RelayServer(secret, "test", engine)
        await relay.start()
        try:
            await approved_and_delivered(api, slack, new_key, relay, n)
        finally:
            await relay.stop()
    assert len(engine.taken) == 2

    while (await old.call("GET", "/api/v1/key"))[0] == 200:
        assert time.monotonic() - rotated_at < 20, "the old key still works long after its grace"
        await asyncio.sleep(0.1)
    assert time.monotonic() - rotated_at >= 3.5  # not before the grace ended (4 s, whole seconds)
    status, refused, _ = await old.call("GET", "/api/v1/key")
    assert status == 401 and "was replaced (keys rotate) and its grace ended" in refused["error"]["message"]
    assert (await new.call("GET", "/api/v1/key"))[0] == 200
    entries = [e for e in await api.services.store.audit.entries() if e["event"] == "api_key_rotated"]
    assert [(e["key"], e["claimed"], e["by"].startswith("cli:")) for e in entries] == [("nightly", "ops-anna", True)]
    refusals = [e for e in await api.services.store.audit.entries() if e["event"] == "api_refused"]
    assert refusals and {(e["key"], e["reason"]) for e in refusals} == {("nightly", "key_rotated")}


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_an_expired_key_is_refused_saying_so_and_keys_list_shows_when_each_was_last_used(
    api: Worker, redis_url: str
) -> None:
    short, _ = await keys("create", "short", "--channel", SALES, "--expires", "3s", redis_url=redis_url)
    made = time.monotonic()
    await keys("create", "idle", "--channel", SALES, redis_url=redis_url)
    client = Client(api, short)
    assert (await client.call("GET", "/api/v1/key"))[0] == 200
    listed = await bot_command("keys", "list", environ=operator_env(redis_url))
    said = {entry["name"]: entry for entry in map(json.loads, listed.stdout.splitlines())}
    assert said["idle"]["last_used"] == "never"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", said["short"]["last_used"]), said
    assert said["short"]["expires"] and "expires" not in said["idle"]

    while (await client.call("GET", "/api/v1/key"))[0] == 200:
        assert time.monotonic() - made < 20, "the key still works long after it expired"
        await asyncio.sleep(0.1)
    status, refused, _ = await client.call("GET", "/api/v1/key")
    assert status == 401 and re.search(r"the API key short expired at \d{4}-\d\d-\d\d", refused["error"]["message"])


async def test_a_duration_that_is_not_one_is_refused_and_nothing_changes(redis_url: str) -> None:
    ran = await bot_command("keys", "create", "k", "--channel", SALES, "--expires", "soon",
                            environ=operator_env(redis_url))
    assert ran.returncode == 2 and "--expires" in ran.stderr
    listed = await bot_command("keys", "list", environ=operator_env(redis_url))
    assert listed.stdout == ""
