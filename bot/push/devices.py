"""A device's push subscription as the devices page posts it (issue 90), checked before anything is kept: the browser's
`PushSubscription.toJSON()` (`{"endpoint": ..., "keys": {"p256dh": ..., "auth": ...}}`).

The endpoint is where the bot will POST each push: an `https://` URL of a push service with a host name (no user, no
fragment, not an address of this network, nor a name resolving to one, `endpoint_public`, checked at subscription and
before each push: never a door into the bot's own network), at most `ENDPOINT_CHARS`; over `http://` only under the
local push service's URL (PUSH_LOCAL_SERVICE_URL: dev and the tests). `p256dh` is the device's P-256 public key (65
bytes, an uncompressed point on the curve), `auth` its 16-byte secret, both base64url (RFC 8291). Anything else is
refused with one sentence saying what (the page's 400), and nothing changes."""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Final
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec

from bot.store.push import Subscription

ENDPOINT_CHARS: Final = 2048
AGENT_CHARS: Final = 80
BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")
Lookup = Callable[[str, int], Awaitable[Sequence[str]]]  # (host, port) -> the addresses it resolves to now


class BadSubscription(ValueError):
    """What is wrong with a posted subscription (said to the page, a 400)."""


class Unresolved(BadSubscription):
    """An endpoint's host that does not resolve now (refused at subscription; at send time, tried again later)."""


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


async def system_lookup(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to now (the loop's resolver, `getaddrinfo`); OSError when it does not."""
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError:
        raise OSError(f"{host!r} is not a host name") from None
    return [str(info[4][0]) for info in found]


async def global_addresses(host: str, port: int, *, lookup: Lookup = system_lookup) -> list[str]:
    """The addresses `host` resolves to now (`lookup`), each a global one; else BadSubscription (any loopback,
    private, link-local or reserved address among them), `Unresolved` (none, or the lookup failed)."""
    try:
        found = list(dict.fromkeys(str(a).partition("%")[0] for a in await lookup(host, port)))
        addresses = [ipaddress.ip_address(address) for address in found]
    except (OSError, ValueError):  # (socket.gaierror is an OSError)
        raise Unresolved("endpoint's host does not resolve") from None
    if not addresses:
        raise Unresolved("endpoint's host does not resolve")
    if not all(address.is_global for address in addresses):
        raise BadSubscription("endpoint's host resolves to an address of a private network, not the internet's")
    return found


async def endpoint_public(endpoint: str, *, local_service: str = "", lookup: Lookup = system_lookup) -> None:
    """Refuse (BadSubscription) `endpoint` unless every address its host resolves to now (`lookup`: the loop's
    resolver, `getaddrinfo`) is a global one: no loopback, private, link-local or reserved address, whatever name
    points there (at subscription and again before each push: a name may point elsewhere later; the push's own
    connection is pinned to a checked answer, bot/push/pinned.py). The local push service's URL
    (PUSH_LOCAL_SERVICE_URL: dev and the tests) passes unresolved; a host that does not resolve: `Unresolved`."""
    if local_service and endpoint.startswith(local_service.rstrip("/") + "/"):
        return
    try:
        parts = urlsplit(endpoint)
        host, port = (parts.hostname or "").strip("[]"), parts.port or 443
    except ValueError:
        raise BadSubscription("endpoint must be an https:// URL of a push service") from None
    if not host:
        raise BadSubscription("endpoint must be an https:// URL of a push service")
    await global_addresses(host, port, lookup=lookup)


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
