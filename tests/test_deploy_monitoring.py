"""What deploy/ ships for monitoring (docs/operators/monitoring.md): the Prometheus alert rules pass their
`promtool test rules` unit tests, and a broken rule makes promtool fail; the rules and the Grafana dashboard name only
metrics of the docs' one table."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.metrics_table import table_names

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboard.json"
PROMQL_NAMES = re.compile(r"\bhitl_[a-z0-9_]+")
SUFFIXES = ("_bucket", "_count", "_sum")  # a histogram's series


def named(expr: str) -> set[str]:
    """The hitl_ metrics an expression names, as the table names them (a histogram's series by its name)."""
    found = set()
    for name in PROMQL_NAMES.findall(expr):
        for suffix in SUFFIXES:
            if name.endswith(suffix) and name.removesuffix(suffix) in table_names():
                name = name.removesuffix(suffix)
        found.add(name)
    return found


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    assert tool is not None, "promtool is not installed (Debian's `prometheus` package; .ci/run installs it)"
    return subprocess.run([tool, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.slow
def test_the_alert_rules_pass_their_promtool_unit_tests() -> None:
    checked = promtool("check", "rules", "alerts.yml", cwd=PROMETHEUS)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", "alerts_test.yml", cwd=PROMETHEUS)
    assert tested.returncode == 0, tested.stdout + tested.stderr


@pytest.mark.slow
def test_a_broken_rule_makes_promtool_fail(tmp_path: Path) -> None:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    for rule in rules["groups"][0]["rules"]:
        if rule["alert"] == "AuditIntegrityFinding":
            rule["expr"] = "max by (kind) (hitl_audit_integrity_standing) > 1"  # never fires on a finding
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(rules))
    shutil.copy(PROMETHEUS / "alerts_test.yml", tmp_path / "alerts_test.yml")
    tested = promtool("test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert tested.returncode != 0 and "AuditIntegrityFinding" in tested.stdout + tested.stderr
    unparsable = (PROMETHEUS / "alerts.yml").read_text().replace("max by (kind)", "max by ((kind")
    (tmp_path / "alerts.yml").write_text(unparsable)
    assert promtool("check", "rules", "alerts.yml", cwd=tmp_path).returncode != 0


def test_the_rules_name_only_metrics_of_the_table() -> None:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"][0]["rules"]
    names = set().union(*(named(rule["expr"]) for rule in rules))
    assert names - table_names() == set()
    assert {"hitl_audit_integrity_standing", "hitl_audit_archive_lag_seconds", "hitl_policy_load_failing"} <= names


def test_every_dashboard_expression_names_a_metric_of_the_table() -> None:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    exprs = [target["expr"] for panel in panels for target in panel["targets"]]
    assert exprs and all(named(expr) for expr in exprs)
    assert set().union(*(named(expr) for expr in exprs)) - table_names() == set()
    assert named("rate(hitl_not_a_metric_total[5m])") - table_names() == {"hitl_not_a_metric_total"}
