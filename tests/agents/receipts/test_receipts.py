"""`agent_approvals.receipts` without a bot: `verify` on receipts signed in the test with joserfc (an independent
JOSE library), good ones and every way one can be wrong or forged; the checker, the tool decorator and the MCP
guard refusing (and never running the tool) when a receipt is missing, forged or the bot cannot be reached.
Spending a good receipt through a real worker: test_receipts_e2e.py."""

from __future__ import annotations

import base64
import json
import string
import time
from typing import Any

import pytest
from agent_approvals import ReceiptChecker, ReceiptError, guard_mcp_server, receipt_extension, requires_receipt, verify
from agent_approvals.receipts import ALG, META_KEY, TYPE
from joserfc import jws
from joserfc.jwk import ECKey, OctKey

from tests.conftest import free_port
from tests.support.lazy import lazy
from tests.support.receipts import EMAIL, Issuer, b64, joserfc_claims

mcp = lazy("mcp")  # imported by the tests that use it (tests/support/lazy.py)
types = lazy("mcp.types")
lowlevel = lazy("mcp.server.lowlevel")
mcpserver = lazy("mcp.server.mcpserver")


def refused(receipt: Any, jwks: dict[str, Any], reason: str, **options: Any) -> ReceiptError:
    options = {"tool": "send_email", "arguments": EMAIL, **options}
    with pytest.raises(ReceiptError) as raised:
        verify(receipt, jwks, **options)
    assert raised.value.reason == reason, raised.value
    return raised.value


def test_a_good_receipt_gives_its_claims_whatever_the_key_order() -> None:
    issuer = Issuer()
    receipt = issuer.issue()
    claims = verify(receipt, issuer.jwks(), tool="send_email", arguments=EMAIL, audience="emailer",
                    issuer="slack-agent-approvals")
    assert claims["sub"] == "a-test-1" and claims["decided_by"][0]["name"] == "bob"
    reordered = {"body": EMAIL["body"], "to": EMAIL["to"]}  # RFC 8785: the same arguments
    assert verify(receipt, issuer.jwks(), tool="send_email", arguments=reordered) == claims
    assert joserfc_claims(receipt, issuer.jwks())[1] == claims  # and joserfc agrees
    nested = {"to": ["bob@example.com"], "n": 1.5, "opts": {"b": True, "a": None}}
    other = issuer.issue(arguments=nested)
    assert verify(other, issuer.jwks(), tool="send_email", arguments={"opts": {"a": None, "b": True}, "n": 1.5,
                                                                       "to": ["bob@example.com"]})["sub"]


def test_other_arguments_tool_audience_or_issuer_are_refused() -> None:
    issuer = Issuer()
    receipt, jwks = issuer.issue(), issuer.jwks()
    refused(receipt, jwks, "wrong_arguments", arguments={**EMAIL, "to": "all@example.com"})
    refused(receipt, jwks, "wrong_arguments", arguments={**EMAIL, "cc": "eve@example.com"})
    refused(receipt, jwks, "wrong_arguments", arguments={"to": EMAIL["to"]})
    refused(receipt, jwks, "wrong_arguments", arguments={**EMAIL, "bad": float("nan")})  # not JSON at all
    refused(receipt, jwks, "wrong_tool", tool="delete_inbox")
    refused(receipt, jwks, "wrong_audience", audience="nightly")
    refused(receipt, jwks, "wrong_issuer", issuer="https://approvals.other.example")


def test_time_exp_and_iat_with_leeway() -> None:
    issuer = Issuer()
    now = time.time()
    expired = issuer.issue(exp=int(now) - 60, iat=int(now) - 700)
    assert "expired" in str(refused(expired, issuer.jwks(), "expired"))
    assert verify(expired, issuer.jwks(), tool="send_email", arguments=EMAIL, leeway=120)["exp"] == int(now) - 60
    late = issuer.issue(exp=int(now) - 10)
    assert verify(late, issuer.jwks(), tool="send_email", arguments=EMAIL)  # within the default 30 s
    refused(late, issuer.jwks(), "expired", leeway=0)
    ahead = issuer.issue(iat=int(now) + 300, exp=int(now) + 900)
    refused(ahead, issuer.jwks(), "not_yet_valid")
    assert verify(ahead, issuer.jwks(), tool="send_email", arguments=EMAIL, now=now + 300)
    refused(issuer.issue(nbf=int(now) + 300), issuer.jwks(), "not_yet_valid")


