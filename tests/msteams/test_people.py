"""Who a Teams decider is (bot/msteams/people.py, issue 81.4), against a real worker's parts, redis-server and the
Slack stand-in (its people have emails name@example.com): the Slack user with the same email (one person, counted
once toward a quorum whichever surface they click on), else the Teams file's person by object id or by email;
another tenant, a guest and an unknown person refused and audited; a Teams-only approver deciding through the
one door (`Decisions.decide(person, "teams", verb)`); the Teams file's errors, naming their line."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot.core.msteams import TeamsConversation, teams_person
from bot.core.msteams_file import TeamsFileError, TeamsRoute, read_teams_file
from bot.core.settings import Settings, SettingsError
from bot.devslack.model import DevTeam, DevUser
from bot.devslack.server import SlackStandIn
from bot.msteams.people import Refused, TeamsPeople
from tests.conftest import ALICE, BOB, CAROL, SALES, Worker, bot_env, free_port, name_admins, start_worker
from tests.support.api import Client, new_key, tool_ask
from tests.support.homes import say
from tests.support.passkeys import Authenticator
from tests.support.people import (
    OID_ANA,
    OID_BOB,
    OID_GUS,
    OID_NOBODY,
    OID_TINA,
    OID_VAL,
    TEAMS_FILE,
    TENANT,
    member,
    teams_env,
)
from tests.support.signin import pages_client, sign_in
from tests.support.stepup import ORIGIN, confirm, enrol

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def teams_parts(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> AsyncIterator[Worker]:
    """A worker serving Teams (TEAMS_APP_ID, TEAMS_TENANT_ID, the Teams file)."""
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None, **teams_env(tmp_path)))
    slack.events_url = worker.url + "/slack/events"
    yield worker
    await worker.stop()


def people_of(worker: Worker) -> TeamsPeople:
    parts = worker.services
    return TeamsPeople(parts.settings, parts.store, parts.directory)


async def refusals(worker: Worker) -> list[tuple[str, str, str]]:
    return [(e["by"], e["reason"], e.get("surface", "")) for e in await worker.services.store.audit.entries()
            if e["event"] == "refused"]


async def test_the_same_email_is_the_slack_user_and_a_quorum_counts_them_once(
    teams_parts: Worker, slack: SlackStandIn,
) -> None:
    people = people_of(teams_parts)
    bob = member(OID_BOB, email="BOB@example.com", name="Bob B.")
    assert await people.decider(bob) == BOB
    assert [c.args.get("email") for c in slack.calls("users.lookupByEmail")] == ["bob@example.com"]
    # every worker maps him alike: kept in Redis (another worker's parts ask Slack nothing more)
    assert await teams_parts.services.store.msteams.decider(OID_BOB) == BOB
    assert await people_of(teams_parts).decider(bob) == BOB
    assert len(slack.calls("users.lookupByEmail")) == 1

    store = teams_parts.services.store
    await store.settings.set(SALES, "approvers", f"{BOB},{CAROL}", by="operator")
    await store.settings.set(SALES, "required_approvals", "2", by="operator")
    status, asked = await Client(teams_parts, (await new_key(teams_parts)).key).ask(tool_ask())
    assert status == 201, asked
    approvals = teams_parts.services.approvals
    first = await approvals.decisions.decide(BOB, "slack", "approve", approval_id=asked["id"])
    assert first.status == "vote"
    again = await approvals.decisions.decide(BOB, "teams", "approve", approval_id=asked["id"])
    assert again.status == "duplicate"  # Bob in Teams is Bob: his second click counts nothing
    record = await store.approvals.get(asked["id"])
    assert record is not None and record.pending and record.votes.split(",") == [BOB]
    done = await approvals.decisions.decide(CAROL, "slack", "approve", approval_id=asked["id"])
    assert done.status == "ok" and done.approval is not None and done.approval.decided_by == CAROL


async def test_a_teams_only_person_is_the_files_by_object_id_or_by_email(teams_parts: Worker) -> None:
    people = people_of(teams_parts)
    ana = member(OID_ANA, email="ana@contoso.example", name="Ana (Teams)")
    tina = member(OID_TINA, email="tina@example.com")
    assert await people.decider(ana) == teams_person(OID_ANA)  # nobody in Slack has her email: the file's, by oid
    assert await people.decider(tina) == teams_person(OID_TINA)  # by email: her object id as Teams gives it
    assert await people.decider(member(OID_TINA)) == teams_person(OID_TINA)  # kept: no email needed any more
    # their Teams side, kept when mapped (their personal chat with the bot where the app was added)
    chat = TeamsConversation("a:1ana", "http://127.0.0.1:1/", TENANT, "personal")
    await people.learn(ana, chat)
    await people.learn(ana, TeamsConversation("19:sales@thread.tacv2", "http://127.0.0.1:1/", TENANT, "channel"))
    await people.learn(member(OID_NOBODY, email="nobody@contoso.example"), chat)  # unknown: nothing kept
    accounts = await people.accounts([teams_person(OID_ANA), teams_person(OID_NOBODY), BOB])
    assert list(accounts) == [teams_person(OID_ANA)]
    assert (accounts[teams_person(OID_ANA)].conversation, accounts[teams_person(OID_ANA)].user_id) == (
        "a:1ana", f"29:{OID_ANA[:8]}")
    assert await people.names([teams_person(OID_ANA), teams_person(OID_TINA), BOB]) == {
        teams_person(OID_ANA): "Ana", teams_person(OID_TINA): "Tina", BOB: "bob"}
    assert await people.listed(teams_person(OID_TINA)) and not await people.listed(teams_person(OID_NOBODY))


async def test_the_name_slack_shows_a_teams_only_person_by_is_kept_as_they_click(
        slack: SlackStandIn, redis_url: str, tmp_path: Path) -> None:
    """The Teams file's name, else what Teams said of them at their last click, kept in Redis for every worker's
    Slack surfaces (`store.msteams.names`)."""
    listed = tmp_path / "named.yaml"
    listed.write_text(f"people:\n  - {{object_id: {OID_ANA}, name: Ana}}\n  - {{object_id: {OID_VAL}}}\n")
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None,
                                        **teams_env(tmp_path, TEAMS_FILE=str(listed))))
    try:
        people, store = people_of(worker), worker.services.store
        ana, val = teams_person(OID_ANA), teams_person(OID_VAL)
        assert await store.msteams.names([ana, val, BOB]) == {}  # never seen in Teams: no name kept
        assert await people.decider(member(OID_ANA, name="Ana A.")) == ana
        assert await people.decider(member(OID_VAL, name="Val <!here> *V*")) == val
        assert await store.msteams.names([ana, val, BOB]) == {ana: "Ana", val: "Val <!here> *V*"}  # (made inert where
        assert await people.decider(member(OID_VAL, name="Valerie")) == val  # shown); renamed in Teams since
        assert await store.msteams.names([val]) == {val: "Valerie"}
    finally:
        await worker.stop()


async def test_another_tenant_a_guest_and_an_unknown_person_are_refused_and_audited(
    teams_parts: Worker, slack: SlackStandIn,
) -> None:
    people = people_of(teams_parts)
    elsewhere = "99999999-0000-4000-8000-000000000009"
    other = await people.decider(member(OID_BOB, email="bob@example.com", tenant=elsewhere))
    assert isinstance(other, Refused) and other.reason == "other_tenant" and "othing was done" in other.words
    guest = await people.decider(member(OID_GUS, email="carol@example.com", role="guest"))
    assert isinstance(guest, Refused) and guest.reason == "guest"  # never Carol by her email: a guest's is theirs
    # a guest the file lists by object id decides as that Teams person
    assert await people.decider(member(OID_VAL, email="val@partner.example", role="guest")) == teams_person(OID_VAL)
    anonymous = await people.decider(member(OID_ANA, role="anonymous"))  # (Ana's id, yet not Ana signed in)
    assert isinstance(anonymous, Refused) and anonymous.reason == "unknown"
    unknown = await people.decider(member(OID_NOBODY, email="nobody@contoso.example"))
    assert isinstance(unknown, Refused) and unknown.reason == "unknown" and "TEAMS_FILE" in unknown.words
    assert await teams_parts.services.store.msteams.decider(OID_NOBODY) is None  # a refusal is never kept
    assert await refusals(teams_parts) == [
        (teams_person(OID_BOB), "outsider: other_tenant", "teams"), (teams_person(OID_GUS), "outsider: guest", "teams"),
        (teams_person(OID_ANA), "outsider: unknown", "teams"), (teams_person(OID_NOBODY), "outsider: unknown", "teams")]

    # Slack unable to say: refused, never mapped on a guess (Bob is no Teams person of the file)
    slack.fail(method="users.lookupByEmail", status=502, count=1)
    cannot = await people.decider(member(OID_BOB, email="bob@example.com"))
    assert isinstance(cannot, Refused) and cannot.reason == "cannot_check"
    assert await teams_parts.services.store.msteams.decider(OID_BOB) is None
    assert await people.decider(member(OID_BOB, email="bob@example.com")) == BOB


async def test_a_slack_user_deactivated_since_is_mapped_again(teams_parts: Worker, slack: SlackStandIn) -> None:
    people = people_of(teams_parts)
    assert await people.decider(member(OID_BOB, email="bob@example.com")) == BOB
    bob = next(p for p in slack.people() if p.id == BOB)
    slack.set_user(replace(bob, deleted=True))
    fresh = TeamsPeople(teams_parts.services.settings, teams_parts.services.store,
                        type(teams_parts.services.directory)(teams_parts.services.slack))  # another worker's
    gone = await fresh.decider(member(OID_BOB, email="bob@example.com"))
    assert isinstance(gone, Refused) and gone.reason == "unknown"


async def test_a_teams_only_approver_decides_through_the_one_door(teams_parts: Worker, slack: SlackStandIn) -> None:
    store, approvals = teams_parts.services.store, teams_parts.services.approvals
    ana, tina = teams_person(OID_ANA), teams_person(OID_TINA)
    await name_admins(teams_parts, ALICE)  # a channel admin names a Teams-only person among the approvers
    said = await say(slack, f"config approvers teams:{OID_ANA.upper()} @carol")
    assert "Bad approvers" not in said and "cannot be found" not in said, said
    assert (await store.settings.get(SALES, default_timeout=600)).approvers == (ana, CAROL)
    status, asked = await Client(teams_parts, (await new_key(teams_parts)).key).ask(tool_ask())
    assert status == 201, asked
    refused = await approvals.decisions.decide(tina, "teams", "approve", approval_id=asked["id"])
    assert refused.status == "not_allowed"  # a Teams person the approvers do not name
    done = await approvals.decisions.decide(ana, "teams", "approve", approval_id=asked["id"])
    assert done.status == "ok" and done.approval is not None and done.approval.decided_by == ana
    entries = await store.audit.entries()
    decided = [e for e in entries if e["event"] == "decision" and e.get("approval") == asked["id"]]
    assert [(e["by"], e["outcome"], e.get("surface")) for e in decided] == [(ana, "approved", "teams")]
    assert [e["by"] for e in entries if e["event"] == "refused" and e.get("approval") == asked["id"]] == [tina]


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "teams.yaml"
    path.write_text(text)
    return str(path)


def test_the_teams_file_is_read_as_written(tmp_path: Path) -> None:
    listed = read_teams_file(write(tmp_path, TEAMS_FILE))
    assert [(p.email, p.object_id, p.name) for p in listed.people] == [
        ("", OID_ANA, "Ana"), ("tina@example.com", "", "Tina"), ("", OID_VAL, "Val")]
    assert dict(listed.routes) == {SALES: TeamsRoute("19:sales@thread.tacv2", personal=True)}
    assert read_teams_file(write(tmp_path, "")).people == ()


@pytest.mark.parametrize(("text", "said"), [
    ("people:\n  - {name: Ana}\n", "line 2: a person needs `email` or `object_id`"),
    ("people:\n  - {email: a@b.c}\n  - {object_id: not-a-guid}\n", "line 3: `object_id` is no Azure AD object id"),
    ("people:\n  - {email: a@b.c}\n  - {email: A@B.C}\n", "line 3: this person is listed twice"),
    ("people:\n  - {email: nope}\n", "line 2: `email` is not an email address"),
    ("people:\n  - {email: a@b.c, phone: 1}\n", "line 2: unknown key `phone`"),
    ("people: {email: a@b.c}\n", "line 1: `people` must be a list"),
    ("routes:\n  sales: {conversation: '19:x@thread.tacv2'}\n", "line 2: `sales` is no channel id"),
    ("routes:\n  C0SALES: {conversation: 'no spaces here'}\n", "line 2: `conversation` must be a Teams conversation"),
    ("routes:\n  C0SALES:\n    conversation: '19:x@thread.tacv2'\n    personal: maybe\n",
     "line 4: `personal` must be true or false"),
    ("channels: {}\n", "line 1: unknown key `channels`"),
    ("people:\n  - {email: [a@b.c\n", "line 3: not YAML"),
])
def test_a_bad_teams_file_is_refused_naming_its_line(tmp_path: Path, text: str, said: str) -> None:
    with pytest.raises(TeamsFileError) as refused:
        read_teams_file(write(tmp_path, text))
    assert said in str(refused.value) and str(refused.value).startswith("TEAMS_FILE line")
    # the worker's settings refuse to start with it (as `python -m bot` reads them)
    with pytest.raises(SettingsError, match="TEAMS_FILE line"):
        Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "APPROVALS_CHANNEL": SALES,
                           "TEAMS_FILE": str(tmp_path / "teams.yaml")})


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_a_teams_person_confirms_a_step_up_on_the_bots_page(
    slack: SlackStandIn, redis_url: str, tmp_path: Path,
) -> None:
    """#81.4: a Teams-only approver whose Approve needs step-up signs in on the bot's page with the company's
    provider (OIDC_ISSUER; the local Slack plays it, knowing Tina, whom the bot's Slack workspace does not), is
    matched by her verified email to her Teams person, and her passkey's vote counts as that same person."""
    slack.add_team(DevTeam(id="T0IDP", name="Directory", domain="directory"))  # the provider's people, not Slack's
    slack.set_user(DevUser(id="U0TINA", name="tina", real_name="Tina", team_id="T0IDP"))
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None, STEP_UP_URL=ORIGIN,
                                        OIDC_ISSUER=slack.base_url, **teams_env(tmp_path)))
    slack.events_url = worker.url + "/slack/events"
    try:
        tina = teams_person(OID_TINA)
        assert await people_of(worker).decider(member(OID_TINA, email="tina@example.com")) == tina  # seen in Teams
        store, approvals = worker.services.store, worker.services.approvals
        await store.settings.set(SALES, "approvers", tina, by="operator")
        await store.settings.set(SALES, "step_up", "always", by="operator")
        status, asked = await Client(worker, (await new_key(worker)).key).ask(tool_ask())
        assert status == 201, asked

        async with pages_client() as http:
            path = (await worker.services.stepup.link(tina)).removeprefix(ORIGIN)
            called = await sign_in(http, worker.url, path, person="U0TINA")  # as Tina, at the company's provider
            assert called.status == 302 and called.headers["Location"] == path
            tinas = Authenticator()
            await enrol(worker, http, tina, tinas)

            clicked = await approvals.decisions.decide(tina, "teams", "approve", approval_id=asked["id"])
            assert clicked.status == "step_up" and clicked.approval is not None
            link = await worker.services.confirmations.link(tina, clicked.approval)
            assert link is not None
            status, said = await confirm(http, worker, link.removeprefix(ORIGIN), tinas)
            assert status == 200 and said["status"] == "ok", said
        record = await store.approvals.get(asked["id"])
        assert record is not None and record.status == "approved" and record.decided_by == tina
        decision = [e for e in await store.audit.entries() if e["event"] == "decision" and e["approval"] == asked["id"]]
        assert [e["by"] for e in decision] == [tina] and "amr" in decision[0]
    finally:
        await worker.stop()


