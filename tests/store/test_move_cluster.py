"""The upgrade moves a single-tag store of 50 workspaces (issue 89 item 4), tested as an operator runs it on the local
Redis Cluster of three primaries (tests/support/redis_cluster.py): a worker of release 0.8.0 (its own process, from
`git archive`) serving the store stops `python -m bot store move-workspaces` (exit 1, named, nothing changed); once it
is gone the move, killed with kill -9 mid-way and run again, finishes; a third run moves nothing. After it every key
of a workspace is in its slot (as the cluster says), with its time to live, the workspaces on all three primaries; a
worker of this release on one tag serving through the move holds its commands (asks through it answered 503 and
asked again after, each Idempotency-Key one approval); each pending approval is decided once; the chains and the
global checkpoint verify; a worker of this release starts with REDIS_WORKSPACE_TAGS=true and refuses to without it.
On one node, each step apart: tests/store/test_move.py."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.audit.checkpoints import AuditCheckpoints
from bot.audit.verify import walk_chains
from bot.core.settings import SettingsError
from bot.core.workspaces import WorkspaceRef
from bot.devslack.server import SlackStandIn
from bot.store import Store, connect
from bot.store.connection import aw, hold_of
from bot.store.slots import key_slot
from bot.store.stored_format import WORKSPACE_TAGS
from tests.conftest import bot_env, free_port, start_worker
from tests.support.api import Client, new_key, tool_ask
from tests.support.audit_log import signing_keys, verifier
from tests.support.hitl import until
from tests.support.moves import SeededWorkspace, seed_workspace
from tests.support.previous import previous_tree
from tests.support.redis_cluster import LocalCluster
from tests.support.source import ROOT

pytestmark = pytest.mark.slow  # a cluster, a worker of 0.8.0 and the command as processes

RELEASE_080 = "b847846b"  # "Release 0.8.0": checks `{p}:format` at its start only, knows formats up to 2
HOME = "T0HOME"
TEAMS = [f"T0MV{n:02d}" for n in range(50)]


@pytest.fixture
async def old_worker(slack: SlackStandIn, redis_cluster: LocalCluster, tmp_path: Path) -> AsyncIterator[
        asyncio.subprocess.Process]:
    """`python -m bot` of release 0.8.0 on the cluster (one tag: it knows no other)."""
    tree = previous_tree(tmp_path / "release", commit=RELEASE_080)
    port = free_port()
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "PYTHONPATH": f"{tree}:{tree / 'agents'}",
           **bot_env(slack=slack, redis_url=redis_cluster.url, model_config=None), "PORT": str(port),
           "LOG_LEVEL": "WARNING"}
    log = (tmp_path / "release.log").open("wb")
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", cwd=tree, env=env, stdout=log,
                                                   stderr=log)

    async def alive() -> bool:
        assert process.returncode is None, (tmp_path / "release.log").read_text()[-3000:]
        try:
            async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/livez") as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False

    try:
        await until(alive, within=90, what="the 0.8.0 worker answers /livez")
        yield process
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()
        log.close()


def command(cluster: LocalCluster, tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "REDIS_URL": cluster.url,
           "PYTHONPATH": f"{ROOT}:{ROOT / 'agents'}"}
    return subprocess.Popen([sys.executable, "-m", "bot", "store", "move-workspaces", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


async def ran(cluster: LocalCluster, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    """The move command run to its end, the event loop free meanwhile (the worker of this release in this process
    beats and answers through it, as a worker apart would)."""
    process = command(cluster, tmp_path, *args)
    out, err = await asyncio.to_thread(process.communicate, timeout=180)
    return process.returncode, out, err


async def seed(home: Store) -> dict[str, SeededWorkspace]:
    """Each of the 50 workspaces seeded (tests/support/moves.py), together; an audit entry of home's."""
    await home.tenants.learn_home(WorkspaceRef(HOME))
    await home.audit.append("settings", by="U0ADMIN", after="1m")
    found = await asyncio.gather(*(seed_workspace(home, HOME, n, team, tag="mvc") for n, team in enumerate(TEAMS)))
    return dict(zip(TEAMS, found, strict=True))


