"""The channel admins' weekly oversight digest (issue 80): who decided in their channels this week and the
rubber-stamp signals (bot/core/oversight.py), as lines of their App Home's channel panel and as a direct message."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.core.oversight import READ_FLOOR_SECONDS, STREAK_LENGTH, WORDS_PER_MINUTE
from bot.core.records import SLACK_ID, ApprovalRecord
from bot.slack.blocks.text import (
    Block,
    channel_ref,
    context_block,
    date_ref,
    escape,
    mrkdwn,
    people_refs,
    plain,
    safe,
    user_ref,
)

DIGEST_TITLE = "Oversight this week"
DIGEST_PEOPLE = 5  # reviewers named per channel (the flagged first); the others counted
HOW = (f"Fast: decided sooner than the card's reading time ({WORDS_PER_MINUTE} words a minute, at least"
       f" {READ_FLOOR_SECONDS:g} s). A long run: {STREAK_LENGTH} approvals in a row with no rejection or revision."
       " Unopened: a high-risk call (a policy's @step_up) approved without opening its details.")


def digest_lines(digest: Mapping[str, Any]) -> list[str]:
    """A channel's week as lines (mrkdwn, every text escaped, people as mentions): its reviewers, the flagged first."""
    reviewers = [r for r in digest.get("reviewers") or [] if isinstance(r, Mapping)]
    if not reviewers:
        return ["Nobody decided here this week."]
    lines = []
    for reviewer in reviewers[:DIGEST_PEOPLE]:
        person = str(reviewer.get("person", ""))
        who = user_ref(person) if SLACK_ID.fullmatch(person) else escape(person[:40])
        counts = (f"{int(reviewer.get('approvals', 0)):,} approved, {int(reviewer.get('overrides', 0)):,} rejected or"
                  f" revised, {int(reviewer.get('fast', 0)):,} fast, longest run {int(reviewer.get('streak', 0)):,}")
        flags = [escape(str(flag)) for flag in reviewer.get("flags") or []]
        mark = ":warning: *Flagged*: " + "; ".join(flags) if flags else ":white_check_mark: nothing flagged"
        lines.append(f"{who} · {counts} · {mark}")
    if len(reviewers) > DIGEST_PEOPLE:
        lines.append(f"… and {len(reviewers) - DIGEST_PEOPLE:,} more people")
    return lines


def flagged_count(digest: Mapping[str, Any]) -> int:
    return sum(1 for r in digest.get("reviewers") or [] if isinstance(r, Mapping) and r.get("flags"))


def build_digest_message(digests: Sequence[tuple[str, Mapping[str, Any]]]) -> tuple[str, list[Block]]:
    """The DM to one admin: each of their channels' week (`digests`: (channel, digest)), the flagged first."""
    flagged = sum(flagged_count(d) for _, d in digests)
    text = (f"{DIGEST_TITLE}: {flagged} reviewer{'s' if flagged != 1 else ''} flagged" if flagged
            else f"{DIGEST_TITLE}: nothing flagged")
    blocks: list[Block] = [{"type": "header", "text": plain(DIGEST_TITLE, 150)}]
    for channel, digest in digests[:20]:
        when = digest.get("at")
        title = f"*{channel_ref(channel)}*" + (f", the week to {date_ref(float(when))}" if when else "")
        body = "\n".join([title, *digest_lines(digest)])
        blocks.append({"type": "section", "text": mrkdwn(body[:2900])})
    blocks.append(context_block(HOW))
    return text, blocks


PARKED_TITLE = "Parked approvals"


def parked_digest(approvals: Sequence[ApprovalRecord]) -> tuple[str, list[Block]]:
    """The weekly DM to one admin naming the parked approvals of their channels (timeout `never`, issue 90): each
    one's task (untrusted: inert), channel, who holds it and since when."""
    count = len(approvals)
    text = f"{PARKED_TITLE}: {count} waiting, never timing out"
    blocks: list[Block] = [{"type": "header", "text": plain(PARKED_TITLE, 150)}]
    lines = [f"• `{a.id}` {safe(a.task, 80)} in {channel_ref(a.origin_channel)}, held by"
             f" {people_refs(list(a.approvers))} since {date_ref(a.created_at)}" for a in approvals[:30]]
    more = [f"… and {count - 30} more"] if count > 30 else []
    blocks.append({"type": "section", "text": mrkdwn("\n".join([*lines, *more])[:2900])})
    blocks.append(context_block("Parked: their timeout is `never`, so they wait until someone decides."))
    return text, blocks
