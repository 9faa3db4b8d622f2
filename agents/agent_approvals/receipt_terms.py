"""What a receipt's checker (receipts.py) and the guards round what runs (guards.py) share: the error a refused
call raises and where an MCP call carries its receipt. Below both, so the guards need not import the checker and
receipts can still hand on the guards' old names (tests/test_layout.py: no import cycle)."""

from __future__ import annotations

META_KEY = "agent-approvals/receipt"  # where the MCP gateway puts a receipt in a call's `_meta`


class ReceiptError(Exception):
    """A call refused for its receipt; nothing was run. `reason` says why, as a code:

    missing (no receipt), malformed (not a receipt: its parts, encoding, JSON, `alg`, `typ`, `crit` or claims),
    unknown_key (its `kid` is in no key of the JWKS), bad_signature, expired, not_yet_valid (`iat`/`nbf` ahead of
    the clock), wrong_tool, wrong_arguments (not exactly the approved arguments), wrong_artifacts (not exactly the
    approved artefacts, in their order, or none given for a receipt that names some), disk_mismatch (a file change's
    file on disk is no longer the approved `before`), wrong_audience, wrong_issuer, used (spent already, by another
    call), refused (the bot did not accept it), unavailable (the bot could not be reached to fetch its keys or to
    spend the receipt).
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason, self.message = reason, message
