"""What a person is told when their click or form decided nothing (or only counted a vote), pure."""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.attestations import refusal_words
from bot.core.oversight import DETAILS_WORDS
from bot.core.records import ApprovalRecord
from bot.slack.blocks import people_refs, safe, user_ref
from bot.slack.blocks.text import NO_NAMES, Names
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


def step_up_text(url: str | None) -> str:
    """What a person whose Approve needs their passkey (step-up) is told: the one-time link that confirms it, or,
    with no passkey (`url` None), how to set one up. Nothing has changed yet either way."""
    if url is None:
        return ("Approving this needs your passkey, and you have none yet: open this app's Home, *Passkeys* →"
                " *Set up a passkey*, then click Approve again. Nothing changed.")
    return (f"Approving this needs your passkey: <{url}|confirm it with your passkey>. The page shows the exact"
            " action; the link works once, for 5 minutes, and only for you. Your approval counts once you confirm;"
            " nothing changed yet.")


_GONE = "This approval is no longer known (it expired or was removed). Nothing changed."
# the refusals said the same whatever the approval
_SAID: dict[str, str] = {
    "other_workspace": ("This approval belongs to another Slack workspace: only its own people decide it (or, in one"
                        " Enterprise Grid organisation, people its approvers name). Nothing changed."),
    "mismatch": "This button does not belong to this card. Nothing changed.",
    "late": STORAGE_DOWN,  # Redis ran the click after this worker stopped waiting for it
    "step_up": "Approving this needs your passkey: approve it on its own, from its card or your Home. Nothing changed.",
    "details": (f"{DETAILS_WORDS}: its policy counts an Approve only once you opened them (Details on its card, or"
                " its page). Nothing changed."),
}


def refusal_text(result: DecideResult, *, missing: Sequence[str] = (), names: Names = NO_NAMES) -> str:
    """What to tell a person whose click or form decided nothing (or only counted a vote); `missing`: user groups
    among the approvers that Slack says do not exist; `names`: Teams-only people by name (`user_ref`)."""
    approval, status = result.approval, result.status
    if status in _SAID:
        return _SAID[status]
    if status == "self":
        return _self_text(approval)
    if status == "attestation":  # fit to decide: the words to get one (bot/core/attestations.py)
        return refusal_words(result.attest, page=result.page)
    if status == "policy":  # a decider policy refused the vote (bot/approvals/decider_policies.py)
        return f"{safe(result.refused, 1000)}. Nothing changed."
    if status == "frozen":
        why = f" ({safe(result.frozen, 400)})" if result.frozen else " (`/agent status` says why and who)"
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
        return _not_allowed_text(approval, missing, names)
    if status == "already":
        return _already_text(approval, names)
    return _GONE


def _self_text(approval: ApprovalRecord | None) -> str:
    if approval is not None and approval.policy_reason:
        return ("You asked for this, so you cannot decide it: a policy routed it to other people (whoever asks"
                " never decides what an operator's policy routes). Nothing changed.")
    return (
        "You started this run, so you cannot decide its approvals (this channel's allow_self_approval"
        " is false). Nothing changed."
    )


def _not_allowed_text(approval: ApprovalRecord, missing: Sequence[str], names: Names) -> str:
    said = f"Only {people_refs(approval.approvers, names)} may decide this approval. Nothing changed."
    if missing:
        said += (f" Slack knows no user group {', '.join(missing)}: ask an admin to fix the approvers (a policy's"
                 " @approvers or the channel's `approvers`), or to cancel it.")
    return said


def _already_text(approval: ApprovalRecord, names: Names) -> str:
    if approval.status == "timed_out":
        return "Too late: this approval already timed out."
    by = f" by {user_ref(approval.decided_by, names)}" if approval.decided_by not in ("", "system", "timeout") else ""
    why = f" ({safe(approval.feedback, 200)})" if approval.status == "cancelled" and approval.feedback else ""
    return f"This approval was already {ALREADY.get(approval.status, approval.status)}{by}{why}. Nothing changed."


CANNOT_CHECK = (
    "The bot could not check your account with Slack right now, so nothing was done. Try again in a moment."
)


NOT_ADDED = (
    "This app is approved for your Enterprise Grid organisation but not added to your workspace, so nothing was"
    " done. An org admin adds it to your workspace in the organisation's app settings."
)


def outsider_text(why: str, workspace: str) -> str:
    """What someone who may not act here (`rights.outsider`'s reason) is told; `workspace` is the installing one."""
    where = safe(workspace, 80) or "the workspace this app is installed in"
    if why == "external":
        return (
            f"Only people of {where} may act on these approvals; your account belongs to another Slack organization"
            " (a channel shared with it shows its cards too). Nothing was done. An admin can allow your team by id"
            " (EXTERNAL_TEAMS)."
        )
    if why == "guest":
        return (
            "Guest accounts may not act on these approvals. Nothing was done. An admin can allow you by id"
            " (ALLOWED_GUESTS)."
        )
    if why == "deactivated":
        return "Your account is deactivated in this workspace, so nothing was done."
    return f"Slack does not know your account as one of {where}, so nothing was done."
