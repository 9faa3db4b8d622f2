"""The SIEM stream's cursor (bot/store/siem.py): moved only by the lease's holder, only forward; the lag counted
from it by any worker."""

from __future__ import annotations

import time

from bot.store import Store


async def test_only_the_holder_moves_the_cursor_and_only_forward(store: Store) -> None:
    written = [await store.audit.append("decision", by="U1", approval=f"A{n}") for n in range(5)]
    assert (await store.siem.lag(now=time.time()))[0] == 5
    assert await store.siem.lease("w1", 30) and not await store.siem.lease("w2", 30)
    assert not await store.siem.advance("w2", seq=3, entry_id=written[2][1])  # not the holder
    assert await store.siem.advance("w1", seq=3, entry_id=written[2][1])
    assert not await store.siem.advance("w1", seq=2, entry_id=written[1][1])  # never back
    assert await store.siem.cursor() == (3, written[2][1])
    assert [entry_id for entry_id, _ in await store.siem.after(written[2][1], count=10)] == [w[1] for w in written[3:]]
    behind, age = await store.siem.lag(now=time.time() + 60)
    assert behind == 2 and 59 < age < 120
    await store.siem.release("w1")
    assert await store.siem.holder() is None and await store.siem.lease("w2", 30)
