"""One audit chain per workspace, one proof for all (issue 89 item 2, bot/audit/chains.py): three workspaces (home
and two others) write entries on a real Redis, each into a chain of its own under its keys; the checkpoint writer
signs each, then a global checkpoint over their heads. `audit verify`'s walk proves every chain and the population;
an entry deleted in one chain is named, with its chain, by verify and the watcher; a workspace's whole chain dropped,
or a global checkpoint altered, is caught too. A log written before chains (every workspace's entries in the one
log) stays the home chain's history, verifiable as it was. The SIEM stream carries every chain."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bot.audit.chains import HOME, chain_stores, chains_of
from bot.audit.checkpoints import AuditCheckpoints
from bot.audit.siem.sinks import FileSink
from bot.audit.siem.streamer import SiemStreamer
from bot.audit.verify import walk_chains
from bot.audit.watch import Alerter, AuditWatch
from bot.core.metrics import Metrics
from bot.core.signing import SigningKeys
from bot.core.workspaces import WorkspaceRef
from bot.slack.blocks.text import escape
from bot.store import Store
from tests.support.audit_log import entries, signing_keys, verifier
from tests.support.cli import bot_command

HOME_TEAM, TEAM_A, TEAM_B = "T0HOME", "T0AAA", "T0BBB"


@pytest.fixture
def keys(tmp_path: Path) -> SigningKeys:
    return signing_keys(tmp_path / "keys.json")


async def three(store: Store) -> dict[str, Store]:
    """Home and two other workspaces, as workers record them (`learn_home`, `remember`): each one's store."""
    await store.tenants.learn_home(WorkspaceRef(HOME_TEAM))
    for team in (TEAM_A, TEAM_B):
        await store.tenants.remember(WorkspaceRef(team))
    return dict(await chain_stores(store))


async def fill(stores: dict[str, Store], n: int) -> None:
    for name, tenant in stores.items():
        for number in range(n):
            await tenant.audit.append("settings", by=f"U0{name[-3:].upper()}", after=f"{number}m")


def writer(store: Store, keys: SigningKeys) -> AuditCheckpoints:
    return AuditCheckpoints(store, keys, worker="w1", every=1000, interval=0, retention=10**9)


async def signed(store: Store, keys: SigningKeys) -> None:
    checkpoints = writer(store, keys)
    while await checkpoints.write_due():
        pass


async def proof(store: Store, keys: SigningKeys) -> tuple[str, int]:
    return await walk_chains(store, None, verifier(keys), retention=10**9)


async def test_each_workspace_is_a_chain_of_its_own_and_one_global_checkpoint_proves_them_all(
    store: Store, keys: SigningKeys
) -> None:
    stores = await three(store)
    assert list(stores) == [HOME, TEAM_A, TEAM_B]
    await fill(stores, 4)
    await stores[TEAM_A].audit.append("settings", by="U0AAA", after="late")
    for name, tenant in stores.items():  # each its own keys, its own numbering from 1
        assert tenant.keys.audit == (f"{store.keys.prefix}:audit" if name == HOME
                                     else f"{store.keys.prefix}:ws:{name}:audit")
        assert [f["seq"] for _, f in await entries(tenant)] == [str(n) for n in range(1, 6 if name == TEAM_A else 5)]
    await signed(store, keys)
    newest = await store.audit_global.newest()
    assert newest is not None
    heads = chains_of(newest[1])
    # (each chain announces the signing key in its own log first: one entry more)
    assert {name: seq for name, (seq, _) in heads.items()} == {HOME: 5, TEAM_A: 6, TEAM_B: 5}
    for name, tenant in stores.items():  # the head named is the chain's own newest signed checkpoint
        last = await tenant.audit.last_checkpoint()
        assert last is not None and heads[name] == (int(last[1]["seq"]), last[1]["head"])
    said, code = await proof(store, keys)
    assert code == 0, said
    assert said.startswith("audit log intact") and "chain T0AAA: audit log intact" in said
    assert "chain T0BBB: audit log intact" in said
    assert f"Global checkpoint {newest[0]} signs the heads of 3 chain(s) (T0AAA, T0BBB, home)" in said
    assert not await writer(store, keys).write_due()  # nothing moved: no new global checkpoint
    assert len(await store.audit_global.every()) == 1


