"""What a person is told when their click or form decided nothing (or only counted a vote), pure: the words are the
core's, and how a person, a group, an untrusted string, a link or a command is written is the surface's `Writing`
(bot/approvals/ports.py), which the caller gives: Slack's mrkdwn (bot/slack/refusals.py, which Slack's listeners
call), plain text for Teams' cards (bot/msteams/cards.py `TeamsWriting`) and the e-mail page (bot/core/writing.py)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.approvals.attesting import brief_words, command
from bot.approvals.ports import Writing
from bot.core.oversight import DETAILS_WORDS
from bot.core.records import ApprovalRecord
from bot.store import DecideResult, StoreUnavailable, StoreWriteRefused

WHO_NAMES_ADMINS = (  # plain text: a modal's error shows it too
    "the operator names the first in ADMIN_USERS (the bot's environment); an admin names others with"
    " /agent config admins @people"
)
STORAGE_DOWN = "The bot cannot reach its storage right now, so nothing was recorded. Try again in a moment."
STORAGE_REFUSING = ("The bot's storage refuses writes right now (it is full), so nothing was recorded."
                    " Try again in a moment.")


def storage_words(error: StoreUnavailable) -> str:
    """What a person whose click `error` stopped is told: the storage unreachable, or refusing writes (full, or
    unable to persist: `StoreWriteRefused`); either way nothing was recorded and a moment later may work."""
    return STORAGE_REFUSING if isinstance(error, StoreWriteRefused) else STORAGE_DOWN
ALREADY = {
    "approved": "approved",
    "rejected": "rejected",
    "revised": "sent back for revision",
    "timed_out": "timed out",
    "cancelled": "cancelled",
}


def step_up_text(url: str | None, *, writing: Writing) -> str:
    """What a person whose Approve needs their passkey (step-up) is told: the one-time link that confirms it, or,
    with no passkey (`url` None), how to set one up. Nothing has changed yet either way."""
    if url is None:
        return (f"Approving this needs your passkey, and you have none yet: open this app's Home,"
                f" {writing.bold('Passkeys')} → {writing.bold('Set up a passkey')}, then click Approve again."
                " Nothing changed.")
    return (f"Approving this needs your passkey: {writing.link(url, 'confirm it with your passkey')}. The page"
            " shows the exact action; the link works once, for 5 minutes, and only for you. Your approval counts once"
            " you confirm; nothing changed yet.")


_GONE = "This approval is no longer known (it expired or was removed). Nothing changed."
# the refusals said the same whatever the approval
_SAID: dict[str, str] = {
    "other_workspace": ("This approval belongs to another Slack workspace: only its own people decide it (or, in one"
                        " Enterprise Grid organisation, people its approvers name). Nothing changed."),
    "mismatch": "This button does not belong to this card. Nothing changed.",
    "unspread": ("A freeze or an unfreeze is still reaching this approval's workspace, so it cannot be approved for a"
                 " moment: try again shortly. Reject still works. Nothing changed."),
    "late": STORAGE_DOWN,  # Redis ran the click after this worker stopped waiting for it
    "step_up": "Approving this needs your passkey: approve it on its own, from its card or your Home. Nothing changed.",
    "details": (f"{DETAILS_WORDS}: its policy counts an Approve only once you opened them (Details on its card, or"
                " its page). Nothing changed."),
}


def refusal_text(result: DecideResult, *, writing: Writing, missing: Sequence[str] = ()) -> str:
    """What to tell a person whose click or form decided nothing (or only counted a vote), in the surface's
    `writing`; `missing`: user groups among the approvers that Slack says do not exist."""
    approval, status = result.approval, result.status
    if status in _SAID:
        return _SAID[status]
    if status == "self":
        return _self_text(approval)
    if status == "attestation":  # fit to decide: the words to get one (bot/core/attestations.py)
        return _attestation_text(result.attest, page=result.page, writing=writing)
    if status == "policy":  # a decider policy refused the vote (bot/approvals/decider_policies.py)
        return f"{writing.untrusted(result.refused, 1000)}. Nothing changed."
    if status == "frozen":
        why = (f" ({writing.untrusted(result.frozen, 400)})" if result.frozen
               else f" ({writing.code('/agent status')} says why and who)")
        return (f"Frozen: an admin froze approvals in this approval's scope{why}, so it cannot be approved until"
                " they unfreeze it. Reject still works. Nothing changed.")
    if approval is None:
        return _GONE
    if status == "vote":
        return f"Your approval is counted: {len(approval.voters)} of {approval.required_approvals}."
    if status == "duplicate":
        return (
            f"Your approval already counts ({len(approval.voters)} of {approval.required_approvals});"
            " another approver must approve. Nothing changed."
        )
    if status == "not_allowed":
        return _not_allowed_text(approval, missing, writing)
    if status == "already":
        return _already_text(approval, writing)
    return _GONE


def _self_text(approval: ApprovalRecord | None) -> str:
    if approval is not None and approval.policy_reason:
        return ("You asked for this, so you cannot decide it: a policy routed it to other people (whoever asks"
                " never decides what an operator's policy routes). Nothing changed.")
    return (
        "You started this run, so you cannot decide its approvals (this channel's allow_self_approval"
        " is false). Nothing changed."
    )


def _attestation_text(scope: str, *, page: str, writing: Writing) -> str:
    """`refusal_words` of bot/core/attestations.py (the audit's words, mrkdwn) in the surface's writing."""
    what = brief_words(scope, writing)
    read = f"read {what} ({writing.link(page, 'open it')}) and attest there, or" if page else f"read {what}, then"
    return (f"Deciding this needs your current attestation to {what}: {read} type {command(scope, writing)}."
            " Nothing changed.")


def _not_allowed_text(approval: ApprovalRecord, missing: Sequence[str], writing: Writing) -> str:
    said = f"Only {writing.people(approval.approvers)} may decide this approval. Nothing changed."
    if missing:
        said += (f" Slack knows no user group {', '.join(missing)}: ask an admin to fix the approvers (a policy's"
                 f" @approvers or the channel's {writing.code('approvers')}), or to cancel it.")
    return said


def _already_text(approval: ApprovalRecord, writing: Writing) -> str:
    if approval.status == "timed_out":
        return "Too late: this approval already timed out."
    by = f" by {writing.person(approval.decided_by)}" if approval.decided_by not in ("", "system", "timeout") else ""
    why = (f" ({writing.untrusted(approval.feedback, 200)})" if approval.status == "cancelled" and approval.feedback
           else "")
    return f"This approval was already {ALREADY.get(approval.status, approval.status)}{by}{why}. Nothing changed."


CANNOT_CHECK = (
    "The bot could not check your account with Slack right now, so nothing was done. Try again in a moment."
)


NOT_ADDED = (
    "This app is approved for your Enterprise Grid organisation but not added to your workspace, so nothing was"
    " done. An org admin adds it to your workspace in the organisation's app settings."
)
