"""The Approvals API's answers as a program reads them: `Approval` (an approval as the API shows it, with its
decision in words), `Use` (a use's answer), `AllowedCall` (a call the program's allow-list let through), and the
words a model reads when a call does not run (`refusal`) or waits (`waiting_words`).

`agent_approvals.client` names each of them too (its callers import them from there)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent_approvals.approver import Decision, Outcome, encode_revision, not_run


@dataclass(frozen=True, slots=True)
class Approval:
    """An approval as the API shows it: each field of the document's `Approval` (`GET /api/v1/openapi.json`), named
    and typed as there (a test holds them to it); a field an older bot does not send takes its default."""

    id: str
    status: str  # pending | approved | rejected | revised | timed_out | cancelled
    title: str = ""
    decided_by: str = ""  # a Slack user id; "rule R7", "auto" (the input mode), "timeout" or "system"
    decided_by_name: str = ""  # the reviewer's Slack display name, when the API sends it
    on_behalf_of: str = ""
    decided_at: str | None = None
    reason: str = ""
    feedback: str = ""
    timeout_outcome: str = ""
    tool: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)
    edited: bool = False  # a revision that edited the arguments (`arguments` are the edited ones)
    digest: str = ""
    card_url: str = ""
    expires_at: str = ""
    receipt: str | None = None  # a signed receipt (`agent_approvals.receipts`) when it allows a call and the bot signs
    who: str = ""  # who decided, in words, as the bot says it: "@bob", "rule R1", "the input mode"; "" while pending
    refusal: str | None = None  # what a model reads when the call does not run, as the bot says it (`refusal`)
    workflow: dict[str, Any] = field(default_factory=dict)  # the durable workflow that asked, as asked
    approved_by: list[str] = field(default_factory=list)  # a quorum's votes that counted, in order
    policy: dict[str, Any] | None = None  # the policies that decided or routed it (`PolicyClaim`)
    code: str | None = None  # "frozen": refused at once, its scope frozen by an admin
    used_at: str = ""  # when its program used it (ran it)
    arguments_redacted: bool = False  # values of `arguments` are hidden (`hidden` lists them)
    hidden: list[dict[str, Any]] = field(default_factory=list)  # the values hidden from people (`HiddenValue`)
    # the ask's artefacts: kind, sha256 (path); one a reviewer edited whole, with `edited: true` (`edited_artifacts`)
    artifacts: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Approval:
        known = {name: body[name] for name in cls.__dataclass_fields__ if name in body and body[name] is not None}
        return cls(**known)

    @property
    def pending(self) -> bool:
        return self.status == "pending"

    @property
    def approved(self) -> bool:
        """Whether the agent may go ahead (approved, or timed out where the channel's timeout approves)."""
        return self.status == "approved" or (self.status == "timed_out" and self.timeout_outcome == "approve")

    @property
    def edited_artifacts(self) -> list[dict[str, Any]]:
        """The artefacts a reviewer edited (Revise: a message's body, a file's new text), whole, each with its new
        `sha256` (what the receipt binds): apply these as they are, not the ones asked with."""
        return [artifact for artifact in self.artifacts if artifact.get("edited") is True]

    @property
    def rule(self) -> str:
        """The id of the "always allow" rule that decided ("R1"), else ""."""
        kind, _, rule_id = self.decided_by.partition(" ")
        return rule_id.strip() if kind == "rule" else ""

    @property
    def at_once(self) -> bool:
        """Decided when asked, by a rule, the input mode or the bot's policies (no person saw a card)."""
        return bool(self.rule) or self.decided_by in ("auto", "policy")

    @property
    def summary(self) -> str:
        """The decision in words: "approved by @bob", "rejected by @bob: <reason>", "approved by rule R1
        (auto-approved by rule R1)", "timed out: rejected (<reason>)"; "pending" while nobody decided."""
        if self.pending:
            return "pending"
        if self.status == "timed_out":
            outcome = "approved" if self.approved else "rejected"
            return f"timed out: {outcome} ({self.reason or 'nobody decided in time'})"
        if self.status == "cancelled":
            return f"cancelled ({self.reason or 'withdrawn'})"
        said = self.feedback if self.status == "revised" else self.reason
        verb = "revision asked" if self.status == "revised" else self.status
        line = f"{verb} by {self.who or 'a reviewer'}"
        if said:
            line += f" ({said})" if self.at_once else f": {said}"
        return line

    def decision(self) -> Decision:
        """As an `Approver` answers: a revision that edited a tool call's arguments carries them
        (`encode_revision`), as the bot's own cards do."""
        outcome: Outcome = self.status if self.status != "pending" else "cancelled"  # type: ignore[assignment]
        feedback = self.reason
        if self.status == "revised":
            feedback = encode_revision(self.arguments, self.feedback) if self.edited else self.feedback
        return Decision(
            approval_id=self.id,
            outcome=outcome,
            decided_by=self.decided_by,
            feedback=feedback,
            timeout_outcome="approve" if self.timeout_outcome == "approve" else "reject",
            digest=self.digest,
            decided_by_name=self.decided_by_name.strip().lstrip("@"),
            who=self.who,
            refusal=self.refusal,
        )


@dataclass(frozen=True, slots=True)
class Use:
    """A use's answer (`ApprovalsClient.spend`): `used`, this is the approval's one use (run the call); else another
    process used it (it may have run) and `refusal` is what a model reads, as the bot says it. `approval`: the
    approval as the bot has it now (its answer to a use carries it), None from a bot that sends none."""

    used: bool
    refusal: str = ""
    approval: Approval | None = None


@dataclass(frozen=True, slots=True)
class AllowedCall:
    """A tool call recorded in the bot's audit log as let through by the program's own allow-list
    (`ApprovalsClient.record_allowed`)."""

    id: str
    tool: str
    digest: str  # sha256 of the canonical JSON of its arguments
    allowed_by: str
    recorded_at: str = ""
    status: str = "allowed"

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> AllowedCall:
        return cls(**{name: str(body.get(name, "")) for name in ("id", "tool", "digest", "allowed_by", "recorded_at")},
                   status=str(body.get("status", "allowed")))


def refusal(decided: Approval) -> str:
    """What an agent's model reads when its call does not run: the bot's words (`Approval.refusal`: who refused it
    and why, that nobody decided in time, that it was cancelled, or the revision asked for, quoting edited
    arguments), else, from an older bot that sends none, "Not run: <status>" (`agent_approvals.approver.not_run`)."""
    return decided.refusal or not_run(decided.status, "" if decided.status == "revised" else decided.reason)


def waiting_words(approval: Approval, name: str, limit: float) -> str:
    """What a model reads when its call waits for a person past its harness's patience."""
    where = approval.card_url or f"approval {approval.id}"
    return (f"Not run yet: waiting for approval in Slack: {where}. Call {name} again with the same arguments "
            f"after it is approved (each call waits up to {limit:g} s for the decision); do not change them, "
            "or it is asked about again.")
