"""Human input modes: when a human is asked, and what is decided without one.

AutoGen's classic `human_input_mode` (ALWAYS, TERMINATE, NEVER) and tiered autonomy (a card only
for risky steps), as a wrapper around any `Approver`. One `ModeGate` per run sees every request of
that run: the user proxy's turns (kind "message", through `make_input_func`) and the calls of tools
wrapped with `require_approval` or code about to run (kinds "tool_call" and "code").

- `always`: every user proxy turn, tool call and piece of code is a card.
- `terminate`: the user proxy answers "continue" until the assistant says TERMINATE or
  `max_auto_replies` automatic replies have passed, then a card. Tool calls and code: a card.
- `never`: "continue"; the run ends (APPROVE) when the assistant says TERMINATE or after
  `max_auto_replies`. Tool calls and code that need approval are refused: nobody is asked.
- `policy`: a card when the message (or the tool's name and arguments) matches a risk word, every
  `checkpoint_every` automatic steps, or after `max_auto_replies`; everything else is approved.
  Code is always a card.

Automatic decisions are reported to the approver (`auto_approved` / `auto_rejected`) with the rule
that made them. The count of automatic steps restarts after every human answer.

An approver with an order of deciders of its own, in which the mode is one step (the Slack bot: its policies,
then "always allow" rules, then the mode, then a person), gets the mode's verdict instead of the gate deciding by
it first: `ModeGate.in_order(approver, policy)`, the approver a `DecidesInOrder`.

When a human rejects or revises a tool call or code during an agent's turn, the user proxy's next
turn repeats that decision instead of asking again: a rejected email ends the run as rejected, a
revision goes back to the agent as the human's words.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

from agent_approvals.approver import (
    AUTO,
    POLICY,
    ApprovalRequest,
    Approver,
    Cancellation,
    Decision,
    edited_arguments,
    tell_automatic,
)

log = logging.getLogger(__name__)

Mode = Literal["always", "terminate", "never", "policy"]
MODES: tuple[Mode, ...] = ("always", "terminate", "never", "policy")
DEFAULT_MODE: Mode = "always"
DEFAULT_MAX_AUTO_REPLIES = 10
MAX_AUTO_REPLIES_LIMIT = 100
CHECKPOINT_EVERY_LIMIT = 100
DEFAULT_RISK_WORDS: tuple[str, ...] = (
    "delete",
    "drop table",
    "deploy",
    "send email",
    "payment",
    "refund",
    "git push",
    "production",
)
CONTINUE = "continue"
MODE_DESCRIPTIONS: dict[str, str] = {
    "always": "every turn of the human is a card",
    "terminate": "the agents go on by themselves until one says TERMINATE or max_auto_replies pass, then a card",
    "never": "no card; max_auto_replies ends the run; tools and code that need approval are refused",
    "policy": "a card only for risk words, checkpoints and code; the rest is approved and audited",
}

# why a person is asked about a call or message that matches a risk word: the one sentence, written here only; the bot
# loads its shipped default policy (bot/policy/defaults/input_mode.cedar) with this as its @reason
RISK_WORD_REASON = "matched the risk word “{risk_word}”"

_TERMINATE = re.compile(r"\bTERMINATE\b")
_SEPARATORS = re.compile(r"[\s_\-]+")


def normalize(text: str) -> str:
    """Lower case, with `_`, `-` and runs of white space as one space: `send_email` reads `send email`."""
    return _SEPARATORS.sub(" ", text.lower()).strip()


def parse_mode(value: str | None) -> Mode:
    """A mode from a stored or typed value; anything unknown is `always` (the safe default)."""
    lowered = (value or "").strip().lower()
    for mode in MODES:
        if lowered == mode:
            return mode
    return DEFAULT_MODE


def matched_risk_word(text: str, risk_words: Sequence[str]) -> str | None:
    """The first risk word that starts a word of `text` (case, `_` and `-` ignored), if any.

    "deploy" matches "Deploying to production"; "send email" matches `send_email`; "drop table"
    matches "DROP   TABLE users".
    """
    haystack = normalize(text)
    for word in risk_words:
        needle = normalize(word)
        if needle and re.search(r"(?<![a-z0-9])" + re.escape(needle), haystack):
            return word
    return None


def risk_words_setting(value: str | None) -> tuple[str, ...]:
    """Risk words from a stored channel setting: unset or "default": the defaults; "none": none;
    otherwise comma-separated phrases."""
    text = (value or "").strip()
    if text.lower() in ("", "default"):
        return DEFAULT_RISK_WORDS
    if text.lower() == "none":
        return ()
    return tuple(dict.fromkeys(w.strip() for w in text.split(",") if w.strip()))


def says_terminate(text: str) -> bool:
    return bool(_TERMINATE.search(text))


@dataclass(frozen=True, slots=True)
class InputPolicy:
    """A run's input mode and its knobs (from the channel's settings, or `--mode`)."""

    mode: Mode = DEFAULT_MODE
    max_auto_replies: int = DEFAULT_MAX_AUTO_REPLIES
    risk_words: tuple[str, ...] = DEFAULT_RISK_WORDS
    checkpoint_every: int = 0  # 0: off


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the gate does with one request: ask a human (`decision is None`) or decide by `rule`."""

    rule: str
    decision: Decision | None = None


