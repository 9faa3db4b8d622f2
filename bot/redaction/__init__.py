"""Redaction: the values an approval must not show, hidden where it is opened and ended with it (#68).

    hiding.py      `Hiding`: hidden values found once as an approval opens (detectors, a policy's @redact, a
                   writeOnly field), stored redacted, sealed apart, restored for an edit, ended with the approval;
                   free text through the one door (`Hiding.text`)

The decision chain's end (bot/approvals/chain.py) stores what `Hiding` redacted (it needs the answer before the
record is written: a direct call); what ends with a decision (the sealed values dropped) listens to the approval
events (bot/approvals/events.py, the listeners listed by bot/root.py).

May import: `bot.core`, `bot.store` and `agents`. Never the approval core or a surface."""

from bot.redaction.hiding import Hiding

__all__ = ["Hiding"]
