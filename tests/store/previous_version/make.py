"""Makes `redis.json`: a Redis as the version before workspaces (commit 2be5057) left it, for the upgrade test
(tests/store/test_upgrade.py). Run it in a checkout of that version, from its root:

    git archive 2be5057 | tar -x -C /tmp/prev && cp make.py /tmp/prev/ && cd /tmp/prev
    PYTHONPATH=$PWD:$PWD/agents python make.py <this folder>/redis.json

A real worker of that version, the Slack stand-in and a real redis-server: an API key (`nightly`, for #sales) asks
for two approvals, Alice starts a run with `/agent` whose first step waits for an approval; the channel's timeout is
`never`, so they stay pending however long the file waits. Then the worker stops (its approvals stay pending, as at
a deploy) and every key but its heartbeat is written out, with its type, value and time to live. The API key is a
test key of this file only."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import redis

from bot.devslack.server import SlackStandIn
from tests.conftest import (
    ALICE,
    BOT_TOKEN,
    DRAFTS,
    SALES,
    SIGNING_SECRET,
    bot_env,
    replay_config,
    start_redis,
    start_worker,
)
from tests.support.api import Client, tool_ask
from tests.support.flow import pending_card, start_run


def value_of(client: redis.Redis, key: str, kind: str) -> Any:
    """The value of `key`, of type `kind`, as JSON holds it."""
    if kind == "hash":
        return client.hgetall(key)
    if kind == "string":
        return client.get(key)
    if kind == "set":
        return sorted(client.smembers(key))  # type: ignore[arg-type]
    if kind == "list":
        return client.lrange(key, 0, -1)
    if kind == "zset":
        return client.zrange(key, 0, -1, withscores=True)
    return client.xrange(key)


def dump(url: str) -> list[dict[str, Any]]:
    """Every key of the Redis at `url` but heartbeats: {key, type, ttl (ms, -1: none), value}."""
    client = redis.Redis.from_url(url, decode_responses=True)
    found = []
    for key in sorted(client.scan_iter(count=1000)):
        kind = client.type(key)
        if ":heartbeat:" not in key:
            found.append({"key": key, "type": kind, "ttl": client.pttl(key), "value": value_of(client, key, kind)})
    return found


async def make() -> str:
    """The file's text."""
    server = start_redis()
    slack = SlackStandIn(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN)
    await slack.start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            model = Path(folder) / "model.json"
            model.write_text(json.dumps(replay_config(*DRAFTS, "Draft v3", "Draft v4")))
            worker = await start_worker(bot_env(slack=slack, redis_url=server.url, model_config=model))
            slack.events_url = worker.url + "/slack/events"
            said = await slack.send_command(user=ALICE, channel=SALES, text="config timeout never")
            assert said.status == 200, said.body
            made = await worker.services.store.api_keys.create("nightly", (SALES,), by="cli")
            assert made is not None
            client = Client(worker, made.key)
            asked = [(await client.ask(tool_ask(title=title)))[1]["id"] for title in ("Tell Bob", "Tell Carol")]
            run_id = await start_run(slack)
            await pending_card(slack, count=3)
            await worker.stop()
        return json.dumps({"made_by": "2be5057", "api_key": made.key, "asked": asked, "run": run_id,
                           "redis": dump(server.url)}, indent=1) + "\n"
    finally:
        await slack.stop()
        server.process.terminate()
        server.process.wait(timeout=10)


if __name__ == "__main__":
    Path(sys.argv[1]).write_text(asyncio.run(make()))
