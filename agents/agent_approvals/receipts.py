"""Receipts: what an approval that allows a call carries, so the executor itself can check it.

A receipt is a compact JWS (RFC 7515), alg EdDSA (Ed25519), signed by the bot with a key from its JWKS
(`GET /api/v1/jwks.json`, the `kid` in each header). It is bound to one approval (`sub`), the key that
asked (`aud`), one tool and exactly its arguments (`args_sha256`: hex SHA-256 of their RFC 8785 canonical
JSON), and is short-lived (`exp`). When the ask carried artefacts (`agent_approvals.artifacts`: the change itself),
the receipt also names each one's digest (`artifacts`, in the ask's order), and the executor gives the artefacts it
is about to apply: any other artefact, another number or order of them, or none given is refused
(`wrong_artifacts`; an artefact whose path is absolute or climbs out of the root is none), and a file change whose
file on disk is no longer the approved `before` too (`disk_mismatch`: one a symbolic link takes out of `root`, or
anything but a regular file of at most 64 MiB, is not read and is a mismatch).

    verify(receipt, jwks, tool=, arguments=, artifacts=)   offline: the claims, or `ReceiptError` (pure, unless
                                                           `root` asks it to read the files of file changes)
    ReceiptChecker(url)                       verifies with the bot's JWKS (fetched, cached), checks the files on disk
                                              and spends the receipt through the bot's use, once across every process

The guards that wrap what runs (`requires_receipt`, `guard_mcp_server`, `receipt_extension`) are guards.py; their
old names here (`from agent_approvals.receipts import guard_mcp_server`) still import them, with a
`DeprecationWarning` naming `agent_approvals.guards`.

Every failure is a `ReceiptError` and nothing runs: a bot that cannot be reached refuses the call, as a bad
signature does (fail closed). The receipt itself is never logged.

The JOSE work (the keys as a `joserfc.jwk.KeySet`, the EdDSA signature) is joserfc's; the JWS itself is read by
the product's one strict reader (`agent_approvals.jws`: three canonical base64url parts, a header of exactly `alg`
EdDSA (RFC 8037: Ed25519 keys), `typ` TYPE and a `kid`), the bot's own too; what this module adds is the claims of
the right types, the arguments' digest, the audience and issuer, and the times with a leeway.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
import os
import random
import re
import time
import uuid
import warnings
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx
import rfc8785
from joserfc.errors import JoseError
from joserfc.jwk import Key, KeySet, OKPKey

from agent_approvals.artifacts import ArtifactError, artifact_sha256, disk_mismatch, normalised_all
from agent_approvals.canonical import jcs as jcs  # (its home is canonical.py; named here too)
from agent_approvals.files import READ_TIMEOUT, off_loop
from agent_approvals.jws import ALG, JWSError, b64url_decode, read_jws
from agent_approvals.receipt_terms import META_KEY as META_KEY  # (their home is receipt_terms.py; named here too)
from agent_approvals.receipt_terms import ReceiptError as ReceiptError
from agent_approvals.wire import base_url

TYPE = "approval-receipt+jwt"  # the JWS header's `typ`
JWKS_PATH = "/api/v1/jwks.json"
MAX_RECEIPT = 16_384  # characters: a receipt is well under 2 KB; anything this long is not one
RETRY_STATUSES = frozenset({502, 503, 504})

log = logging.getLogger("agent_approvals.receipts")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def args_sha256(arguments: Any) -> str:
    """Hex SHA-256 of the RFC 8785 (JCS) canonical JSON of `arguments`: the `args_sha256` claim."""
    return hashlib.sha256(jcs(arguments)).hexdigest()


# verify: offline, pure ---------------------------------------------------------------------------------


def verify(
    receipt: str,
    jwks: Mapping[str, Any],
    *,
    tool: str,
    arguments: Any,
    artifacts: Sequence[Mapping[str, Any]] | None = None,
    root: str | os.PathLike[str] | None = None,
    audience: str | None = None,
    issuer: str | None = None,
    now: float | None = None,
    leeway: float = 30,
) -> dict[str, Any]:
    """The claims of `receipt` when it is a receipt the keys of `jwks` signed for calling `tool` with exactly
    `arguments` (key order does not matter: RFC 8785), and still valid at `now` (default the clock, give or
    take `leeway` seconds); else `ReceiptError`. `artifacts`: the artefacts about to be applied, which must be exactly
    the ones the receipt names (`wrong_artifacts`; a receipt that names none takes none, or `[]`); with `root`, each
    file change's file (a relative path under `root`) must still hold its approved `before` (`disk_mismatch`). With
    `audience` (an API key's id, `GET /api/v1/key`) or `issuer`, the receipt must name them. This spends nothing:
    `ReceiptChecker.check` also makes sure it is used once.

        claims = verify(receipt, jwks, tool="send_email", arguments={"to": "bob@example.com", "body": "Hi"})
        claims = verify(receipt, jwks, tool="edit", arguments=arguments, artifacts=[file_change(path, old, new)],
                        root=".")
    """
    claims = _verify(receipt, _key_set(jwks), tool=tool, arguments=arguments, artifacts=artifacts,
                     audience=audience, issuer=issuer, now=now, leeway=leeway)
    if root is not None:
        on_disk(artifacts or (), root)
    return claims


def _verify(
    receipt: Any,
    keys: KeySet,
    *,
    tool: str,
    arguments: Any,
    artifacts: Sequence[Mapping[str, Any]] | None,
    audience: str | None,
    issuer: str | None,
    now: float | None,
    leeway: float,
) -> dict[str, Any]:
    """`verify` with the keys as a KeySet of Ed25519 keys (`_key_set`): the JWS read by the one strict reader
    (`agent_approvals.jws`), then its claims checked."""

    def key_of(kid: str) -> Key | None:
        try:
            return keys.get_by_kid(kid)
        except (JoseError, ValueError):
            return None

    try:
        claims = _claims(read_jws(receipt, key_of, typ=TYPE, whose="the bot's keys"))
    except JWSError as error:
        raise ReceiptError(error.reason, error.message) from None
    clock = time.time() if now is None else now
    if clock > claims["exp"] + leeway:
        raise ReceiptError("expired", f"the receipt expired {int(clock - claims['exp'])} s ago")
    if claims["iat"] > clock + leeway or claims.get("nbf", -math.inf) > clock + leeway:
        raise ReceiptError("not_yet_valid", "the receipt is dated ahead of this clock")
    if claims["tool"] != tool:
        raise ReceiptError("wrong_tool", f"the receipt is for {claims['tool']!r}, not {tool!r}")
    if not hmac.compare_digest(claims["args_sha256"], _digest(arguments)):
        raise ReceiptError("wrong_arguments", "the arguments are not the ones approved")
    _bound(claims.get("artifacts"), artifacts)
    audiences = [claims["aud"]] if isinstance(claims["aud"], str) else claims["aud"]
    if audience is not None and audience not in audiences:
        raise ReceiptError("wrong_audience", f"the receipt is for {claims['aud']!r}, not {audience!r}")
    if issuer is not None and claims["iss"] != issuer:
        raise ReceiptError("wrong_issuer", f"the receipt was issued by {claims['iss']!r}, not {issuer!r}")
    return claims


def _key_set(jwks: Mapping[str, Any]) -> KeySet:
    """The Ed25519 public keys of `jwks` that may verify a receipt, as a joserfc KeySet: each with a `kid`, of
    `kty` OKP, `crv` Ed25519, `alg` EdDSA (or none said) and `use` sig (or none said), and a canonical 32-byte `x`.
    Any other key (another type, curve, `alg` or `use`, or unreadable) is left out, so its `kid` is no key."""
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    kept: list[Key] = []
    for jwk in keys if isinstance(keys, list) else []:
        if not isinstance(jwk, Mapping) or not isinstance(jwk.get("kid"), str) or not jwk["kid"]:
            continue
        if (jwk.get("kty"), jwk.get("crv")) != ("OKP", "Ed25519") or jwk.get("alg", ALG) != ALG:
            continue
        if jwk.get("use", "sig") != "sig" or not isinstance(jwk.get("x"), str):
            continue
        try:
            if len(b64url_decode(jwk["x"])) != 32:
                continue
            public = {"kty": "OKP", "crv": "Ed25519", "x": jwk["x"], "kid": jwk["kid"]}  # never a private part
            kept.append(OKPKey.import_key(public, {"use": "sig", "alg": ALG}))
        except (JWSError, JoseError, ValueError):
            continue
    return KeySet(kept)


_STRINGS = ("iss", "sub", "jti", "tool", "args_sha256")


def _is_strings(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, list) and all(isinstance(a, str) for a in value))


def _is_digests(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(d, str) and _HEX64.fullmatch(d) for d in value)


def _claims(claims: dict[str, Any]) -> dict[str, Any]:
    """The signed claims, each of the type the contract gives it."""
    wrong = [name for name in _STRINGS if not isinstance(claims.get(name), str) or not claims[name]]
    wrong += [name for name in ("iat", "exp") if type(claims.get(name)) is not int]
    wrong += [name for name in ("nbf",) if name in claims and type(claims[name]) is not int]
    wrong += [] if _is_strings(claims.get("aud")) else ["aud"]
    wrong += [] if isinstance(claims.get("decided_by"), list) else ["decided_by"]
    if "args_sha256" not in wrong and not _HEX64.fullmatch(claims["args_sha256"]):
        wrong.append("args_sha256")
    wrong += ["artifacts"] if "artifacts" in claims and not _is_digests(claims["artifacts"]) else []  # absent: none
    if wrong:
        raise ReceiptError("malformed", "missing or mistyped claims: " + ", ".join(wrong))
    return claims


def _bound(named: list[str] | None, artifacts: Sequence[Mapping[str, Any]] | None) -> None:
    """`artifacts` are exactly the ones whose digests the receipt names (`named`), in order; else `ReceiptError`
    (`wrong_artifacts`). A receipt that names none takes none (or `[]`)."""
    if artifacts is None:
        if named:
            raise ReceiptError("wrong_artifacts", f"the receipt binds {len(named)} artefact(s) and none were given:"
                                                  " give the ones about to be applied")
        return
    try:
        given = [artifact_sha256(artifact) for artifact in normalised_all(artifacts)]
    except ArtifactError as error:
        raise ReceiptError("wrong_artifacts", f"not artefacts ({error})") from None
    approved = named or []
    if len(given) != len(approved):
        raise ReceiptError("wrong_artifacts", f"{len(given)} artefact(s) given, the receipt binds {len(approved)}")
    for index, (digest, bound) in enumerate(zip(given, approved, strict=True)):
        if not hmac.compare_digest(digest, bound):
            raise ReceiptError("wrong_artifacts", f"artifacts[{index}] is not the artefact approved")


def on_disk(artifacts: Sequence[Mapping[str, Any]], root: str | os.PathLike[str] = ".") -> None:
    """Each file change of `artifacts` (a relative path under `root`) still finds its approved `before` on disk
    (`agent_approvals.artifacts.disk_mismatch`); else `ReceiptError` (`disk_mismatch`, saying which and why)."""
    for artifact in artifacts:
        try:
            why = disk_mismatch(artifact, root)
        except ArtifactError as error:
            raise ReceiptError("wrong_artifacts", f"not an artefact ({error})") from None
        if why is not None:
            raise ReceiptError("disk_mismatch", why)


async def _on_disk_off_loop(artifacts: Sequence[Mapping[str, Any]], root: str | os.PathLike[str]) -> None:
    """`on_disk` on the file readers' own threads (`agent_approvals.files`); not done within READ_TIMEOUT seconds:
    `ReceiptError` (`disk_mismatch`), the call not run."""
    try:
        await off_loop(on_disk, artifacts, root)
    except TimeoutError:
        raise ReceiptError("disk_mismatch", f"the files were not read within {READ_TIMEOUT:g} s") from None


def _digest(arguments: Any) -> str:
    try:
        return args_sha256(arguments)
    except (rfc8785.CanonicalizationError, TypeError, ValueError):
        raise ReceiptError("wrong_arguments", "the arguments are not JSON, so no receipt is for them") from None


# ReceiptChecker: the bot's keys, and single use -------------------------------------------------------


class ReceiptChecker:
    """Verifies receipts with the bot's keys and spends each once, through the bot (so a receipt runs one call,
    whichever process of whichever executor gets it).

        async with ReceiptChecker(os.environ["AGENT_APPROVALS_URL"]) as checker:
            claims = await checker.check(receipt, tool="send_email", arguments=arguments)
            send_email(**arguments)  # approved, and this is its one use

    Args:
        url: the bot's base URL (`AGENT_APPROVALS_URL`). No API key: the keys and the use need none.
        jwks: the bot's public keys, given here instead of fetched (pinned: an unknown `kid` is refused).
        audience: the id of the API key whose approvals this executor runs (the receipts' `aud`), if one.
        issuer: the bot's `RECEIPT_ISSUER` (the receipts' `iss`), if it must be checked.
        http: an httpx client to use (its Authorization header, if any, is never sent to the bot).
        leeway: seconds of clock skew allowed on `exp` and `iat`.
        retry_for: seconds to keep retrying the bot through connection errors and 502/503/504 answers.
        refetch_after: an unknown `kid` fetches the keys again, at most once per this many seconds.
        max_age: seconds the fetched keys are used before they are fetched again.
    """

    def __init__(
        self,
        url: str,
        *,
        jwks: Mapping[str, Any] | None = None,
        audience: str | None = None,
        issuer: str | None = None,
        http: httpx.AsyncClient | None = None,
        leeway: float = 30,
        retry_for: float = 10.0,
        refetch_after: float = 30.0,
        max_age: float = 3600.0,
    ) -> None:
        self.url = base_url(url)  # with or without a trailing / or /api/v1, as the client takes it
        self.audience, self.issuer, self.leeway = audience, issuer, leeway
        self._pinned = jwks is not None
        self._jwks: Mapping[str, Any] | None = jwks
        self._key_set: KeySet | None = _key_set(jwks) if jwks is not None else None  # the Ed25519 keys of _jwks
        self._fetched_at = self._refreshed_at = -math.inf
        self._retry_for, self._refetch_after, self._max_age = retry_for, refetch_after, max_age
        self._lock = asyncio.Lock()
        self._own_http = http is None
        self._http = http or httpx.AsyncClient(timeout=httpx.Timeout(10.0),
                                               headers={"User-Agent": "agent-approvals-executor/0.1"})

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    async def check(
        self, receipt: str | None, *, tool: str, arguments: Any, artifacts: Sequence[Mapping[str, Any]] | None = None,
        root: str | os.PathLike[str] | None = ".",
    ) -> dict[str, Any]:
        """The claims of `receipt`, verified for calling `tool` with exactly `arguments` and spent (this call is
        its one use); else `ReceiptError` and the call must not run. A retry through a lost answer is the same
        use; another call with the same receipt is refused (`used`), in this process or any other.

        `artifacts`: what the call is about to apply, exactly the artefacts the receipt binds (`wrong_artifacts`);
        each file change's file (a relative path under `root`, default the working directory) must still hold the
        approved `before` (`disk_mismatch`: changed since the approval; `root=None` when the files are not on this
        disk). Nothing is spent when either refuses."""
        if not receipt:
            raise ReceiptError("missing", f"calling {tool!r} needs the receipt of an approval")
        claims = await self.verified(receipt, tool=tool, arguments=arguments, artifacts=artifacts)
        if root is not None:
            await _on_disk_off_loop(artifacts or (), root)
        await self._spend(receipt, claims)
        return claims

    async def verified(
        self, receipt: str, *, tool: str, arguments: Any, artifacts: Sequence[Mapping[str, Any]] | None = None
    ) -> dict[str, Any]:
        """`verify` with the bot's keys (fetched again once when the `kid` is new to them). Spends nothing."""
        options: dict[str, Any] = {"tool": tool, "arguments": arguments, "artifacts": artifacts,
                                   "audience": self.audience, "issuer": self.issuer, "now": None,
                                   "leeway": self.leeway}
        try:
            return _verify(receipt, await self.key_set(), **options)
        except ReceiptError as error:
            if error.reason != "unknown_key" or self._pinned:
                raise
        return _verify(receipt, await self.key_set(refresh=True), **options)

    async def keys(self, *, refresh: bool = False) -> Mapping[str, Any]:
        """The bot's JWKS (as `key_set`, as JSON)."""
        await self.key_set(refresh=refresh)
        assert self._jwks is not None
        return self._jwks

    async def key_set(self, *, refresh: bool = False) -> KeySet:
        """The bot's Ed25519 keys as a joserfc KeySet: given, or fetched and kept `max_age` seconds. `refresh` (a
        `kid` new to them) fetches them again, unless another call just did or a refresh did within
        `refetch_after` seconds: receipts with made-up kids cannot make an executor hammer the bot. A bot that
        cannot be reached refuses (`unavailable`): nothing runs."""
        if self._pinned and self._key_set is not None:
            return self._key_set
        asked = time.monotonic()
        async with self._lock:
            now = time.monotonic()
            if self._fetched_at >= asked:  # fetched while this call waited for the lock
                stale = False
            elif refresh:
                stale = now - self._refreshed_at >= self._refetch_after
            else:
                stale = now - self._fetched_at >= self._max_age
            if self._key_set is None or stale:
                self._jwks = await self._fetch_keys()
                self._key_set = _key_set(self._jwks)
                self._fetched_at = time.monotonic()
                if refresh:
                    self._refreshed_at = self._fetched_at
            return self._key_set

    async def _fetch_keys(self) -> Mapping[str, Any]:
        response = await self._call("GET", JWKS_PATH, what="fetch its keys")
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("keys"), list):
            raise ReceiptError("unavailable", f"the bot's keys could not be read (HTTP {response.status_code})")
        return body

    async def _spend(self, receipt: str, claims: Mapping[str, Any]) -> None:
        """The receipt's one use, through the bot: a fresh token for this call, the same token on each retry."""
        token = f"exec-{uuid.uuid4().hex}"
        path = f"/api/v1/approvals/{quote(claims['sub'], safe='')}/use"
        response = await self._call("POST", path, what="spend the receipt", json={"receipt": receipt, "token": token})
        code, message = _error_of(response)
        if response.status_code == 200:
            if code == "used":
                return
            raise ReceiptError("used", "the receipt was used already, by another call")
        if response.status_code == 409 and code == "used":
            raise ReceiptError("used", "the receipt was used already, by another call (that call may have run)")
        if 400 <= response.status_code < 500:
            raise ReceiptError("refused", f"the bot did not accept the receipt ({code or response.status_code}"
                                          + (f": {message})" if message else ")"))
        raise ReceiptError("unavailable", f"the bot could not spend the receipt (HTTP {response.status_code})")

    async def _call(self, method: str, path: str, *, what: str, **kwargs: Any) -> httpx.Response:
        """One request to the bot, retried through connection errors and 502/503/504 for `retry_for` seconds;
        then `ReceiptError("unavailable")`. No Authorization header is ever sent."""
        give_up, delay = time.monotonic() + self._retry_for, 0.1
        while True:
            request = self._http.build_request(method, self.url + path, **kwargs)
            request.headers.pop("Authorization", None)
            try:
                response = await self._http.send(request)
            except httpx.HTTPError as error:
                failed = f"{type(error).__name__}"
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                failed = f"HTTP {response.status_code}"
            if time.monotonic() >= give_up:
                log.warning("receipt refused: the bot at %s did not answer (%s), so nothing runs", self.url, failed)
                raise ReceiptError("unavailable", f"the bot could not be reached to {what} ({failed}); nothing ran")
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, 2.0)