def test_forged_receipts_are_refused() -> None:
    issuer, stranger = Issuer(), Issuer()
    receipt, jwks = issuer.issue(), issuer.jwks()
    head, payload, signature = receipt.split(".")
    changed = json.loads(b64decode(payload)) | {"args_sha256": "0" * 64}
    refused(f"{head}.{b64(json.dumps(changed).encode())}.{signature}", jwks, "bad_signature")  # tampered payload
    refused(stranger.issue(), jwks, "bad_signature")  # another key under the same kid
    refused(Issuer(kid="k2").issue(), jwks, "unknown_key")  # a kid the bot does not have
    refused(receipt, {"keys": []}, "unknown_key")
    refused(receipt, {"nokeys": 1}, "unknown_key")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    refused(f"{head}.{payload}.{flipped}", jwks, "bad_signature")

    none = b64(json.dumps({"alg": "none", "kid": "k1", "typ": TYPE}).encode())
    refused(f"{none}.{payload}.", jwks, "malformed")  # alg none, no signature
    refused(f"{none}.{payload}.{signature}", jwks, "malformed")
    # HS256 with the public key as the HMAC secret (the classic confusion): refused for its alg
    for secret in (issuer.key.as_dict(private=False)["x"].encode(), json.dumps(jwks["keys"][0]).encode()):
        hs = jws.serialize_compact({"alg": "HS256", "kid": "k1", "typ": TYPE}, b64decode(payload),
                                   OctKey.import_key(secret), algorithms=["HS256"])
        refused(hs, jwks, "malformed")
    payload_bytes = json.dumps(issuer.claims()).encode()
    for alg in ("ES256", "Ed25519", "eddsa", None):  # a true Ed25519 signature, under another alg
        refused(issuer.raw({"alg": alg, "kid": "k1", "typ": TYPE}, payload_bytes), jwks, "malformed")
    assert verify(issuer.raw({"alg": ALG, "kid": "k1", "typ": TYPE}, payload_bytes), jwks, tool="send_email",
                  arguments=EMAIL)


def test_a_key_of_another_kind_under_the_kid_is_no_key() -> None:
    issuer = Issuer()
    ec = ECKey.generate_key("P-256", parameters={"kid": "k1"}).as_dict(private=False)
    refused(issuer.issue(), {"keys": [ec]}, "unknown_key")
    for wrong in ({"alg": "ES256"}, {"use": "enc"}, {"crv": "Ed448"}, {"x": "AAAA"}, {"x": 7}):
        refused(issuer.issue(), {"keys": [{**issuer.jwks()["keys"][0], **wrong}]}, "unknown_key")
    assert verify(issuer.issue(), {"keys": [ec, *issuer.jwks()["keys"]]}, tool="send_email", arguments=EMAIL)


