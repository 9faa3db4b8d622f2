"""The archive's commands: `audit verify --archive URL`, `audit prove SEQ --archive URL`, `audit check-proof FILE
--jwks pinned.json` (bot/__main__.py parses them). Exit codes as `audit verify`'s: 0 intact (or proven), 1 a
problem named (or nothing to read), 2 bad usage, 3 intact but for a known restore (Redis lacks seqs the archive holds,
and a signed checkpoint names them lost in a restore)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from bot.audit.archive import layout
from bot.audit.archive.merkle import HASH, root_of, split
from bot.audit.archive.proofs import check_proof, dumps, prove
from bot.audit.archive.stores import ArchiveError, ArchiveStore, Under, chains_in, open_archive
from bot.audit.archive.verify import ArchiveTrust, Checked, Found, check_archive, history_trust, join_redis, trust_of
from bot.audit.chains import chain_stores, check_population
from bot.audit.checkpoints import redis_keep
from bot.audit.digests import seq_of
from bot.audit.verify import NO_LOG, Trust, UsageError, jwks_document, since_time, walk
from bot.core.settings import SettingsError, StoreSettings
from bot.core.signing import ENV_NAME, FILE_NAME, SigningError, load_signing_keys
from bot.store import Store, StoreUnavailable, connect
from bot.store.keys import TENANT


async def trust_for(archive: ArchiveStore | None, *, jwks: str | None, settings: StoreSettings | None) -> ArchiveTrust:
    """`--jwks` (pinned), else the deployment's keys, else the archive's own key history."""
    if jwks is not None:
        return trust_of(jwks_document(jwks), source=f"--jwks {jwks[:200]}", pinned=True)
    keys = load_signing_keys(settings) if settings is not None else None
    if keys is not None:
        source = f"{FILE_NAME} {settings.signing_keys_file}" if settings and settings.signing_keys_file else ENV_NAME
        return trust_of({"keys": [k.public_jwk() for k in keys.keys]}, source=source, pinned=False)
    if archive is None:
        raise UsageError("check-proof needs --jwks (the public keys, pinned apart from the bot)")
    return await history_trust(archive)


def verify_archive(
    *, url: str, since: str | None, jwks: str | None, out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """`audit verify --archive URL`: the archive, and Redis too when REDIS_URL is set (see bot/audit/archive/verify.py).
    Returns the exit code."""
    out = out or sys.stdout
    try:
        archive = open_archive(url, retain=0)
        settings = StoreSettings.from_env(environ)
        start_at = since_time(since, time.time()) if since is not None else None
        with_redis = "redis_url" in settings.model_fields_set  # REDIS_URL given: Redis is checked too
        said, code = asyncio.run(verdict(archive, settings if with_redis else None, jwks, start_at))
    except FAILURES as exc:
        return failed(exc)
    print(said, file=out)
    return code


FAILURES = (UsageError, SettingsError, SigningError, ArchiveError, StoreUnavailable, Found, OSError)


def failed(exc: Exception, *, found: str = "error: no proof") -> int:
    """One of FAILURES said on standard error, as every archive command says it; its exit code (2 bad usage, 1 the
    archive, Redis or a file could not be read or written, or a problem `found`)."""
    if isinstance(exc, UsageError | SettingsError | SigningError):
        said, code = f"error: {exc}", 2
    elif isinstance(exc, ArchiveError):
        said, code = f"error: cannot read the audit archive: {exc}", 1
    elif isinstance(exc, StoreUnavailable):
        said, code = (f"error: cannot read the audit log from Redis ({exc.cause}); unset REDIS_URL to use the archive"
                      " alone"), 1
    elif isinstance(exc, Found):
        said, code = f"{found}: {exc}", 1
    else:
        said, code = f"error: {getattr(exc, 'strerror', None) or exc}", 1
    print(said, file=sys.stderr)
    return code


async def verdict(
    archive: ArchiveStore, settings: StoreSettings | None, jwks: str | None, start_at: float | None
) -> tuple[str, int]:
    trust = await trust_for(archive, jwks=jwks, settings=settings)
    if settings is None:  # the home chain's archive, then each other chain's (`chains/<tenant>/`)
        found: list[str] = []
        code = 0
        for name, one in [("", archive), *((t, Under(archive, t)) for t in await chains_in(archive))]:
            try:
                checked = await check_archive(one, trust=trust)
            except Found as exc:
                return "\n".join([*found, f"audit archive NOT intact: {f'chain {name}: ' if name else ''}{exc}"]), 1
            found.append((f"chain {name}: " if name else "") + checked.summary(one.url, trust=trust))
            code = 1 if checked.overwritten else code
        return "\n".join(found), code
    redis = connect(settings.redis_url.get_secret_value(), command_timeout=settings.redis_timeout)
    store = Store(redis, prefix=settings.store_prefix, sharded=settings.store_sharded)
    try:
        said, code = await verify_both(archive, store, trust, settings, start_at)
        lines, codes = [said], [code]
        for name, chain in (await chain_stores(store))[1:]:  # each other chain, in its archive and in Redis
            if await chain.audit.exists():
                chain_said, chain_code = await verify_both(Under(archive, name), chain, trust, settings, start_at)
                lines.append(f"chain {name}: {chain_said}")
                codes.append(chain_code)
        problem, proven = await check_population(store, trust.verify)
        lines.append(f"audit log NOT intact: {problem}" if problem is not None else proven.strip())
        worst = 1 if problem is not None or 1 in codes else max(codes)
        return "\n".join(line for line in lines if line), worst
    finally:
        await redis.aclose()


async def verify_both(
    archive: ArchiveStore, store: Store, trust: ArchiveTrust, settings: StoreSettings, start_at: float | None
) -> tuple[str, int]:
    """The archive, then where it joins Redis, then Redis's own walk."""
    oldest = next((seq for _, f in await store.audit.chained(count=1000) if (seq := seq_of(f)) is not None), None)
    try:
        checked = await check_archive(archive, trust=trust, keep_from=oldest)
    except Found as exc:
        return f"audit archive NOT intact: {exc}", 1
    entries = await redis_entries(store)
    signed = None
    newest = await store.audit.last_checkpoint()
    if newest is not None and "archived" in newest[1]:
        try:
            signed = int(trust.verify(newest[1].get("jws", "")).get("archived", 0))
        except (SigningError, ValueError, TypeError):
            signed = None  # the walk below names a checkpoint that does not verify
    joined = join_redis(checked, entries, archived=await store.audit.archived_through(), signed_archived=signed)
    if joined is not None:
        return f"audit archive and Redis NOT intact: {joined}", 1
    if (lost := _lost(checked, entries, await _restores(store, trust), await store.audit.floor())) is not None:
        return f"audit archive and Redis NOT intact: {lost}", 1
    redis_trust = Trust(source=trust.source, created=dict.fromkeys(trust.keys), pinned=trust.pinned, public=trust.xs)
    said, code = await walk(store, start_at, trust.verify, retention=redis_keep(settings), trust=redis_trust)
    if checked.overwritten:  # (a standing finding: the record is checked in the oldest versions, and said)
        code = 1
    if code == NO_LOG:
        return f"{checked.summary(archive.url, trust=trust)}\nRedis: {said}", 1 if checked.overwritten else 0
    return "\n".join([checked.summary(archive.url, trust=trust), _joined(checked, entries), said]), code


