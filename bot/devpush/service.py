"""A local push service: an aiohttp server on a free port of 127.0.0.1, in its own thread, as a browser's push service
would be, for dev (the Phone pane) and the tests. Chromium's PushManager only talks to Google's service, so the
devices page asks this one for a subscription instead (`POST /subscriptions`: it makes a device's keys and keeps
their private half, as a browser does).

    with PushService() as service:                 # started; stopped at the end
        sub = service.new_device("bob")            # {"endpoint", "keys": {"p256dh", "auth"}}: a device's subscription
        await service.arrived(sub["endpoint"])     # the pushes that device got, decrypted (a poll with a deadline)
        service.gone(sub["endpoint"])              # from now on its pushes are answered 410 (the device is gone)
        service.view()                             # {"pushes": [...]}: the Phone pane's JSON

Each push posted to `/push/<device>` is checked as a push service does: `Authorization: vapid t=<JWT>, k=<key>`
(ES256 signed by `k`, `aud` this service's origin, `exp` within 24 h), `Content-Encoding: aes128gcm`, a TTL; then
decrypted with the device's keys (`http_ece`). A push that fails a check is answered 400/401/403 and kept as
refused (its reason), never shown. `refusing = True` answers every push 503 (a service down for now)."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

import http_ece
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bot.devkit.standin import ThreadedApp, arrived, free_port


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class Received:
    """One push as a device got it: its device and label, the JSON it decrypted to, when it came (epoch), the
    VAPID subject that signed it."""

    device: str
    label: str
    data: dict[str, Any]
    at: float
    subject: str


@dataclass(slots=True)
class Device:
    label: str
    key: ec.EllipticCurvePrivateKey
    auth: bytes
    gone: bool = False


class PushService(ThreadedApp):
    """The service (a context manager: started on enter, stopped on exit)."""

    what, thread_name = "the local push service", "devpush"

    def __init__(self, *, port: int = 0, host: str = "127.0.0.1") -> None:
        super().__init__()
        self.port = port or free_port()
        self.host = host
        self.refusing = False
        self._lock = threading.Lock()
        self._devices: dict[str, Device] = {}
        self._pushes: list[Received] = []
        self.refused: list[str] = []  # why each refused push was refused

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # devices ----------------------------------------------------------------------------------------
    def new_device(self, label: str = "") -> dict[str, Any]:
        """A new device's subscription (its private keys kept here), as `PushSubscription.toJSON()` says it."""
        device = os.urandom(12).hex()
        key = ec.generate_private_key(ec.SECP256R1())
        auth = os.urandom(16)
        with self._lock:
            self._devices[device] = Device(label=label, key=key, auth=auth)
        point = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return {"endpoint": f"{self.url}/push/{device}", "expirationTime": None,
                "keys": {"p256dh": b64(point), "auth": b64(auth)}}

    def gone(self, endpoint: str) -> None:
        """The device of `endpoint` is gone: its pushes are answered 410 from now on."""
        with self._lock:
            self._devices[endpoint.rstrip("/").rpartition("/")[2]].gone = True

    def pushes(self, endpoint: str = "") -> list[Received]:
        """The pushes received (of `endpoint`'s device, when given), oldest first."""
        device = endpoint.rstrip("/").rpartition("/")[2] if endpoint else ""
        with self._lock:
            return [p for p in self._pushes if not device or p.device == device]

    async def arrived(self, endpoint: str = "", *, count: int = 1, within: float = 10.0) -> list[Received]:
        """The pushes of `endpoint`'s device once there are at least `count` (TimeoutError after `within`)."""
        return await arrived(lambda: self.pushes(endpoint), count, within,
                             lambda found: f"{len(found)} pushes, not {count}, in {within} s (refused: {self.refused})")

    def view(self) -> dict[str, Any]:
        """Every push received as JSON-ready data (the Phone pane's), newest first."""
        with self._lock:
            return {"pushes": [asdict(p) for p in reversed(self._pushes)]}

    # the HTTP side --------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(client_max_size=8192)
        app.router.add_post("/subscriptions", self._subscribe)
        app.router.add_options("/subscriptions", self._preflight)
        app.router.add_post("/push/{device}", self._receive)
        app.router.add_get("/view.json", self._view)
        return app

    async def _preflight(self, _: web.Request) -> web.Response:
        return web.Response(status=204, headers=CORS)

    async def _subscribe(self, request: web.Request) -> web.Response:
        """`POST /subscriptions`: a new device's subscription (the devices page asks, in dev: CORS open)."""
        return web.json_response(self.new_device(request.headers.get("User-Agent", "")[:40]), headers=CORS)

    async def _view(self, _: web.Request) -> web.Response:
        return web.json_response(self.view(), headers=CORS)

    async def _receive(self, request: web.Request) -> web.Response:
        """`POST /push/<device>`: a Web Push, checked and decrypted (see the module)."""
        with self._lock:
            device = self._devices.get(request.match_info["device"])
        if device is None or device.gone:
            return web.Response(status=404 if device is None else 410, text="no such subscription")
        if self.refusing:
            return web.Response(status=503, text="not taking pushes now")
        body = await request.read()
        why, subject = self._checked(request)
        if why:
            with self._lock:
                self.refused.append(why)
            return web.Response(status=401 if "vapid" in why else 400, text=why)
        try:
            plain = http_ece.decrypt(body, private_key=device.key, auth_secret=device.auth, version="aes128gcm")
            data = json.loads(plain)
        except Exception as exc:  # (any failure to decrypt is the sender's: refused, said)
            with self._lock:
                self.refused.append(f"not decrypted: {type(exc).__name__}")
            return web.Response(status=400, text="not decrypted")
        with self._lock:
            self._pushes.append(Received(device=request.match_info["device"], label=device.label, data=data,
                                         at=time.time(), subject=subject))
        return web.Response(status=201, headers={"Location": f"{self.url}/m/{os.urandom(8).hex()}"})

    def _checked(self, request: web.Request) -> tuple[str, str]:
        """Why the push is refused ("" when it is not), and its VAPID subject."""
        if request.headers.get("Content-Encoding") != "aes128gcm":
            return "content encoding is not aes128gcm", ""
        ttl = request.headers.get("TTL", "")
        if not (ttl.isascii() and ttl.isdigit()):
            return "no TTL", ""
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("vapid "):
            return "no vapid authorization", ""
        fields = dict(part.strip().split("=", 1) for part in auth[6:].split(",") if "=" in part)
        try:
            head, claims_part, signature = fields["t"].split(".")
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(fields["k"]))
            raw = unb64(signature)
            der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
            public.verify(der, f"{head}.{claims_part}".encode(), ec.ECDSA(hashes.SHA256()))
            header, claims = json.loads(unb64(head)), json.loads(unb64(claims_part))
        except (KeyError, ValueError, InvalidSignature):
            return "vapid token not signed by its key", ""
        if header.get("alg") != "ES256":
            return "vapid token not ES256", ""
        if claims.get("aud") != self.url:
            return f"vapid audience {str(claims.get('aud'))[:60]!r} is not {self.url}", ""
        if not time.time() < float(claims.get("exp", 0)) <= time.time() + 86400:
            return "vapid token expired or over 24 h", ""
        subject = str(claims.get("sub", ""))
        if not subject.startswith(("mailto:", "https://")):
            return "vapid subject is not mailto: or https:", ""
        return "", subject


CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "POST, GET",
        "Access-Control-Allow-Headers": "Content-Type"}