async def old_names(redis: object) -> dict[str, int]:
    """Every key still under a workspace's single-tag name, with its time to live (ms)."""
    found = {}
    async for key in redis.scan_iter(match="{hitl}:ws:*", count=1000):  # type: ignore[attr-defined]
        found[str(key)] = int(await redis.pttl(key))  # type: ignore[attr-defined]
    return found


async def test_the_upgrade_moves_a_single_tag_store_of_50_workspaces_after_a_0_8_worker_is_gone(
        redis_cluster: LocalCluster, old_worker: asyncio.subprocess.Process, slack: SlackStandIn,
        tmp_path: Path) -> None:
    redis = connect(redis_cluster.url)
    single = Store(redis, prefix="{hitl}")
    tags = Store(redis, prefix="{hitl}", sharded=True)
    try:
        seeded = await seed(single)
        keys = signing_keys(tmp_path / "keys.json")
        checkpoints = AuditCheckpoints(single, keys, worker="w1", every=1000, interval=0, retention=10**9)
        while await checkpoints.write_due():
            pass
        before = await old_names(redis)
        assert {k.split(":")[2] for k in before} == set(TEAMS)

        code, out, err = await ran(redis_cluster, tmp_path)  # the 0.8.0 worker serves: refused, named, nothing changed
        assert code == 1 and "a version before 0.9 (its heartbeat says no version)" in err, (out, err)
        assert "nothing changed" in err and await old_names(redis) == pytest.approx(before, abs=60_000)
        assert await single.format.stored() < WORKSPACE_TAGS

        old_worker.terminate()  # (SIGTERM: it drops its heartbeat)
        await old_worker.wait()
        # a worker of this release on one tag serves through the move: asks through it go on until its commands are
        # held, then fail closed (503) and are asked again (the same Idempotency-Key) after it
        live = await start_worker(bot_env(slack=slack, redis_url=redis_cluster.url, model_config=None,
                                          HEARTBEAT_SECONDS="3"))
        asker = Client(live, (await new_key(live)).key)
        answers: list[tuple[int, int, str]] = []
        stop = asyncio.Event()

        async def keep_asking() -> None:
            n = 0
            while not stop.is_set():
                try:
                    async with asyncio.timeout(30):  # (held: a 503 after its 5-s hold, never a blip ridden out for 60)
                        status, body = await asker.ask(tool_ask(), headers={"Idempotency-Key": f"live-{n}"})
                except (aiohttp.ClientError, ValueError):
                    status, body = 0, {}
                except TimeoutError:
                    status, body = -1, {"id": "no answer within 30 s"}
                answers.append((n, status, str(body.get("id", ""))))
                n += status == 201
                await asyncio.sleep(0.1 if status == 201 else 0.5)  # (pacing, as an agent's retry; no waiting on it)

        asking = asyncio.create_task(keep_asking())
        await until(lambda: len(answers) >= 3, within=30, what="asks before the move")
        started = time.monotonic()
        cut = command(redis_cluster, tmp_path)  # killed with kill -9 once some workspaces moved

        async def some_moved() -> bool:
            assert cut.poll() is None, cut.communicate()
            return any(str(f).startswith("moved:") for f in await aw(redis.hkeys("{hitl}:format")))

        await until(some_moved, within=60, what="the move's first workspaces moved")
        cut.send_signal(signal.SIGKILL)
        cut.wait()
        assert await single.format.moving() is not None  # (cut mid-way)
        assert await old_names(redis)  # (some still to move)

        code, out, err = await ran(redis_cluster, tmp_path, "--wait", "60")  # its claim lapses: it goes on
        assert code == 0 and "resuming" in out and "done:" in out, (out, err)
        moved_in = time.monotonic() - started
        assert await old_names(redis) == {}
        stop.set()
        await asking
        refused = [status for _, status, _ in answers if status != 201]
        assert refused and set(refused) <= {503, 0}, answers  # (held: fail closed, never a 500)
        assert live.services.store.redis is not None and hold_of(live.services.store.redis).held  # for good now
        async with asyncio.timeout(120):  # (a stop that hangs is named here, not by the suite's 300 s timeout)
            await live.stop()
        code, out, _ = await ran(redis_cluster, tmp_path)
        assert code == 0 and "nothing to move" in out, out

        primaries = set()
        for team in TEAMS:  # every key of a workspace on its slot, as the cluster says, with its time to live
            ws = tags.for_tenant(team, home=HOME)
            slot = key_slot(ws.keys.changes)
            primary = redis_cluster.primary_of(slot)
            primaries.add(primary)
            mine = {str(k) for port in redis_cluster.primaries()
                    for k in redis_cluster.ask(port, "KEYS", f"hitl:{{ws:{team}}}:*")}
            assert len(mine) >= 10 and {redis_cluster.ask(primary, "CLUSTER", "KEYSLOT", k) for k in mine} == {slot}
            for old, ttl in before.items():
                if old.startswith(f"{{hitl}}:ws:{team}:"):
                    new = old.replace(f"{{hitl}}:ws:{team}", f"hitl:{{ws:{team}}}", 1)
                    now = int(await aw(redis.pttl(new)))
                    assert (now < 0) == (ttl < 0) and (ttl < 0 or ttl - 120_000 < now <= ttl), (old, ttl, now)
            pending, key_id = seeded[team].pending, seeded[team].key_id
            assert await aw(redis.smembers(ws.keys.api_pending(key_id))) == {pending}
        assert len(primaries) == 3

        while await AuditCheckpoints(tags, keys, worker="w1", every=1000, interval=0,
                                     retention=10**9).write_due():
            pass
        said, code = await walk_chains(tags, None, verifier(keys), retention=10**9)
        assert code == 0 and "signs the heads of 51 chain(s)" in said, said

        with pytest.raises(SettingsError, match="REDIS_WORKSPACE_TAGS=true"):  # the setting and the store agree
            await start_worker(bot_env(slack=slack, redis_url=redis_cluster.url, model_config=None))
        worker = await start_worker(bot_env(slack=slack, redis_url=redis_cluster.url, model_config=None,
                                            REDIS_WORKSPACE_TAGS="true"))
        try:
            home = worker.services.store
            again = Client(worker, asker.key)
            last = max(n for n, _, _ in answers)
            status, body = await again.ask(tool_ask(), headers={"Idempotency-Key": f"live-{last}"})
            assert status in (200, 201), body  # the ask refused while held, asked again: answered once
            made = {approval_id for _, status, approval_id in answers if status == 201} | {str(body["id"])}
            assert len(made) == last + 1, answers  # each Idempotency-Key one approval, none lost
            for approval_id in made:
                found = await home.approvals.get(approval_id)
                assert found is not None and found.status == "pending", approval_id
            for team in TEAMS:  # each pending approval decided once, through the worker's store
                ws = home.for_tenant(team, home=HOME)
                pending = seeded[team].pending
                assert (await ws.approvals.decide(pending, outcome="approved", by="U0BOB")).status == "ok"
                assert (await ws.approvals.decide(pending, outcome="rejected", by="U0BOB")).status != "ok"
        finally:
            await worker.stop()
        print(f"50 workspaces, {len(before)} keys moved (cut by kill -9, run again) in {moved_in:.1f} s,"
              f" load {os.getloadavg()[0]:.1f}; {len(made)} asks through a worker of this release, {len(refused)}"
              " answers 503 while it held, the last asked again after")
    finally:
        await redis.aclose()
