"""The pages' cookies, sealed (AES-256-GCM, `bot.core.sealing`): the session (who signed in, until when) and the
login under way (its state, nonce and the page to return to). Nothing is kept server-side; a cookie altered, moved
to the other name or older than its time does not open.

The key is derived (HKDF-SHA256) from SLACK_SIGNING_SECRET, so every worker opens what another sealed and no new
setting is needed; rotating the signing secret signs everyone out. Names: `__Host-aa-session` and `__Host-aa-login`
(HttpOnly, Secure, `Path=/`, no Domain, SameSite=Lax) when the pages are served over HTTPS; on plain HTTP (dev mode,
`http://localhost`) browsers refuse a `__Host-` cookie, so the names lose the prefix and the Secure flag."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Final, TypeVar

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.core.sealing import Sealer, SealError

SESSION_SECONDS: Final = 15 * 60  # a session is short lived: a page is opened from a fresh Slack link
LOGIN_SECONDS: Final = 10 * 60  # a login must come back within this


@dataclass(frozen=True)
class Session:
    """A signed-in person (Slack user id, their team when known) until `expires` (epoch seconds)."""

    user: str
    team: str
    name: str
    expires: float


@dataclass(frozen=True)
class Login:
    """A login under way: the state and nonce it was sent with, and the page it returns to (a local path)."""

    state: str
    nonce: str
    page: str
    expires: float


# The short names a cookie gives each record's fields (its `expires`: "e"), in the order they are sealed.
_SESSION: Final = {"user": "u", "team": "t", "name": "n"}
_LOGIN: Final = {"state": "s", "nonce": "o", "page": "p"}
_Record = TypeVar("_Record", Session, Login)


class Cookies:
    """Seals and opens the session and login cookies."""

    def __init__(self, signing_secret: str, *, secure: bool) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"agent-approvals pages cookie v1").derive(
            signing_secret.encode())
        self._sealer = Sealer(key)
        self.secure = secure
        prefix = "__Host-" if secure else ""
        self.session_name = f"{prefix}aa-session"
        self.login_name = f"{prefix}aa-login"

    def seal_session(self, session: Session) -> str:
        return self._seal(self.session_name, session, _SESSION)

    def open_session(self, value: str | None) -> Session | None:
        """The session a cookie holds; None when there is none, or it does not open, or it expired."""
        return self._open(self.session_name, value, Session, _SESSION)

    def seal_login(self, login: Login) -> str:
        return self._seal(self.login_name, login, _LOGIN)

    def open_login(self, value: str | None) -> Login | None:
        return self._open(self.login_name, value, Login, _LOGIN)

    def attributes(self, *, max_age: int) -> dict[str, object]:
        """The cookie attributes (aiohttp's `set_cookie` keywords)."""
        return {"max_age": max_age, "path": "/", "httponly": True, "secure": self.secure, "samesite": "Lax"}

    def _seal(self, name: str, record: Session | Login, keys: dict[str, str]) -> str:
        fields = {short: getattr(record, field) for field, short in keys.items()} | {"e": record.expires}
        return self._sealer.seal(json.dumps(fields, separators=(",", ":")), bound=name)

    def _open(self, name: str, value: str | None, kind: type[_Record], keys: dict[str, str]) -> _Record | None:
        """The record (a `kind`, its fields named by `keys`) a cookie holds, if it opens and is not expired."""
        if not value or len(value) > 4096:
            return None
        try:
            said = json.loads(self._sealer.open(value, bound=name))
        except (SealError, ValueError):
            return None
        if not isinstance(said, dict) or not isinstance(said.get("e"), float | int) or said["e"] <= time.time():
            return None
        return kind(**{field: str(said.get(short) or "") for field, short in keys.items()}, expires=float(said["e"]))
