"""Records made for tests of the store."""

from __future__ import annotations

import time

from bot.core.records import ApprovalRecord


def approval(approval_id: str = "a1b2c3d4-0000", *, deadline_in: float = 600, owner: str = "w1") -> ApprovalRecord:
    now = time.time()
    return ApprovalRecord(
        id=approval_id,
        run_id="rabcdefg",
        owner=owner,
        requester="U0ALICE",
        origin_channel="C0SALES",
        card_channel="C0APPROVALS",
        task="task",
        proposal="proposal",
        author="assistant",
        created_at=now,
        deadline=now + deadline_in,
        timeout_seconds=int(max(deadline_in, 1)),
    )
