"""Every alert rule of deploy/prometheus/alerts.yml names its runbook (docs/operators/runbooks.md): a `runbook_url`
to a section of that page that exists, found by its anchor as mkdocs makes it (Python-Markdown's `toc`, as
mkdocs.yml configures it), and each section says what the alert means, what to check and what to do. A rule
without one, or linking to a section that is not there, fails."""

from __future__ import annotations

import copy
import re
from typing import Any

import markdown
import yaml

from tests.support.source import ROOT

ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
RUNBOOKS = ROOT / "docs" / "operators" / "runbooks.md"
PAGE = "https://github.com/agent-approvals/agent-approvals/blob/main/docs/operators/runbooks.md"
SAYS = ("**Means.**", "**Check.**", "**Do.**")


def rules() -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = yaml.safe_load(ALERTS.read_text())["groups"][0]["rules"]
    return loaded


def sections(text: str) -> dict[str, str]:
    """The page's second-level sections by anchor, as mkdocs renders them: the `toc` extension's ids."""
    page = markdown.Markdown(extensions=["toc", "attr_list", "tables"], extension_configs={"toc": {"permalink": True}})
    page.convert(text)
    anchors = [token["id"] for token in page.toc_tokens[0]["children"]] if page.toc_tokens else []
    bodies = re.split(r"^## .*$", text, flags=re.MULTILINE)[1:]
    assert len(anchors) == len(bodies), "a second-level heading the toc does not list"
    return dict(zip(anchors, bodies, strict=True))


def problems(alert_rules: list[dict[str, Any]], page: dict[str, str]) -> list[str]:
    """What is wrong with the rules' runbook links against the page's sections."""
    found = []
    for rule in alert_rules:
        url = rule.get("annotations", {}).get("runbook_url")
        if not url:
            found.append(f"{rule['alert']}: no runbook_url")
            continue
        where, _, anchor = url.partition("#")
        if where != PAGE:
            found.append(f"{rule['alert']}: {url} is not the runbooks page")
        elif anchor not in page:
            found.append(f"{rule['alert']}: {url} links to no section of the runbooks page")
        elif missing := [word for word in SAYS if word not in page[anchor]]:
            found.append(f"{rule['alert']}: its section does not say {', '.join(missing)}")
    return found


def test_every_alert_links_to_its_own_section_that_says_what_to_do() -> None:
    page = sections(RUNBOOKS.read_text())
    assert problems(rules(), page) == []
    anchors = [rule["annotations"]["runbook_url"].partition("#")[2] for rule in rules()]
    assert anchors == [rule["alert"].lower() for rule in rules()]  # one section per alert, by its name
    assert len(set(anchors)) == len(anchors)


def test_every_alert_section_is_an_alert_of_the_rules() -> None:
    headings = re.findall(r"^## ([A-Z][A-Za-z]+)$", RUNBOOKS.read_text(), flags=re.MULTILINE)
    assert headings and set(headings) == {rule["alert"] for rule in rules()}


def test_the_events_that_page_nobody_have_their_runbooks_too() -> None:
    page = sections(RUNBOOKS.read_text())
    for anchor in ("redis-restored-from-a-backup", "an-api-key-leaked", "a-sealing-key-leaked",
                   "a-signing-key-leaked", "a-signing-key-lost"):
        assert "**Means.**" in page[anchor] and "**Do.**" in page[anchor], anchor


def test_a_rule_without_a_runbook_or_linking_to_nowhere_is_named() -> None:
    page = sections(RUNBOOKS.read_text())
    broken = copy.deepcopy(rules())
    del broken[0]["annotations"]["runbook_url"]
    broken[1]["annotations"]["runbook_url"] = f"{PAGE}#no-such-section"
    broken[2]["annotations"]["runbook_url"] = "https://example.com/runbooks#" + broken[2]["alert"].lower()
    said = problems(broken, page)
    assert said == [f"{broken[0]['alert']}: no runbook_url",
                    f"{broken[1]['alert']}: {PAGE}#no-such-section links to no section of the runbooks page",
                    f"{broken[2]['alert']}: https://example.com/runbooks#{broken[2]['alert'].lower()} is not the"
                    " runbooks page"]
    thin = dict(page, **{rules()[3]["alert"].lower(): "**Means.** something\n"})
    assert problems(rules(), thin) == [f"{rules()[3]['alert']}: its section does not say **Check.**, **Do.**"]
