"""Save & approve from Teams, as the Slack field form's (bot/approvals/edits.py `Edits.approve`): a run's own call
(the bot's run, a replayed model) routed to a Teams channel; a Teams-only approver edits one field and chooses Save &
approve: the call is sent back edited, the agent asks about the edited call, and its editor's approval of it goes
through the decide step, audited `surface: teams`; a replayed invoke counts once (one email sent); a program's ask is
refused Save & approve in words, nothing sent."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bot.devmsteams.simulate import deliver, invoke
from bot.msteams.invokes import FOR_RUNS_ONLY
from tests.conftest import BOB, SALES
from tests.support.api import EMAIL as ASKED
from tests.support.hitl import audit_events, call, nth_card, replay, start, until, write_config
from tests.support.homes import approval_id_of
from tests.support.passkeys import Authenticator
from tests.support.signin import pages_client
from tests.support.stepup import ORIGIN, confirm, enrol
from tests.support.teams import World, field_inputs, notice_of, shown_notice, verbs

EMAIL = {"to": "bob@example.com", "subject": "Price change", "body": "Dear Bob,\nPrices change on May 1."}
TASK = "--team email Tell bob@example.com about the price change"
SAVE_APPROVE = "save_approve"
TEAMS_LINK = re.compile(re.escape(ORIGIN) + r"(/step-up/vote/[A-Za-z0-9_-]+)")


@pytest.fixture
def world_env(tmp_path: Path) -> dict[str, str]:
    model = replay(call("send_email", EMAIL), "Sent it to Carol.")
    return {"MODEL_CONFIG": str(write_config(tmp_path, model)), "OUTBOX_DIR": str(tmp_path / "outbox"),
            "CODE_WORK_DIR": str(tmp_path / "code"), "STEP_UP_URL": ORIGIN}


def outbox(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "outbox"
    return sorted(folder.glob("*.eml")) if folder.exists() else []


def as_sent(world: World, activity: str, member: str = "", **edited: str) -> dict[str, str]:
    """The Revise form's inputs as `member` (Dana) sees them, sent as Teams sends them (text), the edited ones as
    typed."""
    inputs = field_inputs(world.card_now(activity, member or world.dana))
    return {field["id"]: edited.get(name, value if isinstance(value := field["value"], str) else json.dumps(value))
            for name, field in inputs.items()}


@pytest.mark.slow  # over 0.5 s of CPU (docs/contributors/tests.md)
async def test_save_and_approve_from_teams_approves_the_edited_call_once(world: World, tmp_path: Path) -> None:
    await start(world.slack, TASK)
    first = approval_id_of(await nth_card(world.slack, 1))
    activity = await world.teams_card(first)
    await world.teams.refresh(world.channel, activity, world.dana)
    assert SAVE_APPROVE in verbs(world.card_now(activity, world.dana))  # (a run's own call: offered)
    body = await world.execute(activity, world.dana, SAVE_APPROVE, first, reason="",
                               **as_sent(world, activity, to="carol@example.com"))
    assert "Nothing was" not in notice_of(body)
    invoke = world.teams.delivered[-1].activity  # the Save & approve, as Teams sent it
    sent = await until(lambda: outbox(tmp_path), what="the edited email, approved by its editor")
    assert "carol@example.com" in sent[0].read_text()
    edited = approval_id_of(await nth_card(world.slack, 2))
    got = await world.worker.services.store.approvals.get(edited)
    assert got is not None and got.status == "approved" and json.loads(got.arguments)["to"] == "carol@example.com"
    again = await deliver(world.teams.messaging_url, invoke, world.teams.signin.bot_token())  # a retry, replayed
    assert again.status == 200 and "already" in notice_of(again.body)
    decisions = [(e["approval"], e["outcome"], e["by"], e["surface"])
                 for e in await audit_events(world.worker, "decision")]
    assert decisions == [(first, "revised", world.dana_person, "teams"), (edited, "approved", world.dana_person,
                                                                          "teams")]
    assert len(outbox(tmp_path)) == 1  # sent once


async def test_save_and_approve_of_a_programs_ask_is_refused_and_nothing_is_sent(world: World) -> None:
    approval = await world.ask()
    activity = await world.teams_card(approval)
    await world.teams.refresh(world.channel, activity, world.dana)
    assert SAVE_APPROVE not in verbs(world.card_now(activity, world.dana))  # not offered, as Slack's
    state = world.teams.state  # a crafted client sends it anyway, with an edit
    sent = invoke(state, state.conversation(world.channel), state.members[world.dana], world.teams.url,
                  activity_id=activity, action={"verb": SAVE_APPROVE}, trigger="manual",
                  data={"approval": approval, "reason": "", **as_sent(world, activity, to="carol@example.com")})
    answer = await deliver(world.teams.messaging_url, sent, world.teams.signin.bot_token())
    assert answer.status == 200 and shown_notice(answer.body["value"]) == FOR_RUNS_ONLY
    got = await world.worker.services.store.approvals.get(approval)
    assert got is not None and got.status == "pending" and got.feedback == "" and json.loads(got.arguments) == ASKED
    assert [e for e in await audit_events(world.worker, "decision") if e.get("approval") == approval] == []


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_save_and_approve_from_teams_needing_step_up_sends_its_editor_the_pages_link(
        world: World, tmp_path: Path) -> None:
    """The edited call needs step-up: its Teams editor (Bob) is sent the page's one-time link in their personal chat
    with the bot; nothing is sent until they confirm with their passkey, then the approval says `surface: teams`."""
    assert await world.worker.services.store.settings.set(SALES, "step_up", "always", by="operator") is None
    async with pages_client() as http:
        bobs = Authenticator()
        await enrol(world.worker, http, BOB, bobs)
        await start(world.slack, TASK)
        first = approval_id_of(await nth_card(world.slack, 1))
        activity = await world.teams_card(first)
        await world.teams.refresh(world.channel, activity, world.bob)
        body = await world.execute(activity, world.bob, SAVE_APPROVE, first, reason="",
                                   **as_sent(world, activity, world.bob, to="carol@example.com"))
        assert "Nothing was" not in notice_of(body)

        def told() -> list[str]:
            chat = world.teams.personal_chat(world.bob)
            shown = json.dumps(world.teams.activities(chat)).replace("\\\\", "") if chat else ""
            return sorted(set(TEAMS_LINK.findall(shown)))

        [path] = await until(told, what="the step-up link in Bob's personal chat")
        edited = approval_id_of(await nth_card(world.slack, 2))
        got = await world.worker.services.store.approvals.get(edited)
        assert got is not None and got.status == "pending" and not outbox(tmp_path)  # nothing before the passkey
        status, said = await confirm(http, world.worker, path, bobs)
        assert (status, said["status"]) == (200, "ok"), said
    sent = await until(lambda: outbox(tmp_path), what="the edited email")
    assert "carol@example.com" in sent[0].read_text()
    decisions = [(e["approval"], e["outcome"], e["by"], e["surface"], e.get("amr", ""))
                 for e in await audit_events(world.worker, "decision")]
    assert decisions == [(first, "revised", BOB, "teams", ""), (edited, "approved", BOB, "teams", "pop mfa")]
