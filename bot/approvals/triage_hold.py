"""A triage model's approval held before it is final (TRIAGE_HOLD, #92 item 3): "a way for the route's admins to
reverse it while the run waits".

Not a decision taken and then undone: the ask stays pending through the hold (its program waits, nothing it allows
can have happened), its card says "Approved by the triage model (low risk: ...), final at HH:MM:SS UTC" with a
**Reverse** button, and at the hold's end the worker that read it takes the model's decision through the one decide
entry (`Decisions.decide_as_model`). Reverse (`reverse_triage`, every surface's through the core's one step,
`ApprovalService.reverse_triage`: the Slack card, the Teams card, the e-mail and push page): only the channel's admins
(its `admins`, ADMIN_USERS), whichever surface they click on; anyone else is refused with a clear message and an audit
entry (`refused`, naming who and on which surface); an admin's reversal is one
store step (lua/triage_reverse.lua: `triage_reversed` on the approval, its note, its card due a redraw, audited
`triage_reversed` naming the admin), after which the decide step refuses the model's decision (`reversed`) and the
ask is an ordinary pending approval for people. A person may also decide it during the hold (the model's decision
then finds it decided). A worker gone during the hold leaves the ask pending, to people: never approved without
its hold, never twice.

    hold_words(said, until)                          what the card says during the hold
    reverse_triage(store, is_admin, user=, approval_id=, surface=)  an admin's Reverse (or the refusal): a `Reversal`
                                                     (its status, the words to answer)
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from bot.store import Store, persistently

NOTE_CHARS = 400


def hold_words(said: str, until: float) -> str:
    """The held approval's note: the model's words and when it is final."""
    final = time.strftime("%H:%M:%S UTC", time.gmtime(until))
    return f"{said}, final at {final} unless a channel admin reverses it"[:NOTE_CHARS]


@dataclass(frozen=True, slots=True)
class Reversal:
    """What came of a Reverse: `status` ("ok", "refused", or "decided", "reversed", "not_held", "missing": nothing
    changed) and the words the person is told."""

    status: str
    words: str


GONE: Final = "That approval is gone."


async def reverse_triage(store: Store, is_admin: Callable[[str, str], Awaitable[bool]], *, user: str,
                         approval_id: str, surface: str) -> Reversal:
    """`user`'s Reverse of the model's held approval `approval_id`, clicked on `surface`: what came of it. The
    approval's channel's admins only: anyone else is refused and audited (`refused`, action `triage_reverse`, by them,
    on `surface`)."""
    approval = await store.approvals.get(approval_id)
    if approval is None:
        return Reversal("missing", GONE)
    channel = approval.origin_channel or approval.card_channel
    if not await is_admin(user, channel):
        await persistently(lambda: store.audit.append(
            "refused", by=user, approval=approval_id, action="triage_reverse", origin_channel=channel,
            reason="not an admin of the channel", surface=surface), what="auditing a refused reversal")
        return Reversal("refused", "Only this channel's admins may reverse a triage model's approval: ask one of"
                        " them, or decide it yourself (Approve or Reject). Nothing changed.")
    note = f"The triage model's approval was reversed by {user}: people decide. ({approval.triage})"[:NOTE_CHARS]
    done = await persistently(lambda: store.triage_holds.reverse(
        approval_id, by=user, note=note,
        audit={"origin_channel": channel, "triage": approval.triage[:200], "surface": surface}),
        what="reversing a triage model's approval")
    return Reversal(done, {"ok": "Reversed: the triage model's approval will not take effect; people decide this ask.",
                           "decided": "It is decided already: nothing to reverse.",
                           "reversed": "It was reversed already: people decide this ask.",
                           "not_held": "No triage model's approval is held on this ask: nothing to reverse.",
                           }.get(done, GONE))
