"""Shared test vectors made on the Python side, for the TypeScript package (agents/typescript) to agree on.

Receipts, for every verifier of the product: each a receipt, the call it is checked for (tool, arguments, audience,
issuer) and what the Python verifier (`agent_approvals.receipts.verify`) must answer, "ok" or a `ReceiptError`
reason; the TypeScript verifier (`verifyReceipt`) reads the same file and must answer the same on every vector.
Signed by joserfc (tests/support/receipts.py), or by the key's raw Ed25519 where joserfc would not sign what a vector
needs. Also the args digests (RFC 8785) of awkward arguments, which each side must compute alike; and decisions as
the API shows them with the bot's words (`who`, `refusal`: what a model reads when its call does not run), and as
an older bot showed them (without), with what each client prints.

    python -m tests.support.shared_vectors OUT.json
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
from pathlib import Path
from typing import Any

from agent_approvals.client import Approval, refusal
from agent_approvals.receipts import ALG, TYPE, args_sha256

from bot.core.verdicts import worded
from tests.support.receipts import EMAIL, Issuer, b64

NOW = 1_800_000_000  # the clock every vector is checked at
AUDIENCE, ISSUER = "emailer", "slack-agent-approvals"
AWKWARD: list[Any] = [  # arguments whose canonical JSON (RFC 8785) is easy to get wrong
    {"b": 1.5e-7, "a": "é€😀", "n": [1, 2.0, 1e21, -0.0, 0.1, 123456789012345.0], "\u20ac": None, "\U0001f600": True},
    {"nested": {"z": [], "y": {}, "x": "line\nbreak \"quoted\" \\ \u0001 \u2028"}, "": 0},
    {"emoji": "\U0001f600", "sorted": {"\u00e9": 1, "e": 2, "\U0001f600": 3, "\ufb33": 4}},
]


def _swap_last_bits(part: str) -> str:
    """The same bytes spelled otherwise: the unused low bits of the last base64url character set."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return part[:-1] + alphabet[alphabet.index(part[-1]) | 1]


def _replace(receipt: str, index: int, part: str) -> str:
    parts = receipt.split(".")
    parts[index] = part
    return ".".join(parts)


