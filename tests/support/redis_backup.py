"""A Redis backup and its restore, as an operator does them: BGSAVE, the .rdb copied aside; later the server killed,
the old .rdb put back in its folder and the server started again on the same port (a new run: another run_id)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import redis as sync_redis

from tests.conftest import RedisServer, start_redis


def backup(server: RedisServer, into: Path) -> Path:
    """BGSAVE, waited for, and the .rdb copied to `into`."""
    rdb = Path(server.workdir) / "dump.rdb"
    before = rdb.stat().st_ino if rdb.exists() else None
    client = sync_redis.Redis(port=server.port)
    try:
        client.bgsave()
        deadline = time.monotonic() + 30
        while client.info("persistence")["rdb_bgsave_in_progress"] or not rdb.exists() or rdb.stat().st_ino == before:
            assert time.monotonic() < deadline, "BGSAVE did not finish"
            time.sleep(0.02)  # (polled: the save is the server's, in a child process)
        assert client.info("persistence")["rdb_last_bgsave_status"] == "ok"
    finally:
        client.close()
    into.parent.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy2(rdb, into))


def restore(server: RedisServer, rdb: Path) -> RedisServer:
    """kill -9 of the server, `rdb` put back in its folder, the server started again on its port from it."""
    server.process.kill()
    server.process.wait(timeout=10)
    shutil.copy2(rdb, Path(server.workdir) / "dump.rdb")
    return start_redis(port=server.port, workdir=server.workdir)


def stop(server: RedisServer) -> None:
    server.process.kill()
    server.process.wait(timeout=10)
    shutil.rmtree(server.workdir, ignore_errors=True)
