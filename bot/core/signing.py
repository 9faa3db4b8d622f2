"""Ed25519 signing keys: what signs approval receipts and the audit log's checkpoints.

The keys are a JWKS JSON document with private parts, from a file (`SIGNING_KEYS_FILE`, mode 0600) or the
environment (`SIGNING_KEYS`); never from or into Redis:

    {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "...", "d": "...", "kid": "...",
               "created_at": 1795000000, "retired_at": 1795600000}]}

The current key (the one that signs) is the newest key that is not retired and has its private part `d`.
Retired keys still verify what they signed; once nothing they signed can still be valid,
`python -m bot signing rotate` (bot/cli/signing.py) drops their `d` and keeps their public part, so old
audit checkpoints still verify. A file is re-read when its modification time changes (looked at no more than
every few seconds), so a rotation needs no restart.

Signatures are compact JWS (RFC 7515) with alg EdDSA (RFC 8037), signed by joserfc (a JOSE library) with the header
exactly {"alg": "EdDSA", "kid": ..., "typ": ...}, and read back by the product's one strict reader,
`agent_approvals.jws` (the one executors read receipts with): `verify_jws` takes nothing else (three canonical
base64url parts, that header, a key of these by its kid). The keys document itself is read here, with
`cryptography`, so that each problem is named. No error message ever carries key material: it names the file or
the variable and what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from agent_approvals.jws import ALG, MAX_CHECKPOINT_JWS, MAX_JWS, REGISTRY, JWSError, b64url, read_jws
from agent_approvals.jws import b64url_decode as canonical_b64url_decode
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from joserfc import jws as joserfc_jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

from bot.core.settings import SettingsError, StoreSettings

log = logging.getLogger(__name__)
K = TypeVar("K")  # a key `_key` reads

RECHECK_SECONDS = 2.0  # a keys file's modification time is looked at no more often than this
ENV_NAME = "SIGNING_KEYS"
FILE_NAME = "SIGNING_KEYS_FILE"


class SigningError(Exception):
    """Keys that cannot be read, or a JWS that does not verify. The message says why, never a key."""


def b64url_decode(text: str) -> bytes:
    """The bytes of canonical unpadded base64url text; SigningError when it is not that."""
    try:
        return canonical_b64url_decode(text)
    except JWSError:
        raise SigningError("not base64url") from None


def _compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def thumbprint(x: str) -> str:
    """The RFC 7638 thumbprint of an Ed25519 public key (its `x`): the `kid` of a new key."""
    members = _compact({"crv": "Ed25519", "kty": "OKP", "x": x})
    return b64url(hashlib.sha256(members).digest())


@dataclass(frozen=True)
class SigningKey:
    """One key of the document: its public part always, its private part while it may sign or is kept."""

    kid: str
    x: str
    public: Ed25519PublicKey
    private: Ed25519PrivateKey | None
    created_at: float
    retired_at: float | None

    def public_jwk(self) -> dict[str, Any]:
        """The key as a public JWK (RFC 8037): never the private part."""
        return {"kty": "OKP", "crv": "Ed25519", "x": self.x, "kid": self.kid, "alg": ALG, "use": "sig"}

    def jose_key(self, *, private: bool = False) -> OKPKey:
        """The key as joserfc's: its public part, or (`private`, for the current key) the one that signs."""
        key = self.private if private and self.private is not None else self.public
        return OKPKey.import_key(key, {"kid": self.kid, "alg": ALG, "use": "sig"})


def new_key_jwk(now: float | None = None) -> dict[str, Any]:
    """A freshly generated key as an entry of the keys document (with its private part `d`)."""
    private = Ed25519PrivateKey.generate()
    x = b64url(private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    d = b64url(private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))
    created = int(time.time() if now is None else now)
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "d": d, "kid": thumbprint(x), "created_at": created}


def _number(entry: Mapping[str, Any], name: str, where: str, *, required: bool) -> float | None:
    value = entry.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise SigningError(f"{where}: `{name}` must be a time in seconds since 1970")
    return float(value)


def _read_key(entry: object, where: str) -> SigningKey:
    if not isinstance(entry, dict):
        raise SigningError(f"{where} is not a JSON object")
    if entry.get("kty") != "OKP" or entry.get("crv") != "Ed25519":
        raise SigningError(f'{where} is not an Ed25519 key (needs "kty": "OKP", "crv": "Ed25519")')
    kid, x, d = entry.get("kid"), entry.get("x"), entry.get("d")
    if not isinstance(kid, str) or not kid or len(kid) > 200 or not kid.isprintable():
        raise SigningError(f"{where}: `kid` must be a short non-empty string")
    if not isinstance(x, str):
        raise SigningError(f"{where} ({kid}): `x` (the public key) is missing")
    raw_x, public = _key(x, Ed25519PublicKey.from_public_bytes,
                         f"{where} ({kid}): `x` is not a 32-byte base64url Ed25519 public key")
    private: Ed25519PrivateKey | None = None
    if d is not None:
        _, made = _key(d, Ed25519PrivateKey.from_private_bytes,
                       f"{where} ({kid}): `d` is not a 32-byte base64url Ed25519 private key")
        private = made
        mine = made.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        if mine != raw_x:
            raise SigningError(f"{where} ({kid}): `d` is not the private part of `x`")
    created = _number(entry, "created_at", f"{where} ({kid})", required=True)
    retired = _number(entry, "retired_at", f"{where} ({kid})", required=False)
    assert created is not None
    return SigningKey(kid=kid, x=x, public=public, private=private, created_at=created, retired_at=retired)


