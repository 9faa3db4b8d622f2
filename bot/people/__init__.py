"""Who is who across surfaces (issue 88): one person whatever surface they decide on, under the approval core.

A person is a value of the core (bot/core/people.py: `PersonId`, `Account`, `Standing`, `Person`, the id grammar).
Each surface answers for its own accounts through a port; `People` merges them by verified email into one stable id.

    ports.py           `AccountDirectory`, the port each surface implements for its accounts; `CannotCheck`;
                       `UserDirectory`, the first surface's users (Slack's) as Teams matches its people by email
    directory.py       `People`: a person by id, by account (the merge, kept in the store), by email; their groups,
                       names, standing; a typed person id checked (`validate`)
    email_accounts.py  `EmailAccounts`: e-mail accounts are their address, verified only from the OIDC identity
    oncall.py          `OnCall`: who is on call now in a schedule (`oncall:<schedule>` approvers), kept a minute
    oncall_providers.py  the on-call providers' APIs (PagerDuty, Opsgenie, Grafana OnCall): emails on call now

May import: `bot.core`, `bot.store` and itself (tests/test_layout.py). Built once by the composition root with the
surfaces' directories (bot/slack/accounts.py, bot/msteams/accounts.py and this package's e-mail one).
"""

from __future__ import annotations

from bot.people.directory import People, Refused
from bot.people.email_accounts import EmailAccounts
from bot.people.ports import AccountDirectory, CannotCheck, DirectoryUser, UserDirectory

__all__ = ["AccountDirectory", "CannotCheck", "DirectoryUser", "EmailAccounts", "People", "Refused", "UserDirectory"]
