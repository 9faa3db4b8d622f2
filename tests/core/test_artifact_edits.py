"""Which artefact a reviewer may edit, and the edit with its new digest (bot/core/artifact_edits.py, pure)."""

from __future__ import annotations

from typing import Any

from agent_approvals.artifacts import artifact_sha256, command, file_change, file_diff, message, text_sha256

from bot.core.artifact_edits import EDITABLE_CHARS, editable_artifact, replaced


def kept(*artifacts: dict[str, Any]) -> list[dict[str, Any]]:
    """As an approval keeps them: each with its digest."""
    return [{**artifact, "sha256": artifact_sha256(artifact)} for artifact in artifacts]


def test_the_first_message_body_or_file_text_is_editable() -> None:
    items = kept(command("make deploy"), file_change("a.txt", "a\n", "b\n"), message("bob@example.com", "Hi"))
    found = editable_artifact(items)
    assert found is not None and (found.index, found.kind, found.text) == (1, "file", "b\n")
    assert editable_artifact(items[2:]) is not None


def test_a_diff_a_deletion_a_long_text_or_a_hidden_value_is_not() -> None:
    assert editable_artifact(kept(file_diff("a.txt", "@@ -1 +1 @@\n-a\n+b\n", text_sha256("a\n")))) is None
    assert editable_artifact(kept(file_change("a.txt", "a\n", None))) is None
    assert editable_artifact(kept(message("bob@example.com", "x" * (EDITABLE_CHARS + 1)))) is None
    hidden = {**kept(message("bob@example.com", "card 4111 1111 1111 1111"))[0], "body": "card [card ••••1111]"}
    assert editable_artifact([hidden]) is None  # kept as people see it: not the text asked, so not editable
    assert editable_artifact(kept(command("ls"))) is None


def test_the_edit_replaces_the_artefact_with_its_new_digest() -> None:
    items = kept(command("ls"), message(["bob@example.com"], "Hi", "Prices"))
    edited = replaced(items, 1, "Hello")
    assert edited[0] == items[0]
    assert edited[1] == {**message(["bob@example.com"], "Hello", "Prices"), "edited": True,
                         "sha256": artifact_sha256(message(["bob@example.com"], "Hello", "Prices"))}
    assert editable_artifact(edited) is not None  # an edited one may be edited again
    change = replaced(kept(file_change("a.txt", "a\n", "b\n")), 0, "c\n")[0]
    assert change["after"] == "c\n" and change["before_sha256"] == text_sha256("a\n")
    assert change["sha256"] == artifact_sha256(file_change("a.txt", "a\n", "c\n"))
