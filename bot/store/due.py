"""Due work, per tenant, in worker-wide indexes (issue 78): the loops run once per worker and visit only the
tenants with work due, never every workspace.

    {root}:due:<kind>        zset   tenant -> the earliest due time of its work of that kind (`HOME` for the home
                                    tenant, else its `WorkspaceRef.tenant`)
    {root}:held_by:{<id>}    string the tenant whose data holds approval <id> (`holder`: `Tenancy.holding`)

The kinds (`KINDS`), each with the tenant's keys it indexes:

    deadlines  `deadlines`, `refusals:due`   the deadline sweeper (timeouts, refusal windows' summaries)
    nudges     `nudges`, `attest:due`,       the nudger (reminders, escalations; attestations about to end;
               `fatigue:held`                approvals held for the next hour's budget, sent then in batches)
    webhooks   `webhooks`                    the webhook sender
    runs       `runs:live` (0 while any)     the run supervisor (orphaned runs, cards never posted)
    slack      `outbox`                      Slack's cards due a redraw (`SlackDue.drain`)
    teams      `teams:due`                   Teams' copies due a drawing (`TeamsDelivery.drain`)
    email      `email:due`                   the e-mails due a sending (the e-mail surface)
    push       `push:due`                    the pushes due a sending (the push surface)
    tickets    `tickets:due`                 the change tickets due opening or closing (bot/tickets/)
    homes      `homes:due`, `homes:drawing`  the Home queue (0 while any)
    digest     `oversight:digest_due`        the channel admins' weekly oversight digest (bot/slack/digest.py)
    reach      `reach:due`                   the steps of approvals' routes across surfaces (bot/approvals/reach.py)

Each surface's due set (bot/store/surface_due.py) is a kind of its own, so each surface's loop drains its own set
alone: a surface down, failing or slow never delays another's (a version before this one indexed the outbox and
Teams' due set under `runs`: its workers still drain them there, and this one's `settle` keeps `runs` true).

`note` is run after every write that may add earlier work (an approval opened or decided, a run started, a Home
marked due, a refusal window opened): it only lowers a tenant's entry (`ZADD LT`), so the index is never later than
the data. The loop that does a tenant's due work then `settle`s it, atomically with the data (lua/due_note.lua): its
next due time, or no entry when nothing is left. A worker that died between a write and its note left that work
unindexed: `repair` (each worker's start) indexes every known tenant again, a few steps at a time.

Sharded (issue 89: each workspace's keys in its own slot) the step writes the tenant's own index (`{ws}:due_here`,
kind -> earliest, in its slot: read once and written once a step) and the worker-wide indexes and `held_by` are
written right after it, in the root's slot (lua/due_index.lua): lowered only, a settled kind set then lowered again
to the tenant's own entry read after (`_spread`), so they are never later than the data either. A note writes them
only for the kinds its step lowered (work due earlier than the tenant's entry): the worker-wide entry is never later
than the tenant's own once each write is done (a note's lowers it to the tenant's new entry, a settle's ends at its
read of it), so a note that leaves the tenant's entry as it was has nothing to add there; most asks and decisions
add none, and cost no command in the root's slot but `held_by`'s SET. (A worker that dies between a step and its
write leaves it as one that died before its note does: `repair`.)"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from bot.store.connection import StoreUnavailable, aw
from bot.store.keys import DECIDED_RETENTION_SECONDS
from bot.store.scripts import Encoded, encoded
from bot.store.shared import Shared
from bot.store.slots import is_tag

KINDS = ("deadlines", "nudges", "webhooks", "runs", "slack", "teams", "email", "push", "tickets", "homes",
         "digest", "reach")
log = logging.getLogger(__name__)

HOME = "home"  # the home tenant's member (its keys' `tenant` is ""; no team or organisation id is "home")
# how long `held_by` names an approval's tenant: its retention once decided, and a year of waiting before that (an
# approval pending longer is found by `Tenancy.holding`'s walk)
HELD_SECONDS = DECIDED_RETENTION_SECONDS + 365 * 86400


def member_of(tenant: str) -> str:
    """The index member of `tenant` ("" for home: `Keys.tenant`)."""
    return tenant or HOME


def tenant_of(member: str) -> str:
    """The tenant of an index member ("" for home)."""
    return "" if member == HOME else member


class DueWork:
    """One tenant's entries in the due indexes (`Store.due`), and the indexes themselves (read by the loops)."""

    def __init__(self, shared: Shared) -> None:
        self._s = shared
        self._k = shared.keys
        self.member = member_of(shared.keys.tenant)
        # sharded (issue 89): each tenant's own index in its slot (`Keys.due_here`), the worker-wide ones written after
        self.sharded = shared.keys.sharded and is_tag(shared.keys.root)
        self._noted: tuple[dict[str, Any], Encoded] | None = None  # `note`'s step, named and encoded (`_noting`)

    def index(self, kind: str) -> str:
        return self._k.due(kind)

    def held_key(self, approval_id: str) -> str:
        return self._k.held_by(approval_id)

    def _data(self, kind: str) -> list[tuple[str, str]]:
        return self._table[kind]

    @functools.cached_property
    def _table(self) -> dict[str, list[tuple[str, str]]]:
        """Each kind's data keys (and how they are read: "z" a sorted set's earliest, "n" not empty), named once:
        every decision notes every kind (its step's keys were named again for each, ~0.1 ms a click)."""
        k = self._k
        return {
            "deadlines": [(k.deadlines, "z"), (k.refusals_due, "z")],
            # reminders: approvals', attestations' ending; the next hour's batches (fatigue)
            "nudges": [(k.nudges, "z"), (k.attest_due, "z"), (k.fatigue_held, "z")],
            "webhooks": [(k.webhooks, "z")],
            "runs": [(k.live_runs, "n")],
            **{surface: [(k.draw_due(surface), "z")] for surface in ("slack", "teams", "email", "push", "tickets")},
            "homes": [(k.home_due, "n"), (k.home_drawing, "z")],
            "digest": [(k.digest_due, "z")],
            "reach": [(k.reach_due, "z")],
        }

    def _step(
        self, kinds: Sequence[str], *, exact: str | bool, held: str = ""
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """lua/due_note.lua's keys and arguments for `kinds` of this tenant (sharded: into its own index, `held` left
        to `_spread`)."""
        keys: list[str] = [self._k.due_here] if self.sharded else []  # (sharded: every kind's index, once)
        told = []
        for kind in kinds:
            if not self.sharded:
                keys.append(self.index(kind))
            at = 1 if self.sharded else len(keys)
            data = []
            for key, how in self._data(kind):
                keys.append(key)
                data.append([len(keys), how])
            told.append({"index": at, "data": data, "exact": exact is True or exact == kind,
                         "member": kind if self.sharded else self.member})
        if held and not self.sharded:
            keys.append(self.held_key(held))
        return ({"keys": keys}, {"member": self.member, "kinds": told, "ttl": HELD_SECONDS, "one": int(self.sharded),
                                 "held": len(keys) if held and not self.sharded else 0})

    def _noting(self, held: str) -> tuple[dict[str, Any], dict[str, Any] | Encoded]:
        """`note`'s step (every kind lowered): named and encoded once a store when it is the same at each call (no
        `held`, or sharded: `held` is left to `_spread`), as after every decision (~50 µs of each click's
        bookkeeping, before its first command)."""
        if held and not self.sharded:
            return self._step(KINDS, exact=False, held=held)
        if self._noted is None:
            keys, args = self._step(KINDS, exact=False)
            self._noted = keys, encoded(args)
        return self._noted

    async def _run(self, kinds: Sequence[str], *, exact: str | bool, held: str = "") -> None:
        keys, args = self._noting(held) if exact is False and kinds is KINDS else self._step(kinds, exact=exact,
                                                                                               held=held)
        found = await self._s.script("due_note")(keys=keys, args=args)
        if self.sharded:
            await self._spread(dict(zip(kinds, (str(at) for at in found), strict=True)), exact=exact, held=held)

    async def _spread(self, found: dict[str, str], *, exact: str | bool, held: str) -> None:
        """Sharded: the worker-wide indexes written from this tenant's own, outside its step (another slot:
        lua/due_index.lua). `found`: {kind: a settled kind's entry ("" none), another's entry when the step lowered it
        ("" it stood: nothing to write, the worker-wide entry is at it or earlier already)}. Lowered only, but a kind
        settled (`exact`): set as found, then lowered again to the tenant's entry read after (a note that came between
        its step and this write is kept: its own write comes after, or this read sees it), so the indexes are never
        later than the data. `held` alone: one SET."""
        await self._write_found(found, exact=exact, held=held)
        again = [kind for kind in found if exact is True or exact == kind]
        if again:
            await self._lowered_again(again)

    async def _write_found(self, found: dict[str, str], *, exact: str | bool, held: str) -> None:
        """The worker-wide entries of `found` written (set or removed when settled, lowered else), `held` beside."""
        ops: list[list[object]] = []
        keys: list[str] = []
        for kind, at in found.items():
            settled = exact is True or exact == kind
            if at or settled:
                keys.append(self.index(kind))
                ops.append([len(keys), self.member, at or "0", ("set" if at else "rem") if settled else "lt"])
        if ops:
            if held:
                keys.append(self.held_key(held))
            await self._s.script("due_index")(keys={"keys": keys}, args={
                "ops": ops, "member": self.member, "ttl": HELD_SECONDS, "held": len(keys) if held else 0})
        elif held:  # (nothing to lower: the tenant alone, one command as on one node's step)
            await self._s.redis.set(self.held_key(held), self.member, ex=HELD_SECONDS)

    async def _lowered_again(self, kinds: list[str]) -> None:
        """The settled `kinds`' worker-wide entries lowered to this tenant's own as read now (a note that came between
        the settle's step and its write is kept)."""
        now = await self._s.redis.zmscore(self._k.due_here, kinds)
        lower = [(kind, at) for kind, at in zip(kinds, now, strict=True) if at is not None]
        if lower:
            await self._s.script("due_index")(
                keys={"keys": [self.index(kind) for kind, _ in lower]},
                args={"ops": [[n, self.member, repr(at), "lt"] for n, (_, at) in enumerate(lower, 1)],
                      "member": self.member, "ttl": 0, "held": 0})

    async def note(self, *, held: str = "") -> None:
        """After a write that may have added work due sooner than indexed: this tenant's entries lowered to its
        data's earliest. `held`: an approval just opened here (`holder`). Redis failing now is said and let be (the
        write it follows is done; the next worker to start indexes it: `repair`)."""
        try:
            await self._run(KINDS, exact=False, held=held)
        except StoreUnavailable as exc:
            log.warning("due work of tenant %s not indexed (%s): a worker's next start indexes it", self.member,
                        exc.cause)

    async def settle(self, kind: str) -> None:
        """After this tenant's due work of `kind` was done: its entry set to what is due next (none: removed), and
        the other kinds' lowered (that work may have added some: a timeout's webhook, a card to redraw)."""
        await self._run(KINDS, exact=kind)

    async def due(self, kind: str, now: float, *, limit: int = 100) -> list[str]:
        """The tenants (index members) with work of `kind` due by `now`, the most overdue first."""
        found = await self._s.redis.zrangebyscore(self.index(kind), "-inf", repr(now), start=0, num=limit)
        return [str(member) for member in found]

    async def next_at(self, kind: str) -> float | None:
        """When the next work of `kind` of any tenant is due (None: none is)."""
        first = await self._s.redis.zrange(self.index(kind), 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    async def drop(self, kind: str, member: str) -> None:
        """A tenant no longer served (the app uninstalled there): out of the `kind` index."""
        await self._s.redis.zrem(self.index(kind), member)

    async def holder(self, approval_id: str) -> str | None:
        """The tenant ("" for home) whose data holds approval `approval_id`, as noted when it opened; None when not
        noted (opened before the index, or unknown)."""
        found = await aw(self._s.redis.get(self.held_key(approval_id)))
        return None if found is None else tenant_of(str(found))

    @staticmethod
    async def repair(tenants: Iterable[DueWork], *, at_once: int = 16) -> None:
        """Index every kind of work of `tenants` again (a worker's start: work a worker that died between a write
        and its note left unindexed, and what a version before the indexes wrote): lowered only, `at_once` steps
        in flight (not a pipeline: Redis Cluster's client refuses scripts in one). Redis failing now is said and
        let be."""
        found = list(tenants)
        try:
            for start in range(0, len(found), at_once):
                await asyncio.gather(*(due._run(KINDS, exact=False) for due in found[start:start + at_once]))
        except StoreUnavailable as exc:  # (the next worker to start indexes them)
            log.warning("the due work of %d workspaces could not be indexed at start (%s)", len(found), exc.cause)
