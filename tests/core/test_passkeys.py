"""The pure helpers of passkeys: the step-up challenge bound to one action, the relying party of a URL, names."""

from __future__ import annotations

import pytest

from bot.core.passkeys import (
    Passkey,
    RelyingParty,
    challenge_for,
    credential_digest,
    passkey_name,
    relying_party,
)

DIGEST = "ab" * 32
NONCE = "n" * 22


def test_the_challenge_is_bound_to_the_approval_the_decision_the_arguments_and_the_link() -> None:
    base = challenge_for("a1b2c3d4-0000", "approve", DIGEST, NONCE)
    assert len(base) == 32 and base == challenge_for("a1b2c3d4-0000", "approve", DIGEST, NONCE)
    others = {
        challenge_for("a1b2c3d4-0001", "approve", DIGEST, NONCE),
        challenge_for("a1b2c3d4-0000", "reject", DIGEST, NONCE),
        challenge_for("a1b2c3d4-0000", "approve", "cd" * 32, NONCE),
        challenge_for("a1b2c3d4-0000", "approve", DIGEST, "m" * 22),  # another link of the same vote
        challenge_for("a1b2c3d4-0000", "approve", DIGEST[:-1], NONCE),
        challenge_for("a1b2c3d4-0000a", "approve", DIGEST[1:], NONCE),  # length-prefixed parts: no shifting
    }
    assert base not in others and len(others) == 6
    with pytest.raises(ValueError):
        challenge_for("a1b2c3d4-0000", "maybe", DIGEST, NONCE)


def test_the_relying_party_is_the_public_urls_host() -> None:
    assert relying_party("https://approvals.example.com") == RelyingParty("approvals.example.com",
                                                                          "https://approvals.example.com")
    assert relying_party("https://Approvals.Example.com:8443/x") == RelyingParty(
        "approvals.example.com", "https://approvals.example.com:8443")
    assert relying_party("http://localhost:8765") == RelyingParty("localhost", "http://localhost:8765")
    assert relying_party("http://127.0.0.1:8765") is None  # browsers refuse an IP address as a passkey's site
    assert relying_party("https://[::1]:8765") is None
    assert relying_party("http://approvals.example.com") is None  # http only on localhost
    assert relying_party("") is None
    assert relying_party("https://x.example").name == "Agent approvals"  # type: ignore[union-attr]


def test_names_and_what_is_audited() -> None:
    assert passkey_name("  my   laptop ") == "my laptop"
    assert passkey_name("") is None and passkey_name("x" * 41) is None and passkey_name(3) is None
    assert passkey_name("bad\u0000name") is None
    assert credential_digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    key = Passkey("cred", "pk", 3, "phone", 1.5, ("usb", "nfc"))
    assert Passkey.from_json(key.to_json()) == key
