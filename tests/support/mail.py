"""The e-mail surface from a test (issue 88): a worker's environment with the local mail catcher (SMTP_URL) and the
local Slack playing the company's identity provider (OIDC_ISSUER); Erin, a person the provider knows whose email no
Slack user of the workspace has (an e-mail-only person, `email:erin@example.com`); a Review-and-decide link opened
signed out, signed in as a person and followed back; the page's form read and posted;
an e-mail surface on a test's store (`surface_of`); the `mail` fixture (the local mail catcher, started in its own
thread for each test that asks for it; registered for every test by tests/conftest.py, as `slack` is)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import aiohttp
import pytest

from bot.core.email_settings import smtp_server
from bot.core.metrics import Metrics
from bot.core.tasks import Background
from bot.devmail.catcher import MailCatcher
from bot.devslack.model import DevTeam, DevUser
from bot.devslack.server import SlackStandIn
from bot.email.links import LinkKeys, Links
from bot.email.sender import Sender
from bot.email.surface import EmailSurface
from bot.store import Store

ORIGIN = "http://localhost:8999"  # where people open the pages and links (a worker itself is on 127.0.0.1)
ERIN_ID = "U0OUTERIN"  # Erin at the company's provider; the bot's Slack workspace cannot see her
ERIN = "email:erin@example.com"
ERIN_ADDRESS = "erin@example.com"
KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # a SECRETS_KEY (the links' key is derived from it)


@pytest.fixture
def mail() -> Iterator[MailCatcher]:
    """The local mail catcher (bot/devmail/), for this test."""
    with MailCatcher() as catcher:
        yield catcher


def email_env(slack: SlackStandIn, mail: MailCatcher) -> dict[str, str]:
    """A worker's e-mail settings (SMTP_URL to the catcher, OIDC_ISSUER the local Slack, the pages at ORIGIN), with
    Erin known to the provider only (her workspace is served by the local Slack, the app not installed there)."""
    slack.add_team(DevTeam(id="T0OUTER", name="Outer", domain="outer"))
    slack.set_user(DevUser(id=ERIN_ID, name="erin", real_name="Erin Mail", team_id="T0OUTER"))
    return {"SMTP_URL": mail.smtp_url, "EMAIL_FROM": "approvals@example.com", "OIDC_ISSUER": slack.base_url,
            "PUBLIC_URL": ORIGIN, "STEP_UP_URL": ORIGIN}


async def csrf_of(http: aiohttp.ClientSession, url: str) -> str:
    """The page's form token (the page shown, 200)."""
    async with http.get(url, allow_redirects=False) as page:
        text = await page.text()
        assert page.status == 200, text
    found = re.search(r'name="csrf" value="([^"]+)"', text)
    assert found is not None
    return found[1]


async def post(http: aiohttp.ClientSession, url: str, verb: str, token: str) -> tuple[int, str, str]:
    """The page's form posted: its status, text and where it sends the person (a 303's Location, else "")."""
    async with http.post(url, data={"verb": verb, "csrf": token}, allow_redirects=False) as done:
        return done.status, await done.text(), done.headers.get("Location", "")


def surface_of(store: Store, url: str, *, metrics: Metrics | None = None,
               retries: tuple[float, ...] = (30.0,)) -> tuple[EmailSurface, Background]:
    background = Background()
    sender = Sender(store=store.email, server=smtp_server(url), sender="approvals@example.com", timeout=2.0,
                    counter=(metrics or Metrics()).email_sent, retries=retries)
    links = Links(store.email, LinkKeys.from_secrets_key(KEY), public_url="https://approvals.example.com")
    return EmailSurface(store=store, sender=sender, links=links, background=background), background