def verdict(request: ApprovalRequest, policy: InputPolicy, *, automatic: int = 0, program: bool = False) -> Verdict:
    """The input mode's verdict on one request, pure: ask a person (`decision is None`; `rule` says why, maybe "")
    or decide now by `rule`. The one table, for a run's `ModeGate` and for a program's asks at the bot
    (`bot/approvals/opening.py`). `automatic` counts the automatic steps in a row (a run's gate keeps the count).
    A program's ask (`program=True`, the Approvals API) is no user proxy's turn: its message is a proposal, asked
    about under `always` and `terminate`, approved under `never` and, with no risk word, under `policy`; never
    answered "continue"."""
    mode, cap = policy.mode, policy.max_auto_replies
    if request.kind == "code":
        if mode == "never":
            return _auto(request, "rejected", "mode never: nobody is asked, so code does not run")
        return Verdict("")
    if request.kind == "tool_call":
        if mode == "never":
            rule = f"mode never: nobody is asked, so {request.tool_name or 'the tool'} (needs approval) does not run"
            return _auto(request, "rejected", rule)
        if mode != "policy":
            return Verdict("")
        return _policy(request, f"{request.tool_name} {request.arguments}", policy, automatic)
    text = request.proposal
    if mode == "always" or (program and mode == "terminate"):
        return Verdict("")
    if program and mode == "never":
        return _auto(request, "approved", "mode never: nobody is asked")
    if mode == "terminate":
        if says_terminate(text):
            return Verdict("the assistant said TERMINATE")
        if automatic >= cap:
            replies = _steps(automatic, "automatic reply", "automatic replies")
            return Verdict(f"{replies} in a row (max_auto_replies {cap})")
        return _auto(request, "revised", f"mode terminate: automatic reply {automatic + 1} of {cap}", CONTINUE)
    if mode == "never":
        if says_terminate(text):
            return _auto(request, "approved", "mode never: the assistant said TERMINATE, so the run ends")
        if automatic >= cap:
            return _auto(request, "approved", f"mode never: max_auto_replies ({cap}) reached, so the run ends")
        return _auto(request, "revised", f"mode never: automatic reply {automatic + 1} of {cap}", CONTINUE)
    return _policy(request, text, policy, automatic)


def _policy(request: ApprovalRequest, text: str, policy: InputPolicy, count: int) -> Verdict:
    word = matched_risk_word(text, policy.risk_words)
    if word is not None:
        return Verdict(RISK_WORD_REASON.format(risk_word=word))
    if policy.checkpoint_every and count >= policy.checkpoint_every:
        every = policy.checkpoint_every
        return Verdict(
            f"checkpoint: {_steps(count, 'automatic step', 'automatic steps')} in a row (checkpoint_every {every})"
        )
    if count >= policy.max_auto_replies:
        cap = policy.max_auto_replies
        return Verdict(f"{_steps(count, 'automatic step', 'automatic steps')} in a row (max_auto_replies {cap})")
    what = "tool call" if request.kind == "tool_call" else "message"
    return _auto(request, "approved", f"mode policy: the {what} matched no risk word")


def _auto(request: ApprovalRequest, outcome: Literal["approved", "rejected", "revised"], rule: str,
          text: str = "") -> Verdict:
    decision = Decision(request.approval_id, outcome, decided_by=AUTO, feedback=text or rule, digest=request.digest)
    return Verdict(rule, decision)