def _error_of(response: httpx.Response) -> tuple[str, str]:
    """The answer's error code and message (either shape: `{"error": {"code", "message"}}` or `{"error": code,
    "message"}`), each cut to 200 characters; for a 200, ("used", "") when it says this call spent the receipt."""
    try:
        body = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    if response.status_code == 200:
        return ("used", "") if body.get("used") is True else ("", "")
    error = body.get("error")
    if isinstance(error, dict):
        return str(error.get("code") or "")[:200], str(error.get("message") or "")[:200]
    return str(error or "")[:200], str(body.get("message") or "")[:200]


# the guards' old names ------------------------------------------------------------------------------------

_MOVED = frozenset({"requires_receipt", "guard_mcp_server", "receipt_extension", "ReceiptRequired"})


def __getattr__(name: str) -> Any:
    """The guards' old names (PEP 562): `from agent_approvals.receipts import guard_mcp_server` still works, with a
    `DeprecationWarning` naming their home, `agent_approvals.guards` (imported here, when asked: guards imports
    nothing of this module when it runs, so there is no cycle)."""
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(f"agent_approvals.receipts.{name} is deprecated: import it from agent_approvals.guards "
                  f"(`from agent_approvals.guards import {name}`)", DeprecationWarning, stacklevel=2)
    import agent_approvals.guards as guards

    return getattr(guards, name)
