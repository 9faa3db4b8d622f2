"""Teams people for the tests of who is who (tests/msteams/test_people.py, tests/people/): a tenant, object ids of
people the Teams file lists (or not), the file, a click's member, and a worker's environment serving Teams with no Bot
Connector asked (people only)."""

from __future__ import annotations

from pathlib import Path

from bot.core.msteams import TeamsMember
from tests.conftest import SALES, free_port

TENANT = "0c0ffee0-0000-4000-8000-00000000c0de"
APP_ID = "a99a0000-0000-4000-8000-0000000000a9"
OID_BOB = "b0b00000-0000-4000-8000-000000000001"  # Bob in Teams: his Slack account has the same email
OID_ANA = "a0a00000-0000-4000-8000-000000000002"  # Teams only, listed by object id
OID_TINA = "71a00000-0000-4000-8000-000000000003"  # Teams only, listed by email
OID_VAL = "fa100000-0000-4000-8000-000000000004"  # a guest of the tenant, listed by object id
OID_GUS = "6a500000-0000-4000-8000-000000000005"  # a guest, not listed
OID_NOBODY = "0b0d0000-0000-4000-8000-000000000006"
TEAMS_FILE = f"""\
people:
  - {{object_id: {OID_ANA.upper()}, name: Ana}}
  - {{email: Tina@Example.com, name: Tina}}
  - {{object_id: {OID_VAL}, name: Val}}
routes:
  {SALES}: {{conversation: "19:sales@thread.tacv2", personal: true}}
"""


def member(oid: str, *, email: str = "", role: str = "user", tenant: str = TENANT, name: str = "") -> TeamsMember:
    return TeamsMember(tenant_id=tenant, object_id=oid, user_id=f"29:{oid[:8]}", name=name, email=email, role=role)


def teams_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    listed = tmp_path / "teams.yaml"
    listed.write_text(TEAMS_FILE)
    # no Bot Connector is asked here (people only): a loopback URL where none listens
    return {"TEAMS_APP_ID": APP_ID, "TEAMS_TENANT_ID": TENANT, "TEAMS_CONNECTOR_URL": f"http://127.0.0.1:{free_port()}",
            "TEAMS_FILE": str(listed), **extra}
