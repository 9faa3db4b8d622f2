"""A key's sponsor is a person Slack knows (#87): `python -m bot keys create --sponsor` and `keys sponsor` ask Slack
(`users.info` through SLACK_BOT_TOKEN at SLACK_API_URL: here the local Slack, which answers `user_not_found` as Slack
does). An unknown member, a deactivated one or a bot is refused, exit 2, nothing stored; Slack out of reach is said
and refused too, unless `--no-check` names them unchecked. A real Redis."""

from __future__ import annotations

import pytest

from bot.devslack.model import BOT_USER_ID, DevUser
from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import BOT_TOKEN, CAROL, SALES, free_port
from tests.support.cli import bot_command


def env_of(redis_url: str, api_url: str) -> dict[str, str]:
    return {"REDIS_URL": redis_url, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": api_url}


async def test_an_unknown_deactivated_or_bot_sponsor_is_refused_and_nothing_is_stored(
    slack: SlackStandIn, store: Store, redis_url: str
) -> None:
    env = env_of(redis_url, slack.api_url)
    unknown = await bot_command("keys", "create", "mailer", "--channel", SALES, "--sponsor", "@U0NOBODY", environ=env)
    assert unknown.returncode == 2, unknown
    assert "Slack knows no member U0NOBODY (users.info: user_not_found)" in unknown.stderr
    assert "No key was made" in unknown.stderr and await store.api_keys.get("mailer") is None
    slack.set_user(DevUser(id="U0GONE", name="gone", real_name="Gone Away", deleted=True))
    for person, said in (("U0GONE", "U0GONE is deactivated in Slack"), (BOT_USER_ID, f"{BOT_USER_ID} is a bot")):
        refused = await bot_command("keys", "create", "mailer", "--channel", SALES, "--sponsor", person, environ=env)
        assert refused.returncode == 2 and said in refused.stderr, refused
    assert await store.api_keys.get("mailer") is None

    made = await bot_command("keys", "create", "mailer", "--channel", SALES, "--sponsor", f"@{CAROL}", environ=env)
    assert made.returncode == 0 and f"sponsor:        {CAROL}" in made.stdout, made
    changed = await bot_command("keys", "sponsor", "mailer", "@U0NOBODY", environ=env)
    assert changed.returncode == 2 and "user_not_found" in changed.stderr and "Nothing changed" in changed.stderr
    kept = await store.api_keys.get("mailer")
    assert kept is not None and kept.sponsor == CAROL
    assert [e["sponsor"] for e in await store.audit.entries() if e["event"] == "key_sponsor"] == [CAROL]


@pytest.mark.slow
async def test_slack_out_of_reach_refuses_unless_no_check_says_to_name_them_unchecked(
    store: Store, redis_url: str
) -> None:
    env = env_of(redis_url, f"http://127.0.0.1:{free_port()}/api/")  # nothing listens there
    refused = await bot_command("keys", "create", "mailer", "--channel", SALES, "--sponsor", CAROL, environ=env)
    assert refused.returncode == 2 and "cannot reach Slack" in refused.stderr and "--no-check" in refused.stderr
    assert await store.api_keys.get("mailer") is None
    tokenless = await bot_command("keys", "create", "mailer", "--channel", SALES, "--sponsor", CAROL,
                                  environ={"REDIS_URL": redis_url})
    assert tokenless.returncode == 2 and "SLACK_BOT_TOKEN is not set" in tokenless.stderr
    made = await bot_command("keys", "create", "mailer", "--channel", SALES, "--sponsor", CAROL, "--no-check",
                             environ=env)
    assert made.returncode == 0 and "named without asking Slack (--no-check)" in made.stderr, made
    kept = await store.api_keys.get("mailer")
    assert kept is not None and kept.sponsor == CAROL
