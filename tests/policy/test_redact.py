"""policy.yaml's `redact:` (the operator's argument paths to hide, by tool): read with the bundle beside its windows;
a bad one named by file and line (the path's own line), and a worker that meets one keeps its last good bundle; the
operators' page's example does what the page says, and its table lists every detector."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.core.detectors import DETECTORS
from bot.core.sensitive import find_hidden
from bot.policy.bundle import PolicyError, load_bundle
from bot.policy.engine import PolicyEngine
from tests.support.policies import REFUND_WINDOWS, REFUNDS, write_bundle

REDACT = """redact:
  refund:
    - card.number
    - items[*].pan
  "*": ["**.cvc"]
"""


def test_redact_is_read_with_the_windows(tmp_path: Path) -> None:
    bundle = load_bundle(write_bundle(tmp_path, {"refunds.cedar": REFUNDS, "policy.yaml": REFUND_WINDOWS + REDACT}))
    assert [window.name for window in bundle.windows] == ["refunds_24h"]
    assert {tool: [path.text for path in paths] for tool, paths in bundle.redact.items()} == {
        "refund": ["card.number", "items[*].pan"], "*": ["**.cvc"]}
    arguments = {"card": {"number": "12", "cvc": "3"}, "items": [{"pan": "x"}], "amount_cents": 100}
    hidden = find_hidden("refund", arguments, rules=bundle.redact, detectors=())
    assert [h.where for h in hidden] == ["card.number", "card.cvc", "items[0].pan"]


def test_no_policy_yaml_or_no_redact_hides_nothing(tmp_path: Path) -> None:
    assert load_bundle(None).redact == {}
    assert load_bundle(write_bundle(tmp_path, {"policy.yaml": REFUND_WINDOWS})).redact == {}


@pytest.mark.parametrize(("text", "named"), [
    ("redact:\n  refund:\n    - card.number\n    - items[x].pan\n",
     "policy.yaml:4: redact: refund: 'items[x].pan': 'items[x]' is no step"),
    ("windows: {}\nredact:\n  refund: 3\n", "policy.yaml:3: redact: refund: a list of argument paths is expected"),
    ("redact: [card.number]\n", "policy.yaml:1: redact: a mapping is expected"),
    ("redact:\n  refund: [iban, 'a..b']\n", "policy.yaml:2: redact: refund: 'a..b'"),
    ("redakt:\n  refund: [iban]\n", "policy.yaml:1: unknown key 'redakt' (known: windows, redact)"),
])
def test_a_bad_redact_is_named_by_file_and_line(tmp_path: Path, text: str, named: str) -> None:
    with pytest.raises(PolicyError) as raised:
        load_bundle(write_bundle(tmp_path, {"policy.yaml": text}))
    assert str(raised.value).startswith(named), raised.value


async def test_a_worker_keeps_its_last_good_redact_through_a_bad_edit(tmp_path: Path) -> None:
    folder = write_bundle(tmp_path, {"policy.yaml": "redact:\n  refund: [iban]\n"})
    engine = PolicyEngine.load(str(folder), settle_seconds=0)
    (folder / "policy.yaml").write_text("redact:\n  refund: [iban, card.number]\n")
    assert await engine.reload()
    assert [path.text for path in engine.bundle.redact["refund"]] == ["iban", "card.number"]
    (folder / "policy.yaml").write_text("redact:\n  refund: [iban, 'card[']\n")
    assert not await engine.reload()
    assert engine.failed.startswith("policy.yaml:2: redact: refund: 'card['")
    assert [path.text for path in engine.bundle.redact["refund"]] == ["iban", "card.number"]


PAGE = Path(__file__).resolve().parents[2] / "docs" / "operators" / "sensitive-values.md"


def test_the_operators_page_example_loads_and_hides_what_it_says(tmp_path: Path) -> None:
    text = PAGE.read_text()
    example = re.search(r"<!-- redact example -->\n```yaml[^\n]*\n(.*?)```", text, re.S)
    assert example, "the page's redact example"
    bundle = load_bundle(write_bundle(tmp_path, {"policy.yaml": example.group(1)}))
    arguments = {"card": {"number": "1", "cvc": "2"}, "items": [{"pan": "3"}], "bank": {"iban": "4"}, "memo": "5"}
    assert [h.where for h in find_hidden("refund", arguments, rules=bundle.redact, detectors=())] == [
        "card.number", "card.cvc", "items[0].pan", "bank"]
    assert [h.where for h in find_hidden("search", arguments, rules=bundle.redact, detectors=())] == ["card.cvc"]
    documented = re.findall(r"^\| `([a-z_]+)` \|", text.split("## 3. Detectors", 1)[1], re.M)
    assert sorted(documented) == sorted(DETECTORS)
