"""Compact JWS on both sides through joserfc (#44.3): what the bot signs (bot/core/signing.py) the executor's
`agent_approvals.receipts.verify` takes and the reverse, neither warns (joserfc's RFC 9864 warning on the name
`EdDSA` stays inside them), and the bot's `verify_jws` (audit checkpoints, `audit verify --jwks`) is as strict as
the executor's verifier: EdDSA only, its `typ`, a header of alg/kid/typ only (so no `crit`), a kid among its
Ed25519 keys, three canonical base64url parts."""

from __future__ import annotations

import json
import string
import time
import warnings
from typing import Any

import pytest
from agent_approvals import ReceiptError, verify
from agent_approvals.jws import MAX_CHECKPOINT_JWS, MAX_JWS
from agent_approvals.receipts import ALG, TYPE, args_sha256
from joserfc import jws
from joserfc.jwk import ECKey, OctKey

from bot.core.signing import SigningError, SigningKeys, new_key_jwk, public_keys_of, verify_jws
from tests.support.receipts import EMAIL, Issuer, b64, eddsa

CHECKPOINT = "audit-checkpoint+jwt"


def bot_keys() -> SigningKeys:
    return SigningKeys.from_text(json.dumps({"keys": [new_key_jwk()]}))


def receipt_claims() -> dict[str, Any]:
    now = int(time.time())
    return {"iss": "slack-agent-approvals", "sub": "a-1", "aud": "emailer", "jti": "r-1", "iat": now,
            "exp": now + 600, "tool": "send_email", "args_sha256": args_sha256(EMAIL),
            "decided_by": [{"type": "person", "id": "U0BOB", "name": "bob"}]}


def test_the_bot_signs_what_the_executor_verifies_and_the_reverse_without_a_warning() -> None:
    keys = bot_keys()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        receipt = keys.sign(receipt_claims(), typ=TYPE)
        claims = verify(receipt, keys.public_jwks(time.time(), 0), tool="send_email", arguments=EMAIL)
        assert keys.verify(receipt, typ=TYPE) == claims
    assert [str(w.message) for w in seen] == []
    assert claims["sub"] == "a-1"
    issuer = Issuer()  # signed by joserfc itself, read by the bot's verify_jws with the executor's JWKS
    assert verify_jws(issuer.issue(), public_keys_of(issuer.jwks()), typ=TYPE)["tool"] == "send_email"


def refused(token: Any, keys: dict[str, Any], match: str, typ: str = TYPE) -> None:
    with pytest.raises(SigningError, match=match):
        verify_jws(token, keys, typ=typ)


def test_verify_jws_takes_eddsa_only_with_its_typ_and_no_other_header_member() -> None:
    issuer = Issuer()
    keys = public_keys_of(issuer.jwks())
    payload = json.dumps(issuer.claims()).encode()
    good = issuer.raw({"alg": ALG, "kid": "k1", "typ": TYPE}, payload)
    assert verify_jws(good, keys, typ=TYPE)["sub"] == "a-test-1"
    refused(good, keys, "typ", typ=CHECKPOINT)
    none = b64(json.dumps({"alg": "none", "kid": "k1", "typ": TYPE}).encode())
    refused(f"{none}.{b64(payload)}.", keys, "alg")
    for alg in ("ES256", "Ed25519", "eddsa", None):  # a true Ed25519 signature, under another alg
        refused(issuer.raw({"alg": alg, "kid": "k1", "typ": TYPE}, payload), keys, "alg")
    secret = OctKey.import_key(issuer.jwks()["keys"][0]["x"].encode())  # the public key as an HMAC secret
    refused(jws.serialize_compact({"alg": "HS256", "kid": "k1", "typ": TYPE}, payload, secret,
                                  algorithms=["HS256"]), keys, "alg")
    critical = {"alg": ALG, "kid": "k1", "typ": TYPE, "crit": ["x-policy"], "x-policy": "strict"}
    refused(issuer.raw(critical, payload), keys, "members")
    refused(issuer.raw({"alg": ALG, "kid": "k1", "typ": TYPE, "jku": "https://evil.example/jwks"}, payload),
            keys, "members")
    refused(issuer.raw({"alg": ALG, "typ": TYPE}, payload), keys, "kid")


