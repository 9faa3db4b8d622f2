"""Change tickets in Redis (issue 91): one record per approval (its system, the ticket's key once opened, how far it
went), and the ticket's link on the approval (its card shows it: lua/ticket_link.lua). The key names are in
bot/store/keys_tickets.py; the due work (`Store.tickets_due`) is a `SurfaceDue` (bot/store/surface_due.py).

A ticket is opened once per approval: `want` writes the record only where none is (HSETNX), the key is kept as soon
as the system answers (`opened`), and the desk (bot/tickets/desk.py) looks an orphan up in the system (one a worker
opened, then died before keeping its key) before it opens one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast

from bot.core.ticket_refs import TicketRef
from bot.store.connection import aw
from bot.store.keys_tickets import KEEP_SECONDS, TicketKeys
from bot.store.shared import Shared

State = Literal["wanted", "open", "closed", "failed"]


@dataclass(frozen=True, slots=True)
class TicketRecord:
    """An approval's ticket as kept: `system` (jira, servicenow), and once opened its `key`, `ref` (the system's id
    for it) and `url`; `state`; `tries` of the step now due; `commented`: Jira's decision comment posted."""

    approval_id: str
    system: str
    state: State = "wanted"
    key: str = ""
    ref: str = ""
    url: str = ""
    tries: int = 0
    commented: bool = False

    @property
    def link(self) -> TicketRef:
        return TicketRef(system=self.system, key=self.key, url=self.url)


class TicketStore:
    def __init__(self, shared: Shared) -> None:
        self._s = shared
        self._k = TicketKeys(shared.keys)

    async def want(self, approval_id: str, *, system: str) -> bool:
        """`approval_id` wants a ticket in `system`: its record begun unless one is (whether it was begun now)."""
        key = self._k.ticket(approval_id)
        async with self._s.redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, "system", system)
            pipe.hsetnx(key, "state", "wanted")
            pipe.expire(key, KEEP_SECONDS)
            begun, _, _ = await pipe.execute()
        return bool(begun)

    async def get(self, approval_id: str) -> TicketRecord | None:
        """The ticket record of `approval_id` (None: it wants none)."""
        raw = await aw(self._s.redis.hgetall(self._k.ticket(approval_id)))
        found = {_text(k): _text(v) for k, v in raw.items()}
        if not found.get("system"):
            return None
        state = found.get("state", "wanted")
        return TicketRecord(
            approval_id=approval_id, system=found["system"],
            state=cast(State, state if state in ("wanted", "open", "closed", "failed") else "wanted"),
            key=found.get("key", ""), ref=found.get("ref", ""), url=found.get("url", ""),
            tries=int(found.get("tries") or 0), commented=found.get("commented") == "1")

    async def note(self, approval_id: str, **fields: str | int) -> None:
        """Fields of the record set (`state`, `key`, `ref`, `url`, `tries`, `commented`), its life renewed."""
        key = self._k.ticket(approval_id)
        async with self._s.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={name: str(value) for name, value in fields.items()})
            pipe.expire(key, KEEP_SECONDS)
            await pipe.execute()

    async def opened(self, record: TicketRecord, *, key: str, ref: str, url: str) -> TicketRecord:
        """The ticket opened (or found) in its system: its key kept at once, and linked on the approval (its card)."""
        await self.note(record.approval_id, state="open", key=key, ref=ref, url=url, tries=0)
        opened = TicketRecord(approval_id=record.approval_id, system=record.system, state="open", key=key, ref=ref,
                              url=url)
        await self._s.script("ticket_link")(keys={"approval": self._s.keys.approval(record.approval_id)},
                                            args={"ticket": opened.link.dumps()})
        return opened


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