def vectors() -> dict[str, Any]:
    """The vectors, with the keys that verify them (a fresh Ed25519 key each time: never commit a private key)."""
    issuer, stranger = Issuer("k1"), Issuer("k-stranger")
    jwks = issuer.jwks()
    jwks["keys"].append({"kty": "OKP", "crv": "X25519", "x": jwks["keys"][0]["x"], "kid": "k-x25519"})
    claims = issuer.claims(iat=NOW, exp=NOW + 600)
    good = issuer.sign(claims)
    header = {"alg": ALG, "kid": "k1", "typ": TYPE}
    payload = json.dumps(claims).encode()

    def raw(payload_text: str, **changed_header: Any) -> str:
        return issuer.raw({**header, **changed_header}, payload_text.encode())

    def signed(**changed: Any) -> str:
        return issuer.sign({**claims, **changed})

    hs256_input = f"{b64(json.dumps({**header, 'alg': 'HS256'}).encode())}.{b64(payload)}"
    hs256 = f"{hs256_input}.{b64(hmac.new(b'secret', hs256_input.encode(), hashlib.sha256).digest())}"
    made: list[tuple[str, str, dict[str, Any], str]] = [
        ("valid", good, {}, "ok"),
        ("valid, arguments in another order", good, {"arguments": {"body": EMAIL["body"], "to": EMAIL["to"]}}, "ok"),
        ("valid, no audience asked", good, {"audience": None}, "ok"),
        ("valid, audience in a list", signed(aud=["other", AUDIENCE]), {}, "ok"),
        ("valid, expired within the leeway", signed(exp=NOW - 20), {}, "ok"),
        ("valid, awkward arguments", signed(args_sha256=args_sha256(AWKWARD[0])), {"arguments": AWKWARD[0]}, "ok"),
        ("altered claim (the tool), signature kept",
         _replace(good, 1, b64(json.dumps({**claims, "tool": "delete_all"}).encode())), {}, "bad_signature"),
        ("altered claim (exp), signature kept",
         _replace(good, 1, b64(json.dumps({**claims, "exp": NOW + 9999}).encode())), {}, "bad_signature"),
        ("signature of another message", _replace(good, 2, signed(jti="r-2").split(".")[2]), {}, "bad_signature"),
        ("signature 63 bytes", _replace(good, 2, b64(b"\x01" * 63)), {}, "bad_signature"),
        ("wrong tool", good, {"tool": "send_sms"}, "wrong_tool"),
        ("wrong arguments", good, {"arguments": {**EMAIL, "to": "all@example.com"}}, "wrong_arguments"),
        ("an argument more", good, {"arguments": {**EMAIL, "cc": "eve@example.com"}}, "wrong_arguments"),
        ("args digest of other arguments", signed(args_sha256=args_sha256({"to": "x"})), {}, "wrong_arguments"),
        ("expired", signed(exp=NOW - 31), {}, "expired"),
        ("issued ahead of the clock", signed(iat=NOW + 31), {}, "not_yet_valid"),
        ("not before ahead of the clock", signed(nbf=NOW + 100), {}, "not_yet_valid"),
        ("wrong audience", signed(aud="someone-else"), {}, "wrong_audience"),
        ("wrong issuer", good, {"issuer": "https://elsewhere.example.com"}, "wrong_issuer"),
        ("alg none", f"{b64(json.dumps({**header, 'alg': 'none'}).encode())}.{b64(payload)}.", {}, "malformed"),
        ("alg HS256", hs256, {}, "malformed"),
        ("alg Ed25519 (not the contract's name)", raw(json.dumps(claims), alg="Ed25519"), {}, "malformed"),
        ("typ JWT", raw(json.dumps(claims), typ="JWT"), {}, "malformed"),
        ("crit in the header", raw(json.dumps(claims), crit=["exp"]), {}, "malformed"),
        ("jwk in the header", raw(json.dumps(claims), jwk=jwks["keys"][0]), {}, "malformed"),
        ("no kid", raw(json.dumps(claims), kid=None), {}, "malformed"),
        ("a repeated header name", _replace(good, 0, b64(b'{"alg":"EdDSA","kid":"k1","typ":"%s","alg":"EdDSA"}'
                                                          % TYPE.encode())), {}, "malformed"),
        ("non-canonical base64 (signature)", _replace(good, 2, _swap_last_bits(good.split(".")[2])), {}, "malformed"),
        ("padded base64", _replace(good, 2, good.split(".")[2] + "=="), {}, "malformed"),
        ("standard base64 (+/)", _replace(good, 2, base64.b64encode(b"\xfb\xff" * 32).decode().rstrip("=")), {},
         "malformed"),
        ("two parts", ".".join(good.split(".")[:2]), {}, "malformed"),
        ("four parts", good + ".x", {}, "malformed"),
        ("empty", "", {}, "malformed"),
        ("too long", good + "A" * 16_400, {}, "malformed"),
        ("unknown kid", stranger.issue(iat=NOW, exp=NOW + 600), {}, "unknown_key"),
        ("kid of an X25519 key", raw(json.dumps(claims), kid="k-x25519"), {}, "unknown_key"),
        ("a repeated claim", raw(json.dumps(claims)[:-1] + ', "tool": "send_email"}'), {}, "malformed"),
        ("payload an array", raw(json.dumps([claims])), {}, "malformed"),
        ("payload not UTF-8", issuer.raw(header, b'{"tool": "\xff"}'), {}, "malformed"),
        ("payload NaN", raw(json.dumps(claims)[:-1] + ', "x": NaN}'), {}, "malformed"),
        ("iat a float", raw(json.dumps(claims).replace(f'"iat": {NOW}', f'"iat": {NOW}.0')), {}, "malformed"),
        ("exp a string", signed(exp=str(NOW + 600)), {}, "malformed"),
        ("exp true", signed(exp=True), {}, "malformed"),
        ("nbf a float", raw(json.dumps({**claims, "nbf": 1.5})), {}, "malformed"),
        ("no sub", signed(sub=None), {}, "malformed"),
        ("empty jti", signed(jti=""), {}, "malformed"),
        ("aud a number", signed(aud=7), {}, "malformed"),
        ("decided_by not a list", signed(decided_by="bob"), {}, "malformed"),
        ("args digest in capitals", signed(args_sha256=args_sha256(EMAIL).upper()), {}, "malformed"),
    ]
    out = []
    for name, receipt, call, expect in made:
        vector = {"name": name, "receipt": receipt, "tool": "send_email", "arguments": EMAIL, "audience": AUDIENCE,
                  "issuer": ISSUER, "expect": expect}
        vector.update(call)
        out.append(vector)
    digests = [{"arguments": arguments, "sha256": args_sha256(arguments)} for arguments in AWKWARD]
    return {"now": NOW, "leeway": 30, "jwks": jwks, "vectors": out, "digests": digests, "decisions": decisions()}