def _key(text: object, make: Callable[[bytes], K], refusal: str) -> tuple[bytes, K]:
    """An Ed25519 key given as base64url text of its 32 bytes (`make` reads them), and those bytes; else a
    SigningError saying `refusal`."""
    try:
        if not isinstance(text, str):
            raise SigningError("not text")
        raw = b64url_decode(text)
        if len(raw) != 32:
            raise SigningError("wrong length")
        return raw, make(raw)
    except (SigningError, ValueError):
        raise SigningError(refusal) from None


def parse_keys(text: str, source: str, *, require_current: bool = True) -> list[SigningKey]:
    """The keys of a document (JSON text from `source`, a name for messages); SigningError when malformed
    (or, with `require_current`, when no key may sign)."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SigningError(f"{source} is not JSON (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise SigningError(f'{source} must be a JSON object {{"keys": [...]}} (a JWKS with private keys)')
    keys = [_read_key(entry, f"{source}: key {n + 1}") for n, entry in enumerate(document["keys"])]
    kids = [key.kid for key in keys]
    if len(set(kids)) != len(kids):
        raise SigningError(f"{source}: two keys have the same `kid`")
    if require_current and current_of(keys) is None:
        raise SigningError(
            f"{source} has no current key (one that is not retired and has its private part `d`):"
            " `python -m bot signing rotate` adds one"
        )
    return keys


def current_of(keys: list[SigningKey]) -> SigningKey | None:
    """The key that signs: the newest one not retired that has its private part."""
    live = [key for key in keys if key.retired_at is None and key.private is not None]
    return max(live, key=lambda key: key.created_at, default=None)


def read_keys_file(path: Path) -> tuple[str, float]:
    """A keys file's text and modification time; SigningError when it is missing, unreadable, or readable
    by group or others (like ssh, a private key others can read is refused)."""
    try:
        with path.open("rb") as handle:
            info = os.fstat(handle.fileno())
            if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise SigningError(
                    f"{FILE_NAME} {path} is readable by group or others (mode {stat.S_IMODE(info.st_mode):o});"
                    f" private keys must be 0600: chmod 600 {path}"
                )
            raw = handle.read(1_000_000)
    except FileNotFoundError:
        raise SigningError(f"{FILE_NAME} {path} does not exist") from None
    except OSError as exc:
        raise SigningError(f"{FILE_NAME} {path} cannot be read ({exc.strerror})") from None
    try:
        return raw.decode("utf-8"), info.st_mtime
    except UnicodeDecodeError:
        raise SigningError(f"{FILE_NAME} {path} is not UTF-8 text") from None


def public_keys_of(document: Mapping[str, Any]) -> dict[str, OKPKey]:
    """The Ed25519 public keys of a JWKS (a public one, or a keys document: private parts are not read), by
    kid, as joserfc's keys. SigningError when it is no JWKS."""
    try:
        return {
            entry["kid"]: OKPKey.import_key(
                Ed25519PublicKey.from_public_bytes(b64url_decode(entry["x"])), {"kid": entry["kid"], "alg": ALG}
            )
            for entry in document["keys"]
            if entry.get("kty") == "OKP" and entry.get("crv") == "Ed25519"
        }
    except (KeyError, TypeError, ValueError, AttributeError, JoseError):
        raise SigningError("not a JWKS of Ed25519 keys") from None


# The audit checkpoints' typ (bot/audit/checkpoints.py CHECKPOINT_TYPE): a global one signs every workspace's chain
# head (issue 89), over MAX_JWS past some 150 workspaces; everything else this product signs is well under it.
LONGEST = {"audit-checkpoint+jwt": MAX_CHECKPOINT_JWS}


def verify_jws(
    jws: str, keys: Mapping[str, OKPKey], *, typ: str, whose: str = "this deployment's keys"
) -> dict[str, Any]:
    """The claims of a compact JWS (three canonical base64url parts, alg EdDSA, this `typ`, header alg/kid/typ
    only) signed by one of `keys` (by kid; `whose` names them in the refusal), read by `agent_approvals.jws`.
    SigningError says why not; the claims' times are the caller's to check. Its length is bounded by its `typ`
    (`LONGEST`)."""
    try:
        return read_jws(jws, keys.get, typ=typ, whose=whose, longest=LONGEST.get(typ, MAX_JWS))
    except JWSError as error:
        raise SigningError(error.message) from None


