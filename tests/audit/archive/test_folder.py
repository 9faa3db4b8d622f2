"""The audit archive in a folder, with a real Redis: the writer fills it in sealed segments of signed entries,
Redis trims only what it holds, `audit verify --archive` re-derives every tree head and names each tampering, two
workers racing write each segment once, and a proof of one entry checks offline."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.audit.archive import layout
from bot.audit.archive.cli import verify_both
from bot.audit.archive.merkle import leaf_hash, tile_path
from bot.audit.archive.proofs import check_proof, prove
from bot.audit.archive.stores import ArchiveError, Conflict, FolderStore
from bot.audit.archive.verify import Found
from bot.audit.checkpoints import CHECKPOINT_TYPE, AuditCheckpoints, redis_keep
from bot.audit.digests import seq_of
from bot.core.settings import SettingsError, StoreSettings
from bot.core.signing import SigningKeys
from bot.store import Store
from tests.support.archive import archive_all, archiver, checkpointer, trust, verdict, write_log
from tests.support.audit_log import entries, rewrite, signing_keys


@pytest.fixture
def keys(tmp_path: Path) -> SigningKeys:
    return signing_keys(tmp_path / "keys.json")


@pytest.fixture
def folder(tmp_path: Path) -> FolderStore:
    return FolderStore(tmp_path / "archive")


def replace(folder: FolderStore, name: str, data: bytes) -> None:
    """Overwrite an archived object by hand (as someone with write access to the folder would)."""
    path = folder.root / name
    os.chmod(path, 0o644)
    path.write_bytes(data)


async def filled(store: Store, keys: SigningKeys, folder: FolderStore, n: int = 300) -> None:
    await write_log(store, keys, n)
    assert await archive_all(archiver(store, keys, folder)) > 0


async def test_the_archive_fills_in_sealed_segments_and_verifies(
    store: Store, keys: SigningKeys, folder: FolderStore
) -> None:
    await write_log(store, keys, 300)
    assert await store.audit.archived_through() is None
    assert await archive_all(archiver(store, keys, folder)) == 301  # (and the key's announcement, seq 1)
    assert await store.audit.archived_through() == 301
    names = await folder.names("")
    assert layout.manifest_name(1, 100) in names and layout.manifest_name(301, 301) in names
    assert tile_path(0, 0) in names and tile_path(0, 1, 45) in names  # C2SP tlog-tiles, 301 leaves
    assert "checkpoints/000000000301.note" in names and any(n.startswith("keys/") for n in names)
    said, checked = await verdict(folder, keys)
    assert checked is not None, said
    assert "301 entries, seq 1 to 301, in 4 sealed segments" in said and "4 signed checkpoints verified" in said
    note = (folder.root / "checkpoints/000000000301.note").read_text()
    assert note.startswith("hitl-approvals/audit/hitl\n301\n") and "\n\n\u2014 hitl-approvals/audit/hitl " in note
    # the next Redis checkpoint signs what the archive holds
    await write_log(store, keys, 1)
    newest = await store.audit.last_checkpoint()
    assert newest is not None and keys.verify(newest[1]["jws"], typ=CHECKPOINT_TYPE)["archived"] == 301


async def test_redis_trims_only_what_the_archive_holds(store: Store, keys: SigningKeys, folder: FolderStore) -> None:
    await write_log(store, keys, 120)
    # every entry is older than a zero retention, but none is archived yet: none goes
    await store.audit.append("decision", by="U0BOB", approval="A-late", outcome="approved")
    assert await checkpointer(store, keys, retention=0).write_due()
    assert (await entries(store))[0][1]["seq"] == "1"
    await archive_all(archiver(store, keys, folder, segment=60))
    archived = await store.audit.archived_through()
    assert archived == 122
    await store.audit.append("decision", by="U0BOB", approval="A-later", outcome="approved")
    assert await checkpointer(store, keys, retention=0).write_due()
    left = await entries(store)
    assert int(left[0][1]["seq"]) == archived + 1  # trimmed up to what the archive holds, not past it
    settings = StoreSettings.from_env({}).model_copy(update={"audit_retention": 0})  # (the checkpointer's)
    said, code = await verify_both(folder, store, trust(keys), settings, None)
    assert code == 0, said
    assert "The archive and Redis join without a gap" in said and "audit archive intact" in said


async def test_an_archived_entry_edited_is_named(store: Store, keys: SigningKeys, folder: FolderStore) -> None:
    await filled(store, keys, folder)
    name = layout.entries_name(101, 200)
    lines = gzip.decompress((folder.root / name).read_bytes()).split(b"\n")
    lines[41] = lines[41].replace(b'"approved"', b'"rejected"')
    replace(folder, name, gzip.compress(b"\n".join(lines)))
    said, _ = await verdict(folder, keys)
    assert said.startswith("altered: entry seq 142 in segments/000000000101-000000000200 is not the one the signed"
                           " tree holds"), said


async def test_a_segment_deleted_is_named(store: Store, keys: SigningKeys, folder: FolderStore) -> None:
    await filled(store, keys, folder)
    for path in (folder.root / layout.segment_dir(101, 200)).iterdir():
        path.unlink()
    said, _ = await verdict(folder, keys)
    assert said.startswith("segment missing: entries seq 101 to 200: no sealed segment holds them"), said


async def test_a_segment_written_but_not_sealed_is_named_a_finding(
    store: Store, keys: SigningKeys, folder: FolderStore
) -> None:
    """A writer stopped mid-segment (its entries written, no tiles, checkpoint or manifest yet): verify names the
    segment as unsealed, unchecked, and the rest is intact."""
    await write_log(store, keys, 150)
    await archive_all(archiver(store, keys, folder))  # seq 1 to 100, 101 to 151
    await write_log(store, keys, 20)
    data = layout.pack_entries([b'["0-1","event","x","seq","152"]'])
    await folder.put(layout.entries_name(152, 171), data)  # (as a writer killed after its first object leaves it)
    said, checked = await verdict(folder, keys)
    assert checked is not None and checked.last == 151, said
    assert said.startswith("audit archive intact"), said
    assert (f"finding: unsealed: {layout.segment_dir(152, 171)} holds entries but no manifest or signed checkpoint"
            " seals it") in said, said


async def test_the_newest_segment_deleted_is_named_by_its_checkpoint(
    store: Store, keys: SigningKeys, folder: FolderStore
) -> None:
    await filled(store, keys, folder)
    for path in (folder.root / layout.segment_dir(301, 301)).iterdir():
        path.unlink()
    said, _ = await verdict(folder, keys)
    assert said.startswith("segment missing: checkpoint checkpoints/000000000301.jws signs a tree of 301 entries,"
                           " the sealed segments hold 300"), said


async def test_a_tile_rewritten_is_named(store: Store, keys: SigningKeys, folder: FolderStore) -> None:
    await filled(store, keys, folder)
    tile = bytearray((folder.root / tile_path(0, 0)).read_bytes())
    tile[32 * 7] ^= 1
    replace(folder, tile_path(0, 0), bytes(tile))
    said, _ = await verdict(folder, keys)
    assert said.startswith("altered: tile tile/0/000 was rewritten: its seq 8's leaf hash is not the entries'"), said


async def test_a_checkpoint_re_signed_by_a_key_not_pinned_is_named(
    store: Store, keys: SigningKeys, folder: FolderStore, tmp_path: Path
) -> None:
    await filled(store, keys, folder)
    name = layout.checkpoint_name(200)
    claims = keys.verify((folder.root / name).read_text(), typ=CHECKPOINT_TYPE)
    other = signing_keys(tmp_path / "other.json")
    replace(folder, name, other.sign(claims, typ=CHECKPOINT_TYPE).encode())
    said, _ = await verdict(folder, keys)
    assert said.startswith(f"key not pinned: {name} is signed by key {other.current.kid}, which --jwks pinned.json"
                           " does not pin"), said


async def test_an_overwrite_of_an_archived_object_is_refused(folder: FolderStore) -> None:
    await folder.put("segments/x", b"first")
    await folder.put("segments/x", b"first")  # the same bytes again: a retry, taken as written
    with pytest.raises(Conflict, match="already in the archive with other bytes"):
        await folder.put("segments/x", b"second")
    assert await folder.get("segments/x") == b"first"
    assert not os.stat(folder.root / "segments/x").st_mode & 0o222  # read-only


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_the_archive_and_redis_disagreeing_on_an_entry_is_named(
    store: Store, keys: SigningKeys, folder: FolderStore
) -> None:
    await filled(store, keys, folder)
    log = await entries(store)
    entry_id, fields = log[250]
    log[250] = (entry_id, {**fields, "outcome": "rejected"})
    await rewrite(store, log)
    said, code = await verify_both(folder, store, trust(keys), StoreSettings.from_env({}), None)
    assert code == 1
    assert said == (f"audit archive and Redis NOT intact: altered: the archive and Redis disagree on entry seq 251"
                    f" ({entry_id}): one of them was altered"), said


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_two_workers_racing_for_the_lease_write_each_segment_once(
    store: Store, keys: SigningKeys, folder: FolderStore
) -> None:
    puts: list[tuple[str, str]] = []

    class Counted(FolderStore):
        def __init__(self, worker: str) -> None:
            super().__init__(folder.root)
            self.worker = worker

        async def put(self, name: str, data: bytes) -> None:
            puts.append((self.worker, name))
            await super().put(name, data)

    await write_log(store, keys, 500)
    racing = [archiver(store, keys, Counted(f"w{n}"), worker=f"w{n}") for n in range(1, 5)]
    await asyncio.gather(*(archive_all(w) for w in racing))
    written = [name for _, name in puts if name.endswith("entries.jsonl.gz")]
    assert len(written) == len(set(written)) == 6
    assert len({worker for worker, _ in puts}) == 1  # the lease holder alone
    said, checked = await verdict(folder, keys)
    assert checked is not None and checked.last == 501, said
    # two that both think they hold it (the lease ran out under a slow one) write the same bytes: no conflict
    await write_log(store, keys, 250)
    holder = puts[0][0]
    both = [archiver(store, keys, Counted(holder), worker=holder) for _ in range(2)]
    await asyncio.gather(*(archive_all(w) for w in both))
    said, checked = await verdict(folder, keys)
    assert checked is not None and checked.last == 751 and checked.segments == 9, said


async def test_an_unreachable_archive_stops_nothing_and_trims_nothing(
    store: Store, keys: SigningKeys, tmp_path: Path
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the archive's folder should be")
    await write_log(store, keys, 80)
    with pytest.raises(ArchiveError):
        await archiver(store, keys, FolderStore(blocked)).archive_due()
    await store.audit.append("decision", by="U0BOB", approval="A-after", outcome="approved")  # approvals go on
    while await checkpointer(store, keys, retention=0).write_due():
        pass
    assert (await entries(store))[0][1]["seq"] == "1"  # nothing trimmed
    blocked.unlink()
    assert await archive_all(archiver(store, keys, FolderStore(blocked))) == 82  # then it catches up


async def test_a_proof_of_one_entry_checks_offline(store: Store, keys: SigningKeys, folder: FolderStore,
                                                 tmp_path: Path) -> None:
    await filled(store, keys, folder)
    proof = json.loads(json.dumps(await prove(folder, seq=142, trust=trust(keys))))
    assert proof["seq"] == 142 and proof["tree_size"] == 301 and len(proof["audit_path"]) == 9
    assert proof["fields"]["approval"] == "A141"  # (seq 301: the key's announcement)
    said = check_proof(proof, trust(keys))
    assert said.startswith(f"inclusion proof OK: entry {proof['entry_id']} (seq 142, event decision) is leaf 141")
    forged = {**proof, "entry": proof["entry"].replace('"approved"', '"rejected"'),
              "fields": {**proof["fields"], "outcome": "rejected"}}
    with pytest.raises(Found, match=r"^altered: its leaf_hash is not the hash of its entry"):
        check_proof(forged, trust(keys))
    forged["leaf_hash"] = leaf_hash(forged["entry"].encode()).hex()  # a careful forger
    with pytest.raises(Found, match=r"^altered: its entry and audit path do not give the root"):
        check_proof(forged, trust(keys))
    shown = {**proof, "fields": {**proof["fields"], "outcome": "rejected"}}  # what an auditor reads, changed
    with pytest.raises(Found, match=r"^altered: its fields or entry_id are not those of its entry"):
        check_proof(shown, trust(keys))
    other = signing_keys(tmp_path / "other.json")
    with pytest.raises(Found, match=r"^key not pinned: its checkpoint is signed by key"):
        check_proof(proof, trust(other))


async def test_redis_trimmed_by_hand_past_what_was_archived_is_named(
    store: Store, keys: SigningKeys, folder: FolderStore
) -> None:
    await write_log(store, keys, 150)
    await archive_all(archiver(store, keys, folder))
    await write_log(store, keys, 40)  # seq 152 to 191: signed, not archived yet
    log = await entries(store)
    await store.redis.xtrim(store.keys.audit, minid=log[170][0], approximate=False)  # (by hand: seq 1 to 170)
    said, code = await verify_both(folder, store, trust(keys), StoreSettings.from_env({}), None)
    assert code == 1
    assert said == ("audit archive and Redis NOT intact: deleted: entries seq 152 to 170 are in neither the archive"
                    " (it ends at seq 151) nor Redis (it starts at seq 171)"), said


def test_redis_keeps_entries_for_audit_redis_keep_only_with_an_archive() -> None:
    with_archive = StoreSettings.from_env({"AUDIT_ARCHIVE": "s3://acme-audit/approvals", "AUDIT_REDIS_KEEP": "30d"})
    assert redis_keep(with_archive) == 30 * 86400
    assert redis_keep(StoreSettings.from_env({"AUDIT_REDIS_KEEP": "30d"})) == 90 * 86400
    assert redis_keep(StoreSettings.from_env({"AUDIT_ARCHIVE": "file:///srv/audit"})) == 90 * 86400
    for bad in ("/srv/audit", "file://srv/audit", "s3:/acme", "ftp://acme/audit"):
        with pytest.raises(SettingsError, match=rf"^AUDIT_ARCHIVE '{bad}' is not an archive: use file:///abs/folder \("
                           r"a folder, its absolute path\) or s3://bucket/prefix \(any S3-compatible store\)$"):
            StoreSettings.from_env({"AUDIT_ARCHIVE": bad})


def rewrite_lines(folder: FolderStore, first: int, last: int, change: Callable[[list[bytes]], list[bytes]]) -> None:
    name = layout.entries_name(first, last)
    lines = gzip.decompress((folder.root / name).read_bytes()).split(b"\n")[:-1]
    replace(folder, name, gzip.compress(b"".join(line + b"\n" for line in change(lines))))


async def test_an_entry_deleted_or_inserted_in_a_segment_is_named(
    store: Store, keys: SigningKeys, folder: FolderStore
) -> None:
    await filled(store, keys, folder)
    rewrite_lines(folder, 101, 200, lambda lines: lines[:20] + lines[21:])
    said, _ = await verdict(folder, keys)
    assert said.startswith("deleted: entries seq 121 to 121 are missing from segments/000000000101-000000000200,"
                           " before entry"), said
    rewrite_lines(folder, 101, 200, lambda lines: [*lines[:20], lines[19], *lines[20:]])  # seq 120 twice
    said, _ = await verdict(folder, keys)
    assert said.startswith("inserted: entry "), said
    assert "(seq 120) in segments/000000000101-000000000200: its seq repeats or goes back (seq 121 expected)" in said


async def test_a_checkpoint_chain_broken_or_a_note_swapped_is_named_forged(
    store: Store, keys: SigningKeys, folder: FolderStore
) -> None:
    await filled(store, keys, folder)
    name = layout.checkpoint_name(200)
    jws = (folder.root / name).read_text()
    claims = keys.verify(jws, typ=CHECKPOINT_TYPE)
    replace(folder, name, keys.sign({**claims, "prev_root": "00" * 32}, typ=CHECKPOINT_TYPE).encode())
    said, _ = await verdict(folder, keys)  # (signed with the deployment's key: someone who holds it)
    assert said == (f"checkpoint forged: {name} does not follow the checkpoint of tree size 100: the chain of"
                    " checkpoints breaks there"), said
    replace(folder, name, jws.encode())
    replace(folder, layout.checkpoint_name(200, "note"), (folder.root / layout.checkpoint_name(300, "note"))
            .read_bytes())
    said, _ = await verdict(folder, keys)
    assert said == (f"checkpoint forged: {layout.checkpoint_name(200, 'note')} is missing or signs another tree than"
                    " the JWS"), said


async def test_verify_across_both_reads_what_a_trim_was_allowed_from_the_log_not_the_callers_environment(
    store: Store, keys: SigningKeys, folder: FolderStore
) -> None:
    """The workers keep entries in Redis for AUDIT_REDIS_KEEP (a minute here) once archived; an auditor's shell has
    no AUDIT_REDIS_KEEP (so AUDIT_RETENTION's 90 days): the trim is checked against what its checkpoint signs
    (#76.9)."""
    await write_log(store, keys, 150)
    await archive_all(archiver(store, keys, folder))
    await store.audit.append("decision", by="U0ALICE", approval="A1", outcome="approved")
    workers = AuditCheckpoints(store, keys, worker="w1", every=50, interval=0, retention=60, archive=True)
    assert await workers.write_due(now=time.time() + 3600)  # an hour on: the archived entries are a minute old
    assert seq_of((await entries(store))[0][1]) == 152  # trimmed: all that the archive holds
    newest = await store.audit.last_checkpoint()
    assert newest is not None and newest[1]["keep"] == "60"
    auditor = StoreSettings.from_env({"AUDIT_ARCHIVE": folder.url})
    said, code = await verify_both(folder, store, trust(keys), auditor, None)
    assert code == 0, said
    # (seq 153: the key announced again, carried past the trim)
    assert "The archive and Redis join without a gap: Redis holds seq 152 to 153" in said, said
    # the keep beside the JWS rewritten (to hide a trim of young entries): the signature says otherwise
    stored = await store.audit.checkpoints()
    await rewrite(store, [*stored[:-1], (stored[-1][0], {**stored[-1][1], "keep": "99999999"})],
                  key=store.keys.audit_checkpoints)
    said, code = await verify_both(folder, store, trust(keys), auditor, None)
    assert code == 1 and "forged checkpoint" in said and "the keep stored beside its JWS is not what it signed" in said