DECIDED = {"id": "a-1", "tool": "send_email", "arguments": EMAIL, "decided_at": "2026-11-25T10:00:00Z"}
DECISIONS: list[dict[str, Any]] = [
    {"status": "rejected", "decided_by": "U0BOB", "decided_by_name": "bob", "reason": "not on a Friday"},
    {"status": "rejected", "decided_by": "U0BOB", "decided_by_name": "@bob ", "reason": "  "},
    {"status": "rejected", "decided_by": "U0BOB", "reason": "who is this?"},
    {"status": "rejected", "decided_by": "rule R3", "reason": "never to everyone"},
    {"status": "rejected", "decided_by": "auto", "reason": "risky words"},
    {"status": "rejected", "decided_by": "policy", "reason": "refused by policy P1"},
    {"status": "rejected"},
    {"status": "timed_out", "decided_by": "timeout", "reason": "no decision within 10m", "timeout_outcome": "reject"},
    {"status": "timed_out", "timeout_outcome": "reject"},
    {"status": "cancelled", "decided_by": "system", "reason": "withdrawn by the program"},
    {"status": "cancelled"},
    {"status": "pending", "decided_at": None},
    {"status": "revised", "decided_by": "U0BOB", "decided_by_name": "bob", "feedback": "Say 6%, not 5%."},
    {"status": "revised", "decided_by": "U0BOB", "decided_by_name": "bob", "feedback": "", "edited": False},
    {"status": "revised", "decided_by": "U0BOB", "decided_by_name": "bob", "feedback": " Shorter. ", "edited": True,
     "arguments": {"to": "bob@example.com", "body": "Prix: 6 € — \U0001f600", "cc": [1, None, True]}},
    {"status": "approved", "decided_by": "U0BOB", "decided_by_name": "bob"},
]


def decisions() -> list[dict[str, Any]]:
    """Decisions as the API answers them, with who decided and the refusal's words as the bot says them (`who`,
    `refusal`: bot/core/verdicts.py), and as an older bot answered them (without): each with what the Python client
    prints (`Approval.who`, `refusal`), which the TypeScript client must print alike."""
    out = []
    for changed in DECISIONS:
        older = {**DECIDED, **changed}
        decision = Approval.from_json(older).decision()
        said = worded(decision, name=str(changed.get("decided_by_name", "")))
        words = {"who": "", "refusal": None} if changed["status"] == "pending" else \
            {"who": said.who, "refusal": said.refusal}
        for body in ({**older, **words}, older):
            approval = Approval.from_json(body)
            out.append({"approval": body, "who": approval.who, "refusal": refusal(approval)})
    return out


def write(path: Path) -> dict[str, Any]:
    made = vectors()
    path.write_text(json.dumps(made, indent=1, ensure_ascii=True))
    return made


if __name__ == "__main__":
    write(Path(sys.argv[1]))
