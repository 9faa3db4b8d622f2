"""What a link surface (e-mail, push) sends of one approval, and when (shared since the push surface): a kind for
the opening ("opened"), each reminder ("reminded", "reminded-2", ...) and the escalation ("escalated"), each sent
once to a person still to decide; which steps the nudger published; whether a send is due a try; how long its
record is kept."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from typing import Final, Protocol

from bot.core.records import ApprovalRecord

KEEP_AFTER: Final = 86400  # a send's record outlives its approval's deadline by this


def reminder_kind(number: int) -> str:
    """The kind of an approval's reminder `number` (each is its own send): "reminded", "reminded-2", ..."""
    return "reminded" if number <= 1 else f"reminded-{number}"


def published_kinds(approval: ApprovalRecord, published: int) -> list[str]:
    """The kinds of `approval`'s first `published` steps (`ApprovalRecord.steps`, in order; the nudger's ordinal,
    lua/nudge_publish.lua): each reminder's and the escalation's (a service level's change sends nothing)."""
    steps = approval.steps()[:published]
    return [reminder_kind(s.number) if s.kind == "remind" else "escalated" for s in steps
            if s.kind in ("remind", "escalate")]


def pending_sends(approval: ApprovalRecord, people: Sequence[str]) -> list[tuple[str, str]]:
    """The (person, kind) sends a pending `approval` may have to `people`: the opening one to each, and its
    reminders' and escalation's to those still to decide (not voted: as the nudger asks them)."""
    acted = set(approval.voters)
    kinds = [*(reminder_kind(n) for n in range(1, len(approval.remind) + 1)), "escalated"]
    return [(p, "opened") for p in people] + [(p, kind) for p in people if p not in acted for kind in kinds]


def due_a_try(state: str, kind: str, fresh: Collection[str]) -> bool:
    """Whether a send whose record says `state` is tried now: never once sent or given up; else a `fresh` kind
    (published), or one tried before (its retry)."""
    return not state.startswith(("sent", "failed")) and (kind in fresh or bool(state))


class Tried(Protocol):
    """How one send went (the e-mail and push senders' `Result`): its outcome word, and when it is due again."""

    @property
    def outcome(self) -> str: ...

    @property
    def at(self) -> float: ...


async def try_due(sends: Iterable[tuple[str, str]], fresh: Collection[str], states: Mapping[str, str],
                  send: Callable[[str, str], Awaitable[Tried]]) -> list[float]:
    """Each (person, kind) of `sends` due a try (`due_a_try`; `states` its records, "<person>|<kind>" -> state) sent
    with `send`; the times those left to try again are due (a retry, another sender's claim, busy)."""
    later: list[float] = []
    for person, kind in sends:
        if due_a_try(states.get(f"{person}|{kind}", ""), kind, fresh):
            result = await send(person, kind)
            if result.outcome in ("retry", "later", "busy"):
                later.append(result.at)
    return later


def keep_for(deadline: float, now: float) -> int:
    """Seconds a send's record is kept: past the approval's `deadline` by KEEP_AFTER (gone by: 8 times that)."""
    return int(deadline - now) + KEEP_AFTER if deadline > now else 8 * KEEP_AFTER
