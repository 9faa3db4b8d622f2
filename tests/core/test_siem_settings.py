"""AUDIT_SIEM_URL read: Splunk's HEC (its path by default), syslog over TLS (port 6514 by default), a file; anything
else refused naming the forms; an HEC without its token refused; the token never in the settings' repr."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.settings import Settings, SettingsError
from bot.core.siem_settings import SiemTarget

BASE = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "APPROVALS_CHANNEL": "C0APPROVALS"}


@pytest.mark.parametrize(("url", "target"), [
    ("https://splunk.example.com:8088", SiemTarget("hec", url="https://splunk.example.com:8088/services/collector/event")),
    ("http://127.0.0.1:8088/services/collector/event", SiemTarget("hec", url="http://127.0.0.1:8088/services/collector/event")),
    ("syslog+tls://logs.example.com", SiemTarget("syslog", host="logs.example.com", port=6514)),
    ("syslog+tls://logs.example.com:10514", SiemTarget("syslog", host="logs.example.com", port=10514)),
    ("file:///tmp/audit.jsonl", SiemTarget("file", path="/tmp/audit.jsonl")),
])
def test_each_form_is_read(url: str, target: SiemTarget) -> None:
    settings = Settings.from_env({**BASE, "AUDIT_SIEM_URL": url, "AUDIT_SIEM_TOKEN": "hec-token-1"})
    assert settings.siem == target
    assert "hec-token-1" not in repr(settings)


@pytest.mark.parametrize("url", ["syslog://logs:514", "ftp://x", "file://relative/path", "https://", "file:///dir/"])
def test_anything_else_is_refused_naming_the_forms(url: str) -> None:
    with pytest.raises(SettingsError, match="AUDIT_SIEM_URL must be"):
        Settings.from_env({**BASE, "AUDIT_SIEM_URL": url, "AUDIT_SIEM_TOKEN": "t"})


def test_an_hec_needs_its_token() -> None:
    with pytest.raises(SettingsError, match="AUDIT_SIEM_TOKEN"):
        Settings.from_env({**BASE, "AUDIT_SIEM_URL": "https://splunk:8088"})
    assert Settings.from_env(BASE).siem is None


def test_a_file_in_a_missing_folder_or_a_missing_ca_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="folder that does not exist"):
        Settings.from_env({**BASE, "AUDIT_SIEM_URL": (tmp_path / "nowhere" / "audit.jsonl").as_uri()})
    with pytest.raises(SettingsError, match="AUDIT_SIEM_CA_FILE"):
        Settings.from_env({**BASE, "AUDIT_SIEM_URL": "syslog+tls://logs", "AUDIT_SIEM_CA_FILE": str(tmp_path / "x")})
