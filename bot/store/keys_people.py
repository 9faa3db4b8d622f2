"""The keys of who is who (issue 88; bot/store/people.py), apart from bot/store/keys.py, which is full.

{p}:person:<user>             string  who a Slack user is (`users.info`), shared     an hour (keys.py: `person`)
{p}:people:email              hash    verified email -> the person id it names       kept; set once (HSETNX): the
                                      (bot/people/directory.py merges by it)         first id known stays
{p}:people:<person>           hash    a person: {name, email, accounts (JSON list of kept; rewritten as their
                                      {surface, id, email, verified, name})}         accounts change

`{p}` is the tenant's prefix (`Keys.prefix`); `<person>` is a person id (`U…`, `teams:<oid>`, `email:<address>`).
"""

from __future__ import annotations


def people_email(prefix: str) -> str:
    """The hash of verified email -> person id."""
    return f"{prefix}:people:email"


def person_record(prefix: str, person: str) -> str:
    """A person's record (their accounts, name, email)."""
    return f"{prefix}:people:{person}"
