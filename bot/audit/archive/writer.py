"""The archive's writer: one worker at a time (a lease, as the checkpoint writer's) appends what the signed
checkpoints cover to the archive (AUDIT_ARCHIVE), a sealed segment at a time, every few seconds.

A segment holds the entries after the last one archived, up to the newest signed checkpoint's seq (at most
`segment` of them), each checked against the digest that checkpoint keeps for its seq (an entry altered in Redis is
not archived: `audit verify` names it). Its objects are written in this order, each create-only and read back
(bot/audit/archive/stores.py): the entries; the tiles the new leaves touch; the public key that signs; the tree head
signed (JWS, and C2SP signed note); the manifest, which seals it. Then `archived_through` (Redis) is raised to its
last seq, and the next Redis checkpoint signs it; the checkpoint writer trims nothing past it.

Every object of a segment is the same bytes however often it is written: a writer killed mid-segment, or two that
raced, leave objects the next writer writes again equal (the entries object's name fixes the segment's range, and a
tree head already signed is taken as it is, never signed again). The archive's state is read from the archive itself
(its newest manifest) when a worker takes the lease.

A failure (the store unreachable, a conflict) is logged and retried at the next round; approvals never wait on it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from bot.audit.archive import layout
from bot.audit.archive.merkle import WIDTH, Frontier, count_at, leaf_hash, root_of, split, tile_path, tiles_for
from bot.audit.archive.stores import ArchiveError, ArchiveStore, Under
from bot.audit.chains import chain_stores
from bot.audit.checkpoints import CHECKPOINT_TYPE, VERSION
from bot.audit.digests import canonical, leaf, seq_of, unpack
from bot.audit.rounds import Rounds
from bot.core.signing import SigningError, SigningKeys, b64url_decode
from bot.store import Store

log = logging.getLogger(__name__)

SEGMENT = 4096  # entries in a segment at most (16 full tiles)
POLL_SECONDS = 2.0
LEASE_SECONDS = 30.0


class NotArchivable(ArchiveError):
    """What the writer found instead of entries it may archive (verify names it)."""


@dataclass(frozen=True)
class Tree:
    """The archive as its newest sealed segment leaves it."""

    origin: str
    base: int  # the seq of leaf 0
    last: int  # the last seq archived (base - 1: none yet)
    last_id: str  # its stream id ("": none yet)
    frontier: Frontier
    root: bytes

    @property
    def size(self) -> int:
        return self.last - self.base + 1


def origin_of(prefix: str) -> str:
    """The log's origin line (C2SP tlog-checkpoint): which log this is."""
    return f"hitl-approvals/audit/{prefix}"


