"""Passkeys in Slack: the App Home's "Passkeys" section (each passkey by name and date, with Remove; "Set up a
passkey"), the modal that gives a person their one-time link, the replies of `/agent passkeys revoke`, and the direct
messages that tell a person at once that a passkey of theirs was added or removed.

A passkey's name is the person's own text: made inert by `bot.slack.blocks.text` (`safe`). The link is the bot's own
address with a token of URL-safe characters, checked before it is put in a link."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

from bot.core.passkeys import CREDENTIAL_ID, PASSKEY_NAME_CHARS, Passkey
from bot.slack.blocks.approval_card import button
from bot.slack.blocks.text import Block, context_block, date_ref, modal, mrkdwn, plain, safe, user_ref

ACTION_PASSKEY_SETUP = "passkey_setup"  # "Set up a passkey": the bot answers with a one-time link
ACTION_PASSKEY_REMOVE = "passkey_remove"  # value: the passkey's credential id (base64url)
HOME_PASSKEYS = 10  # passkeys listed on a Home (a person has at most 10)
_LINK = re.compile(r"^https?://[A-Za-z0-9.:\[\]-]{1,200}/step-up/enrol/[A-Za-z0-9_-]{32,64}$")


def build_passkey_blocks(passkeys: Sequence[Passkey]) -> list[Block]:
    """The Home's "Passkeys" section: what they are for, each passkey (name, when added, Remove), and the button
    that asks for a one-time link to set one up."""
    setup = button("Set up a passkey", ACTION_PASSKEY_SETUP, "enrol", style="primary")
    if passkeys:
        intro = "Your passkeys confirm risky approvals you vote on. Lost a device? Remove its passkey here."
    else:
        intro = "You have no passkey yet. Set one up to confirm risky approvals you vote on (a link opens a page of" \
                " this bot, where your browser makes the passkey)."
    blocks: list[Block] = [
        {"type": "divider"},
        {"type": "header", "text": plain("Passkeys", 150)},
        {"type": "section", "block_id": "passkeys_intro", "text": mrkdwn(intro), "accessory": setup},
    ]
    blocks.extend(_passkey_block(p) for p in passkeys[:HOME_PASSKEYS])
    if len(passkeys) > HOME_PASSKEYS:
        blocks.append(context_block(f"… and {len(passkeys) - HOME_PASSKEYS:,} more"))
    return blocks


def _passkey_block(passkey: Passkey) -> Block:
    confirm = {
        "title": plain("Remove this passkey?", 100),
        "text": plain("It will no longer confirm your approvals. You can set up a new one at any time.", 300),
        "confirm": plain("Remove", 30),
        "deny": plain("Cancel", 30),
        "style": "danger",
    }
    line = f"*{safe(passkey.name, PASSKEY_NAME_CHARS * 5)}* · added {date_ref(passkey.created_at)}"
    return {
        "type": "section",
        "text": mrkdwn(line),
        "accessory": button("Remove", ACTION_PASSKEY_REMOVE, passkey.credential_id, style="danger", confirm=confirm),
    }


def parse_remove_value(value: str) -> str | None:
    """The credential id a Remove button sent, or None when it is not one (it comes from a client)."""
    return value if CREDENTIAL_ID.fullmatch(value) else None


def build_passkey_link_modal(url: str, *, confirm_first: bool = False) -> dict[str, Any]:
    """The modal that gives a person their one-time link (`url`, the bot's own, checked here); `confirm_first`: they
    have a passkey, which the page asks for before it makes another."""
    if not _LINK.fullmatch(url):
        raise ValueError("not a step-up link")
    first = (" You have a passkey already: the page asks for it first (on this device, or a phone nearby), so that"
             " nobody with only your Slack session adds one.") if confirm_first else ""
    text = (
        f"*<{url}|Open your passkey page>*\n\nIt works once, for 10 minutes, and only for you: do not share it.{first}"
        " Your browser will ask to make a passkey (Touch ID, Windows Hello, a phone or a security key); name it,"
        " e.g. “laptop”. It then shows here, in your Home."
    )
    return modal("Set up a passkey", [{"type": "section", "text": mrkdwn(text)}, context_block(f"Link: {url}")],
                 close="Done")


def passkeys_revoked_text(person: str, removed: Sequence[Passkey]) -> str:
    """`/agent passkeys revoke @person`'s answer."""
    if not removed:
        return f"{user_ref(person)} has no passkey: nothing to revoke."
    names = ", ".join(f"“{safe(p.name, PASSKEY_NAME_CHARS * 5)}”" for p in removed)
    count = "1 passkey" if len(removed) == 1 else f"{len(removed)} passkeys"
    return f"Revoked {count} of {user_ref(person)}: {names}. They can set up a new one from their App Home."


def passkey_added_text(passkey: Passkey, *, usable_at: float) -> str:
    """The direct message a person gets as soon as a passkey is added to their account (`usable_at`: when it may
    first confirm a vote, STEP_UP_NEW_PASSKEY_COOLOFF after it was added)."""
    when = "" if usable_at <= passkey.created_at else f" It can confirm your votes from {date_ref(usable_at)}."
    return (f"A passkey was added to your account: *{safe(passkey.name, PASSKEY_NAME_CHARS * 5)}*, on"
            f" {date_ref(passkey.created_at)}.{when} If it was not you, remove it from the app's Home now and tell an"
            " admin: someone may be using your Slack session.")


def passkey_removed_text(passkeys: Sequence[Passkey], *, by: str, person: str) -> str:
    """The direct message a person gets as soon as passkeys of theirs are removed (by them, or revoked by an admin
    `by`)."""
    who = "You removed" if by == person else f"{user_ref(by)} (an admin) revoked"
    names = ", ".join(f"*{safe(p.name, PASSKEY_NAME_CHARS * 5)}*" for p in passkeys)
    which = "your passkey" if len(passkeys) == 1 else "your passkeys"
    return (f"{who} {which} {names} on {date_ref(time.time())}: no longer confirming your votes. If that was not"
            " meant, tell an admin; you can set up a new one from the app's Home.")
