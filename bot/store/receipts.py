"""Approvals' signed receipts in Redis: kept on the approval's own hash (fields `receipt`, `receipt_jti`,
`receipt_exp`; `receipt_used_by` and `receipt_used_at` once an executor spent it), so they live and go with it.

A receipt is issued once per approval: the first one stored stays (`lua/issue_receipt.lua`), whichever worker
signed it, so every worker answers with the same one; a new one replaces it only once it has expired and no
executor has spent it. Spending it is one step (`lua/use_receipt.lua`). Receipts are signed outside the store
(bot/api/receipts.py): no key, private or public, is ever written here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from bot.store.connection import aw
from bot.store.freeze_copies import FreezeCopies
from bot.store.shared import Repository

UseStatus = Literal["ok", "used", "expired", "unknown", "not_approved", "revoked", "key_revoked", "missing"]


@dataclass(frozen=True, slots=True)
class StoredReceipt:
    receipt: str
    exp: float
    used: bool  # an executor spent it

    def valid(self, now: float) -> bool:
        return self.used or self.exp > now


class Receipts(Repository):
    async def get(self, approval_id: str) -> StoredReceipt | None:
        """The receipt stored for an approval, or None."""
        receipt, exp, used_by = await aw(
            self._s.redis.hmget(self._k.approval(approval_id), ["receipt", "receipt_exp", "receipt_used_by"])
        )
        if not receipt:
            return None
        return StoredReceipt(receipt=str(receipt), exp=float(exp or 0), used=bool(used_by))

    async def keep(self, approval_id: str, receipt: str, *, jti: str, exp: int, now: float) -> StoredReceipt | None:
        """Store `receipt` unless a valid one is there already; the receipt the approval now has (the one
        stored first wins), or None when the approval allows no call or is gone."""
        status, *rest = await self._s.script("issue_receipt")(
            keys={"approval": self._k.approval(approval_id)},
            args={"receipt": receipt, "jti": jti, "exp": str(exp), "now": repr(now)},
        )
        if status not in ("kept", "new"):
            return None
        return StoredReceipt(receipt=str(rest[0]), exp=float(rest[1] or 0), used=False)

    async def use(
        self, approval_id: str, *, jti: str, token: str, origin_channel: str, expired: bool
    ) -> tuple[UseStatus, str]:
        """An executor (`token`: its own id for this call) spends the receipt `jti` of an approval, once.
        Returns ("ok", ""), ("used", when it was spent), ("expired", ""), ("unknown", ""): not the receipt
        issued for this approval, ("not_approved", status), ("revoked", the rule), ("key_revoked", the key's
        name): the key that asked was revoked (audited), ("frozen", the scope): frozen (bot/store/freezes.py, audited),
        or ("missing", "")."""
        status, *rest = await self._s.script("use_receipt")(
            keys={"approval": self._k.approval(approval_id), "audit": self._k.audit, "audit_seq": self._k.audit_seq,
                  "audit_shards": self._k.audit_shards,
                  "rules": self._k.rules(origin_channel or "-"), "names": self._k.api_key_names,
                  "refused": self._k.refused(approval_id, "executor"), "frozen": self._k.frozen_here,
                  "frozen_seq": self._k.frozen_here_seq},
            args={"id": approval_id, "jti": jti, "token": token, "expired": "1" if expired else "0",
                  "now": repr(time.time()), "frozen_at": await FreezeCopies(self._s).frozen_at()},
        )
        said = str(rest[0]) if rest else ""
        return status, said