async def test_slack_is_never_asked_about_a_teams_only_approver(teams_parts: Worker, slack: SlackStandIn) -> None:
    """A Teams-only approver has no Slack account: a channel delivering by direct message opens none for them (Carol
    gets hers), and no Slack Home is drawn for them, even for an approval at risk (every decider's Home)."""
    store, ana = teams_parts.services.store, teams_person(OID_ANA)
    await store.settings.set(SALES, "approvers", f"{ana},{CAROL}", by="operator")
    await store.settings.set(SALES, "deliver", "both", by="operator")
    status, asked = await Client(teams_parts, (await new_key(teams_parts)).key).ask(tool_ask())
    assert status == 201, asked
    record = await store.approvals.get(asked["id"])
    assert record is not None
    assert [c.args.get("users") for c in slack.calls("conversations.open")] == [CAROL]
    assert len(record.copies) == 1 and record.copies[0].startswith("D")
    urgent = await teams_parts.services.homes.affected(replace(record, sla_state="at_risk"))
    assert CAROL in urgent and ana not in urgent
    slack.set_usergroup("S0REVIEWERS", [CAROL])  # a page's "is she in the approvers' groups": no, without asking
    people, directory = teams_parts.services.who.people, teams_parts.services.directory
    assert not await people.in_groups(ana, ["S0REVIEWERS"]) and slack.calls("usergroups.users.list") == []
    assert await directory.name_of(ana) is None  # (a page's "this page is for ...": Slack knows no such person)
    assert [c for c in slack.calls("users.info") if c.args.get("user") == ana] == []


@pytest.mark.slow
def test_a_worker_with_a_bad_teams_file_does_not_start(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> None:
    """`python -m bot` with a bad TEAMS_FILE stops at once (exit 2), one line naming the file's line."""
    env = {**os.environ, **bot_env(slack=slack, redis_url=redis_url, model_config=None), "PORT": str(free_port()),
           "TEAMS_FILE": write(tmp_path, "people:\n  - {email: a@b.c}\n  - {name: x}\n")}
    done = subprocess.run([sys.executable, "-m", "bot"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done
    assert done.stderr.strip().splitlines() == ["error: TEAMS_FILE line 3: a person needs `email` or `object_id`"]
