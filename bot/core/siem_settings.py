"""What a worker reads to stream the audit log into a SIEM (issue 91; bot/core/settings.py's `Settings` holds it):
where (`AUDIT_SIEM_URL`: Splunk's HTTP Event Collector, syslog over TLS, or a file of JSON lines), the HEC token (a
secret: from the environment, never logged), the CA that signs the receiver's certificate, and how many entries go
in one batch. Only declared here: `Settings.from_env` reads them with the rest. Without `AUDIT_SIEM_URL` nothing is
streamed (bot/audit/siem/)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, model_validator

from bot.core.setting_values import Secret, Stripped, whole

HEC_PATH = "/services/collector/event"
SYSLOG_PORT = 6514  # RFC 5425's port for syslog over TLS


@dataclass(frozen=True, slots=True)
class SiemTarget:
    """AUDIT_SIEM_URL read: `kind` (hec, syslog or file), and where (`url` for HEC with its path; `host`, `port`
    for syslog; `path` for a file)."""

    kind: Literal["hec", "syslog", "file"]
    url: str = ""
    host: str = ""
    port: int = 0
    path: str = ""


def siem_target(url: str) -> SiemTarget:
    """`https://host:8088[/path]` (HEC; `/services/collector/event` when no path is given), `syslog+tls://host[:port]`
    or `file:///abs/path.jsonl` read (ValueError naming the forms, never a token: the URL carries none)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise ValueError("AUDIT_SIEM_URL's port must be a number from 1 to 65535") from None
    if parts.scheme in ("https", "http") and parts.hostname and not parts.query and not parts.fragment:
        path = parts.path if parts.path not in ("", "/") else HEC_PATH
        return SiemTarget("hec", url=f"{parts.scheme}://{parts.netloc}{path}")
    if parts.scheme == "syslog+tls" and parts.hostname and parts.path in ("", "/") and not parts.query:
        return SiemTarget("syslog", host=parts.hostname, port=port or SYSLOG_PORT)
    if parts.scheme == "file" and not parts.netloc and parts.path.startswith("/") and not parts.path.endswith("/"):
        return SiemTarget("file", path=parts.path)
    raise ValueError("AUDIT_SIEM_URL must be https://splunk-hec:8088 (Splunk's HTTP Event Collector),"
                     " syslog+tls://host:6514 (syslog over TLS, RFC 5425) or file:///abs/path/audit.ocsf.jsonl")


class SiemSettings(BaseModel):
    """The audit stream into a SIEM (issue 91), in the order the configuration table shows them."""

    audit_siem_url: Stripped = Field(default="", validation_alias="AUDIT_SIEM_URL", description=(
        "where every audit entry is delivered as an OCSF 1.5 event, in order, at least once: "
        "`https://splunk:8088` (Splunk's HTTP Event Collector, `/services/collector/event`), "
        "`syslog+tls://host:6514` (RFC 5424 over TLS, octet-counted) or `file:///abs/path.jsonl` (JSON lines for "
        "a collector). Unset: not streamed"))
    audit_siem_token: Secret | None = Field(default=None, validation_alias="AUDIT_SIEM_TOKEN", description=(
        "the HTTP Event Collector's token (sent as `Authorization: Splunk <token>`; a secret, never logged); needed "
        "with an https:// AUDIT_SIEM_URL"))
    audit_siem_ca_file: Stripped = Field(default="", validation_alias="AUDIT_SIEM_CA_FILE", description=(
        "a PEM file of the CA that signs the receiver's certificate (HEC over https, syslog over TLS); unset: the "
        "system's CAs"))
    audit_siem_batch: Annotated[int, whole(1, 1000)] = Field(
        default=100, validation_alias="AUDIT_SIEM_BATCH",
        description="audit entries sent in one request (HEC) or write (syslog, file) at most")

    @property
    def siem(self) -> SiemTarget | None:
        """AUDIT_SIEM_URL read, None without it."""
        return siem_target(self.audit_siem_url) if self.audit_siem_url else None

    @model_validator(mode="after")
    def _siem(self) -> Self:
        target = self.siem
        if target is None:
            return self
        if target.kind == "hec" and self.audit_siem_token is None:
            raise ValueError("AUDIT_SIEM_URL is an HTTP Event Collector: set AUDIT_SIEM_TOKEN to its token")
        if target.kind == "file" and not Path(target.path).parent.is_dir():
            raise ValueError("AUDIT_SIEM_URL names a file in a folder that does not exist: make the folder first")
        if self.audit_siem_ca_file and not Path(self.audit_siem_ca_file).is_file():
            raise ValueError("AUDIT_SIEM_CA_FILE must be a PEM file that exists")
        return self
