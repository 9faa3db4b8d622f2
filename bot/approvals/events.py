"""What the approval core says happened, published in one place for whoever listens.

    ApprovalStored    a pending approval stored by the chain's person end, before its card is posted (a surface
                      that reaches people itself, push, starts here: beside the card, not after it)
    ApprovalOpened    an approval went through the decision chain (`ApprovalService.open_request`): decided at
                      once, or waiting for a person with its card posted
    CardPosted        a pending approval's card posted and noted (the chain's end, or the supervisor for an
                      approval whose poster died first)
    VoteCounted       a person's approve counted toward a quorum not yet reached (the cards show the votes)
    Nudged            a reminder or an escalation due, once, before Slack is tried (bot/approvals/nudges.py)
    ApprovalDecided   an approval decided, cancelled or timed out, on the worker that made the decision
    ApprovalEnded     a run took an approval's decision (it goes on), or was handed it when it was adopted

The core publishes each once (`Events.publish`), after what it needs for itself (the run it woke first, the waiter
woken); the composition root (bot/root.py) subscribes the listeners, in order: the cards, the Homes, the
redaction, the metrics, the runs, a run's thread and session (bot/sessions/). A new surface subscribes; the core does
not call it. A listener is synchronous and quick (it spawns what it does in the background, as the core did), so the
order of what it starts is the order it is told; one that raises is logged and the others are told all the same.

Example:
    `events.subscribe(lambda event: isinstance(event, ApprovalDecided) and log.info(event.approval.id))`
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from agent_approvals.approver import ApprovalRequest

from bot.approvals.opening import Opened
from bot.core.records import ApprovalRecord, RunRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ApprovalOpened:
    """`request` of `run` went through the chain: `answer` is what the open did (decided at once: `answer.decided`;
    else its card); `line` what the deciding link said for the run's thread (decided at once, stored); `waits`: the
    run's own step (`ApprovalService.ask`) waits for a person (its thread says where)."""

    run: RunRecord
    request: ApprovalRequest
    answer: Opened
    line: str = ""
    waits: bool = False


@dataclass(frozen=True, slots=True)
class ApprovalStored:
    """`approval` stored pending by the chain's person end (bot/approvals/deciders/person.py), its card not yet
    posted: the approval readable from the store, the card and this listener's work going in parallel. Said once,
    for a new approval (a retry that finds its first ask's approval says only `ApprovalOpened`)."""

    approval: ApprovalRecord


@dataclass(frozen=True, slots=True)
class CardPosted:
    """A pending approval's card posted and noted in Redis (`card`: channel, ts)."""

    approval: ApprovalRecord
    card: tuple[str, str]


@dataclass(frozen=True, slots=True)
class VoteCounted:
    """A person's approve of `approval` counted toward its quorum, not yet reached (`approval`: with the votes);
    `surface`: where they clicked when not Slack (`teams`, as the vote's audit entry says), "" for Slack."""

    approval: ApprovalRecord
    surface: str = ""


@dataclass(frozen=True, slots=True)
class Nudged:
    """A reminder (`kind` "remind", its `number`) or an escalation ("escalate") of `approval` due, published once before
    Slack is tried (whatever Slack answers: a Slack outage holds no other surface's reminder);
    `people`: who it asked (those who may still decide, a delegate for who is away, user groups' members), `delegated`:
    each delegate among them -> for whom. Another surface tells them too (bot/msteams/delivery.py)."""

    approval: ApprovalRecord
    kind: str
    number: int
    people: tuple[str, ...]
    delegated: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ApprovalDecided:
    """`approval` as decided (by a person, a timeout, a cancel) on the worker that decided it. `orphaned`: its run's
    owner may be gone, so a run manager here continues it (not for a program's approval, nor a cancel, nor when the
    owner's worker heard the decision)."""

    approval: ApprovalRecord
    orphaned: bool = False


@dataclass(frozen=True, slots=True)
class ApprovalEnded:
    """`run` took the decision of approval `approval_id` (`approval`: as decided; None when it was gone): `running`,
    the run goes on with it; `announce`, its thread says how it was decided (not a cancel: that says so itself)."""

    run: RunRecord
    approval_id: str
    approval: ApprovalRecord | None
    running: bool = False
    announce: bool = True


Event = ApprovalStored | ApprovalOpened | CardPosted | VoteCounted | Nudged | ApprovalDecided | ApprovalEnded
Listener = Callable[[Event], object]


class Events:
    """One worker's (or one tenant's) approval events: listeners subscribed by the composition root, told in order."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        """Tell `listener` of every event from now on, after those subscribed before it."""
        self._listeners.append(listener)

    def publish(self, event: Event) -> None:
        """Tell every listener of `event`, in the order they subscribed; a listener's failure is logged."""
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception("a listener of %s failed", type(event).__name__)
