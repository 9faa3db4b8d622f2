"""`python -m bot` serves Slack and the Approvals API; `python -m bot dev` runs the whole product locally (`devslack`:
the local Slack alone, for staging); `keys`, `signing`, `policy`, `audit`, `report`, `teams` and `store` are the
operator's commands (bot/cli/, bot/report/)."""

# ruff: noqa: E402  (the imports after `rfc3987_syntax` is left out below: none before it may import jsonschema)

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Mapping, Sequence

# `jsonschema` (the agent package's schemas) imports `rfc3987_syntax` when it is installed (the `release` extra's
# cyclonedx-bom brings it: a venv with every extra, as the tests' and dev's), which builds 39 Lark grammars at import:
# 2.5 s of CPU, half of what a worker takes to start, for a format check the product never asks for (it validates
# with no FormatChecker). Left out here, every `python -m bot` sees the `jsonschema` a worker's own install has.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]  # (None: importing it fails, as uninstalled)

from aiohttp import web

from bot.cli import freeze as freeze_cli
from bot.cli import keys as keys_cli
from bot.cli import move as move_cli
from bot.cli import policy as policy_cli
from bot.cli import signing as signing_cli
from bot.cli import teams as teams_cli
from bot.core.environment import DevSettings, misspelt
from bot.core.settings import Settings, SettingsError
from bot.core.version import __version__, described
from bot.runs.models import ModelConfigError, read_model_config
from bot.runs.triage_model import model_names

log = logging.getLogger("bot")


def _audit_check(audit: argparse.ArgumentParser, args: argparse.Namespace, environ: Mapping[str, str] | None) -> int:
    """`audit verify [--archive URL]`, `audit prove SEQ --archive URL`, `audit check-proof FILE --jwks FILE`,
    `audit check-records FILE`."""
    if args.action == "verify":
        if args.target is not None:
            audit.error("verify takes no SEQ or FILE")
        if args.archive is not None:
            from bot.audit.archive.cli import verify_archive

            return verify_archive(url=args.archive, since=args.since, jwks=args.jwks, environ=environ)
        from bot.audit.verify import verify_audit

        return verify_audit(since=args.since, jwks=args.jwks, environ=environ)
    if args.action == "evidence":
        if args.target is not None or args.archive is None:
            audit.error("evidence takes no SEQ or FILE, and needs --archive URL")
        from bot.report.evidence import evidence_command

        return evidence_command(since=args.since, until=args.until, url=args.archive, out_dir=args.out,
                                jwks=args.jwks, sample=args.sample, seed=args.seed, environ=environ,
                                chain=args.chain)
    if args.target is None:
        audit.error(f"{args.action} needs {'SEQ' if args.action == 'prove' else 'FILE'}")
    if args.action == "prove":
        if args.archive is None:
            audit.error("prove needs --archive URL")
        from bot.audit.archive.cli import prove_command

        return prove_command(seq=args.target, url=args.archive, jwks=args.jwks, environ=environ, chain=args.chain)
    if args.action == "check-records":
        from bot.report.mcp_audit import check_records_command

        return check_records_command(path=args.target)
    from bot.audit.archive.cli import check_proof_command

    return check_proof_command(path=args.target, jwks=args.jwks)


def main(argv: Sequence[str] | None = None, *, environ: Mapping[str, str] | None = None) -> int:
    """`python -m bot [serve | dev | keys | signing | policy | audit | report] ...`: one argparse parser, a
    subparser each. Settings come from `environ` (the environment when None) through `bot.core.settings`. Returns
    an exit code."""
    parser, audit, report = _parser()
    args = parser.parse_args(argv)
    told = _operator_command(args, environ)
    if told is not None:
        return told
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.command == "dev":
        return _dev(args, environ)
    if args.command == "devslack":
        from bot.devslack.alone import run_alone

        return run_alone(host=args.host, port=args.port, events_url=args.events_url,
                         bot_token_file=args.bot_token_file, signing_secret_file=args.signing_secret_file)
    if args.command == "audit":
        return _audit(audit, args, environ)
    if args.command == "report":
        return _report(report, args, environ)
    return _serve_from(environ)


