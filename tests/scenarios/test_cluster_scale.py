"""Issue 89 at its size, as a user runs it: a real Redis Cluster of three primaries and three replicas, two workers
with REDIS_WORKSPACE_TAGS on, each workspace installed in the local Slack (a workspaces file). 300 workspaces: an ask
through each one's API key and a click on its card, every one decided; their keys spread over the three primaries
(none holds more than half, as CLUSTER COUNTKEYSINSLOT counts them), every primary ran their steps (INFO
commandstats); every chain and the global checkpoint verify. And 200 approvals in flight in 20 workspaces when the
primary holding most of them is killed (-9): each decided once, each run's tool run once, the chains and the global
checkpoint verify."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bot.audit.verify import walk_chains
from bot.core.records import RunRecord
from bot.core.signing import SigningKeys
from bot.core.workspaces import WorkspaceRef
from bot.devslack.server import SlackStandIn
from bot.store import Store, connect
from bot.store.slots import key_slot
from tests.conftest import Worker, block_texts, bot_env, has_buttons, start_worker
from tests.support.api import Client, tool_ask
from tests.support.audit_log import signing_keys, verifier
from tests.support.cluster import DEMO, run_status
from tests.support.flow import start_run
from tests.support.redis_cluster import LocalCluster
from tests.support.workspaces import Installed, serve_many, workspaces_file

pytestmark = pytest.mark.slow

T = TypeVar("T")
HOME = "T0HOME"  # (a name for the home workspace's tenant in `for_tenant`: home keeps its names)
AT_ONCE = 16  # asks and clicks in flight at once (concurrency, not waits)


async def bounded(items: list[T], step: Callable[[T], Awaitable[Any]], *, at_once: int = AT_ONCE) -> list[Any]:
    """`step` on every item, `at_once` at a time, the answers in order."""
    gate = asyncio.Semaphore(at_once)

    async def one(item: T) -> Any:
        async with gate:
            return await step(item)

    return list(await asyncio.gather(*(one(item) for item in items)))


async def two_workers(slack: SlackStandIn, cluster: LocalCluster, tmp_path: Path, installed: list[Installed],
                      **extra: str) -> tuple[list[Worker], SigningKeys]:
    """Two workers on the cluster with a hash tag per workspace, serving `installed` (a workspaces file), and the
    keys they sign the audit checkpoints with (every second)."""
    keys = signing_keys(tmp_path / "keys.json")
    env = bot_env(slack=slack, redis_url=cluster.url, model_config=None, REDIS_WORKSPACE_TAGS="true",
                  SLACK_WORKSPACES_FILE=str(workspaces_file(tmp_path / "workspaces.json", installed)),
                  SIGNING_KEYS_FILE=str(tmp_path / "keys.json"), AUDIT_CHECKPOINT_INTERVAL="1", **extra)
    workers = [await start_worker(env)]
    try:
        workers.append(await start_worker(env))
    except BaseException:
        await workers[0].stop()
        raise
    return workers, keys


async def chains_verify(store: Store, keys: SigningKeys, *, workspaces: int, within: float = 60) -> str:
    """Once the workers' checkpoints cover every entry and a global one signs the head of every workspace's chain
    (and home's, when it has one): what `audit verify` says (exit code 0)."""
    deadline = time.monotonic() + within
    while True:
        said, code = await walk_chains(store, None, verifier(keys), retention=10**9)
        signed = re.search(r"signs the heads of (\d+) chain\(s\)", said)
        if "covered by no signature" not in said and signed and int(signed.group(1)) >= workspaces:
            break
        assert time.monotonic() < deadline, wrong(said)
        await asyncio.sleep(0.5)
    assert code == 0, wrong(said)
    return said


def wrong(said: str) -> str:
    """What `audit verify` said but that a chain is intact."""
    return "\n".join(line for line in said.splitlines() if "audit log intact" not in line)[-3000:]


def card_of(slack: SlackStandIn, channel: str, approval_id: str) -> dict[str, Any] | None:
    """The card of `approval_id` in `channel`, as shown now."""
    for message in slack.messages(channel):
        if not message.get("thread_ts") and approval_id in json.dumps(message.get("blocks") or []):
            return message
    return None


WORKSPACES = 300  # the issue's


TRY_AGAIN = "try again"  # what a person is told when their click was not recorded (bot/approvals/refusals.py)


def told(slack: SlackStandIn, each: Installed) -> list[str]:
    """What `each`'s approver was told in its channel (ephemerally: posted, or through a click's response_url)."""
    return [str(e.get("text") or "") for e in slack.ephemerals(each.approver) if e["channel"] == each.channel]


def lost_click(slack: SlackStandIn, cluster: LocalCluster, logged: list[logging.LogRecord], each: Installed,
               approval: str, primaries: dict[int, int]) -> str:
    """What is known of `approval`'s click that left it pending and its approver told nothing: the workers' log lines
    naming it, its workspace, person or channel; the Slack calls of its workspace that failed; whether a primary
    failed over since the clicks began (its slots served by another)."""
    names = (approval, each.team, each.approver, each.channel)
    lines = [f"{r.levelname} {r.name}: {r.getMessage()}" for r in logged if any(n in r.getMessage() for n in names)]
    failed = [f"{c.method} {json.dumps(c.args)[:200]}" for c in slack.calls()
              if not c.ok and (c.team == each.team or any(n in json.dumps(c.args) for n in names))]
    now = cluster.slot_owners()
    moved = sorted({(primaries[slot], port) for slot, port in now.items() if primaries.get(slot) != port})
    return (f"{each.team}: the click on {approval} left it pending and its approver was told nothing"
            f" ({told(slack, each)})\nlog:\n" + "\n".join(lines[-40:]) + "\nSlack calls failed:\n"
            + "\n".join(failed[-20:]) + f"\nslots moved (primary before, now): {moved}")


@pytest.mark.slow
async def test_300_workspaces_served_by_two_workers_spread_over_the_three_primaries_every_ask_decided(
        slack: SlackStandIn, redis_cluster: LocalCluster, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """... and a click is applied, or its approver told to try again (then they click again): never acknowledged and
    lost (one of 300 once stayed pending in a CI rehearsal; a lost one fails the test with the workers' log lines
    naming it). One workspace's click meets Slack failing who-is-this and the ephemeral answer: told all the same."""
    caplog.set_level(logging.INFO)  # (the workers' log, for a click lost: `lost_click`)
    began = time.monotonic()
    cluster = redis_cluster  # (the process's, empty, its counts reset)
    installed = serve_many(slack, WORKSPACES)
    workers, signing = await two_workers(slack, cluster, tmp_path, installed)
    home = workers[0].services.store
    assert home.keys.sharded
    try:
        async def key_in(each: Installed) -> str:
            made = await home.api_keys.create(f"k-{each.team.lower()}", (each.channel,), by="test",
                                               workspace=WorkspaceRef(each.team))
            assert made is not None
            return made.key

        keys = await bounded(installed, key_in)
        started = time.monotonic()

        async def asked(n: int) -> str:  # half the asks on each worker
            status, answer = await Client(workers[n % 2], keys[n]).ask(tool_ask(requester=installed[n].person))
            assert status == 201, answer
            return str(answer["id"])

        ids = await bounded(list(range(WORKSPACES)), asked)
        asks_took = time.monotonic() - started
        cards = await slack.wait_for(
            lambda: (found := [card_of(slack, i.channel, ids[n]) for n, i in enumerate(installed)])
            and all(c is not None and has_buttons(c) for c in found) and found, timeout=120,
            description="a card in every workspace")
        started = time.monotonic()
        primaries_then = cluster.slot_owners()
        faulted = installed[7]  # at its click, Slack's directory and its chat.postEphemeral fail there: still told
        slack.fail(method="users.info", status=200, error="fatal_error", team=faulted.team)
        slack.fail(method="chat.postEphemeral", status=200, error="fatal_error", team=faulted.team)
        for half, worker in enumerate(workers):  # half the clicks on each worker (the stand-in's one events_url)
            slack.events_url = worker.url + "/slack/events"

            async def clicked(n: int) -> None:
                each, card = installed[n], cards[n]
                assert card is not None, each.team
                result = await slack.click(user=each.approver, channel=each.channel, ts=card["ts"],
                                           action_id="approval_approve")
                assert result.status == 200, (each.team, result.status)

            await bounded([n for n in range(WORKSPACES) if n % 2 == half], clicked)
        stores = [home.for_tenant(each.team, home=HOME) for each in installed]

        lost: list[str] = []

        async def decided(n: int) -> str:
            deadline = time.monotonic() + 60
            again, tried = time.monotonic() + 15, 0
            while True:
                record = await stores[n].approvals.get(ids[n])
                if record is not None and record.status != "pending":
                    return f"{record.status} by {record.decided_by}"
                assert time.monotonic() < deadline, f"{installed[n].team}: {ids[n]} never decided"
                if sum(TRY_AGAIN in text.lower() for text in told(slack, installed[n])) > tried:
                    tried += 1  # told to try again: they do
                    again = time.monotonic() + 15
                    await clicked(n)
                elif time.monotonic() > again:  # still pending, told nothing for 15 s: the click was lost
                    lost.append(lost_click(slack, cluster, caplog.records, installed[n], ids[n], primaries_then))
                    again = time.monotonic() + 15  # (clicked again all the same: what else the test finds is said)
                    await clicked(n)
                await asyncio.sleep(0.05)

        said = await bounded(list(range(WORKSPACES)), decided)
        assert not lost, "\n\n".join(lost)
        assert [TRY_AGAIN in text.lower() for text in told(slack, faulted)] == [True]  # (through its response_url)
        assert [c.ok for c in slack.calls("chat.postEphemeral") if c.args.get("channel") == faulted.channel] == [False]
        assert said == [f"approved by {each.approver}" for each in installed]
        clicks_took = time.monotonic() - started

        # the keys: each workspace's in its own slot, counted there by the cluster; none of the primaries more
        # than half of them (nor more than half of all the keys, the global ones with them)
        primaries = cluster.primaries()
        assert len(primaries) == 3
        per_primary = {port: 0 for port in primaries}
        owners = cluster.slot_owners()
        for each, store in zip(installed, stores, strict=True):
            slot = key_slot(store.keys.changes)
            counted = int(cluster.ask(owners[slot], "CLUSTER", "COUNTKEYSINSLOT", slot))
            assert counted >= 5, (each.team, counted)  # (its approval, its audit log, its indexes ...)
            per_primary[owners[slot]] += counted
        total = sum(per_primary.values())
        assert all(0 < n <= total / 2 for n in per_primary.values()), per_primary
        everything = {port: cluster.dbsize(port) for port in primaries}
        assert all(n <= sum(everything.values()) / 2 for n in everything.values()), everything
        # the work: every primary ran the workspaces' Lua steps and reads (INFO commandstats)
        stats = {port: cluster.ask(port, "INFO", "commandstats") for port in primaries}
        steps = {port: int(s.get("cmdstat_evalsha", {}).get("calls", 0)) + int(s.get("cmdstat_eval", {}).get(
            "calls", 0)) for port, s in stats.items()}
        assert all(n >= WORKSPACES // 10 for n in steps.values()), steps

        said_chains = await chains_verify(home, signing, workspaces=WORKSPACES)
        assert said_chains.count("chain T9W") >= WORKSPACES
        print(f"{WORKSPACES} workspaces: asks {asks_took:.1f} s, clicks {clicks_took:.1f} s, all "
              f"{time.monotonic() - began:.1f} s; keys per primary {per_primary} (all {everything}); Lua steps "
              f"per primary {steps} (load {os.getloadavg()[0]:.1f})")
    finally:
        for worker in workers:
            await worker.stop()


FAILOVER_WORKSPACES, RUNS_EACH = 20, 10  # the 200 approvals in flight, in 20 workspaces
CLICKS_AT_ONCE = 8  # (more, and a command may wait past the 3 s Slack gives it on two shared cores)


def pending_in(slack: SlackStandIn, channel: str) -> list[dict[str, Any]]:
    """The approval cards with buttons in `channel` (top level)."""
    return [m for m in slack.messages(channel) if has_buttons(m) and not m.get("thread_ts")]


def shown(slack: SlackStandIn, channel: str, ts: str) -> dict[str, Any]:
    return next(m for m in slack.messages(channel) if m["ts"] == ts)


async def approved_once_clicked(slack: SlackStandIn, each: Installed, card: dict[str, Any]) -> None:
    """Approve `card` in `each`'s channel, again until the card says so (a click in the failover's window may be
    answered before its decision is kept: the card shows what was)."""
    said = f"*Approved* by <@{each.approver}>"
    deadline = time.monotonic() + 90
    while said not in block_texts(shown(slack, each.channel, card["ts"])):
        assert time.monotonic() < deadline, f"{each.team}: card {card['ts']} never decided"
        try:
            await slack.click(user=each.approver, channel=each.channel, ts=card["ts"], action_id="approval_approve")
        except ValueError:  # no button left: decided since it was read (read again)
            continue
        with contextlib.suppress(TimeoutError):  # (what the click said is on the card: read again)
            await slack.wait_for(lambda: said in block_texts(shown(slack, each.channel, card["ts"])), timeout=3)


@pytest.mark.slow
async def test_a_primary_killed_while_200_approvals_wait_in_20_workspaces_loses_none_and_runs_none_twice(
        slack: SlackStandIn, redis_cluster: LocalCluster, tmp_path: Path) -> None:
    """Runs started in 20 workspaces (10 each, half on each worker, REDIS_WORKSPACE_TAGS on), their 200 approvals
    waiting, a primary holding some of the workspaces killed (-9), every card clicked meanwhile, half on each worker:
    each decided once, each run's tool run once, each chain and the global checkpoint verify."""
    cluster = redis_cluster  # (the process's: made whole again for the next test)
    model = tmp_path / "model.json"
    model.write_text(json.dumps(DEMO))
    installed = serve_many(slack, FAILOVER_WORKSPACES)
    workers, signing = await two_workers(slack, cluster, tmp_path, installed, MODEL_CONFIG=str(model),
                                         MAX_RUNS_PER_USER=str(RUNS_EACH), MAX_RUNS_PER_CHANNEL=str(RUNS_EACH))
    home = workers[0].services.store
    stores = {each.team: home.for_tenant(each.team, home=HOME) for each in installed}
    try:
        began = time.monotonic()
        runs: dict[str, list[str]] = {each.team: [] for each in installed}
        for worker in workers:  # half the runs started on each worker (the one events_url)
            slack.events_url = worker.url + "/slack/events"
            started = await bounded([each for each in installed for _ in range(RUNS_EACH // 2)],
                                    lambda each: start_run(slack, user=each.person, channel=each.channel),
                                    at_once=CLICKS_AT_ONCE)
            for each, run_id in zip([e for e in installed for _ in range(RUNS_EACH // 2)], started, strict=True):
                runs[each.team].append(run_id)
        cards = await slack.wait_for(
            lambda: (found := {each.team: pending_in(slack, each.channel) for each in installed})
            and all(len(c) >= RUNS_EACH for c in found.values()) and found, timeout=120,
            description=f"{RUNS_EACH} cards in each workspace")
        owners = cluster.slot_owners()
        held: dict[int, list[str]] = {}
        for team, store in stores.items():
            held.setdefault(owners[key_slot(store.keys.changes)], []).append(team)
        primary = max(held, key=lambda port: len(held[port]))
        cluster.kill(primary)  # its replica takes over its workspaces' slots
        killed_at = time.monotonic()

        async def clicked(pair: tuple[Installed, dict[str, Any]]) -> None:
            await approved_once_clicked(slack, *pair)

        by_team = {each.team: each for each in installed}
        pairs = [(by_team[team], card) for team, found in cards.items() for card in found]
        assert len(pairs) == FAILOVER_WORKSPACES * RUNS_EACH
        for half, worker in enumerate(reversed(workers)):  # clicked on both workers, half each
            slack.events_url = worker.url + "/slack/events"
            await bounded(pairs[half::2], clicked, at_once=CLICKS_AT_ONCE)
        assert cluster.primary_of(key_slot(stores[held[primary][0]].keys.changes)) != primary
        for team, run_ids in runs.items():
            for run_id in run_ids:
                await run_status(stores[team], run_id, "completed", within=60)
        took = time.monotonic() - began
        for team, store in stores.items():
            entries = await store.audit.entries()
            decided = [e["approval"] for e in entries if e["event"] == "decision"]
            assert len(decided) == len(set(decided)) == RUNS_EACH, team  # each decided once
            finished = [e["run"] for e in entries if e["event"] == "run_finished"]
            assert sorted(finished) == sorted(set(finished)) == sorted(runs[team]), team  # each run (its tool) once
        ridden = sum(worker.services.metrics.redis_cluster_retries.labels(reason)._value.get()
                     for worker in workers for reason in ("moved", "clusterdown", "connection"))
        assert ridden > 0  # the workers say they rode the failover (hitl_redis_cluster_retries_total)
        said = await chains_verify(home, signing, workspaces=FAILOVER_WORKSPACES)
        assert said.count("chain T9W") == FAILOVER_WORKSPACES
        print(f"{FAILOVER_WORKSPACES * RUNS_EACH} approvals in {FAILOVER_WORKSPACES} workspaces through a primary "
              f"killed ({len(held[primary])} of the workspaces on it) in {took:.1f} s, "
              f"{time.monotonic() - killed_at:.1f} s of it after the kill (load {os.getloadavg()[0]:.1f})")
    finally:
        for worker in workers:
            await worker.stop()


@pytest.mark.slow
async def test_a_workspace_s_run_whose_owner_is_gone_is_taken_over_on_the_cluster(redis_cluster: LocalCluster) -> None:
    """With a tag per workspace, a workspace's run is in its slot and the workers' heartbeats in the root's: the
    take-over read both in one step and was refused (CROSSSLOT) every time a worker heard a decision of another's run,
    so a run in a workspace whose worker died was never continued."""
    store = Store(connect(redis_cluster.url), prefix="{hitl}", sharded=True)
    other = store.for_tenant("T0RUNS", home=HOME)
    try:
        assert key_slot(other.keys.run("rabcdefg")) != key_slot(store.keys.heartbeat("w1"))
        record = RunRecord(id="rabcdefg", requester="U0ALICE", channel="C0SALES", task="t", owner="w1",
                           status="running", created_at=time.time(), epoch=1)
        await other.runs.create(record, max_per_user=3, max_per_channel=10)
        await store.workers.beat("w1", ttl=30)
        assert await other.runs.adopt("rabcdefg", None, from_worker="w1", to_worker="w2") == ("alive", 0)
        await store.workers.drop("w1")  # its heartbeat gone
        assert await other.runs.adopt("rabcdefg", None, from_worker="w1", to_worker="w2") == ("ok", 2)
        taken = await other.runs.get("rabcdefg")
        assert taken is not None and (taken.owner, taken.epoch) == ("w2", 2)
    finally:
        await store.close()
