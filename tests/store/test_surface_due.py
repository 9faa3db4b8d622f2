"""Each surface's due set (#88, bot/store/surface_due.py): one mechanism for Slack's outbox, Teams' due set and the
e-mails', a lease per claim, taken out only when drawn as the approval still is; each surface indexed and drained
apart (one surface failing or hung leaves the others' alone); and "shown" on any surface lets a timeout approve."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from bot.approvals.due_loops import DueTenants
from bot.runs.supervisor import Drain
from bot.store import Store
from bot.store.surface_due import SurfaceDue
from tests.support.records import approval


def test_each_surface_keeps_its_due_key_and_no_other_surface_is_one(store: Store) -> None:
    assert (store.outbox.key, store.teams_due.key) == (f"{store.keys.prefix}:outbox", store.keys.teams("due"))
    assert store.email_due.key == f"{store.keys.prefix}:email:due"
    with pytest.raises(ValueError, match="not a surface"):
        SurfaceDue(store.shared, surface="fax")


async def test_a_claim_is_a_lease_and_done_takes_out_only_what_is_unchanged(store: Store) -> None:
    for surface in (store.outbox, store.teams_due, store.email_due):
        await store.approvals.create(approval("sd-00000-a"))
        await store.approvals.create(approval("sd-00000-b"))
        now = time.time()
        await surface.add("sd-00000-a", due=now - 1)
        await surface.add("sd-00000-b", due=now - 1)
        assert sorted(await surface.claim(now, lease=30)) == ["sd-00000-a", "sd-00000-b"]
        assert await surface.claim(now + 1, lease=30) == []  # leased: nobody else takes them meanwhile
        assert (await surface.at("sd-00000-a") or 0) == pytest.approx(now + 30)
        drawn = [await store.approvals.get(i) for i in ("sd-00000-a", "sd-00000-b")]
        assert (await store.approvals.decide("sd-00000-b", outcome="approved", by="U0BOB")).status == "ok"
        await surface.done([d for d in drawn if d is not None])
        # a drawn as it still is: out; b changed since it was drawn (decided): still due
        assert await surface.at("sd-00000-a") is None and await surface.at("sd-00000-b") is not None
        assert sorted(await surface.claim(now + 31, lease=30)) == ["sd-00000-b"]  # the lease ran out: due again
        await surface.forget(["sd-00000-b"])
        assert await surface.count() == 0
        await store.redis.flushdb()


async def test_each_surface_is_drained_by_its_own_loop_one_failing_or_hung_holds_no_other(store: Store) -> None:
    now = time.time()
    for surface in (store.outbox, store.teams_due, store.email_due):
        await store.approvals.create(approval(f"sd-{surface.surface:0<5}-a"))
        await surface.add(f"sd-{surface.surface:0<5}-a", due=now - 1)
    assert [await store.due.due(kind, now) for kind in ("slack", "teams", "email")] == [["home"]] * 3
    assert await store.due.due("runs", now) == []  # no surface's work is the runs' any more

    async def drain_slack() -> int:
        claimed = await store.outbox.claim(time.time(), lease=30)
        await store.outbox.done([a for a in await store.approvals.get_many(claimed)])
        return len(claimed)

    async def teams_fails() -> int:
        raise RuntimeError("Teams answered 500")

    hung = asyncio.Event()

    async def email_hangs() -> int:
        await hung.wait()
        return 0

    def loop(kind: str, drain: Drain) -> DueTenants:
        async def of(tenant: str) -> tuple[Drain, Store] | None:
            return (drain, store) if not tenant else None
        return DueTenants(store, kind, of=of)

    email = asyncio.create_task(loop("email", Drain(email_hangs)).sweep())  # hung: never returns while the test runs
    assert await loop("teams", Drain(teams_fails)).sweep() == 0  # logged, its entries left due
    assert await asyncio.wait_for(loop("slack", Drain(drain_slack)).sweep(), 5) == 1
    assert await store.outbox.count() == 0 and await store.due.next_at("slack") is None  # drained and settled
    assert await store.teams_due.at("sd-teams-a") is not None and await store.due.due("teams", time.time()) == ["home"]
    assert await store.email_due.at("sd-email-a") is not None and not email.done()
    hung.set()
    assert await email == 0


async def test_an_approval_shown_only_in_teams_is_approved_by_its_timeout_one_never_shown_is_not(store: Store) -> None:
    """Slack's card never shown (its token refused), a Teams copy shown: the timeout approves (#88); an approval no
    surface showed is still refused by its timeout (fails closed)."""
    teams_only = replace(approval("sd-teams-a", deadline_in=-1), timeout_outcome="approve", card_channel="")
    nowhere = replace(approval("sd-never-a", deadline_in=-1), timeout_outcome="approve", card_channel="")
    for record in (teams_only, nowhere):
        await store.approvals.create(record)
    assert await store.teams_due.shown(teams_only.id) is True
    assert await store.outbox.shown(teams_only.id) is False  # shown once: the first surface's time kept
    results, _ = await store.approvals.time_out_due(time.time())
    outcome = {r.approval.id: r.approval for r in results if r.approval is not None}
    assert outcome[teams_only.id].decision().approves
    refused = outcome[nowhere.id].decision()
    assert not refused.approves and "never shown" in refused.feedback
    assert await store.email_due.shown(nowhere.id) is False  # decided: no show noted any more


async def test_again_is_due_at_the_first_retry_left_else_out_of_the_set(store: Store) -> None:
    for surface in (store.email_due, store.push_due):
        await surface.add("sd-again-a", due=time.time() + 600)
        await surface.again("sd-again-a", [time.time() + 90, time.time() + 30, time.time() + 60])
        assert (await surface.at("sd-again-a") or 0) == pytest.approx(time.time() + 30, abs=5)
        await surface.again("sd-again-a", [])  # nothing left to try: forgotten
        assert await surface.at("sd-again-a") is None


async def test_a_route_step_kept_makes_its_cards_redraw_due_work_at_once(store: Store) -> None:
    """A route's step kept (`reach.said`: what it did shown on every copy) makes the approval's card due a redraw,
    indexed for its tenant then, not at the next unrelated note (an on-call step said unavailable waited on the
    card for one, beyond 10 s under CI's load)."""
    asked = approval("rs-00000-a")
    await store.approvals.create(asked)
    for kind in ("slack", "reach"):
        await store.due.settle(kind)
    assert await store.due.due("slack", time.time() + 60) == []  # (nothing due: the card drawn as it is)
    said = await store.reach.said(asked.id, step=1, next_at=None, item={"step": 1, "outcome": "unavailable"},
                                  entry={"approval": asked.id, "step": "1", "outcome": "unavailable"})
    assert said == "ok"
    assert await store.outbox.at(asked.id) is not None
    assert len(await store.due.due("slack", time.time() + 1)) == 1  # the redraw's work indexed, for any worker


async def test_a_service_levels_change_told_makes_its_cards_redraw_due_work_at_once(store: Store) -> None:
    """A reminder that tells a service level's change (at risk, breached: the card says so) indexes the card's redraw
    for its tenant then, as a route's step does."""
    asked = approval("sl-00000-a")
    await store.approvals.create(asked)
    await store.due.settle("slack")
    assert await store.due.due("slack", time.time() + 60) == []
    assert await store.nudges.told(asked, told=1, next_at=None, entries=[], sla_state="at_risk") == "ok"
    assert await store.outbox.at(asked.id) is not None
    assert len(await store.due.due("slack", time.time() + 1)) == 1
