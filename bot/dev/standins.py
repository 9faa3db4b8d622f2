"""`python -m bot dev --email`: the local mail catcher (:mod:`bot.devmail`) and the e-mail-only person of the demo;
and, always, the local on-call provider (:mod:`bot.devoncall`, `LocalOnCall`).

`LocalMail` starts the catcher (aiosmtpd, loopback, its own thread), makes the local Slack the company's identity
provider (OIDC_ISSUER: its Sign in with Slack endpoints, people matched by verified email) and adds Erin to it: a
person of another workspace of the local Slack, where the app is not installed, so that no Slack user of the bot
has her email (`email:erin@example.com`, an e-mail-only person: she decides through her mail's link). The worker is
given SMTP_URL and EMAIL_FROM; the dev page's Mail pane shows every inbox (`SlackStandIn.mail_view`).

`python -m bot dev --push` (issue 90): `LocalPush` starts the local push service (:mod:`bot.devpush`) and gives the
worker a VAPID key made for the run and PUSH_LOCAL_SERVICE_URL; a person turns notifications on at the page's
`/app/push` (the service hands out the subscription), and the dev page's Phone pane shows each push, decrypted, with
its Approve / Reject actions opening the confirm page (`SlackStandIn.phone_view`)."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric import ec

from bot.dev_data import DevError
from bot.devoncall.server import OnCallStandIn
from bot.devslack.model import DevTeam, DevUser
from bot.devslack.server import SlackStandIn

if TYPE_CHECKING:
    from bot.devmail.catcher import MailCatcher
    from bot.devpush.service import PushService

EMAIL_FROM = "approvals@example.com"
PUSH_SUBJECT = "mailto:approvals@example.com"  # the VAPID subject of dev's pushes
EMAIL_PERSON = "email:erin@example.com"  # the demo's e-mail-only person, as routes and settings name her
EMAIL_ADDRESS = EMAIL_PERSON.removeprefix("email:")
OUTER_TEAM = DevTeam(id="T0OUTER", name="Outer", domain="outer")  # her workspace: the bot's app is not there
EMAIL_USER = DevUser(id="U0OUTERIN", name="erin", real_name="Erin Mail", team_id=OUTER_TEAM.id)  # erin@example.com


class LocalMail:
    """The catcher, and Erin at the local Slack's identity provider (`start`, then `stop`)."""

    def __init__(self, standin: SlackStandIn) -> None:
        self.standin = standin
        self.catcher: MailCatcher | None = None  # once started
        self.smtp_url = ""

    def start(self) -> dict[str, str]:
        """Serve the catcher, add Erin, show the inboxes on the page; the worker's e-mail settings."""
        try:  # aiosmtpd only with --email: dev without it needs none
            from bot.devmail.catcher import MailCatcher
        except ImportError as exc:
            raise DevError(f"--email needs aiosmtpd ({exc.name} is missing): pip install aiosmtpd", code=2) from None
        catcher = MailCatcher()
        catcher.start()
        self.catcher, self.smtp_url = catcher, catcher.smtp_url
        self.standin.add_team(OUTER_TEAM)
        self.standin.set_user(EMAIL_USER)
        self.standin.mail_view = catcher.view
        return {"SMTP_URL": catcher.smtp_url, "EMAIL_FROM": EMAIL_FROM, "OIDC_ISSUER": self.standin.base_url}

    def stop(self) -> None:
        self.standin.mail_view = None
        if self.catcher is not None:
            catcher, self.catcher = self.catcher, None
            catcher.stop()


class LocalPush:
    """`python -m bot dev --push` (issue 90): the local push service (:mod:`bot.devpush`) and a VAPID key made for
    this run; the worker pushes to the devices its devices page subscribes through the service (`start`, `stop`)."""

    def __init__(self, standin: SlackStandIn) -> None:
        self.standin = standin
        self.service: PushService | None = None  # once started
        self.url = ""

    def start(self) -> dict[str, str]:
        """Serve the push service, show its pushes on the page (the Phone pane); the worker's push settings."""
        try:  # pywebpush and http_ece only with --push: dev without it needs neither
            import pywebpush  # noqa: F401  (the worker's sender: named here, not at the worker's first push)

            from bot.devpush.service import PushService
        except ImportError as exc:
            raise DevError(f"--push needs pywebpush and http-ece ({exc.name} is missing): pip install"
                           " 'slack-agent-approvals[push]' http-ece", code=2) from None
        service = PushService()
        service.start()
        self.service, self.url = service, service.url
        self.standin.phone_view = service.view
        key = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value.to_bytes(32, "big")
        return {"VAPID_PRIVATE_KEY": base64.urlsafe_b64encode(key).decode().rstrip("="),
                "VAPID_SUBJECT": PUSH_SUBJECT, "PUSH_LOCAL_SERVICE_URL": service.url,
                "OIDC_ISSUER": self.standin.base_url}

    def stop(self) -> None:
        self.standin.phone_view = None
        if self.service is not None:
            service, self.service = self.service, None
            service.stop()
ONCALL_SCHEDULE = "payments"  # the demo's on-call schedule: `/agent config approvers oncall:payments`
ONCALL_EVERY = 180  # seconds each dev person is on call in it before the next takes over


class LocalOnCall:
    """The local on-call provider (PagerDuty's REST API v2 shape; `start`, then `stop`): its schedule `payments` hands
    over every `ONCALL_EVERY` seconds between `emails` (the local Slack's people); the worker's ONCALL_* point at it
    (`used`) unless the environment names a provider of its own."""

    def __init__(self, emails: list[str]) -> None:
        self.emails = emails
        self.used = False
        self.standin: OnCallStandIn | None = None

    def start(self) -> dict[str, str]:
        """Serve it; the worker's on-call settings."""
        standin = OnCallStandIn()
        standin.start()
        standin.rotate(ONCALL_SCHEDULE, self.emails, every=ONCALL_EVERY)
        self.standin = standin
        return {"ONCALL_PROVIDER": "pagerduty", "ONCALL_URL": standin.base_url, "ONCALL_TOKEN": standin.token}

    def line(self) -> str:
        """What dev says of it ("" when the worker does not use it)."""
        if self.standin is None or not self.used:
            return ""
        names = ", ".join(email.partition("@")[0] for email in self.emails)
        return (f"# on-call (local PagerDuty at {self.standin.base_url}): schedule {ONCALL_SCHEDULE} hands over every"
                f" {ONCALL_EVERY // 60} min between {names}; try /agent config approvers oncall:{ONCALL_SCHEDULE}")

    def stop(self) -> None:
        if self.standin is not None:
            standin, self.standin = self.standin, None
            standin.stop()
