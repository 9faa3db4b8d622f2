"""The approval core: every step of an approval, and what keeps people told.

    service.py     `ApprovalService`: open, wait, cancel; what happened published
    decisions.py   the one entry of a person's vote, whatever the surface: `Decisions.decide(person, surface, verb)`
                   (every approver rule), `may_decide`, the cards brought up to date after
    ports.py       the port a surface implements (`Surface`: its listener of the events), what the core publishes;
                   `CardDelivery`, through which the chain's end posts the Slack card (bot/slack/delivery.py),
                   `CardRedraws` and `NudgeTeller` (the card's redraws, the nudger's steps posted)
    events.py      what the core says happened (opened, card posted, decided, ended), to the listeners the
                   composition root (bot/root.py) subscribes: cards, Homes, redaction, metrics, runs, sessions
    edits.py       a reviewer's edit of a call's arguments: noted for the call that follows, Save & approve
    revisions.py   a Revise of a call's arguments, as JSON or one field each, one way for every surface (Slack's
                   modal, the Teams card): the edit checked, hidden values kept whole, the agent's feedback
                   (`Revisions`)
    opening.py     what opening an approval starts from: the record, what an open answers (pure)
    chain.py       the decision order, one chain walked once per request by every way in: the deciders
                   bot/root.py lists, then its end (a person, or a call recorded as allowed)
    deciders/      the chain's links, one module each: policies (bot/policy/), the input mode, a live "always
                   allow" rule, and the person (the end: the approval opened, pending or decided at once)
    rights.py      who may do what: a channel's admins, who may change its settings, cancel a run (pure)
    refusals.py    what a person is told when their click decided nothing (pure)
    attesting.py   fit to decide: attesting to a brief, an admin's grant and revoke, who owns a brief
    decider_policies.py  policies about who decides (`principal is Person`), asked at each person's vote before
                   the decide step: a refusal said and audited, whatever the surface
    nudges.py      reminders, escalations and service levels' changes, on any worker: claimed, published, noted
                   told (posted by the surface's `NudgeTeller`, bot/slack/nudges.py)
    reach.py       a route across surfaces (issue 90): each step due, taken once, reached through a `Reacher`
    triage.py      the triage model (#92): an ask whose policies say @triage read by a model first, decided by it
                   only where @triage_may_approve and the floor let it (`Triage`, its port `TriageModel`); fails closed
    triage_hold.py a triage model's approval held (TRIAGE_HOLD) and a channel admin's Reverse of it
    fatigue.py     approvers over their channel's `max_asks_per_hour` passed over: cards counted, audited, held
    oncall.py      `oncall:<schedule>` approvers read at the ask and again at the escalation (`OnCallRouting`);
                   a schedule unread goes to the fallback approvers, said on the card and audited
    rulebook.py    who may create and revoke "always allow" rules (what they match: `bot.core.allow_rules`)
    waiter.py      one pub/sub subscription per worker (every tenant's decisions heard)
    due_loops.py   the loops of due work, one of each per worker: deadlines, and each kind's (`DueTenants`)
    tenant_channels.py  sharded: each tenant's own channels to a worker, in its slot, heard by the waiter
    freeze_spread.py  each worker's loop that spreads a change of the freeze not yet in every workspace's copy

Hidden values are bot/redaction/'s (the chain's end stores what it redacted), a run's thread and agent session
bot/sessions/' (they listen to the events), a run's side-effect ledger bot/runs/'.

May import: `bot.core`, `bot.store`, `bot.policy`, `bot.redaction`, `bot.report` (headline numbers), `bot.people`
and `agents`. Never a surface (`bot.slack`, `bot.slackapp`, `bot.msteams`, `bot.email` and their SDKs): the Slack
surface is above the core (tests/test_boundaries.py). Never `bot.runs` or `bot.sessions`.
What the surfaces above may use of it are the names below (`__all__`), and `rights` and `refusals` (pure: what
every surface judges and says alike) and `attesting` (the one way to attest, from a command or a page);
tests/test_root.py fails on a surface importing anything else of it."""

from bot.approvals.chain import Ask, Decided, Step
from bot.approvals.deciders.freeze import Freeze
from bot.approvals.decisions import REFUSAL_QUIET, Decisions, card_place, verb_of
from bot.approvals.due_loops import DueSweeper
from bot.approvals.events import (
    ApprovalDecided,
    ApprovalEnded,
    ApprovalOpened,
    ApprovalStored,
    CardPosted,
    Event,
    Events,
    Nudged,
    VoteCounted,
)
from bot.approvals.opening import Opened, OpenRefused, ProgramAsk
from bot.approvals.ports import Surface, Verb, Writing
from bot.approvals.revisions import MAX_ARGUMENTS_CHARS, Edited, Revision, Revisions, Typed, not_editable
from bot.approvals.rulebook import NO_RULE_FOR_STEP_UP, SUGGEST_SINCE
from bot.approvals.service import NO_OPINION, ApprovalService
from bot.approvals.triage import TriageAnswer
from bot.core.field_edits import schema_of

__all__ = [
    "MAX_ARGUMENTS_CHARS",
    "NO_OPINION",
    "NO_RULE_FOR_STEP_UP",
    "REFUSAL_QUIET",
    "SUGGEST_SINCE",
    "ApprovalDecided",
    "ApprovalEnded",
    "ApprovalOpened",
    "ApprovalService",
    "ApprovalStored",
    "Ask",
    "CardPosted",
    "Decided",
    "Decisions",
    "DueSweeper",
    "Edited",
    "Event",
    "Events",
    "Freeze",
    "Nudged",
    "OpenRefused",
    "Opened",
    "ProgramAsk",
    "Revision",
    "Revisions",
    "Step",
    "Surface",
    "TriageAnswer",
    "Typed",
    "Verb",
    "VoteCounted",
    "Writing",
    "card_place",
    "not_editable",
    "schema_of",
    "verb_of",
]
