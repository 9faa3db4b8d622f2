"""A Teams-only person (`teams:<object id>`) as the Slack surfaces show them: by their name (the Teams file's, else
what Teams said of them) with "(Teams)" after it, never their raw id, and inert (a name is untrusted: no mention, no
bold). A real worker serving Slack and Teams, the local Slack and the local Bot Connector; the person votes and
decides in Teams, and the Slack card, the decided card, an approver's App Home and the requester's direct message
name them."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from bot.devmsteams import TeamsStandIn
from bot.devslack.server import SlackStandIn
from tests.conftest import ALICE, BOB, CAROL, SALES, block_texts, card_of, has_buttons
from tests.support.api import Client, new_key, tool_ask
from tests.support.hitl import until
from tests.support.homes import approval_id_of, home_text, open_homes
from tests.support.teams import click, start_teams_worker

pytestmark = pytest.mark.slow  # both its tests over 0.3 s of CPU (tests/support/slow.py)

DANA_OID = str(uuid.uuid4())  # Teams only; the Teams file names her, with Slack markup in her name
ERIN_OID = str(uuid.uuid4())  # Teams only; the Teams file lists her without a name: Teams names her
DANA_SHOWN = "Dana &lt;!channel&gt; \u2217x\u2217 (Teams)"  # escaped, the bold marks as look-alikes
ERIN_SHOWN = "Erin \u02cdE\u02cd &lt;!here&gt; (Teams)"


def now(slack: SlackStandIn, where: tuple[str, str]) -> dict[str, Any]:
    """The message at (channel, ts) as it stands now."""
    return next(m for m in slack.messages(where[0]) if m["ts"] == where[1])


def inert(text: str) -> None:
    """Nothing of a Teams-only person's raw id or of their names' markup is live."""
    for raw in (DANA_OID, ERIN_OID, "<!channel>", "*x*", "_E_", "<!here>"):
        assert raw not in text, (raw, text)


async def test_a_teams_only_person_is_named_on_slacks_cards_home_and_dms(
        slack: SlackStandIn, teams: TeamsStandIn, redis_url: str, tmp_path: Path) -> None:
    dana = teams.add_member(name="Dana Diaz", email="dana@contoso.example", object_id=DANA_OID)
    erin = teams.add_member(name="Erin _E_ <!here>", email="erin@contoso.example", object_id=ERIN_OID)
    channel = teams.add_conversation("channel", "Approvals", [dana, erin])
    teams_file = tmp_path / "teams.yaml"
    teams_file.write_text(f"people:\n  - {{object_id: {DANA_OID}, name: \"Dana <!channel> *x*\"}}\n"
                          f"  - {{object_id: {ERIN_OID}}}\n"
                          f"routes:\n  {SALES}: {{conversation: \"{channel}\"}}\n")
    worker = await start_teams_worker(slack, teams, redis_url, TEAMS_FILE=str(teams_file))
    try:
        assert await teams.install(channel) == 200
        store = worker.services.store
        approvers = f"{BOB},{CAROL},teams:{DANA_OID},teams:{ERIN_OID}"
        for key, value in (("approvers", approvers), ("required_approvals", "2")):
            assert await store.settings.set(SALES, key, value, by="operator") is None
        client = Client(worker, (await new_key(worker)).key)
        asked = [await client.ask(tool_ask()) for _ in range(2)]
        assert [status for status, _ in asked] == [201, 201], asked
        first, second = (str(answer["id"]) for _, answer in asked)
        posted = await until(lambda: len(found := card_of(slack, pending=True)) == 2 and found, what="both cards")
        where = {approval_id_of(c): (str(c["channel"]), str(c["ts"])) for c in posted}
        await open_homes(slack, CAROL)

        # Dana's vote from Teams: the pending card and Carol's Home name her
        await click(teams, channel, dana, "approve", first)
        await until(lambda: "1 of 2" in block_texts(now(slack, where[first])), what="the card with Dana's vote")
        said = block_texts(now(slack, where[first]))
        assert f"*1 of 2 approvals*: {DANA_SHOWN}" in said, said
        assert "Who may decide:" in said and DANA_SHOWN in said and ERIN_SHOWN in said
        inert(said)
        home = await until(lambda: DANA_SHOWN in (text := home_text(slack, CAROL)) and text, what="Carol's Home")
        inert(home)

        # Bob decides in Slack with her vote; Erin rejects the second from Teams alone
        result = await slack.click(user=BOB, channel=where[first][0], ts=where[first][1], action_id="approval_approve")
        assert result.status == 200
        await click(teams, channel, erin, "reject", second, reason="not now")
        decided = [await until(lambda a=a: not has_buttons(m := now(slack, where[a])) and m, what=f"{a} decided")
                   for a in (first, second)]
        said = block_texts(decided[0])
        assert f"*Approved* by {DANA_SHOWN} and <@{BOB}>" in said, said
        said = block_texts(decided[1])
        assert f"*Rejected* by {ERIN_SHOWN}" in said, said
        inert(block_texts({"blocks": [*decided[0]["blocks"], *decided[1]["blocks"]]}))

        def told() -> list[dict[str, Any]]:
            return [m for m in slack.messages(slack.dm_channel(ALICE)) if "*Approved*" in str(m.get("text"))
                    or "*Rejected*" in str(m.get("text"))]

        dms = await until(lambda: len(told()) == 2 and told(), what="Alice's two direct messages")
        said = " ".join(block_texts(m) + " " + str(m.get("text")) for m in dms)
        assert f"*Approved* by {DANA_SHOWN} and <@{BOB}>" in said and f"*Rejected* by {ERIN_SHOWN}" in said, said
        inert(said)
    finally:
        await worker.stop()


async def test_a_reminder_in_the_slack_cards_thread_names_a_teams_only_approver(
        slack: SlackStandIn, teams: TeamsStandIn, redis_url: str, tmp_path: Path) -> None:
    dana = teams.add_member(name="Dana Diaz", email="dana@contoso.example", object_id=DANA_OID)
    channel = teams.add_conversation("channel", "Approvals", [dana])
    teams_file = tmp_path / "teams.yaml"
    teams_file.write_text(f"people:\n  - {{object_id: {DANA_OID}, name: \"Dana <!channel> *x*\"}}\n"
                          f"routes:\n  {SALES}: {{conversation: \"{channel}\"}}\n")
    worker = await start_teams_worker(slack, teams, redis_url, TEAMS_FILE=str(teams_file))
    try:
        assert await teams.install(channel) == 200
        store = worker.services.store
        for key, value in (("approvers", f"{BOB},teams:{DANA_OID}"), ("remind", "1")):  # seconds, as stored
            assert await store.settings.set(SALES, key, value, by="operator") is None
        client = Client(worker, (await new_key(worker)).key)
        status, _ = await client.ask(tool_ask())
        assert status == 201
        card = await until(lambda: (found := card_of(slack, pending=True)) and found[-1], what="the card")

        def reminders() -> list[str]:
            return [str(m.get("text")) for m in slack.messages(str(card["channel"]))
                    if m.get("thread_ts") == card["ts"] and "Reminder" in str(m.get("text"))]

        said = (await until(lambda: reminders(), what="the reminder in the card's thread"))[0]
        assert f"<@{BOB}> or {DANA_SHOWN} may decide" in said, said
        inert(said)
    finally:
        await worker.stop()
