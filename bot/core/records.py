"""What Redis keeps, as typed records: runs, approvals and channel settings.

Each record converts to and from the flat string hash Redis stores.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any, Literal, Self, cast, get_args, get_origin, get_type_hints

from agent_approvals.approver import Decision, Outcome, TimeoutOutcome

from bot.core.channel_options import ChannelSettings as ChannelSettings  # declared with their options
from bot.core.durations import format_duration
from bot.core.people import SLACK_ID as SLACK_ID  # a Slack id (a user, a group, a channel): the grammar's
from bot.core.service_levels import sla_changes
from bot.core.workspaces import WorkspaceRef

ApprovalStatus = Literal["pending", Outcome]
RunStatus = Literal["starting", "running", "waiting", "completed", "rejected", "timed_out", "failed", "cancelled"]
RUN_FINAL: frozenset[RunStatus] = frozenset({"completed", "rejected", "timed_out", "failed", "cancelled"})

# Ids that may reach a Redis key. Anything else from a payload is refused before use.
APPROVAL_ID = re.compile(r"^[A-Za-z0-9-]{8,64}$")
RUN_ID = re.compile(r"^r[a-z0-9]{6,16}$")
SLACK_TS = re.compile(r"^\d{1,12}\.\d{1,8}$")
TEAM_ID = re.compile(r"^T[A-Z0-9]{2,23}$")  # a workspace (a Slack team)
ENTERPRISE_ID = re.compile(r"^E[A-Z0-9]{2,23}$")  # an Enterprise Grid organisation


def workspace_of(team: str, enterprise: str, *, home: WorkspaceRef) -> WorkspaceRef:
    """The workspace a record's `team` and `enterprise` fields name; `home` (the deployment's first workspace) for
    a record written before records carried one (its `team` empty)."""
    return WorkspaceRef(team, enterprise or None) if team else home


def _encode(record: object) -> dict[str, str]:
    """A record's fields as stored strings (its fields are text, numbers and tuples of ids: read as they are, not
    copied deep as `asdict` would, a third of the time on the open step's path)."""
    out: dict[str, str] = {}
    for item in fields(record):  # type: ignore[arg-type]
        value = getattr(record, item.name)
        out[item.name] = ",".join(value) if isinstance(value, tuple) else "" if value is None else str(value)
    return out


def _decode(cls: type[Any], raw: dict[str, str]) -> Any:
    """A record from its stored strings. Raises ValueError for a value its field's type refuses (a
    malformed number, a status nobody writes) and TypeError when a field without a default is missing."""
    kwargs: dict[str, Any] = {}
    for name, convert in _converters(cls):
        value = raw.get(name)
        if value is not None:
            kwargs[name] = convert(name, value)
    return cls(**kwargs)


Converter = Callable[[str, str], Any]  # (field name, stored string) -> the field's value


def _text(name: str, value: str) -> str:
    return value


def _number(kind: type[int] | type[float]) -> Converter:
    return lambda name, value: kind(value) if value else kind()


def _ids(name: str, value: str) -> tuple[str, ...]:
    """Comma-separated ids ("anyone", in records written before empty meant anyone: none)."""
    return () if value in ("", "anyone") else tuple(value.split(","))


def _one_of(allowed: tuple[str, ...]) -> Converter:
    def convert(name: str, value: str) -> str:
        if value not in allowed:
            raise ValueError(f"{name} {value[:40]!r} is not one of {', '.join(allowed)}")
        return value

    return convert


def _converter(hint: Any) -> Converter:
    """How a stored string becomes a value of the type `hint` (str, int, float, a Literal of strings, or
    a tuple of ids)."""
    if hint is str:
        return _text
    if hint is int or hint is float:
        return _number(hint)
    if get_origin(hint) is Literal and all(isinstance(arg, str) for arg in get_args(hint)):
        return _one_of(get_args(hint))
    if hint == tuple[str, ...]:
        return _ids
    raise TypeError(f"records cannot store a field of type {hint!r}")


_CONVERTERS: dict[type[Any], tuple[tuple[str, Converter], ...]] = {}


