"""Config checked at start (#67.6), as an operator starts a worker: `python -m bot` with a bad variable (a duration
out of its range, a channel that is not an id, a `LOG_FORMAT` it does not know) stops at once with exit code 2 and
one line naming the variable and what it takes; a misspelt variable is warned about by name; a Redis whose
`maxmemory-policy` may evict keys (`allkeys-lru`, `volatile-lru`) is refused, in process and as a process, unless
REDIS_ALLOW_EVICTION=true, which starts saying why at ERROR; a Redis of a newer stored format (#67) is refused
saying so; a worker whose SECRETS_KEY cannot open the deployment's sealed values (#87) exits naming the key id it
lacks, and a rotation (`k2:NEW,k1:OLD`) starts and reads the values sealed before. Real `python -m bot` processes,
real redis-servers (the eviction ones the test's own)."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as sync_redis

from bot.core.settings import SettingsError
from bot.devslack.server import SlackStandIn
from bot.store import Store
from bot.store.stored_format import FORMAT
from tests.conftest import ALICE, SALES, TEST_SECRETS_KEY, RedisServer, bot_env, free_port, start_redis, start_worker
from tests.support.api import Client
from tests.support.cluster import Cluster

pytestmark = pytest.mark.slow  # `python -m bot` as a process; redis-servers of the tests' own

ROOT = Path(__file__).resolve().parents[2]


def env_of(slack: SlackStandIn, redis_url: str, **extra: str) -> dict[str, str]:
    return {**os.environ, **bot_env(slack=slack, redis_url=redis_url, model_config=None), "PORT": str(free_port()),
            "LOG_LEVEL": "INFO", **extra}


def started(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m bot` run to its end (a refused start ends at once)."""
    return subprocess.run([sys.executable, "-m", "bot"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize(("variable", "value", "said"), [
    ("APPROVAL_TIMEOUT", "8d", "error: APPROVAL_TIMEOUT: 8d is out of range; use 90, 90s, 15m, 2h or 1d (from 1"
     " second to 7 days)"),
    ("AUDIT_RETENTION", "3651d", "error: AUDIT_RETENTION: 3651d is out of range; use 90, 90s, 15m, 2h or 1d (from 1"
     " second to 3650 days)"),
    ("APPROVALS_CHANNEL", "#approvals", "error: APPROVALS_CHANNEL must be a channel id such as C0123456789 (not a"
     " #name)"),
    ("LOG_FORMAT", "xml", "error: LOG_FORMAT must be one of: text, json"),
    ("CANARY_INTERVAL", "abc", "error: CANARY_INTERVAL must be a whole number from 0 to 86400"),
])
def test_a_bad_variable_stops_the_start_naming_it(
    slack: SlackStandIn, redis_url: str, variable: str, value: str, said: str
) -> None:
    done = started(env_of(slack, redis_url, **{variable: value}))
    assert done.returncode == 2, done
    assert done.stderr.strip().splitlines() == [said], done.stderr
    assert "Traceback" not in done.stderr


def test_an_archive_folder_the_worker_cannot_write_stops_the_start_naming_it(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    """AUDIT_ARCHIVE a path under a regular file (#76.16): refused at start, as a bad duration is."""
    (tmp_path / "plain").write_text("a file")
    url = (tmp_path / "plain" / "archive").as_uri()
    done = started(env_of(slack, redis_url, AUDIT_ARCHIVE=url))
    assert done.returncode == 2, done
    assert done.stderr.strip().splitlines() == [f"error: AUDIT_ARCHIVE {url!r}: {tmp_path / 'plain'} is a file, not a"
                                                " folder: the archive cannot be written under it"], done.stderr
    assert not (tmp_path / "plain").is_dir()


@pytest.fixture
def evicting_redis() -> Iterator[RedisServer]:
    """A redis-server of the test's own, set to evict any key when full (`allkeys-lru`)."""
    server = start_redis()
    client = sync_redis.Redis(port=server.port)
    client.config_set("maxmemory-policy", "allkeys-lru")
    client.close()
    yield server
    server.process.terminate()
    server.process.wait(timeout=10)
    shutil.rmtree(server.workdir, ignore_errors=True)


def test_a_redis_that_evicts_keys_stops_the_process_naming_why(
    slack: SlackStandIn, evicting_redis: RedisServer
) -> None:
    done = started(env_of(slack, evicting_redis.url))
    assert done.returncode == 2, done
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert errors == ["error: Redis's maxmemory-policy is allkeys-lru: when it is full it deletes keys, and an"
                      " evicted approval is a lost one (set maxmemory-policy noeviction, or REDIS_ALLOW_EVICTION=true"
                      " to start anyway)"], done.stderr
    assert "Traceback" not in done.stderr and "listening on" not in done.stderr


@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-lru", "allkeys-random", "volatile-ttl"])
async def test_an_evicting_redis_is_refused_in_process(
    slack: SlackStandIn, evicting_redis: RedisServer, policy: str
) -> None:
    client = sync_redis.Redis(port=evicting_redis.port)
    client.config_set("maxmemory-policy", policy)
    client.close()
    with pytest.raises(SettingsError, match=f"maxmemory-policy is {policy}: .*REDIS_ALLOW_EVICTION=true"):
        worker = await start_worker(bot_env(slack=slack, redis_url=evicting_redis.url, model_config=None))
        await worker.stop()


async def test_an_evicting_redis_with_the_override_starts_saying_why(
    slack: SlackStandIn, evicting_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    env = bot_env(slack=slack, redis_url=evicting_redis.url, model_config=None, REDIS_ALLOW_EVICTION="true")
    worker = await start_worker(env)
    try:
        loud = [r for r in caplog.records if "maxmemory-policy" in r.getMessage()]
        assert [(r.levelname, r.getMessage()) for r in loud] == [(
            "ERROR", "Redis's maxmemory-policy is allkeys-lru: when it is full it deletes keys, and an evicted"
            " approval is a lost one (set maxmemory-policy noeviction); starting anyway because"
            " REDIS_ALLOW_EVICTION=true")]
    finally:
        await worker.stop()


async def test_a_redis_that_does_not_evict_starts_without_a_word(
    slack: SlackStandIn, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None))
    await worker.stop()
    assert "maxmemory-policy" not in caplog.text  # the tests' redis-server: noeviction, its default


def test_a_redis_of_a_newer_stored_format_stops_the_process_saying_so(slack: SlackStandIn, redis_url: str) -> None:
    client = sync_redis.Redis.from_url(redis_url)
    client.hset("hitl:format", mapping={"format": str(FORMAT + 1)})
    done = started(env_of(slack, redis_url))
    assert done.returncode == 2, done
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: this Redis holds stored format {FORMAT + 1}, newer than this worker knows (up to"
                      f" {FORMAT}): a newer version of the bot has upgraded it (docs/operators/upgrades.md); start"
                      " that version instead, or point REDIS_URL and REDIS_KEY_PREFIX at another Redis"], done.stderr
    assert client.keys("*") == [b"hitl:format"] and "Traceback" not in done.stderr  # refused before it wrote
    client.close()


def test_a_misspelt_variable_is_warned_about_by_a_starting_worker(slack: SlackStandIn, redis_url: str) -> None:
    env = env_of(slack, redis_url, APROVALS_CHANNEL="C0SECRETVALUE")  # read nowhere: warned about, by name
    with subprocess.Popen([sys.executable, "-m", "bot"], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True) as bot:
        assert bot.stderr is not None
        try:
            for line in bot.stderr:  # said before it listens; it ends when the process does
                if "APROVALS_CHANNEL" in line or "listening on" in line:
                    break
        finally:
            bot.kill()
    assert line.rstrip().endswith(
        "APROVALS_CHANNEL is set but is no setting of the bot (not read): did you mean APPROVALS_CHANNEL?"), line
    assert "C0SECRETVALUE" not in line


OTHER_KEY = base64.b64encode(bytes(range(100, 132))).decode()  # not the tests' SECRETS_KEY (`t1`)
NOT_THEIRS = "give every worker the same SECRETS_KEY (docs/operators/secrets.md#secrets_key)"


@pytest.mark.parametrize(("secrets_key", "said"), [
    (f"t2:{OTHER_KEY}", "SECRETS_KEY has no key t1 (the deployment's values are sealed with t1): " + NOT_THEIRS),
    (f"t1:{OTHER_KEY}", "SECRETS_KEY's key t1 is not the deployment's t1 (the values the deployment sealed with t1"
     " do not open with it): " + NOT_THEIRS),
    ("", "SECRETS_KEY is not set, but this deployment's values are sealed with key t1: " + NOT_THEIRS),
])
async def test_a_worker_with_another_secrets_key_exits_naming_the_key_id(
    slack: SlackStandIn, redis_url: str, cluster: Cluster, secrets_key: str, said: str
) -> None:
    await cluster.start()  # the deployment's first worker (the tests' SECRETS_KEY, `t1`): it writes the check value
    done = await asyncio.to_thread(started, env_of(slack, redis_url, SECRETS_KEY=secrets_key))
    assert done.returncode == 2, done
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert errors[0].startswith(f"error: {said}"), done.stderr
    assert "listening on" not in done.stderr and "Traceback" not in done.stderr  # never served, never ready


async def test_a_rotation_starts_and_opens_the_values_sealed_before(
    slack: SlackStandIn, redis_url: str, cluster: Cluster, store: Store
) -> None:
    """`SECRETS_KEY=t2:NEW,t1:OLD` (docs/operators/secrets.md's rollout): the worker starts, reads a hidden value
    sealed with t1 by the worker before, and reseals the check value with t2; from then on a worker with t1 alone is
    refused naming t2, and one with t2 alone starts."""
    first = await cluster.start()
    made = await store.api_keys.create("refunds", (SALES,), by="test")
    assert made is not None
    arguments = {"order": "B-12", "card": {"number": "5500 0000 0000 0004"}}
    status, asked = await Client(first, made.key).ask({"kind": "tool", "title": "Refund B-12", "requester": ALICE,
                                                       "tool": {"name": "refund", "arguments": arguments}})
    assert status == 201 and asked["arguments_redacted"] is False, asked
    rotated = await cluster.start(SECRETS_KEY=f"t2:{OTHER_KEY},{TEST_SECRETS_KEY}")
    status, read, _ = await Client(rotated, made.key).call("GET", f"/api/v1/approvals/{asked['id']}")
    assert status == 200 and read["arguments"] == arguments and read["arguments_redacted"] is False, read
    assert str(await store.redis.get("hitl:secrets:check")).startswith("t2.v1.")
    first.kill()
    done = await asyncio.to_thread(started, env_of(slack, redis_url))  # t1 alone: behind the deployment
    assert done.returncode == 2, done
    assert "error: SECRETS_KEY has no key t2 (the deployment's values are sealed with t2)" in done.stderr, done.stderr
    await cluster.start(SECRETS_KEY=f"t2:{OTHER_KEY}")  # the rotation's last step
