"""The small contract between AutoGen and whatever asks a human: the `Approver` protocol.

`agents/` knows nothing of Slack or Redis. It describes what it needs decided (an
`ApprovalRequest`) and what it gets back (a `Decision`); `bot/` implements `Approver`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

Outcome = Literal["approved", "rejected", "revised", "timed_out", "cancelled"]
TimeoutOutcome = Literal["approve", "reject"]
Kind = Literal["message", "tool_call", "code"]

OUTCOMES: tuple[Outcome, ...] = ("approved", "rejected", "revised", "timed_out", "cancelled")
AUTO = "auto"  # `Decision.decided_by` of decisions an input mode made without a human
POLICY = "policy"  # `Decision.decided_by` of what the bot's policies decided at once


def canonical_json(value: Any) -> str:
    """One spelling of a JSON value: sorted keys, no spaces, UTF-8 as is. What a digest is taken of."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def pretty_json(value: Any) -> str:
    """Arguments as a person reads them: indented, keys in the model's order, non-ASCII as is."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def digest_of(value: Any) -> str:
    """sha256 (hex) of the canonical JSON of `value`: binds an approval to exactly what was shown."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """One request for a human decision, as the agents see it.

    Attributes:
        approval_id: stable id (AutoGen's `InputRequestContext.request_id()` where there is one).
        proposal: what the human decides on, taken from the conversation (the latest message
            that is not the human's own).
        author: the agent that wrote the proposal.
        checkpoint: JSON of the team's state when the request was made, if the caller saved it.
        kind: what is decided: a turn of the conversation ("message"), one call of a tool
            ("tool_call") or code about to run ("code").
        tool_name: the tool called (tool_call).
        arguments: the call's arguments as JSON text, exactly as they would run (tool_call).
        arguments_schema: the tool's JSON schema of its arguments, as JSON text (tool_call).
        digest: `digest_of` the arguments (tool_call) or of the code (code); the decision is
            bound to it, and nothing runs if what is about to run has another digest.
        schema_error: why the arguments fail the schema; then approving is not offered.
        why: why a human is asked (the input mode's rule), shown to the reviewer.
        edited_by: who edited the arguments into these (a revision of an earlier call).
        maybe_ran: this exact call was approved and started on a worker that stopped before it
            finished, so it may have run: only a person may approve it again (no remembered rule).
        fixed_arguments: the asking framework can run only the call as made (tool_call): the card says
            so and Revise offers no edit of the arguments.
        artifacts: the change itself (`agent_approvals.artifacts`): JSON text of a list of normalised artefacts,
            each with the `sha256` a receipt binds; "" when the ask carries none.
        claim: the agent's own stated reason for the call (an API ask's `why`): its claim, shown to the reviewer
            as "The agent says: …", never as a fact.
        summary: one plain sentence of what it does, written by a model (the bot's, where MODEL_CONFIG names one):
            shown labelled so; "" when none.
    """

    approval_id: str
    proposal: str
    author: str
    checkpoint: str | None = None
    kind: Kind = "message"
    tool_name: str = ""
    arguments: str = ""
    arguments_schema: str = ""
    digest: str = ""
    schema_error: str = ""
    why: str = ""
    edited_by: str = ""
    maybe_ran: bool = False
    fixed_arguments: bool = False
    artifacts: str = ""
    claim: str = ""
    summary: str = ""


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of an approval.

    `feedback` is the reviewer's revision text, reject reason or approval comment. For
    `timed_out`, `timeout_outcome` says what the timeout means and `feedback` how long we waited.
    `digest` is the digest the decider bound the decision to (see `ApprovalRequest.digest`). A
    revision that edits a tool call's arguments carries them in `feedback` (`encode_revision`).
    Decisions an input mode made without a human have `decided_by == AUTO` and the rule in `feedback`.
    """

    approval_id: str
    outcome: Outcome
    decided_by: str = ""
    feedback: str = ""
    timeout_outcome: TimeoutOutcome = "reject"
    digest: str = ""
    decided_by_name: str = ""  # the decider's display name, when the bot said it (the Approvals API)
    who: str = ""  # who decided, in words ("@bob", "rule R1", "the input mode"), as the bot says it
    refusal: str | None = None  # what a model reads when the call does not run, as the bot says it (`refusal`)

    @property
    def automatic(self) -> bool:
        return self.decided_by == AUTO

    @property
    def approves(self) -> bool:
        """True when the agent may go ahead with its proposal."""
        return self.outcome == "approved" or (self.outcome == "timed_out" and self.timeout_outcome == "approve")

    def reply_text(self) -> str:
        """What the human "typed": the text the input function returns to AutoGen, which the team's
        termination condition and the agents read (APPROVE / REJECT lead it; a revision is the feedback)."""
        if self.outcome == "approved":
            return _with_detail("APPROVE", self.feedback, sep="\n")
        if self.outcome == "rejected":
            return _with_detail("REJECT", self.feedback, sep="\n")
        if self.outcome == "revised":
            return self.feedback
        if self.outcome == "timed_out":
            verdict = "APPROVE" if self.timeout_outcome == "approve" else "REJECT"
            return _with_detail(verdict, self.feedback or "no decision in time", sep=": ")
        return _with_detail("REJECT", self.feedback or "cancelled", sep=": ")


def _with_detail(verdict: str, detail: str, *, sep: str) -> str:
    detail = detail.strip()
    return f"{verdict}{sep}{detail}" if detail else verdict


_REVISION_KEY = "edited_arguments"


def encode_revision(arguments: Any, note: str = "") -> str:
    """A revision that edits a tool call's arguments, as the one feedback string a decision carries.

    The bot stores and sends a decision's feedback as one string; an edit of the arguments travels
    in it as JSON (`{"edited_arguments": {...}, "note": "..."}`), read back with `edited_arguments`.
    """
    return json.dumps({_REVISION_KEY: arguments, "note": note}, ensure_ascii=False, indent=2)


def parse_revision(feedback: str) -> tuple[Any, str] | None:
    """(arguments, note) of a feedback string made by `encode_revision`, else None (plain feedback)."""
    text = feedback.strip()
    if not text.startswith("{") or _REVISION_KEY not in text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or _REVISION_KEY not in data or set(data) - {_REVISION_KEY, "note"}:
        return None
    return data[_REVISION_KEY], str(data.get("note") or "")


def edited_arguments(decision: Decision) -> tuple[str, str] | None:
    """(arguments as JSON text, note) when `decision` is a revision that edited a tool call's arguments."""
    if decision.outcome != "revised":
        return None
    parsed = parse_revision(decision.feedback)
    if parsed is None:
        return None
    return json.dumps(parsed[0], ensure_ascii=False), parsed[1]


def refusal(decision: Decision) -> str:
    """What an agent's model reads when its call does not run on `decision`: the bot's words (`Decision.refusal`,
    the one wording of every integration, said by the bot: `bot.core.verdicts`), else, from an approver that says
    none (an older bot, an input mode deciding in the agent's process), `not_run`."""
    return decision.refusal or not_run(decision.outcome, "" if parse_revision(decision.feedback) else decision.feedback)


def not_run(status: str, said: str = "") -> str:
    """The least a model reads when its call does not run and nobody said more: "Not run: <status>" (and `said`)."""
    said = said.strip()
    return f"Not run: {status}" + (f" ({said})" if said else "")


class ApprovalCancelled(Exception):
    """Raised by the input function when its approval was cancelled (run cancelled or failed)."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(f"approval {decision.approval_id} was cancelled")
        self.decision = decision


class Cancellation(Protocol):
    """What an approver needs of a cancellation token (AutoGen's `CancellationToken` is one)."""

    def is_cancelled(self) -> bool: ...

    def link_future(self, future: asyncio.Future[Any]) -> asyncio.Future[Any]: ...


class Approver(Protocol):
    """Asks a human to decide, and waits for the decision.

    Implementations must honour the cancellation token (cancelling it abandons the wait) and
    must resolve each request exactly once.

    An approver may also have `auto_approved` and `auto_rejected` (`ToldOfAutomaticDecisions`): an input
    mode (`agent_approvals.modes.ModeGate`) then tells it the steps it decided without asking anyone, with
    the rule that decided; the bot writes them to its audit log. Without them the gate just logs them.

    An approver that decides in an order of its own, the input mode one of its steps, is a
    `agent_approvals.modes.DecidesInOrder` (the bot's runs: `ModeGate.in_order`).
    """

    async def request(self, request: ApprovalRequest, cancellation_token: Cancellation | None) -> Decision: ...


@runtime_checkable
class ToldOfAutomaticDecisions(Protocol):
    """An approver that wants to know what an input mode decided without asking anyone."""

    async def auto_approved(self, request: ApprovalRequest, *, rule: str) -> None: ...

    async def auto_rejected(self, request: ApprovalRequest, *, rule: str) -> None: ...


async def tell_automatic(
    approver: object, what: Literal["auto_approved", "auto_rejected"], request: ApprovalRequest, *, rule: str
) -> bool:
    """Tell `approver` of a decision made without a person by `rule` (an input mode's, or a call refused because it
    no longer matches its approval), if it wants to know (`ToldOfAutomaticDecisions`). Returns whether it was told."""
    if not isinstance(approver, ToldOfAutomaticDecisions):
        return False
    told = approver.auto_rejected if what == "auto_rejected" else approver.auto_approved
    await told(request, rule=rule)
    return True


async def ask_within_a_call(
    approver: Approver, request: ApprovalRequest, cancellation_token: Cancellation | None
) -> Decision:
    """`approver.request(...)` from inside a tool call or a code approval: when the run is cancelled
    (its cancellation token), the wait ends as a `cancelled` decision instead of an exception.

    A `CancelledError` that escapes a tool call leaves AutoGen's `AssistantAgent` waiting for the
    tool's result forever (it runs tool calls in a task whose results it reads from a queue), so a
    cancelled run would never end. The agent's next step sees the cancelled token and stops there.
    Any other cancellation is raised as usual.
    """
    try:
        return await approver.request(request, cancellation_token)
    except asyncio.CancelledError:
        if cancellation_token is None or not cancellation_token.is_cancelled():
            raise
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            task.uncancel()
        return Decision(request.approval_id, "cancelled", decided_by="system", feedback="the run was cancelled")


@dataclass(frozen=True, slots=True)
class PastCall:
    """What a run's side-effect ledger remembers of one tool call or code run (by its digest).

    Attributes:
        state: "running" (it started; whether it finished is unknown) or "done" (it ran).
        result: what it returned, as text (done).
        approved_by: who approved it.
        earlier: recorded before the run was taken over by its current worker (a restart or an
            adoption replays the conversation from a checkpoint, and the agent makes the call again).
    """

    state: Literal["running", "done"]
    result: str = ""
    approved_by: str = ""
    earlier: bool = False


class SideEffectLedger(Protocol):
    """Remembers which tool calls and code runs of a run have run, so that none runs twice when the run
    is taken over by another worker and replayed from a checkpoint. An approver offers one as its
    `ledger` attribute (optional: without it, nothing is remembered).

    `recall` looks a call up before anyone is asked; `begin` is told just before it runs and may refuse
    (False: this worker no longer owns the run, so it must not run); `done` is told what it returned.
    """

    async def recall(self, request: ApprovalRequest) -> PastCall | None: ...

    async def begin(self, request: ApprovalRequest, decision: Decision) -> bool: ...

    async def done(self, request: ApprovalRequest, result: str) -> None: ...


def ledger_of(approver: object) -> SideEffectLedger | None:
    """The ledger an approver (or the approver a `ModeGate` wraps) offers, if any."""
    seen = 0
    while approver is not None and seen < 5:
        ledger = getattr(approver, "ledger", None)
        if ledger is not None:
            return ledger  # type: ignore[no-any-return]
        approver, seen = getattr(approver, "inner", None), seen + 1
    return None