def _converters(cls: type[Any]) -> tuple[tuple[str, Converter], ...]:
    """Each field of a record and how its stored string becomes the field's value (from its type
    hints; worked out once)."""
    if cls not in _CONVERTERS:
        hints = get_type_hints(cls)
        _CONVERTERS[cls] = tuple((f.name, _converter(hints[f.name])) for f in fields(cls))
    return _CONVERTERS[cls]


class _Stored:
    """A record kept in a Redis hash: its fields as strings, and read back (checked) from them."""

    __slots__ = ()

    def to_redis(self) -> dict[str, str]:
        return _encode(self)

    @classmethod
    def from_redis(cls, raw: dict[str, str]) -> Self:
        return _decode(cls, raw)  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class RunRecord(_Stored):
    id: str
    requester: str
    channel: str
    task: str
    preset: str = "writer"
    mode: str = ""  # the run's input mode (agent_approvals.modes.MODES); empty: always
    model: str = ""
    status: RunStatus = "starting"
    owner: str = ""
    header_ts: str = ""
    created_at: float = 0.0
    finished_at: float = 0.0
    reason: str = ""
    ended_by: str = ""
    epoch: int = 0  # the owner's fencing token: taken over, it goes up; every owner write checks it
    program_run: str = ""  # an API run: the program's own run or session id (`run` of its asks); '' when none sent
    # the workspace it belongs to (bot/core/workspaces.py): the slash command's team, the API key's; "" in a run
    # written before runs carried one: the home workspace's (`workspace_of`)
    team: str = ""
    enterprise: str = ""

    @property
    def final(self) -> bool:
        return self.status in RUN_FINAL

    def with_(self, **changes: Any) -> RunRecord:
        return replace(self, **changes)


# The runs of the Approvals API (bot/api/): one per key, channel and program run (the `run` a program sends; the
# approvals of programs that send none share one), owned by no worker. Decisions of their
# approvals are published to the pub/sub channel of API_OWNER, which every worker listens to.
API_OWNER = "api"
API_PRESET = "api"


# An approval's fields that may be long: stored apart from its other fields (`Keys.texts` in bot/store/keys.py).
TEXT_FIELDS = (
    "task", "proposal", "arguments", "arguments_schema", "schema_error", "why", "context_url", "callback_url",
    "workflow", "claim", "summary"
)


@dataclass(frozen=True, slots=True)
class Step:
    """A reminder (`number` 1, 2, ...) or the escalation of a pending approval, due at `at`."""

    at: float
    kind: Literal["remind", "escalate", "at_risk", "breached"]  # the last two: its service level's changes
    number: int


