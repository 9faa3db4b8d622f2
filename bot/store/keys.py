"""Every Redis key the product writes, with its type and lifetime (e-mail's: keys_email.py; push's: keys_push.py).
Nothing else builds a key.

The prefix is `REDIS_KEY_PREFIX` (`hitl` by default; on Redis Cluster a hash tag such as `{hitl}`, so
every key of a Lua step is in one slot). Ids reach a key only after they match `bot.core.records`'s
`*_ID` patterns. An approval's own keys carry its id as a hash tag (`{<id>}`).

Keys per tenant (issue 65: a workspace, or an Enterprise Grid organisation installed org-wide, `WorkspaceRef.tenant`):
the home tenant (the deployment's first workspace, recorded in `workspaces:home`) keeps the names below as they are,
so that its data from before tenants is its own with no step by hand; another tenant's are the same names under
`{p}:ws:<tenant>` (`Keys.for_tenant`, `Store.for_tenant`: the Lua steps, which name keys from the keys they are
given, work unchanged; on Redis Cluster the prefix's hash tag stays in front). Sharded (issue 89, `Keys(sharded=True)`
on Cluster, bot/store/slots.py) another tenant's are under `hitl:{ws:<tenant>}`, the workspace's own hash tag, so
its keys share its slot and workspaces spread over the primaries; home's and the global keys stay on `{hitl}`.
Switched on by REDIS_WORKSPACE_TAGS (`StoreSettings.store_sharded`). Sharded, a workspace keeps in its slot its own
copy of what its steps read or count that is global otherwise (the frozen scopes, the audit floor: its chain's, the
oversight signals, an API key's pending set and Idempotency-Keys, its due work: `here` below), so no step of a
workspace names a global key (tests/store/test_cluster_keys.py, `CROSSING`). Each tenant's audit log is a chain of
its own (`audit`, `audit:seq`, `audit:checkpoints`, `audit:shards`, `audit:kids`, `audit:archived_through`,
`audit:watched`, `audit:siem_cursor`: issue 89; home's keeps today's names and takes the global entries too). Global,
on `{p}` for every tenant: the audit log's global checkpoints (over every chain: home's and `workspaces:known`'s), the
audit leases, floor and findings, API keys and what belongs to a key (`apikey*`, `api*`: a key carries its
workspace), step-up links, heartbeats, workers' channels (sharded, a tenant's decisions go to its own channel to a
worker, in its slot: `worker_channels_here`; the root's still heard), claims, commands, the model cache and `migrated:`.

{p}:workspaces:home           string  the home tenant: JSON {team, enterprise, tenant} kept (set once, the first
                                      (bot/store/tenants.py)                         time a worker learns its team)
{p}:workspaces:known          hash    tenant -> JSON {team, enterprise}: every tenant kept (each worker's start
                                      a worker served (bot/tenancy.py)               indexes their due work again:
                                                                                     bot/store/due.py)
{p}:workspaces:added          hash    organisation (E…) -> JSON list of the workspaces replaced at each check
                                      its org-wide install is added to (Slack's      (TOKEN_CHECK_INTERVAL)
                                      `auth.teams.list`; `keys create` refuses others)
{p}:due:<kind>                 zset    tenant ("home" for home) -> the earliest due   members leave when nothing
                                      time of its work of <kind>: deadlines, nudges,  of <kind> is left
                                      webhooks, runs, homes, digest, reach, and each
                                      surface's due set: slack, teams, email
                                      (bot/store/due.py: the worker-wide loops visit
                                      only those due)
{p}:ws:<t>:due_here           zset    sharded: a tenant's own kind -> its earliest    members leave when
                                      due time, in its slot (its steps write it; the  nothing of <kind> is left
                                      worker-wide ones above are written after)
{p}:held_by:{<id>}            string  the tenant whose data holds approval <id>        DECIDED_RETENTION + a year
                                      ("home" for home; `Tenancy.holding`)
{p}:format                    hash    the stored format the Redis holds: {format,    kept; only goes up
                                      by (version), at; while a move to workspace    (`moving` dropped when
                                      tags is under way `moving`: "<who> <at>", and  the move ends)
                                      each workspace moved `moved:<tenant>`: when}
                                      (bot/store/stored_format.py, workspace_move.py)
{p}:audit:global              stream  signed global checkpoints: every chain's head   those of AUDIT_RETENTION
                                      (seq, hash) at each interval (bot/audit/chains.py)
{p}:secrets:check             string  a text sealed under SECRETS_KEY, opened at start  kept; resealed in rotations
{p}:ws:<tenant>:…             (any)   another tenant's keys: those of the table      as in the table
                                      below that are not global

{p}:run:<run>                 hash    a run (`RunRecord`)                            RUN_RETENTION after it ends
{p}:run:<run>:approvals       set     the run's approval ids                         RUN_RETENTION after it ends
{p}:run:<run>:ledger          hash    tool calls and code that ran (the ledger)      RUN_RETENTION after it ends
{p}:runs:live                 set     runs not ended                                 members leave when a run ends
{p}:active:user:<user>        set     a requester's runs not ended (limits)          members leave when a run ends
{p}:active:channel:<channel>  set     a channel's runs not ended (limits)            members leave when a run ends
{p}:channel:<channel>:runs    zset    runs started in a channel, by start time       trimmed to RUN_RETENTION
{p}:user:<user>:runs          zset    runs a person started, by start time (Home)    trimmed to RUN_RETENTION
{p}:runthread:<channel>:<ts>  string  the run whose header (session thread) is <ts>   RUN_RETENTION
{p}:approval:{<id>}           hash    an approval's short fields (`ApprovalRecord`)  DECIDED_RETENTION once decided
                                      and how people saw it: `delivered_at`, `read_seconds`,
                                      `opened:<person>` (lua/lib/oversight.lua)
{p}:text:{<id>}               string  its long texts (task, proposal, ...; packed)   DECIDED_RETENTION once decided
{p}:votes:{<id>}              set     who approved so far (quorum)                   DECIDED_RETENTION
{p}:checkpoint:{<id>}         string  team state when it was requested (packed)      DECIDED_RETENTION
{p}:hidden:{<id>}             string  its hidden values, sealed under SECRETS_KEY:   dropped when it ends;
                                      "<kid>.<sealed JSON path -> value>"           TTL as a floor
                                      (bot/store/hidden.py)
{p}:refusals:{<id>}:<user>    hash    this person's refusals of this approval in the  until summarised
                                      quiet window: until, count, entry (refusals.lua) (refusals_due.lua)
{p}:refusal:<what>            hash    the same for another refusal (a person, a reason) until summarised
{p}:refusals:due              zset    those windows (their keys), by their end        members leave when summarised
{p}:deadlines                 zset    pending approval ids by deadline               members leave when decided
{p}:nudges                    zset    pending ids by next reminder or escalation     members leave when decided
{p}:waiting                   zset    "<origin channel>/<id>", by request time       members leave when decided
{p}:outbox                    zset    approval ids whose card is due a redraw        members leave when redrawn
{p}:email:due                 zset    approval ids whose e-mails are due a sending   members leave when sent
{p}:push:due                  zset    approval ids whose pushes are due a sending    members leave when sent
{p}:tickets:due               zset    approval ids whose change ticket is due work    members leave when closed
{p}:reach:due                 zset    pending ids by their route's next step's time   members leave at the last
                                      (bot/store/reach.py, issue 90)                  step or when decided
                                      (bot/store/surface_due.py; Teams': teams:due)
{p}:decided:<user>            list    approvals a person decided lately (Home)       last 20; DECIDED_RETENTION
{p}:changes                   string  a counter: +1 at each approval opened or decided kept
{p}:home:<user>               hash    a person's Home: `seen` (counter shown), `hash`,  kept
                                      `page` (chosen), `shown_page`, `shown` (its ids)
{p}:home_shown:<id>           set     people whose Home's page shows this approval   30 days; redone at each draw
{p}:waits:user:<user>         zset    pending ids naming this person, by time asked  members leave when decided
{p}:waits:group:<group>       zset    pending ids naming this user group, the same   members leave when decided
{p}:waits:anyone              zset    pending ids anyone may decide, the same        members leave when decided
{p}:waits:groups              set     user groups some pending approval names        a group leaves with its last
{p}:waits:except:<user>       zset    pending ids this person may not decide: own    members leave when decided
                                      requests (no self-approval), quorums they are in
{p}:waits:proxied:<user>      zset    pending ids they voted on for someone away     members leave when decided
{p}:admin_of:<user>           set     channels whose `admins` name this person       kept (with `admins`)
{p}:headline:<channel>        string  a channel's headline numbers, 7 days (JSON)    HEADLINE_SECONDS
{p}:headline:<channel>:wait   set     people whose Home waits for that headline      HEADLINE_WAIT_SECONDS
{p}:homes:viewers             zset    people who opened their Home, by when          trimmed to 30 days
{p}:away:<user>               hash    a person away: until, delegate, since          expires at `until`
{p}:delegates:<user>          hash    who delegated to this person: {who: until}     expires with the last
{p}:rules:<channel>           hash    a channel's "always allow" rules: {id: JSON}    expired ones dropped by writes
{p}:rule_uses:<channel>       hash    how many calls each rule approved: {id: n}     with its rule
{p}:rules:seq                 string  the last rule number (rule ids are R<n>)       kept
{p}:rules:channels            set     channels that have had rules                   kept
{p}:batch:<token>             string  a batch decision being confirmed (JSON)        15 min; taken once
{p}:stepup-token:<token>      string  a one-time step-up link: whose, what for, its  10 min (a vote's: 5);
                                      challenge, a vote's approval (JSON)            taken once
{p}:passkeys:<user>           hash    a person's passkeys: {credential id: JSON}     kept until removed
{p}:audit                     stream  every request, decision and settings change    entries trimmed to AUDIT_RETENTION
{p}:audit:seq                 string  the last audit entry's seq                     kept
{p}:audit:checkpoints         stream  signed checkpoints of the audit log            those the retained entries need
{p}:audit:lease               string  the worker that signs checkpoints and trims    seconds; renewed by its holder
{p}:audit:kids                hash    signing keys announced in the log: {kid: JSON   kept (a pointer: the
                                      since, seq, id of the entry that has it}       entries are the record)
{p}:audit:shards               hash    the audit log's shards: {n: JSON} (scheme,     kept
                                      where it starts)
{p}:audit:archived_through    string  the last seq the archive (AUDIT_ARCHIVE) holds kept; only goes up
{p}:audit:floor               hash    the highest seq the archive holds, and the     kept; only goes up
                                      Redis run it was confirmed in (a restart holds
                                      numbering until a worker confirms it again)
{p}:audit:archive_lease       string  the worker that writes the archive             seconds; renewed by its holder
{p}:audit:watch_lease         string  the worker that watches the log (bot/audit/    seconds; renewed by its holder
                                      watch.py)
{p}:audit:watched             hash    where the watcher stopped: {seq, at, id, full, kept; only goes forward
                                      archive (the archive's mark, JSON)}
{p}:audit:findings            hash    integrity findings standing: {identity: JSON,  until a full look finds
                                      kind, what, where, since}: each said once      them gone
{p}:audit:siem_lease          string  the worker that streams the log into the SIEM  seconds; renewed by its holder
                                      (AUDIT_SIEM_URL, bot/audit/siem/)
{p}:audit:siem_cursor         hash    the last entry the SIEM accepted: {seq, id, at} kept; only goes forward
{p}:settings:<channel>        hash    a channel's settings (`/agent config`)         kept
{p}:migrated:<name>           string  a one-off rebuild of an index is done (when)   kept
{p}:settings:channels         zset    channels with settings, by last change         kept
{p}:window:<name>:<hash>      zset    a policy window's calls: "<approval> <amount>"  trimmed as written; its `over`
{p}:window:<name>:<hash>:sums hash    a sum window's amounts per minute, hour, day     as its window
{p}:policy:counts:<bundle>    hash    {policy id: how often it decided}             30 days
{p}:asks:<hour>               hash    {person: cards they got in that hour (epoch     2 h
                                      hours)}: `max_asks_per_hour` (bot/store/fatigue.py)
{p}:triage:calls:<hour>       string  the triage model's calls in that hour (epoch       2 h
                                      hours): TRIAGE_BUDGET (bot/store/fatigue.py)
{p}:person:<user>             string  who a Slack user is (users.info, JSON): shared 1 hour
{p}:teams:*                    Microsoft Teams: conversations, people, cards, due copies (bot/store/msteams.py)
{p}:heartbeat:<worker>        string  a worker is alive: "<time> <version> <layout>"  HEARTBEAT_SECONDS
                                      (layout `tags` or `one-tag`, then ` held` while
                                      its commands are held for a move of the
                                      workspaces: workspace_move.py; before 0.9:
                                      "<time>")
{p}:claim:<what>              string  one worker or person does `what` (SET NX)      seconds given by the caller
{p}:scratch:<what>            zset    working space of one Lua step (home_page.lua)  deleted by that step
                                      (`scratch:-`: a placeholder key a step is given  never written
                                      and does not touch, in the tenant's slot)
{p}:cmd:<trigger id>          string  a slash command was done (replays do nothing)  10 min
{p}:modelcache:<digest>       string  a cached model response (MODEL_CACHE)          7 days
{p}:oncall:<schedule>         string  who is on call now in an on-call schedule: a   ONCALL_CACHE_SECONDS
                                      JSON list of person ids (bot/store/oncall.py)
{p}:apikeys                   hash    API key names -> sha256 of the key             kept until revoked
{p}:apikey:<sha256>           hash    an API key: name, channels, limits, expiry,    kept until revoked; then
                                      its webhook secret sealed (SECRETS_KEY);       DECIDED_RETENTION (a key
                                      (revoked: its tombstone, revoked_at/by)        rotated: its grace, then that)
{p}:apikeys:used              hash    {key id: when it was last used}                kept
{p}:apikeys:revoking          hash    {key id: JSON {name, tenant}}: a key revoked    until its approvals are
                                      whose approvals are still to withdraw            withdrawn
                                      (bot/store/key_revocation.py)
{p}:apirate:<name>:<minute>   string  a key's requests in that minute                120 s
{p}:apipending:<name>         set     a key's approvals that may be pending          cleaned as read
                                      (sharded: in its workspace's slot)
{p}:apirun:<name>:<channel>   string  the run of a key's approvals in a channel      kept (`:<program run>`: 30 days)
{p}:apiidem:<name>:<key>      string  an Idempotency-Key's body digest and approval  24 h
                                      (sharded: in its workspace's slot)
{p}:webhooks                  zset    decided approval ids due a webhook, by when    members leave when delivered
{p}:webhooks:tries            hash    {id: "tries,first try"} of webhooks not sent   with its member
{p}:worker:<worker>           pubsub  wakes that worker (decisions, run controls)    a channel, not a key
{p}:ws:<t>:worker:<worker>    pubsub  sharded, SPUBLISH: a tenant's own channel to   a channel, not a key
                                      that worker, in its slot (its decide steps';
                                      heard: bot/approvals/tenant_channels.py)
{p}:homes:room                set     people whose Home's page has room (a new one shows) kept; redone at each draw
{p}:homes:due                 zset    people whose Home is due a redraw, by when they looked  members leave when drawn
{p}:homes:due_since           hash    {person: ms} since when each is due (gathering)  with its member
{p}:homes:drawing             zset    Homes a drawer took, by the end of its lease     members leave when drawn
{p}:homes:publishes           zset    views.publish calls of the last budget window    trimmed to HOME_BUDGET_WINDOW
{p}:homes:paused              string  Slack said ratelimited: no Home is published     Retry-After
{p}:installation:<id>         string  an installation of the app (a workspace `T…` or  kept until uninstalled
                                      an org-wide one `E…`), JSON, its tokens sealed
{p}:installations             set     the ids of those installations                   members leave on uninstall
{p}:oauthstate:<state>        string  an OAuth install's state, until its redirect     10 min; taken once
{p}:attest:brief:<scope>      hash    a brief people attest to (bot/store/attestations.py): kept until rewritten
                                      {text, valid (seconds), by, at}; scope
                                      `policy:NAME` or `channel:C…`
{p}:attest:<user>             hash    a person's attestations: {scope: until}         entries past until dropped
{p}:attest:due                zset    "<user> <scope>" by when its reminder is due    members leave when reminded
{p}:fatigue:held              zset    "<user> <approval>" held for the next hour's    members leave when sent
                                      budget, by that hour (bot/store/fatigue.py)     (or decided, at the hour)
{p}:sla:urgent                zset    approvals breached (first) or at risk, by        decided ones leave when a
                                      urgency then request time: the Home's first     Home page reads them
                                      page lists them first (bot/store/homes.py)
{p}:frozen                    hash    frozen scopes (`/agent freeze`): {scope: JSON    until unfrozen (four eyes
                                      reason, by, at}; scope `all`, `channel:C…`,     or the CLI)
                                      `key:NAME`, `agent:NAME` (bot/store/freezes.py)
{p}:frozen:spread             string  the number of the last read of `frozen` to   kept
                                      copy (on Cluster: bot/store/freeze_copies.py)
{p}:frozen:at, …:changed      string  the number (of `frozen:spread`) of the last   kept
                                      freeze, and of the last change of the scopes
                                      (a freeze or an unfreeze): a copy older than
                                      `at` refuses Approves (lua/lib/decide.lua)
{p}:frozen:told               pubsub  sharded (SPUBLISH by lua/freeze.lua, in the    a channel, not a key
                                      root's slot): a freeze's number, heard by each
                                      worker (bot/store/freeze_copies.py)
{p}:frozen:spread:done        string  the number of the last read copied into every kept
                                      workspace: below `changed`, a spread is owed
                                      (each worker's loop: bot/approvals/freeze_spread.py)
{p}:ws:<t>:frozen, …:copy     hash,   on Cluster (`hitl:{ws:<t>}`): a workspace's     replaced by a later read's
                              string  copy of `frozen`, and the number of the read
                                      it holds (its steps read it when sharded:
                                      lua/lib/frozen.lua, decide.lua)
{p}:frozen:unfreeze           hash    unfreezes asked by one admin, awaiting a second  until confirmed or
                                      admin's: {scope: JSON by, at}                    unfrozen
{p}:oversight:people          hash    each person's rubber-stamp signals, global:     kept (counters)
                                      {"<signal>|<person>": n}: approvals, fast,
                                      streak, unopened (lua/lib/oversight.lua);
                                      sharded, each workspace's, summed at a scrape
{p}:oversight:times           list    the last decisions' times to decide, global     last OVERSIGHT_TIMES
                                      (sharded: each workspace's, read together):
                                      "<seconds> <person> <channel> <policy ids>"
{p}:oversight:week            hash    this week's signals of a tenant, per channel:   renamed away by the weekly
                                      {"<channel>|<person>|<signal>": n}              digest (bot/slack/digest.py)
{p}:oversight:digest          hash    the last weekly digest, per channel: {channel:   kept; replaced weekly
                                      JSON} (shown in its admins' Homes)
{p}:oversight:digest_due      zset    `week` -> when the next weekly digest is due     leaves when sent; set on decision
                                      `parked` -> the next digest of parked approvals  set when one opens parked;
                                      (issue 90)                                     weekly while any is

DECIDED_RETENTION is 30 days; RUN_RETENTION and AUDIT_RETENTION are settings (30 and 90 days).

The `waits:` keys are the Home indexes: kept by the Lua steps that open, vote on, decide and escalate an approval
(`lua/lib/homes.lua`, naming them from the `changes` key's prefix, as `waits_*` below does), read a page at a time by
`lua/home_page.lua`; approvals opened before them indexed once (`Homes.ensure_index`, `migrated:home-index`), one a
page finds decided or gone while listed leaving them (`lua/index_forget.lua`). The `homes:` keys are the Home redraw
queue and the `views.publish` budget (`home_queue.py`, `lua/home_*.lua`): Homes due a redraw, taken by each worker's
drawer as the budget (`homes:publishes`, every worker's) allows, none while `homes:paused` (Slack's 429).
"""

