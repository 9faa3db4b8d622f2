"""A worker of the old audit chain (before #44), as far as the audit log goes: its Lua steps, verbatim from commit
355e5b1 (tests/support/old_chain/), loaded as that version's loader did and run with `register_script`; its
heartbeat, its appends (each with `MINID ~` the retention's cutoff) and its signed checkpoints of the chain's head
(`{seq, hash, id, at}`, as its bot/report/checkpoints.py wrote them). What the shards' tests
(tests/audit/test_shards.py) write the old chain's shard with, and an old worker still running after the freeze."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from redis.commands.core import AsyncScript

from bot.audit.checkpoints import CHECKPOINT_TYPE
from bot.audit.legacy import link_of
from bot.core.signing import SigningKeys
from bot.store import Store

OLD_CHAIN = Path(__file__).parent / "old_chain"
COMMIT = "355e5b1"  # the version whose Lua these are
SHA256 = {  # the copies are the old files byte for byte (tests/audit/test_shards.py checks)
    "audit.lua": "cf89cb2bc28e132c69fbf5ac617bef4a750d6fc6ef6f91f58f652fe934dce528",
    "audit_append.lua": "a563cff9071470bc30640a9b410c9b39f71d5bf126e8e08da203122cf3eaf241",
    "audit_checkpoint.lua": "856b3d524f31e44c62304579617282797910783596cba6e8ecc0507329d41506",
    "beat.lua": "3d06dea69c9448203c1914e9d4acf4efdd12f3b495677b6c2a1755531128e9da",
    "sha256.lua": "966e59b5743910b6db81c30704ea78107aea67195acc72d77813a071551847e6",
}


def copies_unchanged() -> dict[str, bool]:
    return {name: hashlib.sha256((OLD_CHAIN / name).read_bytes()).hexdigest() == digest
            for name, digest in SHA256.items()}


def _header(source: str, tag: str) -> list[str]:
    for line in source.splitlines()[:2]:
        if line.startswith(f"--! {tag}:"):
            return line.split(":", 1)[1].split()
    return []


class OldScript:
    """One of the old steps, as the old bot/store/scripts.py loaded it (no `...rest` keys: these have none)."""

    def __init__(self, store: Store, name: str) -> None:
        source = (OLD_CHAIN / f"{name}.lua").read_text()
        self.keys = _header(source, "keys")
        names = ", ".join(f"{key} = KEYS[{i}]" for i, key in enumerate(self.keys, 1))
        prelude = f"local K = {{{names}}}\n" + "local A = cjson.decode(ARGV[1])\n"
        helpers = "".join((OLD_CHAIN / f"{helper}.lua").read_text() for helper in _header(source, "uses"))
        self._script: AsyncScript = store.redis.register_script(prelude + helpers + source)

    async def __call__(self, *, keys: dict[str, str], args: dict[str, Any]) -> Any:
        assert set(keys) == set(self.keys)
        return await self._script(keys=[keys[k] for k in self.keys], args=[json.dumps(args, separators=(",", ":"))])


class OldWorker:
    """`append` is the old `AuditLog.append`; `write_due` the old checkpoint writer's step (with `keys`); `beat`
    and `drop` its heartbeat. `clock`: what `time.time()` says to it (its trim's cutoff and its checkpoints' `at`)."""

    def __init__(self, store: Store, worker_id: str, *, keys: SigningKeys | None = None, retention: float = 90 * 86400,
                 every: int = 1000, interval: float = 5.0) -> None:
        self.store, self.worker_id, self.keys = store, worker_id, keys
        self.retention, self.every, self.interval = retention, every, interval
        self.clock = time.time
        self._append = OldScript(store, "audit_append")
        self._checkpoint = OldScript(store, "audit_checkpoint")
        self._beat = OldScript(store, "beat")

    async def beat(self, ttl: float = 6.0) -> None:
        await self._beat(keys={"heartbeat": self.store.keys.heartbeat(self.worker_id)},
                         args={"now": repr(self.clock()), "ttl_ms": str(int(ttl * 1000))})

    async def drop(self) -> None:
        await self.store.redis.delete(self.store.keys.heartbeat(self.worker_id))

    async def append(self, event: str = "settings", **fields: str) -> tuple[int, str]:
        entry = {"event": event, "at": repr(self.clock()), "by": self.worker_id, **fields}
        flat = [part for pair in entry.items() for part in pair]
        minid = str(int((self.clock() - self.retention) * 1000))
        seq, entry_id = await self._append(keys={"audit": self.store.keys.audit}, args={"entry": flat, "minid": minid})
        return int(seq), str(entry_id)

    async def write_due(self) -> bool:
        """The old writer's step: sign the chain's head when due (after `every` entries, or `interval` seconds)."""
        assert self.keys is not None
        now = self.clock()
        newest = await self.store.redis.xrevrange(self.store.keys.audit, count=1)
        link = link_of(str(newest[0][0]), dict(newest[0][1])) if newest else None
        if link is None or link.computed != link.hash:
            return False
        last_seq, last_at = 0, 0.0
        last = await self.store.redis.xrevrange(self.store.keys.audit_checkpoints, count=1)
        if last:
            last_seq, last_at = int(last[0][1].get("seq") or 0), float(last[0][1].get("at") or 0)
        if link.seq <= last_seq or (link.seq - last_seq < self.every and now - last_at < self.interval):
            return False
        claims = {"seq": link.seq, "hash": link.hash, "id": link.id, "at": now}
        jws = self.keys.sign(claims, typ=CHECKPOINT_TYPE)
        written = await self._checkpoint(
            keys={"audit": self.store.keys.audit, "checkpoints": self.store.keys.audit_checkpoints},
            args={"seq": str(link.seq), "hash": link.hash, "id": link.id, "at": repr(now), "jws": jws})
        return str(written) == "ok"
