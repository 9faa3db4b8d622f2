"""A reviewer's edit of an artefact (#79, Revise a change): which artefact of an approval a person may edit in the
Revise modal, and the approval's artefacts with that one replaced (pure).

What may be edited: the first artefact that is a message (its `body`) or a file change given as before/after (its
`after`: not a diff, not a deletion), whose text fits in one Slack text input (EDITABLE_CHARS, what a
`plain_text_input` holds) and is kept exactly as asked: the artefact as the approval keeps it has the digest it was
asked with, so no value in it was hidden from people (an artefact whose text holds a hidden value cannot be edited
in the clear, as arguments with hidden values cannot be edited without SECRETS_KEY). The edited artefact is made
by the makers of `agent_approvals.artifacts` and carries its new `sha256` (what a receipt binds) and `edited: true`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from agent_approvals.artifacts import ArtifactError, artifact_sha256, file_change, message

EDITABLE_CHARS: Final = 3000  # a Slack plain_text_input's max_length (1 to 3000): an artefact's text edited whole


@dataclass(frozen=True, slots=True)
class Editable:
    """The artefact a reviewer may edit: its index in the approval's artefacts, its kind, the text to edit."""

    index: int
    kind: str  # "message" (its body) or "file" (its after)
    text: str

    @property
    def what(self) -> str:
        """What is edited, in words: "the email's body", "the new text of src/prices.py" (not escaped)."""
        return "the message's body" if self.kind == "message" else "the new text of the file"


def editable_artifact(items: Sequence[Mapping[str, Any]]) -> Editable | None:
    """The first artefact of `items` (`ApprovalRecord.artifact_items`) a reviewer may edit (see the module
    docstring), or None."""
    for index, item in enumerate(items):
        text = _text_of(item)
        if text is None or len(text) > EDITABLE_CHARS:
            continue
        if _as_asked(item):
            return Editable(index=index, kind=str(item["kind"]), text=text)
    return None


def _text_of(item: Mapping[str, Any]) -> str | None:
    if item.get("kind") == "message" and isinstance(item.get("body"), str):
        return str(item["body"])
    if item.get("kind") == "file" and item.get("diff") is None and isinstance(item.get("after"), str):
        return str(item["after"])
    return None


def _as_asked(item: Mapping[str, Any]) -> bool:
    """Whether the artefact as kept is the artefact as asked (its digest the same): nothing in it was hidden."""
    try:
        return artifact_sha256({k: v for k, v in item.items() if k != "edited"}) == item.get("sha256")
    except ArtifactError:
        return False


def edited_artifact(item: Mapping[str, Any], text: str) -> dict[str, Any]:
    """`item` (a message or a file change) with its body or `after` replaced by `text`, normalised, with its new
    `sha256` and `edited: true`; `ArtifactError` when the result is not an artefact."""
    if item.get("kind") == "message":
        made = message(item.get("to") or [], text, subject=item.get("subject"))
    else:
        made = file_change(str(item.get("path")), item.get("before"), text)
    return {**made, "sha256": artifact_sha256(made), "edited": True}


def replaced(items: Sequence[Mapping[str, Any]], index: int, text: str) -> list[dict[str, Any]]:
    """The approval's artefacts with the one at `index` edited to `text` (`edited_artifact`), the others as kept."""
    return [edited_artifact(item, text) if at == index else dict(item) for at, item in enumerate(items)]