@dataclass(frozen=True, slots=True)
class ApprovalRecord(_Stored):
    id: str
    run_id: str
    owner: str
    requester: str
    origin_channel: str
    card_channel: str
    task: str
    proposal: str
    author: str
    created_at: float
    deadline: float
    timeout_seconds: int
    timeout_outcome: str = "reject"
    status: ApprovalStatus = "pending"
    required_approvals: int = 1
    approvers: tuple[str, ...] = ()  # user (U…/W…) and user group (S…) ids who may decide; empty: anyone
    allow_self_approval: int = 0
    votes: str = ""  # ids of who approved so far, comma-separated (quorum)
    consumed: int = 0  # 1 once a worker has continued the run with this decision (or a program used it)
    consumed_by: str = ""  # "<worker>:<epoch>" of the run's owner that continued with it ("" for a program's)
    card_ts: str = ""
    decided_by: str = ""
    decided_at: float = 0.0
    feedback: str = ""
    # what is decided (agent_approvals.approver.ApprovalRequest): a message, a tool call or code
    kind: str = "message"
    tool_name: str = ""
    arguments: str = ""  # the call's arguments, JSON as shown on the card
    arguments_schema: str = ""  # the tool's JSON schema of its arguments
    digest: str = ""  # sha256 of the canonical arguments (or code) the decision is bound to
    schema_error: str = ""  # the arguments fail the schema: Approve is not offered
    why: str = ""  # why a human is asked (the input mode's rule)
    claim: str = ""  # the agent's own stated reason (an API ask's `why`): shown as its claim, never as a fact
    summary: str = ""  # one plain sentence of what it does, written by a model (bot/runs/summaries.py); "": none
    edited_by: str = ""  # who edited the arguments into these
    fixed_arguments: int = 0  # 1: the asking program runs only the call as made (no edit offered)
    # the approval's copies in direct messages (`deliver` dm/both): "D…/ts", or "D…/" while being posted
    copies: tuple[str, ...] = ()
    revealed_by: str = ""  # who saw its hidden values on the reveal page, comma-separated (bot/stepup/reveal.py)
    # its arguments' hidden values (bot/redaction/hiding.py): JSON [{path, kind, shown, hmac}] (`arguments` is the
    # redacted copy; the values are sealed apart), and the receipts' `args_sha256` of the full arguments
    hidden: str = ""
    args_sha256: str = ""
    edit_hidden: str = ""  # what an edit of a call with nothing hidden hid (as `hidden`: the full edit sealed apart)
    version: int = 0  # the store's change counter when it last changed (a Home drawn later shows it)
    # nudges while nobody decides (bot/approvals/nudges.py): reminders at these seconds after the request; an
    # escalation to `escalate_to` after `escalate_after` seconds (0: none)
    remind: tuple[str, ...] = ()
    escalate_after: int = 0
    escalate_to: tuple[str, ...] = ()
    escalated_at: float = 0.0  # when `escalate_to` were let in (lua/nudge.lua); 0: not escalated
    nudged: int = 0  # how many of `steps()` have been told (their messages posted)
    telling: float = 0.0  # when a nudger last took it to tell its steps (0: told since): set, it may have died mid-post
    on_behalf: str = ""  # `decided_by` decided for this person, away and delegating to them
    proxies: tuple[str, ...] = ()  # quorum votes cast by a delegate: "<for whom>:<who clicked>"
    sla_seconds: int = 0  # its service level (bot/core/service_levels.py; 0: none) and the state last told ("": within)
    sla_state: Literal["", "at_risk", "breached"] = ""
    fatigue: str = ""  # "rerouted:U1=30" / "waiting:U1=30,U2=31": approvers over `max_asks_per_hour` (their cards)
    # asked through the Approvals API (bot/api/): the key's name and immutable id (the approval is that key's,
    # never another's of the same name), a link the card shows, where the decision is POSTed (`webhook` 1: the
    # decide step queues its delivery)
    asked_by: str = ""
    key_id: str = ""
    context_url: str = ""
    callback_url: str = ""
    webhook: int = 0
    workflow: str = ""  # the durable workflow that asked: JSON {engine, id, type, namespace, url} (bot/api/requests.py)
    used_at: float = 0.0  # when the asking program used the approval (ran the call): once
    rule_id: str = ""  # approved at once by this "always allow" rule: used only while the rule stands
    decided_by_mode: str = ""  # decided at once by the channel's input mode ("policy", "never"), named in receipts
    # the policies (bot/policy/) that decided or routed it: JSON {bundle: <sha256>, ids: [...]}, carried by its
    # audit entries and receipt, and their reason, shown on its card; "" when no policy had an opinion
    policy: str = ""
    policy_reason: str = ""
    # step-up (bot/stepup/): what makes each approving vote need the voter's passkey ("policy": an ask policy's
    # @step_up; "channel": the channel's `step_up always`; "": nothing), and the assurance of each vote that counted
    # with one: JSON [{by, amr, passkey (SHA-256 of the credential id), at}], carried by the audit log and receipts
    step_up: Literal["", "policy", "channel"] = ""
    # "policy": an ask policy's @require_details: a person's Approve counts once they opened its details (its page, a
    # modal; bot/store/lua/lib/oversight.lua)
    require_details: Literal["", "policy"] = ""
    assurances: str = ""
    # the audit entry of the decision that allowed the call (a person's or quorum's approve, a rule's or the input
    # mode's, a timeout that approves): its seq in the audit chain and its stream id (lua/lib/audit.lua); signed
    # receipts carry them. 0 and "" until such a decision.
    decided_audit_seq: int = 0
    decided_audit_id: str = ""
    # the workspace it belongs to (its run's, its API key's): "" in an approval written before approvals carried
    # one, the home workspace's (`workspace_of`)
    team: str = ""
    enterprise: str = ""
    agent: str = ""  # the bot's own run's agent team (its preset), for a freeze of `agent:<name>` (the decide step)
    # the change itself (agent_approvals.artifacts): JSON list of normalised artefacts, each with the `sha256` of the
    # artefact as asked (what a receipt binds); their texts as people see them (bot/redaction/hiding.py): "" for none
    artifacts: str = ""
    # 1: a worker's synthetic canary (bot/api/canary.py): stored a short while, in no index and no audit entry, shown by
    # no surface, decided only by its worker's probe (its one approver)
    canary: int = 0
    # its change ticket (bot/tickets/, issue 91), once opened: JSON {system, key, url}, shown on its card; "" for none;
    # and the system its route opens it in (its channel's `ticket` as it opened, or a policy's @ticket; "": none)
    ticket: str = ""
    ticket_route: str = ""
    # its route across surfaces (issue 90, bot/approvals/reach.py): the canonical route (its channel's `reach` as it
    # opened, or a policy's @reach; "": none), how many of its steps were taken and each taken (JSON list, shown on
    # every copy: bot/core/card_words.py)
    reach_route: str = ""
    reach_done: int = 0
    reached: str = ""
    sponsor: str = ""  # the person accountable for the API key that asked (`keys create --sponsor`), shown on its card
    attest: tuple[str, ...] = ()  # scopes a person's Approve or Revise needs their current attestation to (fit)
    notify: tuple[str, ...] = ()  # told its decision by e-mail (`email:<address>`: an API ask's `notify`)
    # the triage model (an ask policy's @triage, bot/approvals/triage.py): its reading, or why it gave none, for people
    # (its card); its approval's words when it approved ("": no model read it)
    triage: str = ""
    # on-call schedules (issue 90) its approvers or `escalate_to` named (`oncall:<schedule>`, read again at its
    # escalation: bot/approvals/oncall.py); those that could not be read when last read (its card says so), and the
    # fallback approvers it went to instead
    oncall: tuple[str, ...] = ()
    oncall_unread: tuple[str, ...] = ()
    oncall_fallback: tuple[str, ...] = ()
    # its approval held (TRIAGE_HOLD): when it is final (epoch seconds; 0: not held), and the channel admin who
    # reversed it ("": not reversed; the decide step then refuses the model's decision)
    triage_hold: float = 0.0
    triage_reversed: str = ""

    @property
    def pending(self) -> bool:
        return self.status == "pending"

    @property
    def artifact_items(self) -> list[dict[str, Any]]:
        """Its artefacts as kept (normalised, each with its `sha256`), in order; [] when none (or unreadable)."""
        return json_objects(self.artifacts)

    @property
    def hidden_items(self) -> list[dict[str, str]]:
        """Its hidden values as shown ({path, kind, shown, hmac}), in document order; [] when none."""
        return hidden_list(self.hidden)

    @property
    def voters(self) -> list[str]:
        return [v for v in self.votes.split(",") if v]

    @property
    def never_times_out(self) -> bool:
        return self.timeout_seconds <= 0

    @property
    def assured(self) -> list[dict[str, Any]]:
        """Each approving vote that counted with its voter's passkey (step-up), in order: {by, amr, passkey, at}."""
        return json_objects(self.assurances)

    @property
    def people(self) -> list[str]:
        """Every person id it names (who asked, may decide, was escalated to, edited it, voted, voted for someone,
        decided, was decided for), each once: whom a surface may show by name."""
        actors = [pair.partition(":")[2] for pair in self.proxies]
        named = [self.requester, *self.approvers, *self.escalate_to, self.edited_by, *self.voters, *actors,
                 self.decided_by, self.on_behalf]
        return [person for person in dict.fromkeys(named) if person]

    def voted_through(self, voter: str) -> str:
        """Who cast `voter`'s vote, when a delegate did ("" when they voted themselves)."""
        for pair in self.proxies:
            principal, _, actor = pair.partition(":")
            if principal == voter:
                return actor
        return ""

    def steps(self) -> list[Step]:
        """Its reminders, its escalation and its service level's changes, in the order they come (an escalation
        first at the same time, so that the reminder mentions the people it let in); none at or after the deadline."""
        steps = [Step(self.created_at + int(offset), "remind", number) for number, offset in enumerate(self.remind, 1)]
        if self.escalate_after > 0 and self.escalate_to:
            steps.append(Step(self.created_at + self.escalate_after, "escalate", 0))
        steps += [Step(self.created_at + after, kind, 0) for after, kind in sla_changes(self.sla_seconds)]
        steps.sort(key=lambda step: (step.at, step.kind != "escalate"))
        if not self.never_times_out:
            steps = [step for step in steps if step.at < self.deadline]
        return steps

    def due_steps(self, now: float) -> list[Step]:
        """The steps due by `now` not told yet."""
        return [step for step in self.steps()[self.nudged :] if step.at <= now]

    def next_step_at(self, told: int) -> float | None:
        """When the step after the first `told` is due (None: no more)."""
        steps = self.steps()
        return steps[told].at if told < len(steps) else None

    @property
    def copy_cards(self) -> list[tuple[str, str]]:
        """(channel, ts) of each posted copy of the card (in direct messages)."""
        found = (copy.partition("/") for copy in self.copies)
        return [(channel, ts) for channel, _, ts in found if channel and ts]

    def may_decide(self, user: str, *, in_groups: bool = False) -> bool:
        """Whether `user` may decide this approval now, by the decide step's rules (the step itself
        checks them again when they do): pending; not its run's requester unless the channel allows
        it; one of its approvers (`in_groups`: a member of one of its user groups) or anyone when none
        are named; and not already counted in its quorum."""
        if not self.pending or user in self.voters:
            return False
        if user == self.requester and not self.allow_self_approval:
            return False
        return not self.approvers or user in self.approvers or in_groups

    def may_decide_for(self, user: str, principal: str, *, in_groups: bool = False) -> bool:
        """Whether `user`, a delegate of `principal` (away), may decide this approval for them now: as
        the decide step rules, `principal` may decide it, and `user` is not its run's requester (unless
        the channel allows it) and has not voted in its quorum already, for themselves or anyone."""
        if user == self.requester and not self.allow_self_approval:
            return False
        acted = user in self.voters or any(pair.endswith(":" + user) for pair in self.proxies)
        return not acted and self.may_decide(principal, in_groups=in_groups)

    def decision(self) -> Decision:
        """The decision as the agent gets it, bound to the digest of what the reviewer saw."""
        outcome: Outcome = "cancelled" if self.status == "pending" else self.status
        timeout_outcome: TimeoutOutcome = "approve" if self.timeout_outcome == "approve" else "reject"
        feedback = self.feedback
        if outcome == "timed_out" and not feedback:
            feedback = f"no decision within {format_duration(self.timeout_seconds)}"
        return Decision(
            approval_id=self.id,
            outcome=outcome,
            decided_by=self.decided_by,
            feedback=feedback,
            timeout_outcome=timeout_outcome,
            digest=self.digest,
        )


@dataclass(frozen=True, slots=True)
class AwayState:
    """Someone away until `until`, and who decides for them meanwhile."""

    user: str
    until: float
    delegate: str  # "" when nobody decides for them
    since: float


def json_objects(text: str) -> list[dict[str, Any]]:
    """The objects of a field kept as a JSON list (a record's `artifacts`, `assurances`, `hidden`), in order; [] when
    it is empty, unreadable or not a list."""
    try:
        found = json.loads(text) if text else []
    except (ValueError, RecursionError):
        found = []
    return [item for item in found if isinstance(item, dict)] if isinstance(found, list) else []


def hidden_list(text: str) -> list[dict[str, str]]:  # a record's `hidden` (or `edit_hidden`), read
    return cast("list[dict[str, str]]", json_objects(text))
