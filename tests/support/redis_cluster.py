"""A local Redis Cluster of real `redis-server` nodes: three primaries and a replica each (issue 89), created with
`redis-cli --cluster create … --cluster-replicas 1`, for the tests of a hash tag per workspace, sharded pub/sub and
failover. The newest `redis-server` on the machine is used (sharded pub/sub needs Redis 7: `version`).

    with LocalCluster(tmp_path) as cluster:      # started, created, every node `cluster_state:ok`
        cluster.url                              # redis+cluster://127.0.0.1:p1,…  (REDIS_URL)
        cluster.primary_of(slot)                 # the port of the primary serving a slot now
        cluster.kill(port)                       # kill -9 one node (its replica is promoted)
        cluster.revive(port)                     # started again on its own files: back as a replica

`redis_cluster` (a fixture, registered by tests/conftest.py): one cluster for the test process (about 2 s to create,
more under load), shared by the tests that read it; each user gets it whole (a node a test killed revived), empty
(FLUSHALL on every primary) and with every node's command counts reset (CONFIG RESETSTAT). A test that kills a
primary may take it too (the next user gets it whole again); one that leaves the cluster mid-failover for long
keeps its own `LocalCluster`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
import redis as sync_redis

from tests.conftest import free_port


def newest_redis() -> tuple[str, tuple[int, ...]]:
    """The newest `redis-server` found (on PATH, or Debian's), and its version."""
    found: list[tuple[tuple[int, ...], str]] = []
    for binary in {shutil.which("redis-server"), "/usr/bin/redis-server"}:
        if binary and Path(binary).exists():
            said = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
            if told := re.search(r"v=(\d+)\.(\d+)\.(\d+)", said):
                found.append((tuple(int(v) for v in told.groups()), binary))
    assert found, "redis-server is not installed"
    newest, binary = max(found)
    return binary, newest


NODE_TIMEOUT_MS = 2000  # a primary killed is replaced within seconds; one merely starved of CPU on a loaded CI
# (a second without answering its peers' pings) is not failed over, losing what it acknowledged but had not yet
# replicated (one of 300 clicks once stayed pending in a CI rehearsal: a false failover is one suspect)


class LocalCluster:
    """`primaries` primaries with `replicas` replicas each, on free ports (their cluster bus on port + 10000)."""

    def __init__(self, tmp: Path, *, primaries: int = 3, replicas: int = 1, tls: Path | None = None) -> None:
        self.binary, self.version = newest_redis()
        self.tls = tls  # a certificate that is its own CA, its key beside it (`tls.with_suffix(".key")`): TLS only
        beside = Path(self.binary).with_name("redis-cli")  # (the server's own: an older one may know no --tls)
        self.cli = str(beside) if beside.exists() else shutil.which("redis-cli") or "/usr/bin/redis-cli"
        self.ports: list[int] = []
        while len(self.ports) < primaries * (1 + replicas):
            port = free_port()
            if port < 50000 and port not in self.ports:
                self.ports.append(port)
        self.replicas = replicas
        self.tmp = tmp
        self.nodes: dict[int, subprocess.Popen[bytes]] = {}

    def _launch(self, port: int) -> None:
        workdir = self.tmp / f"node-{port}"  # (its nodes.conf there: started again, it knows its cluster)
        workdir.mkdir(exist_ok=True)
        self.nodes[port] = subprocess.Popen(
            [self.binary, *self._ports(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
             "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
             "--cluster-replica-validity-factor", "0", "--repl-diskless-sync-delay", "0",
             "--dir", str(workdir), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _ports(self, port: int) -> list[str]:
        """The node's port: plain, or with `tls` TLS alone (no plain port), its cluster bus and replication too."""
        if self.tls is None:
            return ["--port", str(port)]
        return ["--port", "0", "--tls-port", str(port), "--tls-cluster", "yes", "--tls-replication", "yes",
                "--tls-cert-file", str(self.tls), "--tls-key-file", str(self.tls.with_suffix(".key")),
                "--tls-ca-cert-file", str(self.tls), "--tls-auth-clients", "no"]

    @property
    def url(self) -> str:
        return ("rediss" if self.tls else "redis") + "+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def _cli(self) -> list[str]:
        return [self.cli, *(["--tls", "--cacert", str(self.tls)] if self.tls else [])]

    def __enter__(self) -> LocalCluster:
        try:
            for port in self.ports:
                self._launch(port)
            for port in self.ports:
                self._ready(port)
            subprocess.run([*self._cli(), "--cluster", "create", *[f"127.0.0.1:{p}" for p in self.ports],
                            "--cluster-replicas", str(self.replicas), "--cluster-yes"],
                           check=True, capture_output=True, timeout=60)
            self.wait_ok()
            self.wait_replicas()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def stop(self) -> None:
        for process in self.nodes.values():
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)

    def client(self, port: int) -> sync_redis.Redis:
        tls: dict[str, Any] = {"ssl": True, "ssl_ca_certs": str(self.tls)} if self.tls else {}
        return sync_redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1, decode_responses=True, **tls)

    def ask(self, port: int, *command: str | int) -> Any:
        """One command to the node on `port`."""
        client = self.client(port)
        try:
            return client.execute_command(*command)  # type: ignore[no-untyped-call]
        finally:
            client.close()

    def dbsize(self, port: int) -> int:
        return int(self.ask(port, "DBSIZE"))

    def _ready(self, port: int) -> None:
        client, deadline = self.client(port), time.monotonic() + 30
        try:
            while True:
                try:
                    client.ping()
                    return
                except sync_redis.ConnectionError:
                    assert time.monotonic() < deadline, f"redis on {port} did not start"
                    time.sleep(0.02)
        finally:
            client.close()

    def alive(self) -> list[int]:
        return [port for port, process in self.nodes.items() if process.poll() is None]

    def wait_ok(self, *, within: float = 60) -> None:
        """Until every node alive says `cluster_state:ok` and every slot has a primary alive."""
        deadline = time.monotonic() + within
        while True:
            try:
                if all("cluster_state:ok" in str(self.ask(p, "CLUSTER", "INFO"))
                       for p in self.alive()) and self._covered():
                    return
            except sync_redis.RedisError:
                pass
            assert time.monotonic() < deadline, "the cluster did not become ready"
            time.sleep(0.05)

    def wait_replicas(self, *, within: float = 60) -> None:
        """Until every replica alive has its primary's link up (synced: a failover may promote it)."""
        deadline = time.monotonic() + within
        while not all(self.ask(p, "INFO", "replication").get("master_link_status") == "up"
                      for p in self.alive() if p not in self.primaries()):
            assert time.monotonic() < deadline, "the replicas did not sync"
            time.sleep(0.05)

    def _covered(self) -> bool:
        alive = set(self.alive())
        return all(port in alive for port in self.slot_owners().values()) and len(self.slot_owners()) == 16384

    def slot_owners(self) -> dict[int, int]:
        """slot -> the port of its primary, as a live node sees it."""
        owners: dict[int, int] = {}
        for start, end, primary, *_ in self.ask(self.alive()[0], "CLUSTER", "SLOTS"):
            for slot in range(int(start), int(end) + 1):
                owners[slot] = int(primary[1])
        return owners

    def primaries(self) -> list[int]:
        return sorted(set(self.slot_owners().values()))

    def primary_of(self, slot: int) -> int:
        return self.slot_owners()[slot]

    def kill(self, port: int) -> None:
        """kill -9 one node."""
        self.nodes[port].kill()
        self.nodes[port].wait(timeout=10)

    def revive(self, port: int) -> None:
        """Start a killed node again on its own files: it rejoins, a replica of whichever primary took its slots."""
        self._launch(port)
        self._ready(port)

    def whole(self) -> None:
        """Every node alive (a killed one revived), every slot served, every replica synced."""
        for port in self.ports:
            if port not in self.alive():
                self.revive(port)
        self.wait_ok()
        self.wait_replicas()  # (a revived one too: a replica of its slots' new primary, synced)

    def fresh(self) -> None:
        """Whole, empty and its command counts reset: as a new cluster is, for the next test."""
        self.whole()
        for port in self.primaries():
            self.ask(port, "FLUSHALL")
        for port in self.ports:
            self.ask(port, "CONFIG", "RESETSTAT")


@pytest.fixture(scope="session")
def shared_redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """One cluster for the test process (see `redis_cluster`)."""
    with LocalCluster(Path(tmp_path_factory.mktemp("cluster"))) as cluster:
        yield cluster


@pytest.fixture
def redis_cluster(shared_redis_cluster: LocalCluster) -> LocalCluster:
    """The test process's cluster, whole, empty and its counts reset, for this test."""
    shared_redis_cluster.fresh()
    return shared_redis_cluster