from __future__ import annotations

import re

from bot.store.key_names import Family, Named
from bot.store.keys_homes import HomeQueueKeys
from bot.store.slots import is_tag, tenant_of_prefix, workspace_prefix

DECIDED_RETENTION_SECONDS = 30 * 24 * 3600
AUDIT_RETENTION_SECONDS = 90 * 24 * 3600
RUN_RETENTION_SECONDS = 30 * 24 * 3600
REFUSAL_AUDIT_SECONDS = 10  # the quiet window of a refusal's audit (lua/lib/refusals.lua; decide.lua's too)
COMMAND_SECONDS = 600
MODEL_CACHE_SECONDS = 7 * 24 * 3600
HEADLINE_SECONDS = 60  # a channel's cached headline numbers (the admins' Homes)
HEADLINE_WAIT_SECONDS = 120  # who waits for a headline being computed (a computer that died leaves it)

TENANT = re.compile(r"^[TE][A-Z0-9]{2,23}$")  # a tenant: a team (T…) or an Enterprise Grid organisation (E…)


class Keys(HomeQueueKeys):
    """The key names under one prefix (the module's table): a tenant's (`for_tenant`) under `root`, the global's."""

    def __init__(self, prefix: str, *, root: str | None = None, sharded: bool = False) -> None:
        self.prefix = prefix
        self.root = root = prefix if root is None else root
        self.sharded = sharded  # each workspace's keys under its own hash tag on Cluster (bot/store/slots.py)
        # where a workspace's own copy of a global key lives: its prefix when sharded (its slot: its Lua steps name no
        # key of the root's), else the root (one slot for all: today's names, nothing to move)
        self.here = here = prefix if sharded and is_tag(root) else root
        self.workspaces_home = f"{root}:workspaces:home"
        self.workspaces_known = f"{root}:workspaces:known"
        self.workspaces_added = f"{root}:workspaces:added"
        self.format = f"{root}:format"  # the stored format this Redis holds (bot/store/stored_format.py)
        self.secrets_check = f"{root}:secrets:check"  # sealed under SECRETS_KEY (bot/store/secrets_check.py)
        # the tenant these keys are of: "" for home (today's names), else the `<tenant>` of `{root}:ws:<tenant>`
        self.tenant = tenant_of_prefix(root, prefix)
        self.live_runs = f"{prefix}:runs:live"
        self.deadlines = f"{prefix}:deadlines"
        self.nudges = f"{prefix}:nudges"
        self.attest_due = f"{prefix}:attest:due"  # attestations' reminders (bot/store/attestations.py)
        self.fatigue_held = f"{prefix}:fatigue:held"  # approvals held for the next hour (bot/store/fatigue.py)
        self.sla_urgent = f"{prefix}:sla:urgent"  # approvals breached or at risk, the Home's first (bot/store/homes.py)
        self.waiting = f"{prefix}:waiting"
        self.outbox = f"{prefix}:outbox"
        # the audit chain of these keys' tenant (home's: today's names, which also takes the global entries): its
        # entries, counter, checkpoints, shards, announced keys, archive mark and watcher's mark (bot/audit/chains.py)
        self.audit = f"{prefix}:audit"
        self.audit_seq = f"{prefix}:audit:seq"  # numbers the entries (lua/lib/audit.lua)
        self.audit_checkpoints = f"{prefix}:audit:checkpoints"  # bot/audit/checkpoints.py writes them
        self.audit_shards = f"{prefix}:audit:shards"  # the log's shards, by number (lua/lib/audit.lua writes it)
        self.audit_kids = f"{prefix}:audit:kids"  # signing keys announced in the log (lua/audit_announce.lua)
        self.audit_archived_through = f"{prefix}:audit:archived_through"  # bot/audit/archive/writer.py
        self.audit_watched = f"{prefix}:audit:watched"  # where the watcher stopped: the last checkpoint verified
        self.audit_siem_cursor = f"{prefix}:audit:siem_cursor"  # the last entry the SIEM accepted (bot/store/siem.py)
        self.audit_global = f"{root}:audit:global"  # signed checkpoints over every chain's head (bot/audit/chains.py)
        self.audit_lease = f"{root}:audit:lease"  # which worker writes checkpoints and trims the log now
        # its holder and when last renewed; holders whose lease expired unreleased, for the watcher (writer_lease.py)
        self.audit_lease_seen, self.audit_writers_lost = f"{root}:audit:lease:seen", f"{root}:audit:lease:lost"
        # lua/lib/audit.lua numbers nothing past a restart until confirmed; sharded, each chain's own (its archive's)
        self.audit_floor = f"{here}:audit:floor"
        self.audit_archive_lease = f"{root}:audit:archive_lease"  # which worker writes the archive now
        self.audit_watch_lease = f"{root}:audit:watch_lease"  # which worker watches the log now (bot/audit/watch.py)
        self.audit_findings = f"{root}:audit:findings"  # integrity findings standing, by identity
        self.audit_siem_lease = f"{root}:audit:siem_lease"  # which worker streams the log into the SIEM now

        self.worker_channels = f"{root}:worker:"  # + worker id
        # + worker id: a tenant's own channels to the workers, in its slot when sharded (`here`: its steps SPUBLISH
        # there, bot/store/shared.py `Shared.worker_channels`); else (home, one node, tags off) the root's above
        self.worker_channels_here = f"{here}:worker:"
        self.changes = f"{prefix}:changes"
        self.home_viewers = f"{prefix}:homes:viewers"
        self.rule_seq = f"{prefix}:rules:seq"
        self.rule_channels = f"{prefix}:rules:channels"
        self.settings_channels = f"{prefix}:settings:channels"
        self.refusals_due = f"{prefix}:refusals:due"  # refusal windows by their end (lua/lib/refusals.lua)
        self.api_key_names = f"{root}:apikeys"
        self.api_key_used = f"{root}:apikeys:used"  # {key id: when last used}, for `keys list`
        self.api_key_revoking = f"{root}:apikeys:revoking"  # revokes whose withdrawal is owed (key_revocation.py)
        self.webhooks, self.webhook_tries = f"{prefix}:webhooks", f"{prefix}:webhooks:tries"
        self.frozen = f"{root}:frozen"  # frozen scopes, global: every tenant's asks read them (bot/store/freezes.py)
        # sharded: the workspace's own copy of `frozen`, its steps' (bot/store/freeze_copies.py), the number of the
        # read it holds, and the reads' counter; else `frozen` itself
        self.frozen_here, self.frozen_here_seq = f"{here}:frozen", f"{here}:frozen:copy"
        self.frozen_spread = f"{root}:frozen:spread"
        # the number of the last freeze and of the last change (freeze or unfreeze), of the last read every workspace
        # got: a copy older than `frozen_at` refuses Approves, a `done` below `changed` owes a spread (freeze_copies.py)
        self.frozen_at, self.frozen_changed = f"{root}:frozen:at", f"{root}:frozen:changed"
        self.frozen_spread_done = f"{root}:frozen:spread:done"
        self.frozen_told = f"{root}:frozen:told"  # a channel (SPUBLISH): each freeze's number, as it is set
        self.unfreeze_asks = f"{root}:frozen:unfreeze"  # an unfreeze one admin asked, for a second to confirm
        self.freeze_drill = f"{root}:frozen:drill"  # the running freeze drill's lease (bot/cli/drill.py)
        # rubber-stamp signals (lua/lib/oversight.lua): every worker's metrics read them at a scrape; sharded, each
        # workspace counts its own, summed at the read (bot/store/oversight.py)
        self.oversight_people, self.oversight_times = f"{here}:oversight:people", f"{here}:oversight:times"
        self.oversight_week = f"{prefix}:oversight:week"  # a tenant's: its weekly digest (bot/slack/digest.py)
        self.oversight_digest = f"{prefix}:oversight:digest"
        self.digest_due = f"{prefix}:oversight:digest_due"
        self.due_here = f"{here}:due_here"  # sharded: this tenant's due work, {kind: earliest} (bot/store/due.py)
        self.reach_due = f"{prefix}:reach:due"  # pending approvals by their route's next step (bot/store/reach.py)

    def for_tenant(self, tenant: str, *, home: str) -> Keys:
        """The keys of `tenant` (a workspace's team, T…, or an Enterprise Grid organisation's id, E…: the
        `WorkspaceRef.tenant`): today's names for the `home` tenant, else under `{root}:ws:<tenant>` (`sharded` on
        Cluster: `hitl:{ws:<tenant>}`, the workspace's own hash tag: bot/store/slots.py); the global
        families (API keys, heartbeats, workers' channels, claims, ...) on the root either way.
        Raises ValueError for a tenant that is no such id (it would reach a key's name)."""
        if not TENANT.fullmatch(tenant):
            raise ValueError(f"{tenant[:30]!r} is not a workspace's team or organisation id")
        if tenant == home:
            return Keys(self.root, sharded=self.sharded)
        return Keys(workspace_prefix(self.root, tenant, sharded=self.sharded), root=self.root, sharded=self.sharded)

    # the table's families (bot/store/key_names.py): `keys.<name>(part)` names one key of the family
    # the Approvals API's keys (by hash), and what belongs to a key: by its immutable id (`ApiKey.id`)
    api_key = Family("apikey", on_root=True)

    def api_pending(self, key_id: str) -> str:
        """The approvals key `key_id` asked for that may be pending: its workspace's (sharded, in its slot: the open
        step counts them), else on the root."""
        return f"{self.here}:apipending:{key_id}"

    def api_rate(self, key_id: str, minute: int) -> str:
        return f"{self.root}:apirate:{key_id}:{minute}"

    def api_run(self, key_id: str, channel: str, program_run: str = "") -> str:
        found = f"{self.root}:apirun:{key_id}:{channel}"
        return f"{found}:{program_run}" if program_run else found

    def api_idempotency(self, key_id: str, idempotency_key: str) -> str:
        """An ask's Idempotency-Key: its key's workspace's (sharded, in its slot: the open step and the audit's
        once-only append read it with the workspace's keys), else on the root."""
        return f"{self.here}:apiidem:{key_id}:{idempotency_key}"

    # passkeys (step-up): one-time links, and each person's passkeys
    stepup_token = Family("stepup-token", on_root=True)
    passkeys = Family("passkeys")

    # runs
    run = Family("run")
    run_approvals = Family("run", then="approvals")
    ledger = Family("run", then="ledger")
    user_runs = Family("active:user")
    channel_runs = Family("active:channel")
    channel_index = Family("channel", then="runs")
    user_index = Family("user", then="runs")

    def run_thread(self, channel: str, thread_ts: str) -> str:
        """The run whose header is `thread_ts` in `channel` (its session's thread: Slack's Stop names only that)."""
        return f"{self.prefix}:runthread:{channel}:{thread_ts}"

    # a person's Home, and who is away
    decided_by = Family("decided")
    home = Family("home")
    away = Family("away")
    delegates = Family("delegates")
    batch = Family("batch")
    admin_of = Family("admin_of")  # channels whose `admins` setting names a person (`ChannelSettingsStore.set`)
    headline = Family("headline")  # a channel's headline numbers as admins' Homes show them (`HEADLINE_SECONDS`)
    headline_waiting = Family("headline", then="wait")

    # the Home indexes (lua/lib/homes.lua builds the same names from `changes`)
    waits_anyone = Named("waits:anyone")
    waits_groups = Named("waits:groups")
    waits_user = Family("waits:user")
    waits_group = Family("waits:group")
    waits_except = Family("waits:except")
    waits_proxied = Family("waits:proxied")
    home_shown = Family("home_shown")  # whose Homes show an approval on the page they were last drawn with

    # approvals: an approval's own keys carry its id as a hash tag
    def edit(self, run_id: str, digest: str) -> str:
        """What an edit changed, for the card of the edited call (10 minutes, read once)."""
        return f"{self.prefix}:edit:{run_id}:{digest}"

    approval = Family("approval", tagged=True)
    # its long texts (task, proposal, arguments...): kept out of its hash so that the hash keeps Redis's compact
    # encoding (a listpack, while every value is under 64 bytes), several times smaller than a hash table
    texts = Family("text", tagged=True)
    votes = Family("votes", tagged=True)
    hidden = Family("hidden", tagged=True)  # its hidden values, sealed (bot/store/hidden.py)
    checkpoint = Family("checkpoint", tagged=True)
    attest_brief = Family("attest:brief")
    attested = Family("attest")

    def refused(self, approval_id: str, user: str) -> str:
        return f"{self.prefix}:refusals:{{{approval_id}}}:{user}"

    refusal = Family("refusal")

    # remembered decisions
    rules = Family("rules")
    rule_uses = Family("rule_uses")

    # channels, workers, one-offs
    settings = Family("settings")
    migrated = Family("migrated", on_root=True)
    window = Family("window")  # a policy window's calls (bot/policy/windows.py), per principal/action/resource

    def policy_counts(self, bundle: str) -> str:
        """How often each policy of a bundle decided (`/agent policy`)."""
        return f"{self.prefix}:policy:counts:{bundle[:16]}"

    def asks(self, hour: int) -> str:
        """The cards each person got in `hour` (epoch seconds // 3600; bot/store/fatigue.py)."""
        return f"{self.prefix}:asks:{hour}"

    def triage_calls(self, hour: int) -> str:
        """The triage model's calls in `hour` (epoch seconds // 3600; TRIAGE_BUDGET, bot/store/fatigue.py)."""
        return f"{self.prefix}:triage:calls:{hour}"

    person = Family("person")  # who a Slack user is, as a worker last asked Slack (bot/slack/directory.py)
    teams = Family("teams")  # Microsoft Teams' keys (bot/store/msteams.py lists them)

    def draw_due(self, surface: str) -> str:
        """A surface's due set: the approvals whose view there is due a drawing (bot/store/surface_due.py)."""
        return {"slack": self.outbox, "teams": self.teams("due"), "email": f"{self.prefix}:email:due",
                "push": f"{self.prefix}:push:due", "tickets": f"{self.prefix}:tickets:due"}[surface]

    heartbeat = Family("heartbeat", on_root=True)
    due = Family("due", on_root=True)  # the worker-wide index of tenants with work of a kind due (bot/store/due.py)
    held_by = Family("held_by", tagged=True, on_root=True)  # which tenant holds an approval (bot/store/due.py)

    def worker_channel(self, worker_id: str) -> str:
        return self.worker_channels + worker_id

    claim = Family("claim", on_root=True)
    scratch = Family("scratch")
    command = Family("cmd", on_root=True)
    # a run's Stop in Slack (`agent_session_stopped`), claimed once by whichever worker receives it first
    session_stop = Family("sessionstop", on_root=True)
    model_cache = Family("modelcache", on_root=True)
    oncall = Family("oncall", on_root=True)  # who is on call now in a schedule (issue 90): one provider, every tenant

    # the app's installations (OAuth, `bot/store/installations.py`): per workspace or organisation, and OAuth states
    installation = Family("installation")
    installations = Named("installations")
    oauth_state = Family("oauthstate")

    # Slackbot's MCP endpoint (`/slack/mcp`, bot/store/slackbot.py): request signatures seen, results kept
    slackbot_seen = Family("slackbot:seen")
    slackbot_result = Family("slackbot:result")