def test_malformed_receipts_are_refused_before_any_key_is_read() -> None:
    issuer = Issuer()
    receipt, jwks = issuer.issue(), issuer.jwks()
    head, payload, signature = receipt.split(".")
    for bad in ("", "a.b", f"{receipt}.x", f"{head}.{payload}", f"{head}=.{payload}.{signature}",
                f"{head}.{payload}.{signature}==", f" {receipt}", "x" * 20_000, None, 7, b"x.y.z"):
        refused(bad, jwks, "malformed")
    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
    last = alphabet[alphabet.index(signature[-1]) ^ 1]  # 64 bytes leave 4 unused bits in the last character
    noncanonical = signature[:-1] + last
    assert b64decode(noncanonical) == b64decode(signature)  # the same signature, spelled another way
    refused(f"{head}.{payload}.{noncanonical}", jwks, "malformed")
    refused(issuer.sign(issuer.claims(), typ="JWT"), jwks, "malformed")
    refused(issuer.sign(issuer.claims(), typ=None), jwks, "malformed")
    refused(issuer.sign(issuer.claims(), kid=None), jwks, "malformed")
    critical = {"alg": ALG, "kid": "k1", "typ": TYPE, "crit": ["x-policy"], "x-policy": "strict"}
    refused(issuer.raw(critical, json.dumps(issuer.claims()).encode()), jwks, "malformed")  # an unknown extension
    for claims in (issuer.claims(tool=None), issuer.claims(exp="soon"), issuer.claims(iat=True),
                   issuer.claims(args_sha256="ABC"), issuer.claims(aud=7), issuer.claims(decided_by="bob")):
        assert "claims" in str(refused(issuer.sign(claims), jwks, "malformed"))
    twice = json.dumps(issuer.claims())[:-1] + ', "tool": "other"}'  # a name given twice
    refused(issuer.raw({"alg": ALG, "kid": "k1", "typ": TYPE}, twice.encode()), jwks, "malformed")
    refused(issuer.raw({"alg": ALG, "kid": "k1", "typ": TYPE}, b"[1, 2]"), jwks, "malformed")
    refused(issuer.raw({"alg": ALG, "kid": "k1", "typ": TYPE}, b'{"exp": NaN}'), jwks, "malformed")
    refused(issuer.raw({"alg": ALG, "kid": "k1", "typ": TYPE}, b"\xff\xfe"), jwks, "malformed")


def b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_the_checker_fails_closed_when_the_bot_cannot_be_reached() -> None:
    issuer = Issuer()
    nowhere = f"http://127.0.0.1:{free_port()}"
    async with ReceiptChecker(nowhere, jwks=issuer.jwks(), retry_for=0.3) as pinned:
        with pytest.raises(ReceiptError) as raised:  # verified with the pinned keys; the use cannot be made
            await pinned.check(issuer.issue(), tool="send_email", arguments=EMAIL)
        assert raised.value.reason == "unavailable" and "nothing ran" in str(raised.value)
        with pytest.raises(ReceiptError) as raised:
            await pinned.check(None, tool="send_email", arguments=EMAIL)
        assert raised.value.reason == "missing"
        with pytest.raises(ReceiptError) as raised:  # pinned keys: an unknown kid is not fetched
            await pinned.check(Issuer(kid="k9").issue(), tool="send_email", arguments=EMAIL)
        assert raised.value.reason == "unknown_key"
    async with ReceiptChecker(nowhere, retry_for=0.3) as fetching:
        with pytest.raises(ReceiptError) as raised:
            await fetching.check(issuer.issue(), tool="send_email", arguments=EMAIL)
        assert raised.value.reason == "unavailable" and "keys" in str(raised.value)


