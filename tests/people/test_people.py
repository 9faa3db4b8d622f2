"""Who is who across surfaces (bot/people/, issue 88), against a real worker's parts (who is who built once by the
root), redis-server and the Slack stand-in (its people have emails name@example.com): one person, one id, from a
Slack click and a Teams click with the same verified email, counted once toward a quorum through the one door; a
Teams-only person; an `email:` person; the first id known stays when a Slack account appears later; an unverified
email and a guest's never merge; a directory that cannot say refuses rather than guesses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot.core.people import (
    Account,
    Person,
    email_person,
    is_email_person,
    is_teams_person,
    person_of,
    surface_of,
    teams_person,
)
from bot.devslack.model import DevUser
from bot.devslack.server import SlackStandIn
from bot.msteams.accounts import TeamsAccounts
from bot.people import EmailAccounts, People, Refused
from tests.conftest import BOB, CAROL, SALES, Worker, bot_env, start_worker
from tests.support.api import Client, new_key, tool_ask
from tests.support.people import OID_ANA, OID_BOB, OID_GUS, OID_NOBODY, member, teams_env

DAVE = "U0DAVE"


@pytest.fixture
async def parts(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> AsyncIterator[Worker]:
    """A worker serving Slack and Teams (TEAMS_APP_ID, TEAMS_TENANT_ID, the Teams file)."""
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None, **teams_env(tmp_path)))
    yield worker
    await worker.stop()


def people_of(worker: Worker) -> People:
    return worker.services.who.people


def teams_of(worker: Worker) -> TeamsAccounts:
    return TeamsAccounts(worker.services.who.teams)


async def found(people: People, account: Account | None) -> Person:
    assert account is not None
    person = await people.of(account)
    assert isinstance(person, Person), person
    return person


async def test_a_slack_and_a_teams_click_with_one_verified_email_are_one_person_counted_once(parts: Worker) -> None:
    people = people_of(parts)
    in_slack = await people.of_account("slack", BOB)
    assert isinstance(in_slack, Person) and in_slack.id == BOB and in_slack.email == "bob@example.com"
    in_teams = await found(people, teams_of(parts).of_member(member(OID_BOB, email="BOB@example.com", name="Bob B.")))
    assert in_teams.id == BOB  # one id, whichever surface
    assert [(a.surface, a.id) for a in in_teams.accounts] == [("slack", BOB), ("teams", OID_BOB)]
    assert (in_teams.on("teams") or Account("slack", "")).id == OID_BOB and in_teams.on("email") is None
    kept = await people.person(BOB)  # as every worker reads it: kept in Redis
    assert kept is not None and [a.surface for a in kept.accounts] == ["slack", "teams"]
    assert await people.by_email("bob@example.com") == BOB
    # through the one door: Bob's Slack vote and his Teams vote count once toward a quorum of 2
    store, approvals = parts.services.store, parts.services.approvals
    await store.settings.set(SALES, "approvers", f"{BOB},{CAROL}", by="operator")
    await store.settings.set(SALES, "required_approvals", "2", by="operator")
    status, asked = await Client(parts, (await new_key(parts)).key).ask(tool_ask())
    assert status == 201, asked
    first = await approvals.decisions.decide(in_slack.id, "slack", "approve", approval_id=asked["id"])
    assert first.status == "vote"
    again = await approvals.decisions.decide(in_teams.id, "teams", "approve", approval_id=asked["id"])
    assert again.status == "duplicate"
    carol = await people.of_account("slack", CAROL)
    assert isinstance(carol, Person)
    done = await approvals.decisions.decide(carol.id, "slack", "approve", approval_id=asked["id"])
    assert done.status == "ok" and done.approval is not None and done.approval.voters == [BOB, CAROL]


async def test_a_teams_only_person_and_an_email_person(parts: Worker) -> None:
    people = people_of(parts)
    ana = await found(people, teams_of(parts).of_member(member(OID_ANA, email="ana@contoso.example", name="Ana A.")))
    assert ana.id == teams_person(OID_ANA) and ana.on("slack") is None and ana.email == "ana@contoso.example"
    assert await people.by_email("ana@contoso.example") == ana.id  # her verified email names her from now on
    assert await people.names([ana.id, BOB]) == {ana.id: "Ana A.", BOB: "bob"}
    carol = await people.of_account("email", "Carol.X@Example.org")  # an address typed: an e-mail person
    assert isinstance(carol, Person) and carol.id == "email:carol.x@example.org"
    assert is_email_person(carol.id) and surface_of(carol.id) == "email" and carol.email == ""  # unverified
    assert await people.by_email("carol.x@example.org") is None
    assert await people.person(carol.id) is not None
    nobody = await people.of_account("email", "no address")
    assert isinstance(nobody, Refused) and nobody.reason == "unknown"
    # the grammar: every form, and what is none
    assert [surface_of(p) for p in (BOB, "W0GRID", teams_person(OID_ANA), email_person("A@B.example"), "S0OPS",
                                    "teams:nope", "email:nope", "")] == [
        "slack", "slack", "teams", "email", None, None, None, None]
    assert person_of("teams", OID_ANA.upper()) == teams_person(OID_ANA) and not is_teams_person(BOB)
    with pytest.raises(ValueError):
        email_person("<script>@x")


async def test_the_first_id_stays_when_a_slack_account_appears_later(parts: Worker, slack: SlackStandIn) -> None:
    people = people_of(parts)
    first = await found(people, EmailAccounts.identity("Dave@example.com", verified=True, name="Dave"))
    assert first.id == email_person("dave@example.com")  # nobody in Slack or Teams has it yet
    slack.set_user(DevUser(DAVE, "dave", "Dave D."))  # Dave gets a Slack account with the same email
    later = await people.of_account("slack", DAVE)
    assert isinstance(later, Person) and later.id == first.id
    assert [(a.surface, a.id) for a in later.accounts] == [("slack", DAVE), ("email", "dave@example.com")]
    assert await people.in_groups(first.id, ["S0NONE"]) is False
    slack.set_usergroup("S0OPS", [DAVE])
    assert await people.in_groups(first.id, ["S0OPS"])  # his Slack account answers for Slack's groups
    # two workers racing for one email get one id: the first claimed
    store = parts.services.store.people
    claimed = await asyncio.gather(*(store.claim_email("race@example.com", who) for who in (BOB, CAROL)))
    assert claimed[0] == claimed[1] in (BOB, CAROL)


async def test_an_unverified_email_and_a_guests_never_merge(parts: Worker, slack: SlackStandIn) -> None:
    people = people_of(parts)
    typed = await found(people, Account("teams", OID_NOBODY, email="bob@example.com"))  # not vouched for
    assert typed.id == teams_person(OID_NOBODY) and typed.email == ""
    guest = await found(people, teams_of(parts).of_member(member(OID_GUS, email="carol@example.com", role="guest")))
    assert guest.id == teams_person(OID_GUS) and guest.standing.guest  # never Carol: a guest's email is theirs
    assert await people.by_email("carol@example.com") == CAROL  # (Carol's own, as Slack says)
    carol = next(p for p in slack.people() if p.id == CAROL)
    slack.set_user(replace(carol, guest=True))  # a Slack guest's email names nobody of ours either
    other = await found(people, teams_of(parts).of_member(member(OID_ANA, email="carol@example.com")))
    assert other.id == teams_person(OID_ANA)
    as_guest = await people.of_account("slack", CAROL, fresh=True)
    assert isinstance(as_guest, Person) and as_guest.id == CAROL and as_guest.standing.guest
    assert teams_of(parts).of_member(member(OID_BOB, email="bob@example.com", tenant="another-tenant")) is None


async def test_a_directory_that_cannot_say_refuses_rather_than_guesses(parts: Worker, slack: SlackStandIn) -> None:
    people = people_of(parts)
    slack.fail(method="users.lookupByEmail", status=502, count=1)
    cannot = await people.of(Account("teams", OID_BOB, email="bob@example.com", verified=True))
    assert isinstance(cannot, Refused) and cannot.reason == "cannot_check"
    assert await parts.services.store.people.email_owner("bob@example.com") is None  # nothing kept on a guess
    slack.fail(method="users.info", status=502, count=1)
    refused = await people.of_account("slack", BOB, fresh=True)
    assert isinstance(refused, Refused) and refused.reason == "cannot_check"
    assert await people.validate("teams:nope") == "`teams:nope` names no person"
    assert await people.validate(BOB) is None and await people.validate(teams_person(OID_ANA)) is None
    again = await found(people, Account("teams", OID_BOB, email="bob@example.com", verified=True))
    assert again.id == BOB
