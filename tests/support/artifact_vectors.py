"""The shared vectors of artefacts bound by receipts (#79), for both languages: the committed file `FILE`, which the
Python tests (tests/agents/receipts/test_receipts_artifacts.py) and the TypeScript package's tests
(agents/typescript/test/artifacts.test.ts, its path in ARTIFACT_VECTORS) read alike.

    artifacts   artefacts as an executor might write them (fields left out, in any order, a recipient as a string)
                with the digest each side must compute (`artifact_sha256` / `artifactSha256`: SHA-256 of the RFC 8785
                JSON of the normalised artefact)
    invalid     what is no artefact, with the field each side must name
    receipts    receipts signed by one test key (its public JWKS beside them; its private half was never written
                down) for a call with artefacts given (or `null`: none) and files on disk (`files`, under a fresh
                root; `null`: the disk is not looked at), with the verdict each verifier must give: "ok" or the
                `ReceiptError` reason

    python -m tests.support.artifact_vectors    writes FILE again (a new key: every receipt signed anew)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agent_approvals.artifacts import artifact_sha256, command, file_change, message, query, text_sha256

from tests.support.receipts import Issuer

FILE = Path(__file__).parents[1] / "agents" / "receipts" / "artifact_vectors.json"
NOW = 1_800_000_000
TOOL = "apply_change"
ARGUMENTS = {"path": "src/prices.py", "why": "Prices go up 5% on May 1."}
BEFORE = "PRICE = 100\r\nname = 'caf\u00e9 \U0001f600'\n"
AFTER = BEFORE.replace("100", "105")
DIFF = "--- a/notes.md\n+++ b/notes.md\n@@ -1 +1 @@\n-old\n+new\n"

A = file_change("src/prices.py", BEFORE, AFTER)
B = file_change("src/prices.py", BEFORE, AFTER.replace("105", "150"))
RUN = command("make deploy", cwd="/srv/app")

ARTIFACTS: list[tuple[str, dict[str, Any]]] = [
    ("a file change, before and after (CRLF, an accent, an emoji)", A),
    ("the same, its fields in another order and before_sha256 given",
     {"after": AFTER, "before_sha256": text_sha256(BEFORE), "before": BEFORE, "path": "src/prices.py",
      "kind": "file"}),
    ("a new file", {"kind": "file", "path": "docs/new.md", "after": "# New\n"}),
    ("a deleted file", {"kind": "file", "path": "old.txt", "before": "gone\n"}),
    ("a diff", {"kind": "file", "path": "notes.md", "diff": DIFF, "before_sha256": text_sha256("old\n")}),
    ("a command, no cwd", {"kind": "command", "command": "rm -rf build/ && echo \"done\""}),
    ("a command with its cwd", RUN),
    ("a message to one recipient, given as a string",
     {"kind": "message", "to": "bob@example.com", "body": "Hi Bob,\n\nPrices go up 5%.\n"}),
    ("a message to three, with a subject", message(["a@example.com", "b@example.com", "c@example.com"],
                                                    "Prix : 5 % \u20ac", subject="Prices")),
    ("a query", query("SELECT * FROM orders WHERE total > 100", database="sales")),
    ("a query, no database", {"sql": "DELETE FROM carts", "kind": "query"}),
    ("with the plane's sha256 (dropped)", {**RUN, "sha256": "0" * 64}),
]
INVALID: list[tuple[dict[str, Any] | str, str]] = [
    ("a file", ""),
    ({"path": "a.txt"}, "kind"),
    ({"kind": "picture"}, "kind"),
    ({"kind": "file", "after": "x"}, "path"),
    ({"kind": "file", "path": "a.txt"}, "after"),
    ({"kind": "file", "path": "a.txt", "diff": "@@ -1 +1 @@\n-a\n+b\n"}, "before_sha256"),
    ({"kind": "file", "path": "a.txt", "before": "a", "after": "b", "before_sha256": "0" * 64}, "before_sha256"),
    ({"kind": "command", "command": "ls", "shell": "bash"}, "shell"),
    ({"kind": "command", "command": "  "}, "command"),
    ({"kind": "message", "to": [], "body": "hi"}, "to"),
    ({"kind": "message", "to": ["bob", ""], "body": "hi"}, "to[1]"),
    ({"kind": "query", "sql": 7}, "sql"),
    # a path is relative to the executor's root and never leaves it (#87)
    ({"kind": "file", "path": "/etc/passwd", "after": "x"}, "path"),
    ({"kind": "file", "path": "../x", "after": "x"}, "path"),
    ({"kind": "file", "path": "a/../../x", "after": "x"}, "path"),
    ({"kind": "file", "path": "C:\\x", "after": "x"}, "path"),
    ({"kind": "file", "path": "\\\\server\\x", "after": "x"}, "path"),
]


def _receipts(issuer: Issuer) -> list[dict[str, Any]]:
    """Each receipt vector: a receipt, the call it is checked for (artefacts, files on disk) and the verdict."""

    def signed(**changed: Any) -> str:
        return issuer.sign(issuer.claims(TOOL, ARGUMENTS, iat=NOW, exp=NOW + 600, **changed))

    bound = signed(artifacts=[artifact_sha256(A), artifact_sha256(RUN)])
    unbound = signed()
    approved = [A, RUN]
    loose = [{"before": BEFORE, "kind": "file", "after": AFTER, "path": "src/prices.py"}, {"command": "make deploy",
                                                                                           "cwd": "/srv/app",
                                                                                           "kind": "command"}]
    on_disk, changed = {"src/prices.py": BEFORE}, {"src/prices.py": BEFORE.replace("100", "101")}
    made: list[tuple[str, str, list[Any] | None, dict[str, str] | None, str]] = [
        ("bound, the approved artefacts given", bound, approved, None, "ok"),
        ("bound, the same artefacts written otherwise", bound, loose, None, "ok"),
        ("bound, another file change (B for A)", bound, [B, RUN], None, "wrong_artifacts"),
        ("bound, another command", bound, [A, command("make deploy", cwd="/srv")], None, "wrong_artifacts"),
        ("bound, in another order", bound, [RUN, A], None, "wrong_artifacts"),
        ("bound, one more", bound, [*approved, RUN], None, "wrong_artifacts"),
        ("bound, one fewer", bound, [A], None, "wrong_artifacts"),
        ("bound, none given", bound, None, None, "wrong_artifacts"),
        ("bound, an empty list given", bound, [], None, "wrong_artifacts"),
        ("bound, one given that is no artefact", bound, [A, {"kind": "command"}], None, "wrong_artifacts"),
        ("bound, the file on disk as approved", bound, approved, on_disk, "ok"),
        ("bound, the file on disk changed since", bound, approved, changed, "disk_mismatch"),
        ("bound, the file on disk gone", bound, approved, {}, "disk_mismatch"),
        ("bound, another artefact and the file changed (the artefacts first)", bound, [B, RUN], changed,
         "wrong_artifacts"),
        ("bound, one given whose path climbs out of the root", bound, [{**A, "path": "../src/prices.py"}, RUN],
         on_disk, "wrong_artifacts"),
        ("bound, one given whose path is absolute", bound, [{**A, "path": "/etc/passwd"}, RUN], on_disk,
         "wrong_artifacts"),
        ("none bound, none given", unbound, None, None, "ok"),
        ("none bound, an empty list given", unbound, [], None, "ok"),
        ("none bound, one given", unbound, [A], None, "wrong_artifacts"),
        ("a new file bound, the file still absent", signed(artifacts=[artifact_sha256(ARTIFACTS[2][1])]),
         [ARTIFACTS[2][1]], {}, "ok"),
        ("a new file bound, the file created since", signed(artifacts=[artifact_sha256(ARTIFACTS[2][1])]),
         [ARTIFACTS[2][1]], {"docs/new.md": "# Sneaked in\n"}, "disk_mismatch"),
        ("the claim an empty list", signed(artifacts=[]), [], None, "malformed"),
        ("the claim a string", signed(artifacts=artifact_sha256(A)), [A], None, "malformed"),
        ("the claim's digest in capitals", signed(artifacts=[artifact_sha256(A).upper()]), [A], None, "malformed"),
        ("the claim's digest a number", signed(artifacts=[7]), [A], None, "malformed"),
    ]
    return [{"name": name, "receipt": receipt, "tool": TOOL, "arguments": ARGUMENTS, "artifacts": given,
             "files": files, "expect": expect} for name, receipt, given, files, expect in made]


def vectors() -> dict[str, Any]:
    """The vectors, signed by a fresh Ed25519 key (only its public half is kept)."""
    issuer = Issuer("k-artifacts")
    return {
        "now": NOW, "leeway": 30, "jwks": issuer.jwks(),
        "artifacts": [{"name": name, "artifact": artifact, "sha256": artifact_sha256(artifact)}
                      for name, artifact in ARTIFACTS],
        "invalid": [{"artifact": artifact, "field": field} for artifact, field in INVALID],
        "receipts": _receipts(issuer),
    }


def write(path: Path = FILE) -> None:
    path.write_text(json.dumps(vectors(), indent=1, ensure_ascii=True) + "\n")


if __name__ == "__main__":
    write()
