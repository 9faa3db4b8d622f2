"""A small modal that only tells the person something (the answer to a click in their App Home, where
no ephemeral message can be shown)."""

from __future__ import annotations

from typing import Any

from bot.blocks.text import mrkdwn, plain


def build_notice_modal(title: str, text: str) -> dict[str, Any]:
    """`title` (fixed words, at most 24 characters) and `text` (already made safe by its builder)."""
    return {
        "type": "modal",
        "title": plain(title, 24),
        "close": plain("OK", 24),
        "blocks": [{"type": "section", "text": mrkdwn(text[:3000])}],
    }