def _parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser, argparse.ArgumentParser]:
    """The parser, with the `audit` and `report` subparsers (their own errors name them)."""
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    parser.add_argument("--version", action="version", version=f"slack-agent-approvals {described(__version__)}",
                        help="print the version (the release's, or a development build's: docs/operators/upgrades.md)"
                        " and exit")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser(
        "serve", help="serve Slack (the default): HTTP on $PORT, or Socket Mode with SLACK_APP_TOKEN",
        description="Serve Slack and the Approvals API (the default command): HTTP on $PORT (/slack/events, /api/v1,"
        " /healthz, /livez, /readyz, /metrics), or Slack over Socket Mode when SLACK_APP_TOKEN is set. Settings come"
        " from the environment (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, REDIS_URL, APPROVALS_CHANNEL...).",
    )
    _add_dev(sub)
    audit = _add_audit(sub)
    report = _add_report(sub)
    _add_operators(sub)
    return parser, audit, report


def _add_dev(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`dev` and `devslack`."""
    dev = sub.add_parser("dev", help="the whole product on this machine: no Slack, no Redis install, no API key",
                         description="The whole product on this machine: a local Slack page, a Redis of its own,"
                         " a demo model. Nothing to install or sign up for.")
    dev.add_argument("--port", type=int, default=3000, help="port of the local Slack page (default 3000)")
    dev.add_argument("--host", default="127.0.0.1", help="address the local Slack page listens on (default 127.0.0.1)")
    dev.add_argument("--workspaces", action="store_true", help="the local Slack also serves a second workspace and an"
                     " Enterprise Grid organisation of two, the app installed in each (issue 65)")
    dev.add_argument("--data", metavar="DIR", help="where dev keeps its data (its Redis, the dev key, the signing"
                     " key) across restarts (default: $XDG_STATE_HOME/slack-agent-approvals/dev)")
    dev.add_argument("--fresh", action="store_true", help="start afresh: empty the data folder of dev's data first")
    dev.add_argument("--teams", action="store_true", help="a local Microsoft Teams too (a Bot Connector and its page),"
                     " its channel routed from #approvals, the same people")
    dev.add_argument("--email", action="store_true", help="a local mail catcher too: approval e-mails in the page's"
                     " Mail pane, their links working; Erin, an e-mail-only person, decides in #general (issue 88)")
    dev.add_argument("--push", action="store_true", help="Web Push too: the web app, a local push service; turn"
                     " notifications on at /app/push, each push in the page's Phone pane, its actions working (#90)")
    alone = sub.add_parser("devslack", help="the local Slack alone, for staging and load tests: point workers at it",
                           description="Serve the local Slack alone (no worker, no Redis) for staging and load tests:"
                           " it prints its URL, SLACK_API_URL, the SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET it uses,"
                           " to give workers of your own (python -m bot); people's requests go to --events-url.")
    alone.add_argument("--port", type=int, default=3000, help="port of the local Slack (default 3000; 0: any free)")
    alone.add_argument("--host", default="127.0.0.1", help="address it listens on (default 127.0.0.1)")
    alone.add_argument("--events-url", help="where Slack's requests go: a worker's (or a load balancer's)"
                       " http://HOST:PORT/slack/events")
    alone.add_argument("--bot-token-file", help="a file holding the bot token to use (default: one made per run)")
    alone.add_argument("--signing-secret-file", help="a file holding the signing secret (default: one made per run)")


def _add_audit(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    audit = sub.add_parser("audit", help="export the audit log, or verify it is intact (needs only REDIS_URL)",
                           description="`audit [export]` writes the audit log to standard output as JSON lines or CSV"
                           " (times in ISO 8601 UTC; people as their ids and, where known, their names). `audit verify`"
                           " checks it against its signed checkpoints: exit 0 when intact, 1 naming the first entry"
                           " altered, deleted or inserted, or when no audit log is found. Needs only REDIS_URL (and"
                           " SLACK_BOT_TOKEN, if set, to name"
                           " people; SIGNING_KEYS_FILE or SIGNING_KEYS, or --jwks, to check signatures). With --archive"
                           " URL, verify checks the audit archive too (alone when REDIS_URL is unset); `audit prove SEQ"
                           " --archive URL` prints one entry's inclusion proof as JSON, `audit check-proof FILE --jwks"
                           " pinned.json` checks one offline.")
    audit.add_argument("action", nargs="?", choices=("export", "verify", "prove", "check-proof", "evidence",
                                                       "check-records"),
                       default="export",
                       help="export (the default), verify, prove SEQ (an inclusion proof from --archive, as JSON),"
                       " check-proof FILE (with --jwks, offline), evidence (an audit period's population,"
                       " checkpoints, sampled proofs, exceptions and summary, into --out DIR) or check-records FILE"
                       " (an export's SEP-3004 records: their hashes and chain, offline)")
    audit.add_argument("target", nargs="?", default=None, help="prove: the entry's seq; check-proof: the proof's file;"
                       " check-records: the records' file (JSON lines)")
    audit.add_argument("--archive", default=None, help="verify, prove: the audit archive (file:///abs/folder or"
                       " s3://bucket/prefix; AUDIT_ARCHIVE's form); verify checks Redis too when REDIS_URL is set;"
                       " export: read it for the part of the period Redis no longer holds")
    audit.add_argument("--since", default=None, help=f"how far back: {SINCE_HELP} (export: default 7d); verify: also"
                       " an ISO 8601 time, and it starts at the last signed checkpoint at or before it (default: the"
                       " whole log)")
    audit.add_argument("--channel", action="append", default=[], help="export: only entries about this channel id")
    audit.add_argument("--format", choices=("jsonl", "csv", "sep3004"), default=None, help="export: output format"
                       " (default jsonl; sep3004: MCP's tamper-evident audit records, one hash-chained segment)")
    audit.add_argument("--jwks", default=None, help="verify: check checkpoints with the public keys of this JWKS file"
                       " or URL (a bot's https://.../api/v1/jwks.json) instead of SIGNING_KEYS_FILE / SIGNING_KEYS"
                       " (prove: the same; check-proof needs it)")
    audit.add_argument("--chain", default="", help="prove, evidence: a workspace's audit chain (its tenant id, T… or"
                       " E…; its archive under chains/<tenant>/) instead of the home chain's")
    audit.add_argument("--until", default=None, help="evidence: the period's end, an ISO 8601 date or time (excluded;"
                       " --since is its start, included)")
    audit.add_argument("--out", default=None, help="evidence: the folder to write (made if missing)")
    audit.add_argument("--sample", type=int, default=25, help="evidence: how many inclusion proofs (default 25)")
    audit.add_argument("--seed", default=None, help="evidence: the sample's seed (default: the period, so the same"
                       " command gives the same sample)")
    audit.add_argument("--as", dest="who", default=None, help="export: who runs it, for the audit log (default:"
                       " user@host)")
    return audit


def _add_report(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    report = sub.add_parser("report", help="write an HTML report of how approvals are going (needs only REDIS_URL)",
                            description="Write an HTML report of how approvals are going: decisions, waits, who"
                            " decides, automatic steps. Needs only REDIS_URL (and SLACK_BOT_TOKEN, if set, to name"
                            " people).")
    report.add_argument("kind", nargs="?", choices=("oversight", "triage"), default=None,
                        help="oversight: the oversight report of a period (--since DATE --until DATE), HTML and CSV:"
                        " who oversaw each route and whether they were fit to, time to decide, service levels, fast"
                        " approvals, fatigue, overrides and freeze drills; triage: the triage model's readings beside"
                        " people's decisions, per policy (--since DATE --until DATE [--json]): agreement, false"
                        " approvals, time saved")
    report.add_argument("--since", default=None, help=f"how far back: {SINCE_HELP} (default 30d); oversight: the"
                        " period's start, an ISO 8601 date or time (included)")
    report.add_argument("--until", default=None, help="oversight, triage: the period's end, an ISO 8601 date or time"
                        " (excluded; default now)")
    report.add_argument("--csv", default=None, help="oversight: the CSV file to write (default: --out's name with"
                        " .csv)")
    report.add_argument("--json", action="store_true", help="triage: print one JSON document, not text")
    report.add_argument("--channel", action="append", default=[], help="only approvals about this channel id")
    report.add_argument("--team", default="", help="only this workspace's approvals: its id (T…), or an Enterprise"
                        " Grid organisation's (E…) for an org-wide install")
    report.add_argument("--out", default=None, help="the HTML file to write (default report.html; oversight:"
                        " oversight.html)")
    report.add_argument("--archive", default=None, help="the audit archive (file:///abs/folder or s3://bucket/prefix;"
                        " AUDIT_ARCHIVE's form): read for the part of the period Redis no longer holds")
    report.add_argument(
        "--rubber-stamp-seconds", type=float, default=5.0, help="an approval this quick counts as quick (default 5)"
    )
    report.add_argument(
        "--rubber-stamp-rate", type=float, default=0.95, help="share of quick approvals that is noted (default 0.95)"
    )
    report.add_argument("--rubber-stamp-min", type=int, default=20, help="over at least this many acts (default 20)")
    return report


def _add_operators(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The operator's commands of bot/cli/: keys, freeze, unfreeze, signing, policy, teams, store."""
    keys = sub.add_parser("keys", help="API keys: create NAME --channel C…, list, revoke NAME (needs only REDIS_URL)",
                          description=keys_cli.HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    keys_cli.add_arguments(keys)
    for name, said in (("freeze", "freeze a scope: every new ask in it refused at once (needs only REDIS_URL)"),
                       ("unfreeze", "unfreeze a scope (needs only REDIS_URL)")):
        frozen = sub.add_parser(name, help=said, description=freeze_cli.HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
        freeze_cli.add_arguments(frozen, freeze=name == "freeze")
    signing = sub.add_parser("signing", help="signing keys of receipts: rotate [--file PATH], show",
                             description=signing_cli.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    signing_cli.add_arguments(signing)
    policy = sub.add_parser("policy", help="policy bundles: check, test FIXTURES, replay --since 30d, explain ID",
                            description=policy_cli.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    policy_cli.add_arguments(policy)
    teams = sub.add_parser("teams", help="Microsoft Teams: manifest --app-id GUID --host HOST (the app package to"
                           " upload)", description=teams_cli.__doc__)
    teams_cli.add_arguments(teams)
    moving = sub.add_parser("store", help="the store's layout: move-workspaces (each workspace to a hash tag of its own"
                            " on Redis Cluster)", description=move_cli.HELP,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    move_cli.add_arguments(moving)


def _operator_command(args: argparse.Namespace, environ: Mapping[str, str] | None) -> int | None:
    """The exit code of an operator's command of bot/cli/, None for the others."""
    if args.command == "freeze" and args.scope == ["drill"]:
        from bot.cli.drill import drill_command

        return drill_command(args, environ=environ)
    if args.command in ("freeze", "unfreeze"):
        return freeze_cli.freeze_command(args, freeze=args.command == "freeze", environ=environ)
    if args.command == "keys":
        return keys_cli.keys_command(args, environ=environ)
    if args.command == "store":
        return move_cli.store_command(args, environ=environ)
    if args.command == "signing":
        return signing_cli.signing_command(args, environ=environ)
    if args.command == "policy":
        return policy_cli.policy_command(args, environ=environ, models=_model_names)
    if args.command == "teams":
        return teams_cli.teams_command(args)
    return None


def _model_names(path: str) -> frozenset[str]:
    """The models MODEL_CONFIG at `path` names (what `policy check` lets @triage name, as a worker's start does)."""
    return model_names(read_model_config(path))


def _dev(args: argparse.Namespace, environ: Mapping[str, str] | None) -> int:
    from pathlib import Path

    from bot.dev import run_dev
    from bot.dev_data import default_data_dir

    data = Path(args.data).expanduser() if args.data else default_data_dir(DevSettings.from_env(environ).state_home)
    return int(run_dev(host=args.host, port=args.port, environ=environ, several_workspaces=args.workspaces,
                       data_dir=data, fresh=args.fresh, teams=args.teams, email=args.email, push=args.push))


def _audit(audit: argparse.ArgumentParser, args: argparse.Namespace, environ: Mapping[str, str] | None) -> int:
    if args.action != "export":
        if args.channel or args.format:
            audit.error(f"--channel and --format are for export, not {args.action}")
        return _audit_check(audit, args, environ)
    if args.jwks is not None or args.target is not None:
        audit.error("--jwks and a SEQ or FILE are for verify, prove and check-proof")
    if args.until is not None or args.out is not None or args.seed is not None:
        audit.error("--until, --out and --seed are for evidence")
    from bot.report.audit_export import export_audit

    return export_audit(since=args.since or "7d", channels=args.channel, fmt=args.format or "jsonl",
                        who=args.who, environ=environ, archive=args.archive)


def _report(report: argparse.ArgumentParser, args: argparse.Namespace, environ: Mapping[str, str] | None) -> int:
    from pathlib import Path

    if args.kind == "oversight":
        if args.team:
            report.error("--team is for the approvals report, not oversight")
        from bot.report.oversight_cli import build_oversight

        return build_oversight(since=args.since, until=args.until, channels=args.channel,
                               out=Path(args.out or "oversight.html"),
                               csv_out=Path(args.csv) if args.csv else None, archive=args.archive,
                               environ=environ)
    if args.kind == "triage":
        if args.team or args.channel or args.out or args.csv:
            report.error("--team, --channel, --out and --csv are not for `report triage`")
        from bot.report.triage_cli import report_triage

        return report_triage(since=args.since, until=args.until, as_json=args.json, archive=args.archive,
                             environ=environ)
    if args.json:
        report.error("--json is for `report triage`")
    if args.until is not None or args.csv is not None:
        report.error("--until and --csv are for `report oversight` and `report triage`")
    from bot.report.cli import build_report

    return build_report(
        since=args.since or "30d",
        channels=args.channel,
        out=Path(args.out or "report.html"),
        rubber_stamp_seconds=args.rubber_stamp_seconds,
        rubber_stamp_rate=args.rubber_stamp_rate,
        rubber_stamp_min=args.rubber_stamp_min,
        environ=environ,
        team=args.team,
        archive=args.archive,
    )


def _serve_from(environ: Mapping[str, str] | None) -> int:
    try:
        settings = Settings.from_env(environ)
        warn_misspelt(environ)
        check_archive_folder(settings.audit_archive)
        return serve(settings)
    except (SettingsError, ModelConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def check_archive_folder(url: str) -> None:
    """A folder archive (AUDIT_ARCHIVE) this worker cannot write stops the start, naming the variable (SettingsError),
    as a bad duration does; an S3 one is checked as it is written (an outage stops nothing)."""
    if not url:
        return
    from bot.audit.archive.stores import ArchiveError, unwritable

    try:
        why = unwritable(url)
    except ArchiveError as exc:
        raise SettingsError(str(exc)) from None
    if why is not None:
        raise SettingsError(f"AUDIT_ARCHIVE {url[:200]!r}: {why}")


def warn_misspelt(environ: Mapping[str, str] | None) -> None:
    """One WARNING for each variable of `environ` (the environment when None) that looks like one of the bot's
    misspelt (the bot never reads it)."""
    for given, meant in misspelt(environ):
        log.warning("%s is set but is no setting of the bot (not read): did you mean %s?", given, meant)


def warn_no_model(settings: Settings) -> None:
    """One WARNING at a worker's start (never dev's, whose demo model is the point) when no model is configured:
    /agent's runs then answer from the offline demo model, which is no LLM."""
    if not settings.model_config_path and settings.openai_api_key is None:
        log.warning("no model is configured for /agent's runs: set MODEL_CONFIG (an AutoGen model client's component"
                    " config, JSON or YAML) or OPENAI_API_KEY; until then /agent runs answer from the offline demo"
                    " model, which is not an LLM (their header says \"demo model\")")


SINCE_HELP = "90s, 15m, 12h, 7d, 30d... (1 second to 3650 days)"


def listening(settings: Settings) -> str:
    """The one line a worker says at start: where it listens (Slackbot's `/slack/mcp` too, with SLACKBOT_MCP: over
    Socket Mode as well, since Slackbot reaches it over HTTPS only)."""
    mcp = ", /slack/mcp (Slackbot's MCP endpoint: Slack reaches it over HTTPS)" if settings.slackbot_mcp else ""
    where = f"{settings.host}, port {settings.port}" if settings.host else f"port {settings.port}"
    side = f"{where}: /api/v1 (Approvals API), /healthz, /livez, /readyz, /metrics{mcp}"
    if settings.slack_app_token is not None:
        return f"serving Slack over Socket Mode; listening on {side}"
    return (f"listening on {where}: /slack/events (Slack), /api/v1 (Approvals API), /healthz, /livez,"
            f" /readyz, /metrics{mcp}")


def serve(settings: Settings) -> int:
    from bot.core.logs import configure_logging
    from bot.core.security import secrets_of
    from bot.root import create_web_app
    from bot.server import LISTEN_BACKLOG

    configure_logging(level=settings.log_level, fmt=settings.log_format, secrets=secrets_of(settings),
                      detectors=settings.redact_detectors)
    log.info("event loop: %s", use_event_loop(settings.event_loop))
    warn_no_model(settings)
    if settings.slack_app_token is not None:
        asyncio.run(_socket_mode(settings))
        return 0
    web.run_app(  # `print`: called once the socket is bound
        create_web_app(settings), host=settings.host or None, port=settings.port, access_log=None,
        print=lambda _: log.info(listening(settings)),
        backlog=LISTEN_BACKLOG,
    )
    return 0


def use_event_loop(choice: str) -> str:
    """Install uvloop's event loop policy unless `choice` is "asyncio" (or uvloop is not installed and
    `choice` is "auto"). A worker spends a quarter of its CPU per click in the event loop and its
    sockets; uvloop cuts that (see tests/benchmarks/RESULTS.md). Returns the loop in use."""
    if choice == "asyncio":
        return "asyncio"
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise SettingsError("EVENT_LOOP=uvloop, but uvloop is not installed (pip install uvloop)") from None
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


async def _socket_mode(settings: Settings) -> None:
    """Serve over Socket Mode until SIGTERM or Ctrl-C, then stop as the HTTP server does: no new work,
    approvals left pending in Redis, heartbeat dropped."""
    from bot.root import create_worker
    from bot.server import HANDLER_ARGS, LISTEN_BACKLOG, add_worker_routes, start_worker, stop_worker
    from bot.slackapp.app import EdgeSocketModeHandler
    from bot.slackapp.oauth import add_oauth_routes, create_oauth_flow

    assert settings.slack_app_token is not None
    worker = create_worker(settings)  # each workspace's requests served by its parts, as over HTTP
    services, workspaces, tenancy = worker.services, worker.workspaces, worker.tenancy
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await start_worker(worker)
    handler = EdgeSocketModeHandler(worker.bolt, worker.edge, settings.slack_app_token.get_secret_value(),
                                    web_client=services.slack)
    # /healthz, /metrics, the Approvals API (and OAuth's install) on $PORT: no event here
    side = web.Application(handler_args=HANDLER_ARGS)
    add_worker_routes(side, settings, services, workspaces, tenancy=tenancy)
    if settings.oauth:  # SLACK_CLIENT_ID and SLACK_CLIENT_SECRET: /slack/install, /slack/oauth_redirect
        add_oauth_routes(side, create_oauth_flow(settings, services, workspaces))
    runner = web.AppRunner(side, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.host or None, settings.port, backlog=LISTEN_BACKLOG).start()
        await handler.connect_async()  # type: ignore[no-untyped-call]
        log.info(listening(settings))
        await stop.wait()
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]
        await runner.cleanup()
        await stop_worker(worker)


if __name__ == "__main__":
    sys.exit(main())
