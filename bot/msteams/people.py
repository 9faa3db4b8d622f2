"""Who a Teams decider is (issue 81): a (tenant, Azure AD object id), as an invoke names them, mapped to one person.

- another tenant than TEAMS_TENANT_ID: refused (`other_tenant`), audited, as a Slack Connect outsider is;
- a guest of the tenant (role `guest`): refused (`guest`), unless the Teams file lists them by object id: they then
  decide as that Teams person (`teams:<oid>`), never as a Slack user by email (a guest's email is another
  organisation's: it names nobody of ours);
- the Slack user with the same email (`users.lookupByEmail`: Slack's verified email; the email Teams gives is the
  tenant's, the roster's), when Slack says they are one of ours (not deactivated, not a bot, not a guest
  ALLOWED_GUESTS does not name): one person, whichever surface they click on, so a quorum counts them once;
- else the Teams person the Teams file (TEAMS_FILE) lists by object id or by email: `teams:<oid>`;
- else refused (`unknown`), with words saying how to be added. Slack unable to say: refused (`cannot_check`), never
  mapped on a guess (which could count one person twice).

What an object id maps to is kept in Redis for `DECIDER_SECONDS` (`store.msteams.keep_decider`), so every worker maps a
click alike; a Teams person no longer listed is refused at once. A Teams-only person's name (the Teams file's, else
what Teams said of them when the app learnt them or they clicked) is kept with their account
(`store.msteams.keep_account`), so that every worker's Slack surfaces show them by it (`store.msteams.names`).

The Slack users come from the directory the root gives (`UserDirectory`, bot/people/ports.py: Slack's `Directory`);
Slack unable to say is the core's `CannotCheck`. Example:
    `people = TeamsPeople(settings, store, directory); person = await people.decider(member)`
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from bot.approvals import REFUSAL_QUIET  # one audit entry a person and reason in it (the others counted)
from bot.core.msteams import OBJECT_ID, TEAMS_PREFIX, TeamsConversation, TeamsMember, is_teams_person, teams_person
from bot.core.msteams_file import TeamsFilePerson
from bot.core.settings import Settings
from bot.people import CannotCheck, UserDirectory
from bot.store import Store
from bot.store.msteams import TeamsAccount

log = logging.getLogger(__name__)

DECIDER_SECONDS = 3600  # how long an object id's person is kept (as the directory keeps a person)
Reason = Literal["other_tenant", "guest", "unknown", "cannot_check"]
PeopleCheck = Callable[..., Awaitable[tuple[str, str] | None]]  # (user, *, said_team="") -> None, or (why, words)
WORDS: dict[Reason, str] = {
    "other_tenant": "Only people of this company's own Microsoft Teams organisation may decide here, and your account"
                    " is of another one: nothing was done.",
    "guest": "Guests may not decide here unless the bot's operator lists them (by object id) in its Teams file:"
             " nothing was done.",
    "unknown": "The bot does not know who you are: ask its operator to add your email or Azure AD object id to its"
               " Teams file (TEAMS_FILE), or to give you a Slack account with your email. Nothing was done.",
    "cannot_check": "The bot cannot tell who you are right now (Slack did not answer): nothing was done. Try again"
                    " in a minute.",
}
NOT_LISTED = ("This Teams account is no longer in the bot's Teams file, so it may not act here: nothing was done."
              " Ask the bot's operator.")


@dataclass(frozen=True, slots=True)
class Refused:
    """A Teams decider refused: why (`other_tenant`, `guest`, `unknown`, `cannot_check`) and what they are told."""

    reason: Reason
    words: str


class TeamsPeople:
    """Teams deciders mapped to people, their Teams accounts and names (see the module)."""

    def __init__(self, settings: Settings, store: Store, directory: UserDirectory) -> None:
        self._tenant = settings.teams_tenant_id.strip().lower()
        self._listed = settings.teams_listed
        self._guests = frozenset(settings.allowed_guests)
        self._on = bool(settings.teams_app_id)
        self._store = store
        self._directory = directory

    async def decider(self, member: TeamsMember) -> str | Refused:
        """The person `member` decides as, or why not (refusals audited: `refused`, reason `outsider: ...`,
        surface `teams`, at most one entry a person and reason every `REFUSAL_QUIET` seconds)."""
        found = await self._decider(member)
        if isinstance(found, Refused):
            await self._audit(member, found)
        elif is_teams_person(found):  # their name as the Slack surfaces show it, as Teams says it now
            await self._remember(found, member, None, changed_only=True)
        return found

    async def learn(self, member: TeamsMember, conversation: TeamsConversation | None) -> None:
        """Keep `member`'s Teams account (their ids, name, and their personal chat when `conversation` is one) when
        they map to a person; nothing for one refused (not audited: the app was added where they are)."""
        person = await self._decider(member)
        if not isinstance(person, Refused):
            await self._remember(person, member, conversation)

    async def _remember(self, person: str, member: TeamsMember, conversation: TeamsConversation | None, *,
                        changed_only: bool = False) -> None:
        """Keep `person`'s Teams account as `member` shows it (their name: the Teams file's, else Teams'); with
        `changed_only`, only when their name or Teams user id is new."""
        kept = await self._store.msteams.account(person)
        listed = await self._file_person(person.removeprefix(TEAMS_PREFIX)) if is_teams_person(person) else None
        name = (listed.name if listed else "") or member.name or (kept.name if kept else "")
        user_id = member.user_id or (kept.user_id if kept else "")
        if changed_only and kept is not None and (kept.name, kept.user_id) == (name, user_id):
            return
        chat = conversation.id if conversation is not None and conversation.kind == "personal" else ""
        await self._store.msteams.keep_account(person, TeamsAccount(
            conversation=chat or (kept.conversation if kept else ""), user_id=user_id,
            object_id=member.object_id.strip().lower(), tenant_id=member.tenant_id, name=name))

    async def accounts(self, people: Sequence[str]) -> dict[str, TeamsAccount]:
        """The Teams side of these person ids, those known (a card's refresh `userIds`, personal chats)."""
        found: dict[str, TeamsAccount] = {}
        for person in dict.fromkeys(people):
            account = await self._store.msteams.account(person)
            if account is not None:
                found[person] = account
        return found

    async def names(self, people: Sequence[str]) -> dict[str, str]:
        """A display name for each person id: a Teams person's as the Teams file (else Teams) names them, a Slack
        user's as Slack does; the id itself when none is known."""
        names: dict[str, str] = {}
        for person in dict.fromkeys(people):
            if is_teams_person(person):
                listed = await self._file_person(person.removeprefix(TEAMS_PREFIX))
                account = None if listed and listed.name else await self._store.msteams.account(person)
                names[person] = (listed.name if listed else "") or (account.name if account else "") or person
            else:
                names[person] = await self._directory.name_of(person) or person
        return names

    async def by_email(self, email: str) -> str | None:
        """Who a verified email (the pages' sign-in, OIDC_ISSUER) is: the Slack user with it, else (Teams served)
        the Teams person the Teams file lists with it; None when nobody (or Slack cannot say now)."""
        try:
            user = await self._directory.user_by_email(email, strict=True)
        except CannotCheck:
            return None
        if user is not None or not self._on:
            return user
        listed = self._listed.by_email(email)
        if listed is None:
            return None
        oid = listed.object_id or await self._store.msteams.object_id_of(listed.email)
        return teams_person(oid) if oid else None

    async def listed(self, person: str) -> bool:
        """Whether Teams person `person` (`teams:<oid>`) is one of ours: Teams served, and the Teams file lists them
        (by object id, or by the email Teams named them with)."""
        if not self._on or not is_teams_person(person):
            return False
        return await self._file_person(person.removeprefix(TEAMS_PREFIX)) is not None

    @property
    def directory(self) -> UserDirectory:
        """The Slack directory it asks (people by email), as the root gave it."""
        return self._directory

    @property
    def serving(self) -> bool:
        """Whether Teams is served (TEAMS_APP_ID set)."""
        return self._on

    def home_tenant(self, tenant_id: str) -> bool:
        """Whether `tenant_id` is the company's own tenant (TEAMS_TENANT_ID)."""
        return bool(self._tenant) and tenant_id.strip().lower() == self._tenant

    def listed_by_email(self, email: str) -> TeamsFilePerson | None:
        """The Teams file's person listed with `email`."""
        return self._listed.by_email(email)

    async def object_id_of(self, email: str) -> str | None:
        """The object id Teams named a person listed by email only with (kept when they were learnt)."""
        return await self._store.msteams.object_id_of(email)

    async def kept_account(self, person: str) -> TeamsAccount | None:
        """`person`'s Teams account as kept."""
        return await self._store.msteams.account(person)

    async def file_person(self, oid: str) -> TeamsFilePerson | None:
        """The Teams file's person of object id `oid`: listed by it, or by the email Teams named them with."""
        return await self._file_person(oid)

    async def _file_person(self, oid: str) -> TeamsFilePerson | None:
        """The Teams file's person of object id `oid`: listed by it, or by the email Teams named them with."""
        if (listed := self._listed.by_object_id(oid)) is not None:
            return listed
        for listed in self._listed.people:
            if listed.email and not listed.object_id and await self._store.msteams.object_id_of(listed.email) == oid:
                return listed
        return None

    def checking(self, slack: PeopleCheck) -> PeopleCheck:
        """"Only our own people" for the pages and step-up votes: a Teams person while the Teams file lists them,
        a Slack user as `slack` checks them."""

        async def check(user: str, *, said_team: str = "") -> tuple[str, str] | None:
            if is_teams_person(user):
                return None if await self.listed(user) else ("not in the Teams file", NOT_LISTED)
            return await slack(user, said_team=said_team)

        return check

    # the mapping -------------------------------------------------------------------------
    async def _decider(self, member: TeamsMember) -> str | Refused:
        oid = member.object_id.strip().lower()
        if not self._on or not self._tenant or member.tenant_id.strip().lower() != self._tenant:
            return Refused("other_tenant", WORDS["other_tenant"])
        if not OBJECT_ID.fullmatch(oid):
            return Refused("unknown", WORDS["unknown"])
        role = member.role.strip().lower()
        if role == "guest":
            listed = self._listed.by_object_id(oid) is not None
            return teams_person(oid) if listed else Refused("guest", WORDS["guest"])
        if role not in ("", "user"):  # `anonymous` (a meeting's), a bot: nobody of ours
            return Refused("unknown", WORDS["unknown"])
        try:
            kept = await self._store.msteams.decider(oid)
            if kept is not None and await self._still(kept, oid):
                return kept
            person = await self._resolve(oid, member.email)
        except CannotCheck as exc:
            log.warning("a Teams decider could not be mapped: Slack did not answer (%s)", exc)
            return Refused("cannot_check", WORDS["cannot_check"])
        if isinstance(person, Refused):
            return person
        await self._store.msteams.keep_decider(oid, person, seconds=DECIDER_SECONDS)
        return person

    async def _resolve(self, oid: str, email: str) -> str | Refused:
        """The Slack user with `email` (one of ours), else the Teams file's person; CannotCheck when Slack cannot
        say."""
        email = email.strip().lower()
        user = await self._directory.user_by_email(email, strict=True) if email else None
        if user is not None:
            person = await self._directory.person(user, fresh=True)
            if person is not None and not person.deleted and not person.bot:
                if person.guest and user not in self._guests:
                    return Refused("guest", WORDS["guest"])
                return user
        if self._listed.by_object_id(oid) is not None:
            return teams_person(oid)
        listed = self._listed.by_email(email) if email else None
        if listed is None:
            return Refused("unknown", WORDS["unknown"])
        await self._store.msteams.keep_email(listed.email, oid)
        return teams_person(oid)

    async def _still(self, kept: str, oid: str) -> bool:
        """Whether the person kept for `oid` still stands: a Teams person the file still lists, a Slack user Slack
        (as the directory keeps them) still says is active."""
        if is_teams_person(kept):
            return kept == teams_person(oid) and await self.listed(kept)
        person = await self._directory.person(kept)
        return person is not None and not person.deleted and (not person.guest or kept in self._guests)

    async def _audit(self, member: TeamsMember, refused: Refused) -> None:
        oid = member.object_id.strip().lower()
        who = teams_person(oid) if OBJECT_ID.fullmatch(oid) else "teams:?"
        await self._store.audit.refusal(
            f"outsider:{who}:{refused.reason}", "refused", window=REFUSAL_QUIET, by=who, surface="teams",
            tenant=member.tenant_id[:64], reason=f"outsider: {refused.reason}")