def test_verify_jws_takes_a_key_among_its_ed25519_keys_only() -> None:
    issuer, stranger = Issuer(), Issuer()
    ec = ECKey.generate_key("P-256", parameters={"kid": "k1"}).as_dict(private=False)
    assert public_keys_of({"keys": [ec]}) == {}  # an EC key under the kid is no key
    refused(issuer.issue(), public_keys_of({"keys": [ec]}), "kid")
    refused(Issuer(kid="k2").issue(), public_keys_of(issuer.jwks()), "kid")
    refused(stranger.issue(), public_keys_of(issuer.jwks()), "signature")  # another key under the same kid
    with pytest.raises(SigningError):
        public_keys_of({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k1", "x": 7}]})


def test_verify_jws_takes_three_canonical_base64url_parts_only() -> None:
    issuer = Issuer()
    keys = public_keys_of(issuer.jwks())
    receipt = issuer.issue()
    head, payload, signature = receipt.split(".")
    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
    noncanonical = signature[:-1] + alphabet[alphabet.index(signature[-1]) ^ 1]  # the same 64 bytes
    for bad in (f"{head}.{payload}.{noncanonical}", f"{head}=.{payload}.{signature}", f"{receipt}==",
                f"{receipt}.x", f"{head}.{payload}", f" {receipt}", f"{head}.{payload}.+{signature[1:]}",
                f"{head}.{payload}.{signature[:-1]}/",  # base64, not base64url (always: a receipt may hold no - or _)
                "x" * 20_000, "", None, 7):
        with pytest.raises(SigningError):
            verify_jws(bad, keys, typ=TYPE)
    with eddsa():  # joserfc itself reads the canonical one
        assert jws.deserialize_compact(receipt, issuer.key, algorithms=[ALG]).payload


def test_the_executor_refuses_what_the_bot_would_never_sign() -> None:
    keys = bot_keys()
    jwks = keys.public_jwks(time.time(), 0)
    checkpoint = keys.sign({"seq": 1}, typ=CHECKPOINT)  # a checkpoint is no receipt: its typ
    with pytest.raises(ReceiptError) as raised:
        verify(checkpoint, jwks, tool="send_email", arguments=EMAIL)
    assert raised.value.reason == "malformed"
    with pytest.raises(SigningError, match="typ"):
        keys.verify(checkpoint, typ=TYPE)


def test_a_global_checkpoint_over_300_workspaces_verifies_and_a_receipt_that_long_does_not() -> None:
    """A global audit checkpoint signs every workspace's chain head (issue 89): over 300 workspaces it is some 40 KB,
    past the 16 KB every other JWS of ours is held to (`verify` said "forged: not a compact JWS string" past some
    150 workspaces); a receipt that long is still refused, and so is a checkpoint past its own bound."""
    keys = bot_keys()
    heads = {f"T9W{n:05d}": [4, "ab" * 32] for n in range(300)}
    checkpoint = keys.sign({"v": "g1", "at": 1.0, "chains": heads, "prev": "0" * 64}, typ=CHECKPOINT)
    assert len(checkpoint) > MAX_JWS
    assert keys.verify(checkpoint, typ=CHECKPOINT)["chains"] == heads
    receipt = keys.sign({**receipt_claims(), "padding": "x" * MAX_JWS}, typ=TYPE)
    with pytest.raises(SigningError, match="not a compact JWS string"):
        keys.verify(receipt, typ=TYPE)
    with pytest.raises(SigningError, match="not a compact JWS string"):
        keys.verify(checkpoint + "A" * MAX_CHECKPOINT_JWS, typ=CHECKPOINT)
