"""Redis over TLS (`rediss://`, `rediss+cluster://`): every connection the bot makes to Redis is encrypted and its
certificate checked, its subscriptions too, on one node and on a Redis Cluster whose nodes serve TLS alone (no plain
port: `--port 0`), their cluster bus and replication over TLS as well. A subscription of its own to a cluster's node
(the plain channel's, and each sharded channel's primary) is made as the cluster's client makes its connections
(bot/store/connection.py `node_options`): before, it went in the clear, and a worker on a TLS cluster never heard a
decision. The certificate is checked against the system's CAs or `SSL_CERT_FILE`'s (OpenSSL's own variable): a node
whose certificate no trusted CA signed is refused, said as the store being unavailable, never asked in the clear."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import redis as sync_redis

from bot.core.workspaces import WorkspaceRef
from bot.devslack.model import OTHER_TEAM
from bot.devslack.server import SlackStandIn
from bot.store import Store, StoreUnavailable, connect
from bot.store.slots import key_slot
from tests.conftest import ALICE, BOB, SALES, Worker, free_port
from tests.support.hitl import heard, until
from tests.support.records import approval
from tests.support.redis_cluster import LocalCluster, newest_redis
from tests.support.tenants import APPROVE, DAN, ERIN, OTHER_CHANNEL, ask, card_in, key_of, several_worker, store_of
from tests.support.tls import self_signed

pytestmark = pytest.mark.slow

HOME = "T0HOME"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The nodes' certificate, its own CA (for 127.0.0.1)."""
    cert, _ = self_signed(tmp_path_factory.mktemp("tls"))
    return cert


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory, certificate: Path) -> Iterator[LocalCluster]:
    """Three primaries and three replicas serving TLS alone."""
    with LocalCluster(tmp_path_factory.mktemp("tls-cluster"), tls=certificate) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def tls_node(tmp_path_factory: pytest.TempPathFactory, certificate: Path) -> Iterator[str]:
    """One redis-server serving TLS alone: its `rediss://` URL."""
    port, workdir = free_port(), tmp_path_factory.mktemp("tls-node")
    process = subprocess.Popen(
        [newest_redis()[0], "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir),
         "--save", "", "--tls-cert-file", str(certificate), "--tls-key-file", str(certificate.with_suffix(".key")),
         "--tls-ca-cert-file", str(certificate), "--tls-auth-clients", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = sync_redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=str(certificate),
                              socket_connect_timeout=0.5)
    try:
        until_ready(client)
        yield f"rediss://127.0.0.1:{port}/0"
    finally:
        client.close()
        process.kill()
        process.wait(timeout=10)


def until_ready(client: sync_redis.Redis, *, within: float = 20) -> None:
    ends = time.monotonic() + within
    while True:
        try:
            client.ping()
            return
        except sync_redis.ConnectionError:
            assert time.monotonic() < ends, "the TLS redis-server did not start"
            time.sleep(0.02)


@pytest.fixture
def trusted(monkeypatch: pytest.MonkeyPatch, certificate: Path) -> None:
    """The nodes' CA trusted, as an operator does with OpenSSL's `SSL_CERT_FILE`."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate))


def plain_port(cluster: LocalCluster, port: int) -> str:
    return str(cluster.ask(port, "CONFIG", "GET", "port")[1])


async def test_on_a_tls_cluster_a_decision_in_a_workspace_on_each_primary_is_heard_by_sharded_and_plain_pubsub(
        tls_cluster: LocalCluster, trusted: None) -> None:
    assert tls_cluster.url.startswith("rediss+cluster://")
    assert {plain_port(tls_cluster, port) for port in tls_cluster.ports} == {"0"}  # TLS alone: no plain port
    store = Store(connect(tls_cluster.url), prefix="{hitl}", sharded=True)
    try:
        await store.redis.flushall()
        assert await store.use_sharded()  # (INFO over TLS: Redis 7, sharded pub/sub)
        await store.tenants.learn_home(WorkspaceRef(HOME))
        root = store.keys
        tenants: dict[int, str] = {}
        for n in range(1000):  # a workspace on each primary
            tenant = f"T0S{n:03d}"
            tenants.setdefault(tls_cluster.primary_of(key_slot(root.for_tenant(tenant, home=HOME).changes)), tenant)
            if len(tenants) == 3:
                break
        assert len(tenants) == 3
        subscription = await store.subscriber()
        try:
            for primary, tenant in tenants.items():
                mine = store.for_tenant(tenant, home=HOME)
                channel = mine.shared.worker_channel("w1")
                await subscription.subscribe(channel)  # (SSUBSCRIBE on the workspace's primary, over TLS)
                await until(lambda c=channel, p=primary: tls_cluster.ask(p, "PUBSUB", "SHARDNUMSUB", c) == [c, 1],
                            what="not subscribed on the workspace's primary")
                asked = replace(approval(f"tls-{tenant.lower()}-a", owner="w1"), team=tenant)
                assert await mine.approvals.create(asked) == "ok"
                assert (await mine.approvals.decide(asked.id, outcome="approved", by="U0BOB")).status == "ok"
                said = await heard(subscription)
                assert said["channel"] == channel and asked.id in str(said["data"])
            plain = root.worker_channel("w1")
            await subscription.subscribe(plain)  # the root's plain channel (SUBSCRIBE, over TLS, on one node)
            await until(lambda: sum(int(tls_cluster.ask(p, "PUBSUB", "NUMSUB", plain)[1]) for p in tls_cluster.ports),
                        what="the plain channel not subscribed on any node")  # (else the PUBLISH may come first)
            await store.redis.execute_command(  # type: ignore[no-untyped-call]
                "PUBLISH", plain, '{"t": "decision", "id": "old-0000-a"}')
            assert "old-0000-a" in str((await heard(subscription))["data"])
        finally:
            await subscription.aclose()
    finally:
        await store.close()


async def test_on_one_tls_node_asks_decisions_and_pubsub_go_over_tls(tls_node: str, trusted: None) -> None:
    store = Store(connect(tls_node), prefix="hitl")
    try:
        subscription = await store.subscriber()
        try:
            await subscription.subscribe(store.keys.worker_channel("w1"))
            asked = approval("tls-node-0001", owner="w1")
            assert await store.approvals.create(asked) == "ok"
            assert (await store.approvals.decide(asked.id, outcome="approved", by="U0BOB")).status == "ok"
            assert asked.id in str((await heard(subscription))["data"])
        finally:
            await subscription.aclose()
    finally:
        await store.close()


async def test_a_node_whose_certificate_no_trusted_ca_signed_is_refused_never_asked_in_the_clear(
        tls_cluster: LocalCluster, tls_node: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)  # the system's CAs alone: the test CA is not one of them
    for url in (tls_node, tls_cluster.url):
        redis = connect(url)
        try:
            with pytest.raises(StoreUnavailable, match=r"(?i)certificate verify failed"):
                await redis.ping()
        finally:
            await redis.aclose()


@pytest.fixture
async def tls_worker(slack: SlackStandIn, tls_cluster: LocalCluster, tmp_path: Path, trusted: None
                     ) -> AsyncIterator[Worker]:
    """A worker on the TLS cluster, each workspace on its own tag (home, T0OTHER, a Grid organisation)."""
    tls_cluster.fresh()
    worker = await several_worker(slack, tls_cluster.url, tmp_path, REDIS_WORKSPACE_TAGS="true")
    yield worker
    await worker.stop()


async def test_a_worker_on_a_tls_cluster_wakes_a_programs_long_poll_at_the_click(
        slack: SlackStandIn, tls_worker: Worker) -> None:
    for name, channel, cards, workspace, requester, clicker in (
            ("home", SALES, "C0APPROVALS", None, ALICE, BOB),
            ("other", OTHER_CHANNEL, OTHER_CHANNEL, WorkspaceRef(OTHER_TEAM), ERIN, DAN)):
        client = await key_of(tls_worker, name, channel, workspace)
        approval_id = await ask(client, requester)
        card = await card_in(slack, cards, approval_id)
        waiting = asyncio.ensure_future(client.wait(approval_id, wait=60))  # the program's long-poll, under way
        await asyncio.sleep(0)
        assert (await slack.click(user=clicker, channel=cards, ts=card["ts"], action_id=APPROVE)).status == 200
        answer = await asyncio.wait_for(waiting, timeout=20)  # woken by the decision heard, not its 60 s
        assert answer["status"] == "approved", answer
    other = await store_of(tls_worker, OTHER_TEAM).approvals.get(approval_id)
    assert other is not None and other.decided_by == DAN
