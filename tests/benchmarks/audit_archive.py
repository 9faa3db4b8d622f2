"""The audit archive's cost (#66): archiving against how fast one Redis numbers entries, `audit verify --archive`
over the archive, and Redis memory per entry once the archive lets it trim, side by side in one run.

Real parts: a throwaway redis-server; the store as a worker builds it; a signing key made for the run; the
checkpoint writer and the archive's writer a worker runs (bot/audit/checkpoints.py, bot/audit/archive/writer.py),
into a folder (each object fsynced, hard-linked into place, read back).

1. Numbering: `--entries` decisions appended through the append step, all at once (group commit): entries a second,
   the rate the archive has to keep up with (#44 measured 20,000 to 22,000 from two workers).
2. Archiving: the writer appends every signed entry in sealed segments of 4,096: entries a second.
3. Verify: `check_archive` (what `audit verify --archive` runs without Redis), pinned keys: entries a second.
4. Memory: Redis's `MEMORY USAGE` of the stream per entry, before and after the trim the archive allows (all archived,
   AUDIT_REDIS_KEEP 0 for the run), and what a year at 5,000 approvals a day (3 entries each) would take in Redis
   with 30 days kept.

    python tests/benchmarks/audit_archive.py [--entries 100000] [--out F]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.audit.archive.stores import FolderStore
from bot.audit.archive.verify import check_archive
from bot.audit.archive.writer import AuditArchiver
from bot.audit.checkpoints import AuditCheckpoints
from bot.core.signing import SigningKeys
from bot.store import Store, connect
from tests.benchmarks.audit_chain import ENTRY
from tests.benchmarks.common import machine_info, start_redis, stop_redis, write_json
from tests.support.archive import trust
from tests.support.audit_log import keys_file

# audit entries one approval writes (asked, decided, used: measured by sizing.py, docs/operators/sizing.md); this
# benchmark's entries are smaller than real ones (sizing.py measures those too)
ENTRIES_PER_APPROVAL = 3


async def measure(store: Store, keys: SigningKeys, folder: FolderStore, entries: int) -> dict[str, Any]:
    started = time.perf_counter()
    for start in range(0, entries, 5000):
        await asyncio.gather(*(store.audit.append("decision", **ENTRY) for _ in range(min(5000, entries - start))))
    numbered = time.perf_counter() - started
    writer = AuditCheckpoints(store, keys, worker="w1", every=1000, interval=0, retention=10**9, archive=True)
    while await writer.write_due():
        pass
    archiver = AuditArchiver(store, keys, folder, worker="w1")
    started, archived = time.perf_counter(), 0
    while written := await archiver.archive_due():
        archived += written
    archiving = time.perf_counter() - started
    started = time.perf_counter()
    checked = await check_archive(folder, trust=trust(keys))
    verifying = time.perf_counter() - started
    before = int(await store.redis.memory_usage(store.keys.audit) or 0)
    await store.audit.append("decision", **ENTRY)
    await AuditCheckpoints(store, keys, worker="w1", every=1000, interval=0, retention=0, archive=True).write_due()
    after = int(await store.redis.memory_usage(store.keys.audit) or 0)
    kept = int(await store.redis.xlen(store.keys.audit))
    on_disk = sum(p.stat().st_size for p in folder.root.rglob("*") if p.is_file())
    per_entry = before / max(1, checked.size)
    return {
        "entries": checked.size, "numbered_per_s": round(entries / numbered),
        "archived_per_s": round(archived / archiving), "verified_per_s": round(checked.size / verifying),
        "archive_bytes_per_entry": round(on_disk / checked.size, 1),
        "redis_bytes_per_entry": round(per_entry, 1), "redis_bytes_after_trim": after, "entries_kept": kept,
        "redis_year_without_archive_mb": round(per_entry * 5000 * ENTRIES_PER_APPROVAL * 365 / 2**20, 1),
        "redis_30_days_kept_mb": round(per_entry * 5000 * ENTRIES_PER_APPROVAL * 30 / 2**20, 1),
    }


async def main(entries: int, out: Path | None) -> None:
    server = start_redis()
    redis = connect(server.url)
    try:
        with tempfile.TemporaryDirectory() as work:
            keys = SigningKeys.from_file(keys_file(Path(work) / "keys.json"))
            result = await measure(Store(redis), keys, FolderStore(Path(work) / "archive"), entries)
    finally:
        await redis.aclose()
        stop_redis(server)
    result["machine"] = machine_info()
    for name, value in result.items():
        print(f"{name}: {value}")
    write_json(result, out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--small", action="store_true", help="5,000 entries (run_all.py --small, CI: only not to rot)")
    args = parser.parse_args()
    asyncio.run(main(5_000 if args.small else args.entries, args.out))
