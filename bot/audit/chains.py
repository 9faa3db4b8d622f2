"""One audit chain per tenant, one proof for all (issue 89).

Each tenant's (workspace's) audit log is a hash chain of its own, under its keys (`Keys.for_tenant`: its entries,
counter, shards, announced keys and signed checkpoints share the tenant's prefix, so an append stays with the tenant's
other keys): the chain `home` keeps today's names and takes the global entries too (API keys, freezes, settings of no
workspace: those are written through the home store), so a log from before chains is the home chain's history as it
was, verifiable unchanged. The chains are home's and those of `workspaces:known` (every tenant a worker served,
recorded before its store writes anything: bot/tenancy.py; never removed).

The checkpoint writer signs each chain's checkpoints (bot/audit/checkpoints.py), then a global checkpoint
(`Keys.audit_global`, bot/store/audit_global.py) whenever a chain's head moved: the claims {v: "g1", at, chains:
{chain: [seq, head]}, prev: the SHA-256 of the global checkpoint before (its JWS)} as a compact JWS with the
deployment's key (typ `audit-checkpoint+jwt`: `v` tells them apart). A chain once named is named in every later one
(its last head carried when its keys are gone), its seq never going back. `check_population` proves the population:
every global checkpoint verifies and links to the one before, no chain leaves or goes back, every chain's head named
by the newest is a signed checkpoint of that chain in Redis (a whole workspace's log dropped is caught: named,
gone), and no chain with checkpoints older than the newest global checkpoint is missing from it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from bot.audit.digests import ZERO
from bot.core.signing import SigningError, SigningKeys
from bot.store import Store

HOME = "home"  # the home tenant's chain (today's key names, and the global entries)
GLOBAL_VERSION = "g1"  # a global checkpoint's `v`
TYPE = "audit-checkpoint+jwt"  # (bot/audit/checkpoints.py's CHECKPOINT_TYPE: one verifier for both)

Head = tuple[int, str]  # a chain's head: the seq its newest checkpoint signs to, and its hash (hex)


async def chain_stores(store: Store) -> list[tuple[str, Store]]:
    """Every audit chain, by name, with the store whose `audit` is it: home's (`store`, the home store) first, then
    each known tenant's, by tenant id."""
    found = [(HOME, store)]
    home = await store.tenants.home()
    if home is None:
        return found
    tenants = sorted({ref.tenant for ref in await store.tenants.known()} - {home.tenant})
    return found + [(tenant, store.for_tenant(tenant, home=home.tenant)) for tenant in tenants]


def chain_store(store: Store, name: str, home: str | None) -> Store | None:
    """The store of the chain `name` (None: a name that is no tenant, or no home yet)."""
    if name == HOME:
        return store
    if home is None:
        return None
    try:
        return store.for_tenant(name, home=home)
    except ValueError:
        return None


async def head_of(store: Store) -> Head | None:
    """The head the chain's newest checkpoint signs (None: none yet)."""
    newest = await store.audit.last_checkpoint()
    seq = str(newest[1].get("seq", "")) if newest is not None else ""
    if newest is None or not (seq.isascii() and seq.isdigit()):
        return None
    return int(seq), str(newest[1].get("head", ""))


def chains_of(fields: dict[str, str]) -> dict[str, Head]:
    """The chains a stored global checkpoint names ({} when it names none that read)."""
    try:
        named = json.loads(fields.get("chains", "{}"))
        return {str(k): (int(v[0]), str(v[1])) for k, v in named.items()}
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError):
        return {}


def _digest(jws: str) -> str:
    return hashlib.sha256(jws.encode()).hexdigest()


def _dumps(chains: dict[str, Head]) -> str:
    return json.dumps({k: [seq, head] for k, (seq, head) in sorted(chains.items())}, separators=(",", ":"))


async def write_global(store: Store, keys: SigningKeys, *, now: float, retention: float) -> bool:
    """Sign a global checkpoint over every chain's head when one moved since the newest (or a chain is new): True
    when one was written. Chains named before keep their place (their last head, when their keys are gone)."""
    heads = {name: head for name, chain in await chain_stores(store) if (head := await head_of(chain)) is not None}
    newest = await store.audit_global.newest()
    before = chains_of(newest[1]) if newest is not None else {}
    for name, head in before.items():
        heads.setdefault(name, head)
    if not heads or heads == before:
        return False
    prev = _digest(newest[1].get("jws", "")) if newest is not None else ZERO
    claims: dict[str, Any] = {"v": GLOBAL_VERSION, "at": now, "chains": json.loads(_dumps(heads)), "prev": prev}
    jws = keys.sign(claims, typ=TYPE)
    return await store.audit_global.add({"v": GLOBAL_VERSION, "at": repr(now), "chains": _dumps(heads),
                                         "prev": prev, "jws": jws},
                                        after=newest[0] if newest is not None else "",
                                        keep_from_ms=int((now - retention) * 1000))