@dataclass
class _Counters:
    automatic: int = 0  # automatic steps since the last human answer
    carried: Decision | None = field(default=None)  # a human's no to a tool call / code, for the proxy's next turn


class DecidesInOrder(Approver, Protocol):
    """An approver with its own order of deciders, the input mode one of them (the bot's runs: its policies, then
    "always allow" rules, then the mode, then a person): `decide` gets each request with the mode's `Verdict`."""

    async def decide(
        self, request: ApprovalRequest, mode: Verdict, cancellation_token: Cancellation | None
    ) -> Decision: ...


class ModeGate:
    """An `Approver` that applies an `InputPolicy` in front of another `Approver`.

    Share one gate between the input function and the tools of a run (`build_team(..., approver=gate)`),
    so counts and carried decisions are per run. `ModeGate(approver)`: the mode decides first, `approver` is asked
    what it leaves to a person; `ModeGate.in_order(approver)`: `approver` decides, the mode's verdict in hand.
    """

    def __init__(self, approver: Approver, policy: InputPolicy | None = None):
        self._approver = approver
        self.policy = policy or InputPolicy()
        self._counters = _Counters()
        self._decide: Callable[[ApprovalRequest, Verdict, Cancellation | None], Awaitable[Decision]] = self._mode_first

    @classmethod
    def in_order(cls, approver: DecidesInOrder, policy: InputPolicy | None = None) -> ModeGate:
        """A gate that keeps the run's count and carried refusals and hands each request, with the mode's verdict,
        to `approver`, who decides in its own order."""
        gate = cls(approver, policy)
        gate._decide = approver.decide
        return gate

    @property
    def inner(self) -> Approver:
        return self._approver

    def verdict(self, request: ApprovalRequest) -> Verdict:
        """Ask (`decision is None`, `rule` says why, maybe "") or decide now (`verdict`, with this run's count)."""
        return verdict(request, self.policy, automatic=self._counters.automatic)

    async def request(self, request: ApprovalRequest, cancellation_token: Cancellation | None) -> Decision:
        counters = self._counters
        if request.kind == "message" and counters.carried is not None:
            carried, counters.carried = counters.carried, None
            return replace(carried, approval_id=request.approval_id, digest="")
        decision = await self._decide(request, self.verdict(request), cancellation_token)
        # the steps decided without a person in a row: the mode's and the policies'; a person's answer restarts it
        counters.automatic = counters.automatic + 1 if decision.decided_by in (AUTO, POLICY) else 0
        if request.kind != "message" and not decision.approves and decision.outcome != "cancelled":
            if edited_arguments(decision) is None:  # an edit goes on as a new request for the same call
                counters.carried = decision
        return decision

    async def _mode_first(
        self, request: ApprovalRequest, mode: Verdict, cancellation_token: Cancellation | None
    ) -> Decision:
        """The mode decides, telling the approver; what it leaves to a person, the approver asks (with the rule)."""
        if mode.decision is not None:
            rejected = mode.decision.outcome == "rejected"
            await self.tell("auto_rejected" if rejected else "auto_approved", request, rule=mode.rule)
            return mode.decision
        if mode.rule and not request.why:
            request = replace(request, why=mode.rule)
        return await self._approver.request(request, cancellation_token)

    async def tell(
        self, what: Literal["auto_approved", "auto_rejected"], request: ApprovalRequest, *, rule: str
    ) -> None:
        """Tell the approver about a decision made without a human (if it wants to know)."""
        if not await tell_automatic(self._approver, what, request, rule=rule):
            log.info("%s %s: %s", what, request.approval_id, rule)

    async def auto_approved(self, request: ApprovalRequest, *, rule: str) -> None:
        await self.tell("auto_approved", request, rule=rule)

    async def auto_rejected(self, request: ApprovalRequest, *, rule: str) -> None:
        """A tool or the code agent refused to run something by `rule` (e.g. a digest mismatch): the
        user proxy's next turn repeats the refusal, so the run ends rejected."""
        if request.kind != "message":
            self._counters.carried = Decision(request.approval_id, "rejected", decided_by=AUTO, feedback=rule)
        await self.tell("auto_rejected", request, rule=rule)


def _steps(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"
