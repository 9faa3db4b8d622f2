"""The Revise modal's submission: the feedback goes to the agent as a person would type it."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.blocks import FEEDBACK_ACTION, FEEDBACK_BLOCK, REVISE_CALLBACK_ID
from bot.listeners.actions import decide_as, refusal_text, show_outcome
from bot.records import SLACK_ID
from bot.security import verify_metadata
from bot.services import Services

MAX_FEEDBACK_CHARS = 3000


def register(app: AsyncApp, services: Services) -> None:
    async def handle_revise_submission(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        errors = await submit_revision(services, body, view)
        if errors:
            await ack(response_action="errors", errors={FEEDBACK_BLOCK: errors})
        else:
            await ack()

    app.view(REVISE_CALLBACK_ID)(handle_revise_submission)


async def submit_revision(services: Services, body: dict[str, Any], view: dict[str, Any]) -> str | None:
    """Decide the approval as revised. Returns an error to show in the modal (which stays open, so
    the reviewer's text is not lost), or None when done."""
    user = str((body.get("user") or {}).get("id", ""))
    card = verify_metadata(services.settings.slack_signing_secret, str(view.get("private_metadata", "")), user=user)
    if card is None:
        by = user if SLACK_ID.match(user) else ""
        await services.store.audit("refused", reason="revise form with altered or foreign metadata", by=by)
        return "This form does not belong to a known approval. Nothing was sent."
    approval_id, channel, ts = card
    values = ((view.get("state") or {}).get("values") or {}).get(FEEDBACK_BLOCK) or {}
    entry = values.get(FEEDBACK_ACTION)
    feedback = str((entry.get("value") if isinstance(entry, dict) else "") or "").strip()
    if not feedback:
        return "Write what the agent should change."
    if len(feedback) > MAX_FEEDBACK_CHARS:
        return f"Keep it under {MAX_FEEDBACK_CHARS} characters (this is {len(feedback)})."
    result = await decide_as(services, approval_id, outcome="revised", user=user, feedback=feedback, card=(channel, ts))
    if show_outcome(services, result):
        return None
    return refusal_text(result) + " Your feedback was not sent; copy it if you want to keep it."
