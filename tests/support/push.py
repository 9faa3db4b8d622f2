"""The push surface from a test (issue 90): a worker's environment with the local push service
(PUSH_LOCAL_SERVICE_URL) and a VAPID key made for the test, the local Slack playing the company's identity provider
(OIDC_ISSUER); a person signed in on the devices page and a device of theirs subscribed (as the page's script
posts it); a push surface on a test's store (`surface_of`)."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.asymmetric import ec

from bot.core.metrics import Metrics
from bot.core.tasks import Background
from bot.devpush.service import PushService
from bot.devslack.server import SlackStandIn
from bot.push.links import push_links
from bot.push.sender import PushSender
from bot.push.surface import PushSurface, vapid_public_key
from bot.store import Store
from tests.support.mail import KEY
from tests.support.signin import signed_in

ORIGIN = "http://localhost:8999"  # where people open the pages (a worker itself is on 127.0.0.1)
SUBJECT = "mailto:ops@example.com"
SAME_SITE = {"Sec-Fetch-Site": "same-origin"}  # what a browser says of a fetch from the bot's own page


def vapid_private() -> str:
    """A new VAPID private key as VAPID_PRIVATE_KEY holds it (raw, base64url)."""
    value = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value
    return base64.urlsafe_b64encode(value.to_bytes(32, "big")).decode().rstrip("=")


def push_env(slack: SlackStandIn, service: PushService) -> dict[str, str]:
    """A worker's push settings: a VAPID key, the local push service allowed over http, the pages at ORIGIN."""
    return {"VAPID_PRIVATE_KEY": vapid_private(), "VAPID_SUBJECT": SUBJECT, "PUSH_LOCAL_SERVICE_URL": service.url,
            "OIDC_ISSUER": slack.base_url, "PUBLIC_URL": ORIGIN, "STEP_UP_URL": ORIGIN}


async def subscribe(http: aiohttp.ClientSession, worker_url: str, body: object,
                    headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """A device's subscription posted as the devices page does: its status and JSON answer."""
    async with http.post(worker_url + "/app/push/devices", json=body, headers=SAME_SITE if headers is None
                         else headers) as done:
        return done.status, await done.json()


async def device_of(http: aiohttp.ClientSession, worker_url: str, service: PushService, *, person: str,
                    label: str = "phone") -> dict[str, Any]:
    """`person` signed in on the devices page, and a new device of theirs (from the local push service) kept."""
    await signed_in(http, worker_url, "/app/push", person=person)
    subscription = service.new_device(label)
    status, answer = await subscribe(http, worker_url, subscription)
    assert status == 201 and answer["status"] == "added", answer
    return subscription


def surface_of(store: Store, *, metrics: Metrics | None = None, retries: tuple[float, ...] = (15.0,),
               local: str = "") -> tuple[PushSurface, Background]:
    """A push surface on a test's store (its own background tasks), signing with a new VAPID key."""
    background = Background()
    key = vapid_private()
    sender = PushSender(store=store.push, vapid_key=key, subject=SUBJECT, timeout=2.0, retries=retries,
                        counter=(metrics or Metrics()).push_sent, local_service=local)
    links = push_links(store.push, KEY, public_url="https://approvals.example.com")
    return PushSurface(store=store, sender=sender, links=links, background=background,
                       vapid_public=vapid_public_key(key), local_service=local), background
