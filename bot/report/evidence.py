"""`python -m bot audit evidence --since 2026-01-01 --until 2026-04-01 --archive URL --out DIR`: what an auditor asks
for an audit period, written to DIR from the archive (and Redis's unarchived tail when REDIS_URL is set).

The archive is checked first (`audit verify --archive`'s walk): evidence is never written from an archive that is not
intact. The period is [since, until): an approval belongs to it when it was asked (else decided) in it. DIR gets:

- population.csv, population.jsonl: one row per approval (who asked, what, who decided, when, the policy, the quorum,
  the step-up assurance, whether the requester approved it), each with the seqs of its entries;
- exceptions.csv: the rows decided by no person (a rule, a policy, an input mode, the timeout) or where the
  requester was an approver (a channel that allows it);
- checkpoints/ and keys/: the archive's signed checkpoints (JWS and C2SP signed notes) and its key history, and
  VERIFY.txt, what the walk over the archive found;
- proofs/seq-N.json: inclusion proofs of a sample of the archived decisions (seeded: the same period and seed give
  the same sample), each checked with `audit check-proof`;
- summary.html: one page (bot/templates/evidence/summary.html); every text from the log is escaped, nothing in it
  is live markup;
- README.txt: what each file is and the commands that check it.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import random
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from bot.audit.archive.cli import FAILURES, chain_archive, failed, redis_entries, trust_for
from bot.audit.archive.proofs import dumps, prove
from bot.audit.archive.stores import ArchiveStore, open_archive
from bot.audit.archive.verify import ArchiveTrust, Checked, check_archive
from bot.audit.digests import seq_of
from bot.audit.verify import UsageError
from bot.core.settings import StoreSettings
from bot.core.templates import render
from bot.report.audit_export import iso_utc, safe_cell
from bot.report.cli import ReportError
from bot.report.span import archived_entries
from bot.store import Store, connect

COLUMNS = (
    "approval", "requested_at", "requester", "kind", "tool", "title", "digest", "arguments", "key", "workflow",
    "origin_channel", "card_channel", "policy", "decided_at", "outcome", "decided_by", "decided_how", "on_behalf",
    "votes", "required", "voters", "amr", "passkey", "assured_at", "requester_approved", "source", "request_seq",
    "decision_seq",
)
DECISIONS = ("decision", "auto_approved", "auto_rejected")
NOT_PEOPLE = frozenset({"", "timeout", "system", "auto"})


@dataclass
class Row:
    """One approval of the period, from its entries."""

    approval: str
    fields: dict[str, str] = field(default_factory=dict)
    voters: list[str] = field(default_factory=list)

    def add(self, event: str, entry: dict[str, str], *, source: str) -> None:
        f, seq = self.fields, entry.get("seq", "")
        if event == "requested" or (event in ("auto_approved", "auto_rejected") and "requested_at" not in f):
            f["requested_at"] = entry.get("at", "")
            f["requester"] = entry.get("requester") or (entry.get("by", "") if event == "requested" else "")
            for name in ("kind", "tool", "title", "digest", "arguments", "key", "workflow", "origin_channel",
                         "card_channel", "policy"):
                if entry.get(name):
                    f[name] = entry[name]
            if event == "requested":
                f["request_seq"] = seq
        if event == "vote" and entry.get("by") and entry["by"] not in self.voters:
            self.voters.append(entry["by"])
        if event in DECISIONS:
            f.update(decided_at=entry.get("at", ""), outcome=entry.get("outcome", ""), decided_by=entry.get("by", ""),
                     decided_how=_how(event, entry), on_behalf=entry.get("for", ""), decision_seq=seq,
                     source=source)
            for name in ("votes", "required", "amr", "passkey", "assured_at", "policy"):
                if entry.get(name):
                    f[name] = entry[name]
            if event in ("auto_approved", "auto_rejected"):
                f["rule"] = entry.get("rule", "")
            for voter in (entry.get("voters") or "").split(","):
                if voter and voter not in self.voters:
                    self.voters.append(voter)

    def out(self) -> dict[str, str]:
        """The row as written (CSV and JSONL carry the same values)."""
        f = dict(self.fields)
        deciders = set(self.voters) | ({f.get("decided_by", "")} - NOT_PEOPLE)
        approved = f.get("outcome") == "approved"
        f.update(approval=self.approval, voters=",".join(self.voters),
                 requester_approved="yes" if approved and f.get("requester") in deciders else "no")
        if "required" not in f and f.get("decided_how") == "person":
            f["required"] = "1"
        for name in ("requested_at", "decided_at", "assured_at"):
            if f.get(name):
                f[name] = iso_utc(f[name])
        f.setdefault("source", "archive")
        return {name: f.get(name, "") for name in COLUMNS}

    def exception(self) -> str:
        """Why this row is an exception ("" when it is none)."""
        f, said = self.out(), []
        if f["decided_how"] not in ("person", ""):
            said.append(f"decided by {f['decided_how']}")
        if f["requester_approved"] == "yes":
            said.append("the requester approved it")
        return "; ".join(said)


def _how(event: str, entry: dict[str, str]) -> str:
    """Who or what decided: a person, a rule, a policy, an input mode, the timeout."""
    if event == "decision":
        if entry.get("outcome") == "timed_out" or entry.get("by") == "timeout":
            return "timeout"
        return "system" if entry.get("by") in NOT_PEOPLE else "person"
    rule = entry.get("rule", "")
    if entry.get("rule_id") or rule.startswith("rule"):
        return "rule"
    if entry.get("policy") or rule.startswith("policy"):
        return "policy"
    return "mode"


@dataclass
class Evidence:
    """The period's approvals, and what was read."""

    since: float
    until: float
    rows: dict[str, Row] = field(default_factory=dict)
    decision_seqs: list[int] = field(default_factory=list)  # the archived decisions of the period
    tail: int = 0  # rows decided from Redis's unarchived entries

    def add(self, entry: dict[str, str], *, source: str) -> None:
        event, approval = entry.get("event", ""), entry.get("approval", "")
        if not approval or event not in ("requested", "vote", *DECISIONS):
            return
        row = self.rows.get(approval)
        if row is None:
            at = _float(entry.get("at"))
            if at is None or not (self.since <= at < self.until) or event == "vote":
                return  # asked (or decided, when its ask is older) outside the period
            row = self.rows[approval] = Row(approval)
        row.add(event, entry, source=source)
        seq = seq_of(entry)
        if event in DECISIONS and seq is not None:
            if source == "archive":
                self.decision_seqs.append(seq)
            else:
                self.tail += 1