def _lost(checked: Checked, entries: list[tuple[str, dict[str, str]]], restores: list[Restore],
          floor: Mapping[str, str]) -> str | None:
    """The archived seqs Redis lacks after its oldest, said, unless a signed checkpoint names them lost in a restore
    (and signs the archive's tree that holds them: checked here); None when it lacks none, or only those. A seq
    missing with later ones still in Redis, that no restore the archive's writer found (the audit floor's gap) names,
    was deleted by hand: a restore loses the newest entries, never one from the middle."""
    held = {seq for _, f in entries if (seq := seq_of(f)) is not None}
    if not held:
        return None
    missing = [seq for seq in range(min(held), checked.last + 1) if seq not in held]
    for low, high, size, root in restores:
        if size > checked.size or root != root_of(split(bytes(checked.leaves[:size * HASH]))).hex():
            return (f"checkpoint forged: the checkpoint that names seqs {low:,} to {high:,} lost in a restore signs"
                    f" an archive tree of size {size:,} ({root[:16]}...), not the archive's")
        missing = [seq for seq in missing if not low <= seq <= high]
    if not missing:
        return None
    if deleted := [seq for seq in missing if seq < max(held) and not _in_gap(seq, floor)]:
        return _deleted(checked, deleted, held)
    return (f"restored: Redis lacks seq {missing[0]:,} to {missing[-1]:,} ({len(missing):,} entries) that the archive"
            " holds, and no signed checkpoint names them lost in a restore: Redis was restored from an older backup"
            " and the workers have not signed past it yet, or they were deleted by hand")


def _in_gap(seq: int, floor: Mapping[str, str]) -> bool:
    """Whether `seq` is in the gap the archive's writer found Redis restored over (the audit floor's), not signed
    yet."""
    low, high = floor.get("gap_from", ""), floor.get("gap_to", "")
    return low.isascii() and low.isdigit() and high.isascii() and high.isdigit() and int(low) <= seq <= int(high)


