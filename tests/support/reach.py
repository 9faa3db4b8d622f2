"""A channel's route across surfaces (`reach`, issue 90) from a test: an ask on a route (`route_asked`: Bob the
channel's approver, its `reach` set, more settings, one ask through the API), what each step sent for an approval
(`dm_cards` in a person's DM, `mails` to Bob's verified address), the steps kept on the approval (`steps_kept`), and
the checks `until` polls (`approved`, `no_step_left`). Shared by tests/mail/test_reach.py, tests/push/
test_reach_route.py and tests/approvals/test_reach_oncall.py."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.core.reach import reached_items
from bot.devmail.catcher import Caught, MailCatcher
from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, SALES, Worker
from tests.support.api import Client, new_key, tool_ask

BOB_ADDRESS = "bob@example.com"  # Bob's verified address in the local Slack (`DevUser.email`)


async def route_asked(worker: Worker, route: str, **settings: str) -> str:
    """#sales's approvers Bob, its `reach` `route` (and `settings`), then one ask through the API: its approval."""
    store = worker.services.store
    for name, value in {"approvers": BOB, "reach": route, **settings}.items():
        await store.settings.set(SALES, name, value, by="operator")
    status, answer = await Client(worker, (await new_key(worker)).key).ask(tool_ask())
    assert status == 201, answer
    return str(answer["id"])


def dm_cards(slack: SlackStandIn, approval: str, person: str = BOB) -> list[dict[str, Any]]:
    """The cards of `approval` DMed to `person`."""
    return [m for m in slack.messages(slack.dm_channel(person)) if approval in str(m.get("blocks", ""))]


def mails(mail: MailCatcher, approval: str) -> Sequence[Caught]:
    """The mails to Bob's address linking to `approval`'s page."""
    return [m for m in mail.inbox(BOB_ADDRESS) if any(f"/email/{approval}/" in link for link in m.links)]


async def steps_kept(worker: Worker, approval: str) -> list[dict[str, Any]]:
    """The route's steps taken, as the approval keeps them."""
    found = await worker.services.store.approvals.get(approval)
    return reached_items(found.reached) if found is not None else []


async def approved(worker: Worker, approval: str) -> bool:
    found = await worker.services.store.approvals.get(approval)
    return found is not None and found.status == "approved"


async def no_step_left(worker: Worker, approval: str) -> bool:
    """The route done: no step of it due any more."""
    return await worker.services.store.reach.at(approval) is None