def _float(value: str | None) -> float | None:
    try:
        return float(value or "")
    except ValueError:
        return None


def sample_of(seqs: list[int], *, size: int, seed: str) -> list[int]:
    """`size` of `seqs`, the same for the same seed (sorted)."""
    chooser = random.Random(int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big"))
    return sorted(chooser.sample(sorted(seqs), min(size, len(seqs))))


async def gather_evidence(
    archive: ArchiveStore, *, trust: ArchiveTrust, since: float, until: float, period: tuple[str, str],
    tail: Iterable[dict[str, str]] = (), sample: int = 25, seed: str | None = None,
) -> tuple[dict[str, bytes], str]:
    """Check the archive, then the files of DIR by name (see the module) and what they hold, said in one sentence;
    Found when the archive is not intact."""
    checked = await check_archive(archive, trust=trust)
    evidence = Evidence(since, until)
    for entry in await archived_entries(archive):
        evidence.add(entry, source="archive")
    for entry in tail:
        if (seq_of(entry) or 0) > checked.last:
            evidence.add(entry, source="redis (not yet archived)")
    seed = seed if seed is not None else f"{period[0]}..{period[1]}"
    chosen = sample_of(evidence.decision_seqs, size=sample, seed=seed)
    rows = [row.out() for row in evidence.rows.values()]
    exceptions = [(row.out(), why) for row in evidence.rows.values() if (why := row.exception())]
    if checked.overwritten:  # (the archive's own finding, first: read in the oldest versions, the newer ones named)
        exceptions.insert(0, (dict.fromkeys(COLUMNS, ""), f"archive overwritten: {checked.overwritten}; every object"
                              " was read in its oldest version, the one its writer put (and locked)"))
    files = _tables(rows=rows, exceptions=exceptions)
    for prefix in ("checkpoints/", "keys/"):
        for name in await archive.names(prefix):
            if (data := await archive.get(name)) is not None:
                files[name] = data
    files["VERIFY.txt"] = (checked.summary(archive.url, trust=trust) + "\n").encode()
    for seq in chosen:
        files[f"proofs/seq-{seq}.json"] = (dumps(await prove(archive, seq=seq, trust=trust)) + "\n").encode()
    signed = len([name for name in files if name.startswith("checkpoints/") and name.endswith(".jws")])
    said = (f"{len(rows):,} approvals from {period[0]} to {period[1]} (until excluded), {len(exceptions):,}"
            f" exceptions, {len(chosen):,} inclusion proofs (seed {seed!r}), {signed:,} signed checkpoints;"
            f" {evidence.tail:,} decisions read from Redis, not yet archived"
            + ("; the archive was written over (overwritten: its first exception), read in its oldest versions"
               if checked.overwritten else ""))
    files["summary.html"] = _html(rows=rows, exceptions=exceptions, said=said, archive=archive.url, checked=checked,
                                  trust=trust, period=period).encode()
    files["README.txt"] = _readme(archive.url, period=period, seed=seed, sample=sample, chosen=chosen,
                                  tail=evidence.tail).encode()
    return files, said


def write_files(out: Path, files: dict[str, bytes]) -> None:
    """DIR made if missing, each file written (names from `gather_evidence`: relative, no `..`)."""
    for name, data in files.items():
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _tables(*, rows: list[dict[str, str]], exceptions: list[tuple[dict[str, str], str]]) -> dict[str, bytes]:
    population, listed = io.StringIO(newline=""), io.StringIO(newline="")
    writer = csv.DictWriter(population, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows({name: safe_cell(value) for name, value in row.items()} for row in rows)
    writer = csv.DictWriter(listed, fieldnames=("exception", *COLUMNS))
    writer.writeheader()
    writer.writerows({"exception": why, **{n: safe_cell(v) for n, v in row.items()}} for row, why in exceptions)
    lines = "".join(json.dumps(row, ensure_ascii=True) + "\n" for row in rows)
    return {"population.csv": population.getvalue().encode(), "population.jsonl": lines.encode(),
            "exceptions.csv": listed.getvalue().encode()}


def _html(*, rows: list[dict[str, str]], exceptions: list[tuple[dict[str, str], str]], said: str, archive: str,
          checked: Checked, trust: ArchiveTrust, period: tuple[str, str]) -> str:
    """One page: the counts, by outcome and by how decided, and the exceptions; all text escaped (a template)."""
    template, context = summary_page(rows=rows, exceptions=exceptions, said=said, archive=archive,
                                     checked=checked.summary(archive, trust=trust), period=period)
    return render(template, **context)


def summary_page(*, rows: list[dict[str, str]], exceptions: list[tuple[dict[str, str], str]], said: str,
                 archive: str, checked: str, period: tuple[str, str]) -> tuple[str, dict[str, object]]:
    """summary.html's template and what it shows: the counts by outcome (and how decided), the first 200 exceptions."""
    counts: dict[str, int] = {}
    for row in rows:
        key = f"{row['outcome'] or 'pending'} ({row['decided_how'] or 'undecided'})"
        counts[key] = counts.get(key, 0) + 1
    return "evidence/summary.html", {
        "since": period[0], "until": period[1], "said": said, "archive": archive, "checked": checked,
        "counts": [(key, f"{n:,}") for key, n in sorted(counts.items())], "exceptions": exceptions[:200],
        "more": f"{len(exceptions) - 200:,}" if len(exceptions) > 200 else "",
    }


def _readme(url: str, *, period: tuple[str, str], seed: str, sample: int, chosen: list[int], tail: int) -> str:
    since, until = period
    redis = (f"\n{tail:,} decisions came from Redis, not yet archived (source column): no proof covers them until"
             " the archive holds them; run this command again later for their proofs.\n") if tail else ""
    return f"""Evidence of the approvals from {since} to {until} (until excluded), from the audit archive
{url}
Written by: python -m bot audit evidence --since {since} --until {until} --archive URL --out DIR
{redis}
Files and how to check them (pinned.json: the deployment's public keys, kept apart from the bot, e.g. its
/api/v1/jwks.json saved when the keys were made):

population.csv, population.jsonl
    Every approval asked (or, asked earlier, decided) in the period: who asked, what (tool, title, digest,
    arguments), the key and workflow that asked, who decided and when, how (person, rule, policy, mode, timeout),
    the policy, the quorum (votes, required, voters), the step-up assurance (amr, passkey, assured_at), and
    requester_approved (yes: the requester was among the approvers). request_seq and decision_seq name the entries.
    Check: every seq is in the archive, which verifies intact:
        python -m bot audit verify --archive {url} --jwks pinned.json
    The population is complete when that passes: the signed checkpoints cover every seq, none missing.

exceptions.csv
    The rows decided by no person (a rule, a policy, an input mode, the timeout), or approved by their requester.

checkpoints/, keys/, VERIFY.txt
    The archive's signed checkpoints (JWS, and C2SP signed notes that transparency-log tools read) and the
    public keys that signed them; VERIFY.txt is what the walk over the archive found when this was written.

proofs/seq-N.json
    Inclusion proofs of {len(chosen)} of the period's archived decisions (a sample of {sample}, seed {seed!r}: the same
    command gives the same sample; --seed chooses another). Check each offline, no archive needed:
        for f in proofs/*.json; do python -m bot audit check-proof "$f" --jwks pinned.json; done
    Or one by one: python -m bot audit prove SEQ --archive {url} gives the same entry.

summary.html
    One page: the counts and the exceptions. Its text is escaped: nothing in it is live markup.
"""


def evidence_command(
    *, since: str | None, until: str | None, url: str, out_dir: str | None, jwks: str | None, sample: int,
    seed: str | None, out: TextIO | None = None, environ: Mapping[str, str] | None = None, chain: str = "",
) -> int:
    """`audit evidence --since DATE --until DATE --archive URL --out DIR` (this module): from the
    archive alone, and Redis's unarchived tail too when REDIS_URL is set. Exit 0 written, 1 the archive not intact or
    unreadable, 2 bad usage."""
    out = out or sys.stdout
    try:
        if since is None or until is None or out_dir is None:
            raise UsageError("evidence needs --since DATE, --until DATE, --archive URL and --out DIR")
        start, end = period_time(since, "--since"), period_time(until, "--until")
        if end <= start:
            raise UsageError(f"evidence: --until ({until[:40]}) must be after --since ({since[:40]})")
        if not 0 <= sample <= 10_000:
            raise UsageError("evidence: --sample is 0 to 10,000 proofs")
        archive = chain_archive(open_archive(url, retain=0), chain)  # (`--chain`: a workspace's, chains/<tenant>/)
        settings = StoreSettings.from_env(environ)
        with_redis = "redis_url" in settings.model_fields_set
        files, said = asyncio.run(_evidence(archive, settings, with_redis=with_redis, jwks=jwks, chain=chain,
                                            period=(since, until), times=(start, end), sample=sample, seed=seed))
        write_files(Path(out_dir).expanduser(), files)
    except FAILURES as exc:
        return failed(exc, found="audit archive NOT intact, no evidence written")
    print(f"evidence written to {out_dir}: {said}. README.txt there says how to check each file.", file=out)
    return 0


def period_time(text: str, flag: str) -> float:
    """An ISO 8601 date or time (UTC unless it says its offset) as epoch seconds; UsageError when it is not one."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{flag}: not an ISO 8601 date or time: {text.strip()[:40]!r} (e.g. 2026-01-01)") from None
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).timestamp()


def period_of(command: str, since: str | None, until: str | None) -> tuple[float, float]:
    """`--since DATE` (needed) to `--until DATE` (else now) as epoch seconds; ReportError (or the UsageError of an
    unreadable date) naming `command`'s flag when one is missing or the period is empty."""
    if since is None:
        raise ReportError(f"{command}: --since DATE is needed (an ISO 8601 date or time, e.g. 2026-10-01)")
    start = period_time(since, "--since")
    end = period_time(until, "--until") if until is not None else time.time()
    if end <= start:
        raise ReportError(f"--until ({(until or 'now')[:40]}) must be after --since ({since[:40]})")
    return start, end


async def _evidence(
    archive: ArchiveStore, settings: StoreSettings, *, with_redis: bool, jwks: str | None, period: tuple[str, str],
    times: tuple[float, float], sample: int, seed: str | None, chain: str = "",
) -> tuple[dict[str, bytes], str]:
    trust = await trust_for(archive, jwks=jwks, settings=settings)
    tail: list[dict[str, str]] = []
    if with_redis:
        redis = connect(settings.redis_url.get_secret_value(), command_timeout=settings.redis_timeout)
        try:
            store = Store(redis, prefix=settings.store_prefix, sharded=settings.store_sharded)
            home = await store.tenants.home() if chain else None
            if home is not None:
                store = store.for_tenant(chain, home=home.tenant)
            tail = [{"id": stream_id, **fields} for stream_id, fields in await redis_entries(store)
                    ] if not chain or home is not None else []
        finally:
            await redis.aclose()
    return await gather_evidence(archive, trust=trust, since=times[0], until=times[1], period=period, tail=tail,
                                 sample=sample, seed=seed)