def _deleted(checked: Checked, deleted: list[int], held: set[int]) -> str:
    """Archived entries removed from the middle of Redis's log, said: the first by seq and id, and how many."""
    first = deleted[0]
    parsed = layout.parse_line(checked.kept[first]) if first in checked.kept else None
    entry = f" (entry {parsed[0][:40]})" if parsed is not None else ""
    after = min(seq for seq in held if seq > first)
    more = f"; {len(deleted) - 1:,} more archived entries are missing likewise" if len(deleted) > 1 else ""
    return (f"deleted: Redis lacks seq {first:,}{entry}, which the archive holds, while it holds the entries after it"
            f" (seq {after:,} on): removed from the middle of the log by hand, not lost in a restore (a restore loses"
            f" the newest entries, and the archive's writer names them){more}")


Restore = tuple[int, int, int, str]  # a restored gap signed in Redis: (from, to, the archive's tree size, its root)


async def _restores(store: Store, trust: ArchiveTrust) -> list[Restore]:
    """The restored gaps the Redis checkpoints sign (their signatures checked: one that does not verify is not
    counted, and the walk names it)."""
    found: list[Restore] = []
    for _, fields in await store.audit.checkpoints():
        if "restored_gap" not in fields:
            continue
        try:
            claims = trust.verify(fields.get("jws", ""))
            low, high = (int(n) for n in claims["restored_gap"])
            found.append((low, high, int(claims["restored_size"]), str(claims["restored_root"])))
        except (SigningError, KeyError, ValueError, TypeError):
            continue
    return found


def _joined(checked: Checked, entries: list[tuple[str, dict[str, str]]]) -> str:
    seqs = [seq for _, f in entries if (seq := seq_of(f)) is not None]
    if not seqs:
        return "Redis holds no entry: the archive is the whole record."
    both = max(0, min(checked.last, seqs[-1]) - seqs[0] + 1)
    return (f"The archive and Redis join without a gap: Redis holds seq {seqs[0]:,} to {seqs[-1]:,}, {both:,} of them"
            " also archived, equal in both.")


async def redis_entries(store: Store) -> list[tuple[str, dict[str, str]]]:
    found: list[tuple[str, dict[str, str]]] = []
    lower = "-"
    while batch := await store.audit.chained(lower=lower, count=2000):
        found += batch
        lower = "(" + batch[-1][0]
    return found


def prove_command(
    *, seq: str, url: str, jwks: str | None, out: TextIO | None = None, environ: Mapping[str, str] | None = None,
    chain: str = "",
) -> int:
    """`audit prove SEQ --archive URL [--chain TENANT]`: the inclusion proof as JSON on standard output (of the
    home chain's archive, or of a workspace's chain: `chains/<tenant>/`)."""
    out = out or sys.stdout
    try:
        if not (seq.isascii() and seq.isdigit()) or int(seq) < 1:
            raise UsageError(f"prove: SEQ is an entry's seq (a positive number), not {seq[:40]!r}")
        archive = chain_archive(open_archive(url, retain=0), chain)
        settings = StoreSettings.from_env(environ)
        proof = asyncio.run(_prove(archive, int(seq), jwks, settings))
    except FAILURES as exc:
        return failed(exc)
    print(dumps(proof), file=out)
    return 0


def chain_archive(archive: ArchiveStore, chain: str) -> ArchiveStore:
    """The archive of `chain` ("": the home chain's, `archive` itself); UsageError for a name that is no tenant."""
    if not chain:
        return archive
    if not TENANT.fullmatch(chain):
        raise UsageError(f"--chain: {chain[:30]!r} is not a workspace's team or organisation id (T… or E…)")
    return Under(archive, chain)


async def _prove(archive: ArchiveStore, seq: int, jwks: str | None, settings: StoreSettings) -> dict[str, object]:
    return await prove(archive, seq=seq, trust=await trust_for(archive, jwks=jwks, settings=settings))


def check_proof_command(*, path: str, jwks: str | None, out: TextIO | None = None) -> int:
    """`audit check-proof FILE --jwks pinned.json`: one proof checked offline."""
    out = out or sys.stdout
    try:
        if jwks is None:
            raise UsageError("check-proof needs --jwks (the public keys, pinned apart from the bot)")
        trust = asyncio.run(trust_for(None, jwks=jwks, settings=None))
        try:
            proof = json.loads(Path(path).expanduser().read_text())
        except (OSError, ValueError, RecursionError) as exc:
            raise UsageError(f"{path[:200]} is not a readable proof ({type(exc).__name__})") from None
        said = check_proof(proof, trust)
    except (UsageError, SigningError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Found as exc:
        print(f"inclusion proof NOT valid: {exc}", file=out)
        return 1
    print(said, file=out)
    return 0

