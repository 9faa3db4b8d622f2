"""What everything in `bot` uses: settings, the typed records Redis keeps, ids, durations, logging,
metrics, background tasks, secrets kept secret, signing keys, and what an "always allow" rule matches.

    settings.py     process settings (one pydantic-settings source); with environment.py, the only readers of the
                    environment
    environment.py  dev mode's settings (`DevSettings`), and variables named close to a setting (`misspelt`)
    worker_settings.py  a worker process's own settings, declared (HTTP, model, people, runs, logs): read by
                    settings.py's `Settings`
    setting_values.py  how a setting's value reads (numbers in a range, durations, flags, URLs, secrets)
    settings_table.py  the docs' table of the settings (`python -m bot.core.settings_table --markdown`)
    markdown_tables.py  the docs' generated tables: a Markdown table, and the `--markdown` command that prints one
    records.py      runs, approvals, away states as typed records
    key_records.py  the Approvals API's keys as Redis keeps them (`ApiKey`, `NewKey`)
    workspaces.py   the workspace a record belongs to (team, enterprise) and its tenant, the data's partition
    card_words.py   an approval card's words of no surface: a pending card's header, a decided one's title, what a
                    timeout means, a revision's edited arguments (Slack's card and Teams' say them alike; pure)
    verdicts.py     a decision in words, said once for every client: who decided, what a model reads (pure)
    documents.py    documents that come in read by pydantic models, and the one place their refusals become the
                    project's words (`refuse`, `refusal`); a JSON object read back (`loads_object`), how deep
                    parsed JSON nests (`too_deep`)
    channel_options.py  channel settings, each declared once (parsing, storage, displays, the docs' table)
    setting_kinds.py  the kinds of value a channel setting takes: checked as typed, stored, read back (pure)
    allow_rules.py  what an "always allow" rule matches (pure)
    plain_summary.py  one plain sentence of what an approval does, from the tool's description and its artefacts
                    (pure)
    artifact_edits.py  which artefact of an approval a reviewer may edit, and the artefacts with the edit (pure)
    field_edits.py  a tool call's arguments edited one field each, for every surface: the fields, their kinds, the
                    fields as typed read back and checked (pure)
    rule_suggestions.py  the rules suggested from the audit log's decided calls, replayed over them (pure)
    attestations.py  fit to decide: an attestation's scope, what an approval needs, the words of a refusal (pure)
    oversight.py    how people decide: a card's reading time, the rubber-stamp signals, quantiles (pure)
    reach.py        a route across surfaces (issue 90): its grammar parsed strictly, its canonical text (pure)
    service_levels.py  an approval's service level: within, at risk, breached; the escalation at risk (pure)
    fatigue.py      the approvers over their `max_asks_per_hour` passed over, as an approval keeps it (pure)
    passkeys.py     passkeys as stored, the relying party of a URL, a step-up vote's challenge (pure)
    signing.py      Ed25519 signing keys of receipts and audit checkpoints, compact JWS made and checked
    key_files.py    the signing keys' file: made (dev mode), rotated, written whole with mode 0600
    sealing.py      secrets sealed at rest (AES-256-GCM): the bot tokens of OAuth installs, under SLACK_TOKENS_KEY
    workspace_files.py  SLACK_WORKSPACES_FILE: more workspaces and their bot tokens, listed by the operator
    sensitive.py    what is sensitive in a tool call's arguments: the arguments walked with the tool's schema,
                    policy.yaml's `redact:` paths and the detectors (`find_hidden`, pure)
    redaction.py    the arguments (or free text) with what `find_hidden` found replaced by what may be shown (pure)
    arg_paths.py    argument paths' syntax: policy.yaml's `redact:` parsed and compiled, a path written as people
                    read it, REDACT_DETECTORS read (pure)
    schema_marks.py what a tool's JSON schema marks sensitive, one value at a time (pure)
    detectors.py    cards (their security codes, expiry), IBANs, secret formats and secret argument names found
                    in a string (pure)
    diffs.py        an ask's artefacts as people read them: file changes as hunks with line numbers (difflib, or a
                    given unified diff), counts, the summary words, side-by-side rows (pure)
    invisible.py    direction controls and invisible spaces shown as `<U+202E>` (`visible`: the pages; pure)
    spelling.py     the one spelling every detector reads (digits of any script, every space and dash), and a
                    known value found in any spelling (pure)
    people.py       a person (issue 88): `PersonId`, `Account`, `Standing`, `Person`; the person id grammar (`U…`,
                    `teams:<object id>`, `email:<address>`) and the surfaces' stored words (pure)
    msteams.py      Microsoft Teams (issue 81): a Teams decider, a conversation kept, a card's copy (pure)
    msteams_file.py TEAMS_FILE: a Teams-only company's people and its channels' Teams routes (`read_teams_file`)
    store_settings.py  REDIS_WORKSPACE_TAGS (`StoreSettings` holds it; issue 89): a hash tag per workspace
    msteams_settings.py the TEAMS_* settings (`Settings` holds them): never unauthenticated
    email_settings.py  SMTP_URL, EMAIL_FROM, EMAIL_REPLY_TO (`Settings` holds them; issue 88): SMTP_URL read
    push_settings.py   VAPID_PRIVATE_KEY, VAPID_SUBJECT, PUSH_LOCAL_SERVICE_URL (`Settings` holds them; issue 90)
    siem_settings.py   AUDIT_SIEM_* (`Settings` holds them; issue 91): AUDIT_SIEM_URL read (HEC, syslog, file)
    ticket_settings.py JIRA_*, SERVICENOW_*, TICKET_RETRIES, TICKET_TIMEOUT (`Settings` holds them; issue 91)
    oncall_settings.py ONCALL_* (`WorkerProcess` holds them; issue 90): who answers `oncall:<schedule>` approvers
    ticket_refs.py  an approval's change ticket as its `ticket` field names it (system, key, page) (pure)
    msteams_links.py a Teams channel's or chat's link (or id) to its conversation id (`/agent config teams`)
    writing.py      the core's words in plain text (`PlainWriting`: people by name, no markup), for a surface that
                    escapes what it shows (Teams' cards, the e-mail page; pure)
    version.py      the project's one version (`bot.__version__`; docs/operators/upgrades.md)
    ids.py, durations.py, redis_urls.py   small pure helpers
    operators.py    who ran an operator's command, for the audit log (`--as NAME`, else user@host)
    logs.py, metrics.py, tasks.py, security.py   a worker's logging, Prometheus metrics, background
                    tasks (and the run a decision woke going before the redraws it set off: RunsFirst),
                    redaction and signed modal metadata
    templates.py    the one jinja2 Environment of the bot's pages (bot/templates/, autoescaped, StrictUndefined):
                    `render`; the report's Environment is built the same way
    tracing.py      OpenTelemetry spans, on when OTEL_EXPORTER_OTLP_ENDPOINT is set (the SDK loaded only then)

May import: `bot.core` and `agents`. Nothing here talks to Slack or Redis."""