async def test_a_decorated_tool_never_runs_without_a_spent_receipt() -> None:
    issuer = Issuer()
    ran: list[dict[str, Any]] = []
    checker = ReceiptChecker(f"http://127.0.0.1:{free_port()}", jwks=issuer.jwks(), retry_for=0.2)

    @requires_receipt(checker)
    async def send_email(to: str, body: str, *, cc: str = "") -> str:
        ran.append({"to": to, "body": body, "cc": cc})
        return f"sent to {to}"

    assert send_email.__name__ == "send_email" and send_email.tool == "send_email"
    assert send_email.arguments("bob@example.com", body="Hi") == {"to": "bob@example.com", "body": "Hi"}
    assert send_email.arguments(**EMAIL, cc="x") == {**EMAIL, "cc": "x"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "missing"), ({"receipt": None}, "missing"), ({"receipt": 7}, "malformed"),
        ({"receipt": "x.y.z"}, "malformed"), ({"receipt": Issuer(kid="k1").issue()}, "bad_signature"),
        ({"receipt": issuer.issue(tool="list_inbox")}, "wrong_tool"),
        ({"receipt": issuer.issue(), "cc": "eve@example.com"}, "wrong_arguments"),
        ({"receipt": issuer.issue()}, "unavailable"),  # valid, but the bot that spends it is not there
    ]
    for extra, reason in cases:
        with pytest.raises(ReceiptError) as raised:
            await send_email(**EMAIL, **extra)
        assert raised.value.reason == reason
    with pytest.raises(ReceiptError) as raised:
        await send_email.call(issuer.issue(), "bob@example.com")  # does not fit the function
    assert raised.value.reason == "wrong_arguments"
    assert ran == []
    await checker.aclose()

    def sync_tool(to: str) -> str:
        return to

    async def own_receipt(receipt: str) -> str:
        return receipt

    for wrong in (sync_tool, own_receipt):
        with pytest.raises(TypeError):
            requires_receipt(checker)(wrong)  # type: ignore[arg-type]


def mailbox(ran: list[str]) -> lowlevel.Server[Any]:
    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        ran.append(params.name)
        return types.CallToolResult(content=[types.TextContent(type="text", text=f"ran {params.name}")])

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[types.Tool(name=n, input_schema={"type": "object"})
                                            for n in ("send_email", "list_inbox")])

    return lowlevel.Server("mailbox", on_call_tool=call_tool, on_list_tools=list_tools)


def said(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


@pytest.mark.slow
async def test_a_guarded_mcp_server_refuses_calls_without_a_spent_receipt() -> None:
    issuer, ran = Issuer(), []
    checker = ReceiptChecker(f"http://127.0.0.1:{free_port()}", jwks=issuer.jwks(), retry_for=0.2)
    server = mailbox(ran)
    guard_mcp_server(server, checker, unguarded={"list_inbox"})
    guard_mcp_server(server, checker, unguarded={"list_inbox"})  # twice: still one guard
    async with mcp.Client(server) as client:
        assert not (await client.call_tool("list_inbox", {})).is_error  # unguarded: no receipt needed
        bare = await client.call_tool("send_email", dict(EMAIL))
        assert bare.is_error and said(bare).startswith("Not run: missing:")
        for meta, reason in (({META_KEY: 7}, "malformed"), ({META_KEY: "x.y.z"}, "malformed"),
                             ({META_KEY: issuer.issue(arguments={"to": "eve@example.com"})}, "wrong_arguments"),
                             ({META_KEY: issuer.issue()}, "unavailable")):
            result = await client.call_tool("send_email", dict(EMAIL), meta=meta)  # type: ignore[arg-type]
            assert result.is_error and said(result).startswith(f"Not run: {reason}:"), said(result)
    assert ran == ["list_inbox"]
    with pytest.raises(TypeError):
        guard_mcp_server(mcpserver.MCPServer("m"), checker)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        guard_mcp_server(lowlevel.Server("empty"), checker)
    await checker.aclose()


@pytest.mark.slow
async def test_an_mcpserver_with_the_extension_refuses_and_says_so() -> None:
    issuer, ran = Issuer(), []
    checker = ReceiptChecker(f"http://127.0.0.1:{free_port()}", jwks=issuer.jwks(), retry_for=0.2)
    server = mcpserver.MCPServer("mailbox", extensions=[receipt_extension(checker)])

    @server.tool()
    async def send_email(to: str, body: str) -> str:
        ran.append(to)
        return f"sent to {to}"

    async with mcp.Client(server) as client:
        result = await client.call_tool("send_email", dict(EMAIL), meta={META_KEY: issuer.issue()})  # type: ignore[arg-type]
        assert result.is_error and said(result).startswith("Not run: unavailable:"), said(result)
        assert (await client.call_tool("send_email", dict(EMAIL))).is_error
    assert ran == []
    await checker.aclose()