async def check_population(
    store: Store, verify: Callable[[str], dict[str, Any]] | None
) -> tuple[str | None, str]:
    """The global checkpoints against every chain (see the module): (the first problem, said; None when the
    population is proven or there is nothing to prove), and what the summary says."""
    stored = await store.audit_global.every()
    chains = await chain_stores(store)
    heads = {name: await head_of(chain) for name, chain in chains}
    if not stored:
        if len([h for h in heads.values() if h is not None]) > 1:
            return "no global checkpoint signs the chains' heads (the checkpoint writer writes one each interval)", ""
        return None, ""
    problem, before = _read_series(stored, verify)
    if problem is not None:
        return problem, ""
    newest_id, newest = stored[-1]
    problem = await _heads_held(store, before, newest_id)
    if problem is not None:
        return problem, ""
    at = float(newest.get("at", "0") or 0)
    for name, chain in chains:
        if name not in before and heads[name] is not None and any(
                float(f.get("at", "0") or 0) < at for _, f in await chain.audit.checkpoints(1)):
            return f"chain {name} is missing from global checkpoint {newest_id}, signed after its first checkpoint", ""
    return None, (f" Global checkpoint {newest_id} signs the heads of {len(before)} chain(s)"
                  f" ({', '.join(sorted(before))[:400]}); {len(stored):,} global checkpoint(s) kept, each linked to"
                  " the one before.")


async def _heads_held(store: Store, heads: dict[str, Head], newest_id: str) -> str | None:
    """Whether Redis still holds each chain the newest global checkpoint (`newest_id`) signs, at the seq and head it
    signs: the first one it does not, said (None: each)."""
    home = await store.tenants.home()
    for name, (seq, head) in sorted(heads.items()):
        chain = chain_store(store, name, home.tenant if home else None)
        if chain is None:
            return f"global checkpoint {newest_id} names chain {name[:30]}, which is no tenant of this deployment"
        if not any(f.get("seq") == str(seq) and f.get("head") == head for _, f in await chain.audit.checkpoints()):
            gone = not await chain.audit.exists()
            return (f"chain {name} is gone: global checkpoint {newest_id} signs it at seq {seq:,}, Redis holds "
                    + ("none of it (the workspace's whole audit log dropped)" if gone else
                       "no checkpoint of it at that seq and hash"))
    return None


def _read_series(stored: list[tuple[str, dict[str, str]]], verify: Callable[[str], dict[str, Any]] | None
                 ) -> tuple[str | None, dict[str, Head]]:
    """The stored global checkpoints read oldest first, each on its own (`_read_global`) and against the one before
    (none leaves a chain out or puts it back): the first problem, said (None: none), and the heads the newest
    names."""
    before: dict[str, Head] = {}
    prev_jws = ""
    for entry_id, fields in stored:
        problem = _read_global(entry_id, fields, verify, prev_jws)
        if problem is not None:
            return problem, before
        named = chains_of(fields)
        for name, (seq, _) in before.items():
            if name not in named:
                return (f"global checkpoint {entry_id} leaves chain {name[:30]} out (named before at seq"
                        f" {seq:,})"), before
            if named[name][0] < seq:
                return (f"global checkpoint {entry_id} says chain {name[:30]} is at seq {named[name][0]:,}, back from"
                        f" seq {seq:,}"), before
        before, prev_jws = named, fields.get("jws", "")
    return None, before


def _read_global(entry_id: str, fields: dict[str, str], verify: Callable[[str], dict[str, Any]] | None,
                 prev_jws: str) -> str | None:
    """A stored global checkpoint checked: its signature and fields, and its link to the one before (`prev_jws`: ""
    for the oldest kept); the problem, said, or None."""
    if fields.get("v") != GLOBAL_VERSION:
        return f"global checkpoint {entry_id} is not of this scheme (its `v` is {fields.get('v', '')[:20]!r})"
    if prev_jws and fields.get("prev") != _digest(prev_jws):
        return f"global checkpoint {entry_id} does not follow the one before it (its `prev` is not that one's digest)"
    if verify is None:
        return None
    try:
        claims = verify(fields.get("jws", ""))
    except SigningError as exc:
        return f"forged global checkpoint {entry_id}: {exc}"
    if (claims.get("v") != GLOBAL_VERSION or claims.get("prev") != fields.get("prev")
            or not isinstance(claims.get("chains"), dict)
            or json.dumps(claims["chains"], sort_keys=True, separators=(",", ":")) != fields.get("chains")):
        return f"forged global checkpoint {entry_id}: the fields stored beside its JWS are not what it signed"
    return None
