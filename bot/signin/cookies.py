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
from typing import Final

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
        return self._seal(self.session_name, {"u": session.user, "t": session.team, "n": session.name,
                                              "e": session.expires})

    def open_session(self, value: str | None) -> Session | None:
        """The session a cookie holds; None when there is none, or it does not open, or it expired."""
        said = self._open(self.session_name, value)
        if said is None:
            return None
        return Session(user=str(said.get("u") or ""), team=str(said.get("t") or ""), name=str(said.get("n") or ""),
                       expires=float(said["e"]))  # type: ignore[arg-type]

    def seal_login(self, login: Login) -> str:
        return self._seal(self.login_name, {"s": login.state, "o": login.nonce, "p": login.page,
                                            "e": login.expires})

    def open_login(self, value: str | None) -> Login | None:
        said = self._open(self.login_name, value)
        if said is None:
            return None
        return Login(state=str(said.get("s") or ""), nonce=str(said.get("o") or ""), page=str(said.get("p") or ""),
                     expires=float(said["e"]))  # type: ignore[arg-type]

    def attributes(self, *, max_age: int) -> dict[str, object]:
        """The cookie attributes (aiohttp's `set_cookie` keywords)."""
        return {"max_age": max_age, "path": "/", "httponly": True, "secure": self.secure, "samesite": "Lax"}

    def _seal(self, name: str, fields: dict[str, object]) -> str:
        return self._sealer.seal(json.dumps(fields, separators=(",", ":")), bound=name)

    def _open(self, name: str, value: str | None) -> dict[str, object] | None:
        if not value or len(value) > 4096:
            return None
        try:
            said = json.loads(self._sealer.open(value, bound=name))
        except (SealError, ValueError):
            return None
        if not isinstance(said, dict) or not isinstance(said.get("e"), float | int) or said["e"] <= time.time():
            return None
        return said
