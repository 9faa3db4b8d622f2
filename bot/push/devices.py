"""A device's push subscription as the devices page posts it (issue 90), checked before anything is kept: the
browser's `PushSubscription.toJSON()` (`{"endpoint": ..., "keys": {"p256dh": ..., "auth": ...}}`).

The endpoint is where the bot will POST each push: an `https://` URL of a push service with a host name (no user,
no fragment, not an address of this network: never a door into the bot's own network), at most `ENDPOINT_CHARS`;
over `http://` only under the local push service's URL (PUSH_LOCAL_SERVICE_URL: dev and the tests). `p256dh` is the
device's P-256 public key (65 bytes, an uncompressed point on the curve), `auth` its 16-byte secret, both base64url
(RFC 8291). Anything else is refused with one sentence saying what (the page's 400), and nothing changes."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from typing import Final
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec

from bot.store.push import Subscription

ENDPOINT_CHARS: Final = 2048
AGENT_CHARS: Final = 80
BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")


class BadSubscription(ValueError):
    """What is wrong with a posted subscription (said to the page, a 400)."""


def _decoded(text: object, name: str) -> bytes:
    if not isinstance(text, str) or not 0 < len(text) <= 200 or not BASE64URL.fullmatch(text):
        raise BadSubscription(f"keys.{name} must be base64url text")
    try:
        return base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        raise BadSubscription(f"keys.{name} must be base64url text") from None


def endpoint_ok(endpoint: object, *, local_service: str = "") -> str:
    """`endpoint` when it is one the bot may push to (see the module); else BadSubscription."""
    if not isinstance(endpoint, str) or not endpoint or len(endpoint) > ENDPOINT_CHARS:
        raise BadSubscription(f"endpoint must be a URL of at most {ENDPOINT_CHARS} characters")
    if local_service and endpoint.startswith(local_service.rstrip("/") + "/"):
        return endpoint
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname or ""
        parts.port  # noqa: B018  (a malformed port raises)
    except ValueError:
        raise BadSubscription("endpoint must be an https:// URL of a push service") from None
    if parts.scheme != "https" or not host or parts.username or parts.password or parts.fragment:
        raise BadSubscription("endpoint must be an https:// URL of a push service")
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        if host == "localhost" or host.endswith((".localhost", ".local", ".internal")) or "." not in host:
            raise BadSubscription("endpoint must be a push service on the internet") from None
        return endpoint
    if not address.is_global:
        raise BadSubscription("endpoint must be a push service on the internet")
    return endpoint


def subscription_of(body: object, *, now: float, agent: str = "", local_service: str = "") -> Subscription:
    """The subscription posted in `body` (parsed JSON), checked (see the module); BadSubscription says what is
    wrong."""
    if not isinstance(body, dict):
        raise BadSubscription("the subscription must be a JSON object with endpoint and keys")
    endpoint = endpoint_ok(body.get("endpoint"), local_service=local_service)
    keys = body.get("keys")
    if not isinstance(keys, dict):
        raise BadSubscription("keys must be an object with p256dh and auth")
    p256dh, auth = keys.get("p256dh"), keys.get("auth")
    point = _decoded(p256dh, "p256dh")
    if len(point) != 65 or point[0] != 4:
        raise BadSubscription("keys.p256dh must be a P-256 public key (65 bytes, uncompressed)")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise BadSubscription("keys.p256dh is not a point on P-256") from None
    if len(_decoded(auth, "auth")) != 16:
        raise BadSubscription("keys.auth must be 16 bytes")
    assert isinstance(p256dh, str) and isinstance(auth, str)
    return Subscription(endpoint=endpoint, p256dh=p256dh, auth=auth, added=now,
                        agent=" ".join(agent.split())[:AGENT_CHARS])
