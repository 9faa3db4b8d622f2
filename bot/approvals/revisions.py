"""A reviewer's Revise of a tool call's arguments, one way for every surface (the Slack modal's JSON box and field
form, the Teams card's Revise form): as JSON (`of_json`) the text typed checked (its size, how deep it nests, JSON
with the line and column where it is not, unchanged or not, the tool's schema), or one field each (`of_fields`,
bot/core/field_edits.py); the hidden values left as their masks put back whole and new ones hidden
(bot/redaction/hiding.py: `restore`, `keep_edit`), and the feedback the agent gets (`encode_revision`).

Each step answers words (str: why nothing was sent, which the surface shows where its form says it) or what comes
next. Nothing is decided here: the surface sends the `Revision` through the core's one door
(`Decisions.decide`, verb "revise", its `edit_hidden`), so the agent asks again about the edited call, on a
card of its own."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent_approvals.approver import canonical_json, encode_revision
from agent_approvals.schemas import schema_problem

from bot.core.documents import MAX_DEPTH, too_deep
from bot.core.field_edits import UNKNOWN_SCHEMA, editable_fields, edited_fields, schema_of
from bot.core.records import ApprovalRecord
from bot.core.sensitive import shown_name
from bot.redaction import Hiding

MAX_ARGUMENTS_CHARS = 3000  # the arguments as typed (Slack's input takes no more)
NOT_KNOWN = "This approval is no longer known (it expired or was removed). Nothing was sent."
# a form that sends an edit of a call whose agent runs only the call as made was not ours (none offers one)
NOT_EDITABLE = "This call's arguments cannot be edited (its agent runs only the call as made). Nothing was sent."
NOT_KEPT = ("This call's hidden values are not kept (the bot has no SECRETS_KEY, or they ended): its arguments"
            " cannot be edited here. Nothing was sent; reject it, or write what the agent should change.")
NOT_KEPT_NEW = ("This edit holds a value the bot hides (a card number, a key...), and the bot has no SECRETS_KEY to"
                " keep it whole for the agent: nothing was sent. Leave that value out, or write what the agent"
                " should change.")


@dataclass(frozen=True, slots=True)
class Revision:
    """What a Revise sends the agent: the feedback (edited arguments encoded in it, `encode_revision`), whether the
    arguments were changed, and what an edit of a call with nothing hidden hid (the decision's `edit_hidden`)."""

    feedback: str
    changed: bool = False
    edit_hidden: str = ""
    artifacts: str = ""  # the approval's artefacts with a reviewer's edit of one (#79: Slack's `change_edit`)
    approve: bool = False  # Save & approve of an edited change: decided approved, with the edit


@dataclass(frozen=True, slots=True)
class Typed:
    """The arguments as a reviewer typed them (parsed), and whether they differ from the call's as it was shown."""

    arguments: Any
    changed: bool


@dataclass(frozen=True, slots=True)
class Edited:
    """A reviewer's edit made whole: the full arguments (hidden values put back), their redacted copy (what the
    agent's feedback and every card carry), and what it hid in a call with nothing hidden (`edit_hidden`)."""

    full: Any
    redacted: Any
    edit_hidden: str

    def revision(self, note: str) -> Revision:
        return Revision(encode_revision(self.redacted, note=note), changed=True, edit_hidden=self.edit_hidden)


def not_editable(approval: ApprovalRecord | None) -> str:
    """Why an edit of `approval`'s arguments is refused ("" when they may be edited)."""
    if approval is None or approval.kind != "tool_call":
        return NOT_KNOWN
    return NOT_EDITABLE if approval.fixed_arguments else ""


class Revisions:
    """A worker's Revise of arguments as JSON (`ApprovalService.revisions`): what the surfaces call."""

    def __init__(self, hiding: Hiding) -> None:
        self.hiding = hiding

    def typed(self, approval: ApprovalRecord, text: str, *, limit: int = MAX_ARGUMENTS_CHARS) -> Typed | str:
        """The arguments a reviewer typed, changed (and valid, as far as a call with nothing hidden can be checked
        here) or unchanged, or why not (too long, not JSON, too deep, not matching the tool's schema). Nothing runs
        here."""
        if len(text) > limit:
            return f"Keep the arguments under {limit} characters. Nothing was run."
        try:
            arguments = json.loads(text)
        except ValueError as exc:
            where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
            message = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            return f"This is not valid JSON: {message}{where}. Nothing was run."
        except RecursionError:  # deeper than Python's parser goes
            return f"The arguments are nested more than {MAX_DEPTH} levels deep. Nothing was run."
        if too_deep(arguments):  # before anything walks them (comparing, the schema check, the card)
            return f"The arguments are nested more than {MAX_DEPTH} levels deep. Nothing was run."
        try:
            unchanged = canonical_json(arguments) == canonical_json(json.loads(approval.arguments or "{}"))
        except ValueError:
            unchanged = False
        if unchanged:
            return Typed(arguments, changed=False)
        schema = schema_of(approval)
        if not isinstance(schema, dict):
            return UNKNOWN_SCHEMA
        if approval.hidden:  # (checked whole, hidden values put back: `complete`)
            return Typed(arguments, changed=True)
        problem = schema_problem(arguments, schema)
        if problem is not None:
            return f"These arguments do not match the tool's schema: {problem}. Nothing was run."[:1900]
        return Typed(arguments, changed=True)

    async def complete(self, approval: ApprovalRecord, edit: Any) -> Edited | str:
        """A reviewer's edit of the arguments as shown (hidden values by their kind) made whole: a hidden value left
        as shown is kept unchanged, a new one is hidden too (in a call that had none as well), sealed for the program
        (bot/redaction/hiding.py), the full arguments checked against the tool's schema; else what to tell them."""
        restored = await self.hiding.restore(approval, edit)
        if restored is None:
            return NOT_KEPT if approval.hidden else NOT_KEPT_NEW
        full, shown = restored
        redacted = json.loads(shown)
        if not approval.hidden:  # (checked whole by `typed` already): sealed when the edit hid something
            return Edited(full, redacted, await self.hiding.keep_edit(approval, full) if redacted != full else "")
        schema = json.loads(approval.arguments_schema) if approval.arguments_schema else None
        problem = schema_problem(full, schema, name=shown_name) if isinstance(schema, dict) else None
        if problem is not None:  # (said of the full arguments; `typed` checked none with hidden values)
            return f"These arguments do not match the tool's schema: {problem}. Nothing was run."[:1900]
        await self.hiding.keep_edit(approval, full)
        return Edited(full, redacted, "")

    async def of_json(self, approval: ApprovalRecord, text: str, *, note: str,
                      limit: int = MAX_ARGUMENTS_CHARS) -> Revision | str:
        """A Revise of `approval` with its arguments as `text` (JSON) and the reviewer's `note`: the edited call
        (encoded with the note, hidden values kept whole), the note alone when the arguments are as shown, or why
        nothing can be sent."""
        if refused := not_editable(approval):
            return refused
        typed = self.typed(approval, text, limit=limit)
        if isinstance(typed, str):
            return typed
        if not typed.changed:
            return Revision(note)
        edited = await self.complete(approval, typed.arguments)
        return edited if isinstance(edited, str) else edited.revision(note)

    async def of_fields(self, approval: ApprovalRecord, text_of: Callable[[int], str | None], *, note: str,
                        fields: list[tuple[str, Any]] | None = None) -> Edited | Revision | str:
        """A Revise of `approval` with its arguments edited one field each (`text_of(index)`: a field's text as sent,
        bot/core/field_edits.py `edited_fields`, over `fields`, else the call's `editable_fields`): the edit made
        whole (`Edited`: hidden values kept, checked against the tool's schema), the note alone when no field
        changed, or why nothing can be sent ("<argument>: <the Slack field's words>")."""
        if refused := not_editable(approval):
            return refused
        fields = editable_fields(approval) if fields is None else fields
        edit = edited_fields(approval, text_of, fields=fields)
        if edit.refused:
            return edit.refused
        if edit.errors:
            index, said = min(edit.errors.items())
            name = str(fields[index][0]) if fields and index < len(fields) else "?"
            return f"{name}: {said}"
        if not edit.changed:
            return Revision(note)
        return await self.complete(approval, edit.arguments)