async def test_an_entry_deleted_in_one_chain_is_named_with_its_chain_by_verify_and_the_watcher(
    store: Store, keys: SigningKeys
) -> None:
    stores = await three(store)
    await fill(stores, 5)
    await signed(store, keys)
    watch, said = watcher(store, keys)
    assert await watch.look(now=2_000_000_000.0) == []
    victim = (await entries(stores[TEAM_B]))[2]
    await store.redis.xdel(stores[TEAM_B].keys.audit, victim[0])
    text, code = await proof(store, keys)
    assert code == 1
    assert "chain T0BBB: audit log NOT intact: shard 1 (scheme 2): deleted: entry" in text, text
    assert "entries seq 3 to 3 are missing" in text
    assert "chain T0AAA: audit log intact" in text and text.startswith("audit log intact")
    found = await watch.look(now=2_000_000_100.0)
    assert found is not None and [f.kind for f in found] == ["deleted"]
    assert found[0].where == f"{stores[TEAM_B].keys.audit} (Redis)" and "seq 3 to 3" in found[0].what
    assert len(said) == 1 and "Audit log integrity: deleted" in said[0]


async def test_a_workspace_chain_dropped_whole_is_caught(store: Store, keys: SigningKeys) -> None:
    stores = await three(store)
    await fill(stores, 3)
    await signed(store, keys)
    gone = stores[TEAM_A].keys
    await store.redis.delete(gone.audit, gone.audit_seq, gone.audit_checkpoints, gone.audit_shards, gone.audit_kids)
    text, code = await proof(store, keys)
    assert code == 1
    assert ("chain T0AAA is gone: global checkpoint" in text and "signs it at seq 4, Redis holds none of it (the"
            " workspace's whole audit log dropped)" in text), text
    await fill({HOME: store}, 1)  # the writer goes on: the dropped chain's head is carried, never left out
    await signed(store, keys)
    newest = await store.audit_global.newest()
    assert newest is not None and chains_of(newest[1])[TEAM_A][0] == 4
    assert "chain T0AAA is gone" in (await proof(store, keys))[0]
    watch, _ = watcher(store, keys)
    found = await watch.look(now=2_000_000_000.0)
    assert found is not None and [f.kind for f in found] == ["deleted"] and "chain T0AAA is gone" in found[0].what


async def test_a_global_checkpoint_altered_or_leaving_a_chain_out_is_caught(store: Store, keys: SigningKeys) -> None:
    stores = await three(store)
    await fill(stores, 2)
    await signed(store, keys)
    entry_id, fields = (await store.audit_global.every())[0]
    await store.redis.delete(store.keys.audit_global)
    named = json.loads(fields["chains"])
    named[TEAM_B][0] -= 1  # (it says chain T0BBB is one entry shorter: a forger hiding the last one)
    await store.redis.xadd(store.keys.audit_global, {**fields, "chains": json.dumps(named, separators=(",", ":"))},
                           id=entry_id)
    text, code = await proof(store, keys)
    assert code == 1 and f"forged global checkpoint {entry_id}" in text, text
    await store.redis.delete(store.keys.audit_global)  # every global checkpoint gone: three chains, none proven
    text, code = await proof(store, keys)
    assert code == 1 and "no global checkpoint signs the chains' heads" in text, text


async def test_a_log_from_before_chains_stays_the_home_chains_history(store: Store, keys: SigningKeys) -> None:
    """The release before wrote every workspace's entries into the one log: it is the home chain as it was; the
    entries written since go to each workspace's chain, and verify proves both."""
    for number in range(6):  # (the release before: another workspace's entries in the one log, too)
        await store.audit.append("settings", by="U0AAA" if number % 2 else "U0HOME", after=f"{number}m")
    await signed(store, keys)
    before = await store.audit.last_checkpoint()
    stores = await three(store)
    await fill(stores, 2)
    await signed(store, keys)
    assert [f["seq"] for _, f in await entries(store)] == [str(n) for n in range(1, 10)]  # home's goes on
    assert [f["seq"] for _, f in await entries(stores[TEAM_A])] == ["1", "2", "3"]  # (3: the key announced)
    assert before is not None and before in await store.audit.checkpoints()
    said, code = await proof(store, keys)
    assert code == 0, said
    assert "9 entries checked, seq 1 to 9" in said and "signs the heads of 3 chain(s)" in said