class SigningKeys:
    """The deployment's signing keys: signs with the current one, verifies with any, publishes the public
    parts. Built by `load_signing_keys`; a keys file is re-read when it changes."""

    def __init__(self, keys: list[SigningKey], *, path: Path | None = None, mtime: float = 0.0) -> None:
        self._keys = keys
        self._path = path
        self._mtime = mtime
        self._checked = time.monotonic()
        self._set(keys)

    @classmethod
    def from_text(cls, text: str, source: str = ENV_NAME) -> SigningKeys:
        return cls(parse_keys(text, source))

    @classmethod
    def from_file(cls, path: Path) -> SigningKeys:
        text, mtime = read_keys_file(path)
        return cls(parse_keys(text, f"{FILE_NAME} {path}"), path=path, mtime=mtime)

    def _set(self, keys: list[SigningKey]) -> None:
        current = current_of(keys)
        assert current is not None and current.private is not None  # parse_keys refuses a document without
        self._keys = keys
        self._public = {key.kid: key.jose_key() for key in keys}
        self._current = current
        self._signer = current.jose_key(private=True)

    def refresh(self, *, force: bool = False) -> None:
        """Re-read the keys file when its modification time changed (looked at no more than every
        RECHECK_SECONDS, unless `force`). A file that became unreadable or malformed is reported once and
        the keys already read stay in use."""
        if self._path is None:
            return
        now = time.monotonic()
        if not force and now - self._checked < RECHECK_SECONDS:
            return
        self._checked = now
        try:
            if self._path.stat().st_mtime == self._mtime:
                return
            text, mtime = read_keys_file(self._path)
            keys = parse_keys(text, f"{FILE_NAME} {self._path}")
        except (OSError, SigningError) as exc:
            log.warning("signing keys not re-read, the keys already read stay in use: %s", exc)
            try:
                self._mtime = self._path.stat().st_mtime  # say it once per change, not every few seconds
            except OSError:
                pass
            return
        self._mtime = mtime
        self._set(keys)
        log.info("signing keys re-read from %s: current key %s", self._path, self._current.kid)

    @property
    def current_kid(self) -> str:
        self.refresh()
        return self._current.kid

    @property
    def current(self) -> SigningKey:
        """The key that signs now."""
        self.refresh()
        return self._current

    @property
    def keys(self) -> list[SigningKey]:
        self.refresh()
        return list(self._keys)

    def sign(self, claims: dict[str, Any], *, typ: str, kid: str = "") -> str:
        """`claims` as a compact JWS signed with the current key (header alg, kid, typ); with `kid`, only if that is
        still the current key (SigningError otherwise: the keys file changed meanwhile)."""
        self.refresh()
        if kid and kid != self._current.kid:
            raise SigningError(f"the current key is now {self._current.kid}, not {kid}: signed at the next round")
        header = {"alg": ALG, "kid": self._current.kid, "typ": typ}
        return joserfc_jws.serialize_compact(header, _compact(claims), self._signer, registry=REGISTRY)

    def verify(self, jws: str, *, typ: str) -> dict[str, Any]:
        """The claims of a compact JWS signed by one of these keys (retired ones too) with this `typ`.
        SigningError says why not. The claims' times (`exp`) are the caller's to check."""
        self.refresh()
        return verify_jws(jws, self._public, typ=typ)

    def public_jwks(self, now: float, keep: float) -> dict[str, Any]:
        """The public JWKS: every key not retired, and each retired one less than `keep` seconds ago (what
        it signed may still be valid). Never a private part."""
        self.refresh()
        shown = [
            key for key in self._keys if key.retired_at is None or now - key.retired_at < keep
        ]
        shown.sort(key=lambda key: (key is not self._current, -key.created_at))
        return {"keys": [key.public_jwk() for key in shown]}


def load_signing_keys(settings: StoreSettings) -> SigningKeys | None:
    """The deployment's keys from `SIGNING_KEYS_FILE` or `SIGNING_KEYS`; None when neither is set.
    SigningError (naming the variable, never the keys) when they cannot be used."""
    secret = settings.signing_keys.get_secret_value() if settings.signing_keys is not None else ""
    if settings.signing_keys_file and secret.strip():
        raise SigningError(f"both {FILE_NAME} and {ENV_NAME} are set: set one of them")
    if settings.signing_keys_file:
        return SigningKeys.from_file(Path(settings.signing_keys_file).expanduser())
    if secret.strip():
        return SigningKeys.from_text(secret, ENV_NAME)
    return None


def worker_signing_keys(settings: StoreSettings) -> SigningKeys | None:
    """The signing keys of receipts, or None (one WARNING: the worker runs, its approvals carry no receipt). Keys
    that cannot be used stop the worker with a SettingsError that names the variable, never the keys."""
    try:
        keys = load_signing_keys(settings)
    except SigningError as exc:
        raise SettingsError(str(exc)) from None
    if keys is None:
        log.warning("no signing key (SIGNING_KEYS_FILE or SIGNING_KEYS): approvals carry no signed receipt")
    else:
        log.info("receipts are signed with key %s", keys.current_kid)
    return keys