class AuditArchiver(Rounds):
    """Appends sealed segments while this worker holds the archive lease (`archive_due`), from its own task."""

    def __init__(
        self, store: Store, keys: SigningKeys, archive: ArchiveStore, *, worker: str, segment: int = SEGMENT,
        poll: float = POLL_SECONDS, chain: str = "",
    ) -> None:
        """`chain`: a tenant's chain (bot/audit/chains.py) archived under `chains/<tenant>/` (`store` its store);
        "": the home chain (`store` the home store), then each other chain at each round."""
        super().__init__("audit-archive", store=store, worker=worker, every=poll)
        self._chain = chain
        self._chains: dict[str, AuditArchiver] = {}  # (the home writer's) each other chain's, by tenant
        self._keys = keys
        self._archive = archive
        self._segment = segment
        self._tree: Tree | None = None  # read from the archive when the lease is taken
        self._kept: dict[int, bytes] = {}  # seq -> the digest its checkpoint kept, for the entries to archive
        self._held = False
        self.failing = ""  # why the last round failed ("": it did not)
        self.restored = ""  # what the last restore found (Redis behind the archive), "" when none was seen

    async def round(self) -> None:
        while await self.archive_due():
            pass
        await self.archive_chains()
        self.failing = ""

    async def archive_chains(self) -> int:
        """Each other tenant's chain archived as far as it is signed (the home writer's, while it holds the lease):
        the number of entries archived."""
        done = 0
        for name, store in (await chain_stores(self._store))[1:] if not self._chain else []:
            writer = self._chains.get(name)
            if writer is None:
                writer = self._chains[name] = AuditArchiver(store, self._keys, Under(self._archive, name),
                                                            worker=self._worker, segment=self._segment,
                                                            poll=self.every, chain=name)
            while archived := await writer.archive_due():
                done += archived
        return done

    def failed(self, exc: Exception) -> bool:
        """A round failed: the tree is read again from the archive next time; the archive's or the signing's
        failure said once while it lasts (True), any other logged with its traceback (False)."""
        self._tree = None
        if not isinstance(exc, ArchiveError | SigningError):
            return False
        if str(exc) != self.failing:
            log.warning("audit archive: %s; retried, nothing is trimmed past what it holds", exc)
        self.failing = str(exc)
        return True

    async def archive_due(self) -> int:
        """If this worker holds (or takes) the lease: write the next segment when signed entries wait. The number of
        entries archived by this call (0: none)."""
        audit = self._store.audit
        if not await audit.archive_lease(self._worker, max(LEASE_SECONDS, 3 * self.every)):
            self._held, self._tree = False, None
            return 0
        if not self._held or self._tree is None:
            self._tree = await self._read_tree()
            self._held = True
        tree = self._tree
        if tree is not None and tree.last >= tree.base and not self._chain:  # (the floor is the home chain's)
            await self.check_restored(tree)
            await audit.archived(tree.last)
        covered = await self._covered()
        if covered is None or (tree is not None and covered <= tree.last):
            return 0
        if tree is None:
            tree = self._tree = await self._genesis()
        first = tree.last + 1
        pending = [n for n in await self._archive.names(f"segments/{first:0{layout.DIGITS}d}-")
                   if (found := layout.SEGMENT.fullmatch(n)) and found.group(3) == "entries.jsonl.gz"]
        last = int(layout.SEGMENT.fullmatch(pending[0]).group(2)) if pending else min(  # type: ignore[union-attr]
            covered, tree.last + self._segment)
        if last > covered:
            return 0  # (a segment begun past what is signed now: finished once it is)
        entries = await self._entries(tree, first=first, last=last)
        self._tree = await self._write(tree, entries)
        await audit.archived(last)
        return len(entries)

    async def check_restored(self, tree: Tree) -> None:
        """The counter checked against the last seq the archive holds, and numbering confirmed for this Redis run
        (lua/audit_floor.lua; lua/lib/audit.lua holds it after a restart until then). Redis restored from an older
        backup (its counter behind the archive): said at ERROR and kept in `restored` (/healthz); the counter was
        raised past the archive in the same step, so no seq is given twice, and the seqs lost are kept in the floor
        for the checkpoint writer to sign past them, named."""
        archived = tree.last
        counter, now = await self._store.audit.confirm_floor(archived, size=tree.size, root=tree.root.hex())
        if counter < 0 or now <= counter:
            return  # (held: confirmed at the next round; or nothing lost)
        self.restored = (f"Redis was restored from an older backup: the audit log's counter was at seq {counter:,},"
                         f" the archive holds up to seq {archived:,}; Redis lost seqs {counter + 1:,} to {now:,}"
                         f" ({now - counter:,} entries; the archive keeps them"
                         + (f" up to seq {archived:,}; seqs {archived + 1:,} to {now:,} were given before the restore"
                            " and never archived: lost" if now > archived else "")
                         + f"); the counter resumes past seq {now:,}")
        log.error("audit archive: %s", self.restored)

    async def _covered(self) -> int | None:
        newest = await self._store.audit.last_checkpoint()
        return int(newest[1]["seq"]) if newest is not None else None

    async def _read_tree(self) -> Tree | None:
        """The archive's state from its newest manifest (None: no segment yet)."""
        head = layout.loads_object(await self._archive.get(layout.LOG))
        if head is None:
            return None
        origin, base = str(head["origin"]), int(str(head["base"]))
        sealed = [found for name in await self._archive.names("segments/")
                  if (found := layout.SEGMENT.fullmatch(name)) and found.group(3) == "manifest.json"]
        if not sealed:
            return Tree(origin, base, base - 1, "", Frontier(), root_of([]))
        newest = max(sealed, key=lambda found: int(found.group(2)))
        manifest = layout.loads_object(await self._archive.get(newest.group(0)))
        if manifest is None:
            raise ArchiveError(f"{newest.group(0)} is not a manifest: `python -m bot audit verify --archive` says more")
        try:
            frontier = Frontier.load(manifest["frontier"], int(str(manifest["size"])))  # type: ignore[arg-type]
            root = bytes.fromhex(str(manifest["root"]))
            last, last_id = int(str(manifest["last"])), str(manifest["last_id"])
        except (KeyError, ValueError, TypeError):
            raise ArchiveError(f"{newest.group(0)} is not a manifest: `python -m bot audit verify --archive` says"
                               " more") from None
        if frontier.root() != root or last - base + 1 != frontier.size:
            raise ArchiveError(f"{newest.group(0)}: its tree does not add up: `python -m bot audit verify --archive`")
        return Tree(origin, base, last, last_id, frontier, root)

    async def _genesis(self) -> Tree:
        """A new archive: it starts at the oldest entry of this scheme in Redis (`log.json` says where)."""
        audit = self._store.audit
        lower = "-"
        while batch := await audit.chained(lower=lower, count=1000):
            for entry_id, fields in batch:
                if (seq := seq_of(fields)) is not None:
                    origin = origin_of(self._store.keys.prefix)
                    await self._archive.put(layout.LOG, layout.dumps(
                        {"format": layout.FORMAT, "origin": origin, "base": seq, "base_id": entry_id}))
                    head = layout.loads_object(await self._archive.get(layout.LOG)) or {}
                    base = int(str(head.get("base", seq)))
                    return Tree(str(head.get("origin", origin)), base, base - 1, "", Frontier(), root_of([]))
            lower = "(" + batch[-1][0]
        raise NotArchivable("no entry of this scheme in Redis yet")

    async def _entries(self, tree: Tree, *, first: int, last: int) -> list[tuple[str, dict[str, str]]]:
        """Entries seq `first` to `last` from Redis, each the one its checkpoint signed."""
        audit = self._store.audit
        lower = "(" + tree.last_id if tree.last_id else "-"
        found: list[tuple[str, dict[str, str]]] = []
        while len(found) < last - first + 1:
            batch = await audit.chained(lower=lower, count=min(1000, last - first + 1 - len(found)))
            if not batch:
                break
            for entry_id, fields in batch:
                seq = seq_of(fields)
                if seq is None or (not found and not tree.last_id and seq < first):
                    continue
                if seq != first + len(found):
                    raise NotArchivable(f"entry {entry_id} is seq {seq}, not {first + len(found)}: Redis does not have"
                                        " the entries to archive next (`python -m bot audit verify` names them)")
                found.append((entry_id, fields))
            lower = "(" + batch[-1][0]
        if len(found) != last - first + 1:
            raise NotArchivable(f"Redis has no entries past seq {first + len(found) - 1} to archive")
        await self._check_signed(found, first=first)
        return found

    async def _check_signed(self, found: list[tuple[str, dict[str, str]]], *, first: int) -> None:
        """Each entry is the one its checkpoint signed (the digests kept beside the checkpoints, read once for the
        segments still to write: a writer catching up reads each checkpoint once)."""
        signed = self._kept
        for seq in [s for s in signed if s < first]:
            del signed[seq]
        if first not in signed or first + len(found) - 1 not in signed:
            signed.clear()
            for _, fields in await self._store.audit.checkpoints_back_to(first, version=VERSION):
                leaves = unpack(fields.get("leaves", "")) or []
                signed.update((seq, digest) for seq, digest in enumerate(leaves, int(fields["from"])) if seq >= first)
        for seq, (entry_id, fields) in enumerate(found, first):
            if signed.get(seq) != leaf(entry_id, fields):
                signed.clear()  # (read again next time)
                raise NotArchivable(f"entry {entry_id} (seq {seq}) is not what its signed checkpoint kept: not"
                                    " archived (`python -m bot audit verify` names it)")

    async def _write(self, tree: Tree, entries: list[tuple[str, dict[str, str]]]) -> Tree:
        first, last = tree.last + 1, tree.last + len(entries)
        lines = [canonical(entry_id, fields) for entry_id, fields in entries]
        objects: dict[str, str] = {}
        data = layout.pack_entries(lines)
        await self._put(layout.entries_name(first, last), data, objects=objects)
        hashes = [leaf_hash(line) for line in lines]
        frontier = Frontier(list(tree.frontier.stack), tree.frontier.size)
        for h in hashes:
            frontier.append(h)
        for name, tile in (await self._tiles(tree.size, after=frontier.size, hashes=hashes)).items():
            await self._put(name, tile, objects=objects)
        root = frontier.root()
        kid = await self._signed(tree, size=frontier.size, root=root, last=last, last_id=entries[-1][0],
                                 objects=objects)
        manifest = {"format": layout.FORMAT, "origin": tree.origin, "first": first, "last": last,
                    "first_id": entries[0][0], "last_id": entries[-1][0], "prev_size": tree.size,
                    "prev_root": tree.root.hex(), "size": frontier.size, "root": root.hex(),
                    "frontier": frontier.dump(), "checkpoint": layout.checkpoint_name(frontier.size),
                    "kid": kid, "objects": objects}
        await self._archive.put(layout.manifest_name(first, last), layout.dumps(manifest))
        log.info("audit archive: segment seq %d to %d sealed (tree size %d)", first, last, frontier.size)
        return Tree(tree.origin, tree.base, last, entries[-1][0], frontier, root)

    async def _put(self, name: str, data: bytes, *, objects: dict[str, str]) -> None:
        """Write one object of the segment, and note its SHA-256 for the manifest."""
        await self._archive.put(name, data)
        objects[name] = layout.sha256(data)

    async def _tiles(self, before: int, *, after: int, hashes: list[bytes]) -> dict[str, bytes]:
        """The tiles a tree of `before` leaves writes when it grows to `after` (`hashes`: the new leaves')."""
        written: dict[str, bytes] = {}
        new, level = hashes, 0
        while count_at(after, level) > count_at(before, level):
            old = count_at(before, level)
            start = old // WIDTH
            known: list[bytes] = []
            if old % WIDTH:
                stored = await self._archive.get(tile_path(level, start, old % WIDTH))
                if stored is None or len(stored) != old % WIDTH * 32:
                    raise ArchiveError(f"{tile_path(level, start, old % WIDTH)} is missing or cut: `python -m bot"
                                       " audit verify --archive` says more")
                known = split(stored)
            row = known + new
            up: list[bytes] = []
            for index, width in tiles_for(count_at(after, level), level, old):
                chunk = row[(index - start) * WIDTH:(index - start) * WIDTH + width]
                written[tile_path(level, index, width)] = b"".join(chunk)
                if width == WIDTH:
                    up.append(root_of(chunk))
            new, level = up, level + 1
        return written

    async def _signed(
        self, tree: Tree, *, size: int, root: bytes, last: int, last_id: str, objects: dict[str, str]
    ) -> str:
        """The tree head of `size` signed (JWS and note), or the one already signed for it (a retry): its kid."""
        name = layout.checkpoint_name(size)
        jws = (await self._archive.get(name) or b"").decode(errors="replace")
        claims = {"v": layout.VERSION, "origin": tree.origin, "base": tree.base, "size": size, "root": root.hex(),
                  "seq": last, "id": last_id, "prev_size": tree.size, "prev_root": tree.root.hex()}
        if jws:
            try:
                found = self._keys.verify(jws, typ=CHECKPOINT_TYPE)
            except SigningError:
                raise ArchiveError(f"{name} is in the archive but not signed by the deployment's keys: `python -m"
                                   " bot audit verify --archive` names it") from None
            if {k: found.get(k) for k in claims} != claims:
                raise ArchiveError(f"{name} signs another tree than this segment's: `python -m bot audit verify"
                                   " --archive` names it")
        else:
            # `at`: when its newest entry was written (its stream id), so two writers sign the same bytes
            jws = self._keys.sign({**claims, "at": int(last_id.partition("-")[0]) / 1000}, typ=CHECKPOINT_TYPE)
        kid = json.loads(b64url_decode(jws.split(".")[0])).get("kid", "")
        key = next((k for k in self._keys.keys if k.kid == kid), None)
        if key is None:
            raise ArchiveError(f"{name} is signed by key {kid[:60]}, no longer in the keys file")
        await self._put(layout.key_name(kid), layout.dumps(key.public_jwk()), objects=objects)
        await self._put(name, jws.encode(), objects=objects)
        note_name = layout.checkpoint_name(size, "note")
        note = await self._archive.get(note_name)
        if note is None:
            if key.private is None:
                raise ArchiveError(f"the key {kid[:60]} that signed {name} can no longer sign its note")
            body = layout.note_body(tree.origin, size, root)
            note = layout.note(body, tree.origin, layout.raw_public(key.x), key.private.sign(body))
        await self._put(note_name, note, objects=objects)
        return str(kid)