def watcher(store: Store, keys: SigningKeys, *, stalled: float = 10**6) -> tuple[AuditWatch, list[str]]:
    said: list[str] = []

    async def post(text: str) -> None:
        said.append(text)

    metrics = Metrics()
    alerter = Alerter(metrics, post=post, escape=escape, url="", signed=lambda body: {}, worker="w1")
    return AuditWatch(store, keys, alerter, metrics, worker="w1", interval=1, full_every=3600.0, stalled=stalled,
                      retention=10**9), said


async def test_the_siem_stream_carries_every_chain_each_from_its_own_cursor(store: Store, tmp_path: Path) -> None:
    stores = await three(store)
    await fill(stores, 3)
    path = tmp_path / "siem.jsonl"
    streamer = SiemStreamer(store, FileSink(path), worker="w1", batch=2)
    while await streamer.deliver_due():
        pass
    events = [json.loads(line) for line in path.read_text().splitlines()]
    logs = [(e["metadata"]["log_name"], e["metadata"]["sequence"]) for e in events]
    assert sorted(logs) == sorted((log, seq) for log in ("audit", "audit/T0AAA", "audit/T0BBB") for seq in (1, 2, 3))
    for name in (TEAM_A, TEAM_B):
        assert await stores[name].siem.cursor() is not None and (await stores[name].siem.cursor() or (0, ""))[0] == 3
    await fill({TEAM_B: stores[TEAM_B]}, 1)  # one more in one chain: only it is sent
    assert await streamer.deliver_due() == 1
    assert json.loads(path.read_text().splitlines()[-1])["metadata"]["log_name"] == "audit/T0BBB"


async def test_a_chain_left_unsigned_is_said_stalled(store: Store, keys: SigningKeys) -> None:
    stores = await three(store)
    await fill(stores, 2)
    await signed(store, keys)
    await fill({TEAM_A: stores[TEAM_A]}, 2)  # written, and no checkpoint writer signs them
    watch, said = watcher(store, keys, stalled=60)
    assert await watch.look(now=time.time() + 30) == []  # (not yet)
    found = await watch.look(now=time.time() + 120)
    assert found is not None and [f.kind for f in found] == ["stalled"], found
    assert "chain T0AAA's entries seq 4 to 5 are not signed" in found[0].what
    assert len(said) == 1 and "Audit log integrity: stalled" in said[0]


@pytest.mark.slow
async def test_audit_verify_as_a_process_names_the_chain(store: Store, keys: SigningKeys, redis_url: str,
                                                         tmp_path: Path) -> None:
    stores = await three(store)
    await fill(stores, 3)
    await signed(store, keys)
    environ = {"REDIS_URL": redis_url, "SIGNING_KEYS_FILE": str(tmp_path / "keys.json")}
    intact = await bot_command("audit", "verify", environ=environ)
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert "signs the heads of 3 chain(s) (T0AAA, T0BBB, home)" in intact.stdout
    victim = (await entries(stores[TEAM_A]))[1]
    await store.redis.xdel(stores[TEAM_A].keys.audit, victim[0])
    broken = await bot_command("audit", "verify", environ=environ)
    assert broken.returncode == 1
    assert "chain T0AAA: audit log NOT intact: shard 1 (scheme 2): deleted: entry" in broken.stdout, broken.stdout


async def test_the_population_is_proven_when_home_s_chain_holds_nothing_yet(store: Store, keys: SigningKeys) -> None:
    """Workspaces asked and decided, home's chain (the global entries) still empty: verify said its chains intact
    but never that the global checkpoint proves them (a tag per workspace on a cluster, #89)."""
    stores = await three(store)
    await fill({name: tenant for name, tenant in stores.items() if name != HOME}, 3)
    await signed(store, keys)
    newest = await store.audit_global.newest()
    assert newest is not None and set(chains_of(newest[1])) == {TEAM_A, TEAM_B}
    said, code = await proof(store, keys)
    assert code == 0, said
    assert f"Global checkpoint {newest[0]} signs the heads of 2 chain(s) (T0AAA, T0BBB)" in said, said
