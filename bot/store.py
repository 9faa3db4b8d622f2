"""The approval store: Redis is the source of truth for runs, approvals, settings and the audit log.

The one place an approval changes state is the decide step, a Lua function that moves it from
pending to decided exactly once, whatever races it (two reviewers, a double click, the
timeout), appends the decision to the audit stream, puts its card in the outbox and publishes it
to the owning worker. `decide()` runs it for one approval, `time_out_due()` for a batch of due ones.

Keys (prefix `hitl` by default; ids are checked against `records.*_ID` before they are used):
    {p}:approval:{<id>}        hash   the approval (its short fields)
    {p}:text:{<id>}            string its long texts: task, proposal, arguments... (JSON, packed)
    {p}:votes:{<id>}           set    who approved so far (quorum)
    {p}:checkpoint:{<id>}      string team state saved when it was requested (JSON, packed)
    {p}:card:<channel>:<ts>    string approval id shown by that message
    {p}:deadlines              zset   pending approval ids by deadline
    {p}:outbox                 zset   approval ids whose card is due a redraw, by when
    {p}:audit                  stream every request, decision and settings change
    {p}:worker:<worker id>     pubsub decisions and run controls for that worker
    {p}:run:<run id>           hash   the run
    {p}:run:<run id>:approvals set    its approval ids
    {p}:channel:<id>:runs      zset   runs started in a channel, by time
    {p}:settings:<channel>     hash   channel settings
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import logging
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast
from urllib.parse import urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from agents.modes import DEFAULT_MAX_AUTO_REPLIES, parse_mode, risk_words_setting
from bot.records import TEXT_FIELDS, ApprovalRecord, ChannelSettings, RunRecord

log = logging.getLogger(__name__)

T = TypeVar("T")
DecideStatus = Literal[
    "ok",
    "vote",
    "missing",
    "mismatch",
    "unattached",
    "already",
    "not_due",
    "self",
    "not_allowed",
    "check_groups",
    "duplicate",
    "late",
]
DECIDED_RETENTION_SECONDS = 30 * 24 * 3600
AUDIT_RETENTION_SECONDS = 90 * 24 * 3600
RUN_RETENTION_SECONDS = 30 * 24 * 3600
Fence = tuple[str, int]  # (owner worker id, epoch): whose writes to a run's steps count (see `_FENCE`)
REDIS_DOWN: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError, OSError)


class Fenced(Exception):
    """This worker no longer owns the run (another worker took it over): it must stop working on it."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"this worker no longer owns run {run_id}")
        self.run_id = run_id


async def persistently(call: Callable[[], Awaitable[T]], *, what: str, patience: float | None = 60.0) -> T:
    """`call()`, tried again while Redis is unreachable or slow (a blip, a restart, a failover), for at
    most `patience` seconds (None: until it works or the task is cancelled). For an owner's writes,
    which are safe to repeat: a run must not fail because Redis was away for a few seconds."""
    delay, waited, warned = 0.05, 0.0, False
    while True:
        try:
            return await call()
        except REDIS_DOWN as exc:
            if patience is not None and waited >= patience:
                raise
            if not warned:
                log.warning("%s: Redis unreachable (%s); trying again", what, type(exc).__name__)
                warned = True
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, 2.0)

# An approval as scripts return it: its hash, and its long texts (`ApprovalStore.text_key`) as the
# pseudo-field _text.
_STORED = """
local function stored(key, text_key)
  local fields = redis.call('HGETALL', key)
  fields[#fields + 1] = '_text'
  fields[#fields + 1] = redis.call('GET', text_key) or ''
  return fields
end
"""

# The decide step, as a Lua function: run by `_DECIDE` for one approval, and by `_SWEEP` for every
# approval whose deadline has passed (a batch of timeouts in one round trip).
_DECIDE_FUNCTION = _STORED + """
local function decide(KEYS, ARGV)
  local key, votes_key = KEYS[1], KEYS[4]
  local function record() return stored(key, KEYS[6]) end
  local id, outcome, by, now, feedback = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
  local card_channel, card_ts, prefix, audit_minid = ARGV[6], ARGV[7], ARGV[8], ARGV[9]
  local check_auth, groups_ok = ARGV[11], ARGV[12]
  if (ARGV[16] or '') ~= '' then
    -- a click answered "try again" by a worker that stopped waiting for Redis must not count later
    local t = redis.call('TIME')
    if tonumber(t[1]) + tonumber(t[2]) / 1000000 > tonumber(ARGV[16]) then return {'late', {}} end
  end
  local cur = redis.call('HMGET', key, 'status', 'card_channel', 'card_ts', 'deadline', 'owner',
                         'created_at', 'run_id', 'origin_channel', 'timeout_outcome', 'requester',
                         'allow_self_approval', 'approvers', 'required_approvals')
  if not cur[1] then return {'missing', {}} end
  if card_channel ~= '' then
    if cur[2] ~= card_channel then return {'mismatch', {}} end
    if cur[3] == '' then
      -- the card is posted but its ts not stored: either for a few ms (the caller waits and tries
      -- again) or for good (its worker died in between: the caller then attaches the clicked message,
      -- the only one whose buttons carry this approval's id, and the card can be redrawn again)
      if ARGV[14] ~= '1' and cur[1] == 'pending' then return {'unattached', {}} end
      redis.call('HSET', key, 'card_ts', card_ts)
      redis.call('SET', ARGV[15], id, 'EX', ARGV[10])
      if cur[1] ~= 'pending' then redis.call('ZADD', KEYS[5], tonumber(now), id) end
    elseif cur[3] ~= card_ts then return {'mismatch', {}} end
  end
  if cur[1] ~= 'pending' then return {'already', record()} end
  if outcome == 'timed_out' and tonumber(cur[4]) > tonumber(now) then return {'not_due', {}} end
  local required = tonumber(cur[13] or '1') or 1
  local timeout_outcome = cur[9]
  if outcome == 'timed_out' and timeout_outcome == 'approve' then
    -- a timeout approves only what people could see, and never a quorum nobody voted for
    local unseen = (cur[3] or '') == ''
    if unseen or (required > 1 and (redis.call('HGET', key, 'votes') or '') == '') then
      timeout_outcome = 'reject'
      redis.call('HSET', key, 'timeout_outcome', 'reject')
      if unseen then
        feedback = 'its card was never shown, so the timeout does not approve it'
      else
        feedback = 'nobody approved, so the timeout does not approve it'
      end
    end
  end
  local function audit(...)
    redis.call('XADD', KEYS[3], 'MINID', '~', audit_minid, '*', 'at', now, 'approval', id, 'run', cur[7],
               'card_channel', cur[2], 'origin_channel', cur[8], ...)
  end
  if check_auth == '1' then
    local refusal = nil
    if cur[11] ~= '1' and cur[10] == by then refusal = 'self' end
    local approvers = cur[12] or ''
    if not refusal and approvers ~= '' and approvers ~= 'anyone'
       and not string.find(',' .. approvers .. ',', ',' .. by .. ',', 1, true) then
      if groups_ok ~= '1' and string.find(',' .. approvers, ',S', 1, true) then
        return {'check_groups', record()}
      end
      if groups_ok ~= '1' then refusal = 'not_allowed' end
    end
    if refusal then
      -- audited once per person and card in 10 s: a replayed click does not flood the audit log
      if redis.call('SET', KEYS[7], '1', 'NX', 'EX', 10) then
        audit('event', 'refused', 'by', by, 'outcome', outcome, 'reason', refusal)
      end
      return {refusal, record()}
    end
  end
  if outcome == 'approved' and required > 1 then
    if redis.call('SADD', votes_key, by) == 0 then return {'duplicate', record()} end
    redis.call('EXPIRE', votes_key, ARGV[10])
    local votes = redis.call('HGET', key, 'votes') or ''
    if votes == '' then votes = by else votes = votes .. ',' .. by end
    redis.call('HSET', key, 'votes', votes)
    local count = redis.call('SCARD', votes_key)
    audit('event', 'vote', 'by', by, 'outcome', 'approved', 'votes', count, 'required', required,
          'latency_ms', math.floor((tonumber(now) - tonumber(cur[6])) * 1000))
    if count < required then
      -- the card shows the vote, even if we die now
      redis.call('ZADD', KEYS[5], tonumber(now) + tonumber(ARGV[13]), id)
      return {'vote', record()}
    end
  end
  redis.call('HSET', key, 'status', outcome, 'decided_by', by, 'decided_at', now, 'feedback', feedback)
  redis.call('ZREM', KEYS[2], id)
  -- the card is due an update: made at once, or retried by anyone's supervisor
  redis.call('ZADD', KEYS[5], tonumber(now) + tonumber(ARGV[13]), id)
  redis.call('EXPIRE', key, ARGV[10])
  redis.call('EXPIRE', KEYS[6], ARGV[10])
  audit('event', 'decision', 'outcome', outcome, 'by', by, 'feedback', feedback,
        'latency_ms', math.floor((tonumber(now) - tonumber(cur[6])) * 1000))
  -- how many heard it: the owner's subscription, so 0 means its worker may be gone
  local heard = redis.call('PUBLISH', prefix .. ':worker:' .. cur[5], cjson.encode({t='decision', id=id,
             status=outcome, by=by, feedback=feedback, timeout_outcome=timeout_outcome}))
  return {'ok', record(), heard}
end
"""

_DECIDE = _DECIDE_FUNCTION + "return decide(KEYS, ARGV)\n"

# Time out what is due, up to ARGV[2] approvals: each through the same decide function. Returns how
# many were due and, per decided approval, {record, heard}.
_SWEEP = (
    _DECIDE_FUNCTION
    + """
local now, prefix = ARGV[1], ARGV[3]
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local decided = {}
for _, id in ipairs(due) do
  local key = ARGV[7] .. id .. ARGV[8]
  local keys = {key, KEYS[1], KEYS[2], ARGV[9] .. id .. ARGV[10], KEYS[3], ARGV[11] .. id .. ARGV[12]}
  local result = decide(keys, {id, 'timed_out', 'timeout',
                        now, '', '', '', prefix, ARGV[4], ARGV[5], '0', '0', ARGV[6], '0', '', ''})
  if result[1] == 'ok' then
    decided[#decided + 1] = {result[2], result[3]}
  elseif result[1] == 'missing' or result[1] == 'already' then
    redis.call('ZREM', KEYS[1], id)  -- expired, removed or decided: a stray deadline
  elseif result[1] == 'not_due' then
    redis.call('ZADD', KEYS[1], redis.call('HGET', key, 'deadline'), id)  -- the approval says later
  end
end
return {#due, decided}
"""
)

# Take redrawn cards out of the outbox: each unless its approval changed since it was drawn (ARGV:
# the approval key's template, then id, status and votes as drawn, for each card).
_OUTBOX_DONE = """
local removed = 0
for i = 3, #ARGV, 3 do
  local id = ARGV[i]
  local now = redis.call('HMGET', ARGV[1] .. id .. ARGV[2], 'status', 'votes')
  if not now[1] or (now[1] == ARGV[i + 1] and (now[2] or '') == ARGV[i + 2]) then
    removed = removed + redis.call('ZREM', KEYS[1], id)
  end
end
return removed
"""

# Take due outbox entries and push their due time to the end of a lease, in one step: one claimer each.
_CLAIM_OUTBOX = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
return due
"""

_FINAL = "local final = {completed=1, rejected=1, timed_out=1, failed=1, cancelled=1}\n"

# The fencing check of every owner write: the run's owner and epoch must be the writer's (an owner
# that stalled while another worker took the run over finds a higher epoch and stops). An empty owner
# is a write that is not the owner's (a person cancelling, say): not fenced.
_FENCE = """
local function fenced(run_key, owner, epoch)
  if owner == '' then return false end
  local cur = redis.call('HMGET', run_key, 'owner', 'epoch')
  return cur[1] ~= owner or (cur[2] or '0') ~= epoch
end
"""

# Records passed as one JSON object of named fields (rather than many positional arguments).
_JSON = """
local function fields(json)
  local flat = {}
  for k, v in pairs(cjson.decode(json)) do flat[#flat + 1] = k; flat[#flat + 1] = tostring(v) end
  return flat
end
"""

# KEYS: run, active user, active channel, live runs, run's approvals, run's ledger.
# ARGV: status, finished_at, reason, ended_by, run id, fence owner, fence epoch, retention seconds.
_FINISH_RUN = (
    _FINAL
    + _FENCE
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if final[status] then return status end
if fenced(KEYS[1], ARGV[6], ARGV[7]) then return 'fenced' end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'finished_at', ARGV[2], 'reason', ARGV[3], 'ended_by', ARGV[4])
redis.call('SREM', KEYS[2], ARGV[5])
redis.call('SREM', KEYS[3], ARGV[5])
redis.call('SREM', KEYS[4], ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[8])
redis.call('EXPIRE', KEYS[5], ARGV[8])
redis.call('EXPIRE', KEYS[6], ARGV[8])
return 'ok'
"""
)

# Update a run's fields; a final status is never overwritten (a cancel may land at any time).
# ARGV: fence owner, fence epoch, then field, value pairs.
_UPDATE_RUN = (
    _FINAL
    + _FENCE
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if fenced(KEYS[1], ARGV[1], ARGV[2]) then return 'fenced' end
for i = 3, #ARGV, 2 do
  if not (ARGV[i] == 'status' and final[status]) then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
if final[status] then return 'final' end
return 'ok'
"""
)

# The owner resumes after a decision: it must still own the run (owner and epoch) and nobody may have
# consumed the decision (an adopter, if the owner looked dead). Exactly one worker continues a run.
# Returns the decided approval (hash, and its texts as _text), in the same round trip.
_CONSUME = (
    _STORED
    + _FENCE
    + """
if fenced(KEYS[1], ARGV[1], ARGV[2]) then return {} end
local by = ARGV[1] .. ':' .. ARGV[2]
local taken = redis.call('HMGET', KEYS[2], 'consumed', 'consumed_by')
-- taken by someone else; the same owner asking again (its answer was lost) gets it again
if taken[1] == '1' and taken[2] ~= by then return {} end
redis.call('HSET', KEYS[2], 'consumed', '1', 'consumed_by', by)
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'waiting' then redis.call('HSET', KEYS[1], 'status', 'running') end
return stored(KEYS[2], KEYS[3])
"""
)

# Another worker takes over a run whose owner is gone: to continue it with a decided approval
# (KEYS[3]), or, with no approval, because its owner died while the agent was working. The run's
# epoch goes up: whatever the old owner still tries to write is refused from now on.
_ADOPT = (
    _FINAL
    + """
-- a worker may take back its own run (its task for it was lost): its heartbeat then says nothing
if ARGV[1] ~= ARGV[2] and redis.call('EXISTS', KEYS[2]) == 1 then return {'alive'} end
local status = redis.call('HGET', KEYS[1], 'status')
if not status or final[status] then return {'final'} end
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return {'taken'} end
if KEYS[3] then
  local approval = redis.call('HMGET', KEYS[3], 'status', 'consumed')
  if not approval[1] or approval[1] == 'pending' then return {'pending'} end
  if approval[2] == '1' and ARGV[3] ~= '1' then return {'consumed'} end
end
redis.call('HSET', KEYS[1], 'owner', ARGV[2], 'status', 'running')
local epoch = redis.call('HINCRBY', KEYS[1], 'epoch', 1)
if KEYS[3] then redis.call('HSET', KEYS[3], 'consumed', '1', 'consumed_by', ARGV[2] .. ':' .. epoch) end
return {'ok', epoch}
"""
)

# Admit and record a run in one step, if its requester and channel are under their limits of active
# runs (so simultaneous commands cannot all pass the check). Members whose run has ended or expired
# are pruned first, so a lost worker cannot block anyone for good; runs of the channel's index older
# than the retention are dropped.
# KEYS: active user, active channel, live runs, the run, channel's runs, audit.
# ARGV: run id, max per user, max per channel, run key prefix, fields (JSON), created_at,
#       channel index cutoff, audit minid, audit entry (JSON).
_ADMIT_RUN = (
    _FINAL
    + _JSON
    + """
for i = 1, 2 do
  for _, member in ipairs(redis.call('SMEMBERS', KEYS[i])) do
    local status = redis.call('HGET', ARGV[4] .. member, 'status')
    if not status or final[status] then redis.call('SREM', KEYS[i], member) end
  end
end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 'user_limit' end
if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[3]) then return 'channel_limit' end
if redis.call('EXISTS', KEYS[4]) == 1 then return 'exists' end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[4], unpack(fields(ARGV[5])))
redis.call('ZADD', KEYS[5], ARGV[6], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', ARGV[7])
redis.call('XADD', KEYS[6], 'MINID', '~', ARGV[8], '*', unpack(fields(ARGV[9])))
return 'ok'
"""
)

# Store a new pending approval, if the writer still owns its run (fenced). A retry of a call whose
# answer was lost finds it there ('exists').
# KEYS: approval, its texts, deadlines, run's approvals, checkpoint, audit, run.
# ARGV: fence owner, fence epoch, approval id, deadline, fields (JSON), texts (packed),
#       checkpoint (packed, or empty), checkpoint lifetime, audit minid, audit entry (JSON).
_OPEN_APPROVAL = (
    _FENCE
    + _JSON
    + """
if fenced(KEYS[7], ARGV[1], ARGV[2]) then return 'fenced' end
if redis.call('EXISTS', KEYS[1]) == 1 then return 'exists' end
redis.call('HSET', KEYS[1], unpack(fields(ARGV[5])))
redis.call('SET', KEYS[2], ARGV[6])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3])
redis.call('SADD', KEYS[4], ARGV[3])
if ARGV[7] ~= '' then redis.call('SET', KEYS[5], ARGV[7], 'EX', ARGV[8]) end
redis.call('XADD', KEYS[6], 'MINID', '~', ARGV[9], '*', unpack(fields(ARGV[10])))
return 'ok'
"""
)

# Note the message that shows an approval. If the approval was decided meanwhile (its timeout fired
# while Redis could not be told the card's ts), the card is due a redraw at once. Another card
# already attached wins ('other': the caller removes its own).
# KEYS: approval, card index, outbox. ARGV: channel, ts, approval id, lifetime, now.
_ATTACH_CARD = """
local cur = redis.call('HMGET', KEYS[1], 'status', 'card_ts')
if not cur[1] then return 'missing' end
if cur[2] and cur[2] ~= '' and cur[2] ~= ARGV[2] then return 'other' end
redis.call('HSET', KEYS[1], 'card_channel', ARGV[1], 'card_ts', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4])
if cur[1] ~= 'pending' then redis.call('ZADD', KEYS[3], ARGV[5], ARGV[3]) end
return cur[1]
"""

# A worker's heartbeat, and Redis's clock (to measure ours against it). KEYS: heartbeat. ARGV: now, ttl ms.
_BEAT = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return redis.call('TIME')
"""

# The side-effect ledger: a tool call or code run is about to run (fenced: only the run's owner).
# KEYS: run, ledger. ARGV: fence owner, fence epoch, entry name, entry (JSON).
_LEDGER_BEGIN = (
    _FENCE
    + """
if fenced(KEYS[1], ARGV[1], ARGV[2]) then return 'fenced' end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
return 'ok'
"""
)


@dataclass(frozen=True, slots=True)
class DecideResult:
    status: DecideStatus
    approval: ApprovalRecord | None
    owner_heard: bool = False  # `ok`: the owner's worker was subscribed when the decision was published


def connect(
    redis_url: str, *, max_connections: int = 64, timeout: float = 5.0, command_timeout: float | None = None
) -> Redis:
    """A client on a blocking pool: under load it waits for a connection instead of raising.

    `redis+sentinel://[:password@]host:26379[,host2:26379]/<service name>[/<db>]` asks Redis Sentinel
    for the current master (and follows failovers). `redis+cluster://[:password@]host:port[,host:port]`
    uses Redis Cluster: every key then shares one hash tag (see `cluster_prefix`), so each Lua step runs
    on one node, and pub/sub goes through a plain connection to one node (Cluster broadcasts PUBLISH).

    `command_timeout`: seconds a command may wait for its answer (a frozen or partitioned Redis then
    fails the command instead of holding it, and whoever waits on it, forever)."""
    options = {**_CONNECTION, "socket_timeout": command_timeout}
    if redis_url.startswith(("redis+sentinel://", "rediss+sentinel://")):
        return _sentinel_master(redis_url, max_connections=max_connections, timeout=timeout, options=options)
    if is_cluster_url(redis_url):
        return _cluster(redis_url, max_connections=max_connections, options=options)
    pool = BlockingConnectionPool.from_url(
        redis_url,
        max_connections=max_connections,
        timeout=min(timeout, command_timeout) if command_timeout else timeout,
        health_check_interval=15,
        **options,
    )
    return Redis(connection_pool=pool)


# How every client connects: decoded strings, a short connect timeout, TCP keepalive.
_CONNECTION: dict[str, Any] = {"decode_responses": True, "socket_connect_timeout": 2, "socket_keepalive": True}


def _hosts(netloc: str, *, default_port: int) -> list[tuple[str, int]]:
    """`host:port,host2:port` (after any `:password@`) as (host, port) pairs."""
    hosts = []
    for item in netloc.rsplit("@", 1)[-1].split(","):
        host, _, port = item.rpartition(":")
        hosts.append((host or item, int(port) if port.isdigit() else default_port))
    return hosts


def is_cluster_url(url: str) -> bool:
    return url.startswith(("redis+cluster://", "rediss+cluster://"))


def cluster_prefix(prefix: str) -> str:
    """A key prefix that is a hash tag, so that all keys live in one slot (Lua steps touch several)."""
    return prefix if prefix.startswith("{") and prefix.endswith("}") else "{" + prefix.strip("{}") + "}"


def _cluster(url: str, *, max_connections: int, options: dict[str, Any]) -> Redis:
    parts = urlsplit(url)
    cluster = RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in _hosts(parts.netloc, default_port=6379)],
        password=parts.password,
        ssl=parts.scheme.startswith("rediss"),
        max_connections=max_connections,
        **options,
    )
    return cast(Redis, cluster)  # the commands we use are the same; pub/sub goes through `pubsub_client`


async def pubsub_client(redis: Redis) -> Redis:
    """A client that can subscribe: the client itself, or for Cluster a plain connection to one node."""
    if isinstance(redis, RedisCluster):
        await redis.initialize()
        node = redis.get_random_node()
        return Redis(
            host=node.host,
            port=node.port,
            password=redis.get_connection_kwargs().get("password"),
            **_CONNECTION,
        )
    return redis


def _sentinel_master(url: str, *, max_connections: int, timeout: float, options: dict[str, Any]) -> Redis:
    parts = urlsplit(url)
    hosts = _hosts(parts.netloc, default_port=26379)
    path = [p for p in parts.path.split("/") if p]
    if not path:
        raise ValueError("a Sentinel URL names the service: redis+sentinel://host:26379/mymaster/0")
    service, db = path[0], int(path[1]) if len(path) > 1 else 0
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        hosts, socket_connect_timeout=2, sentinel_kwargs={"password": parts.password} if parts.password else None
    )
    master: Redis = sentinel.master_for(
        service,
        db=db,
        password=parts.password,
        ssl=parts.scheme.startswith("rediss"),
        max_connections=max_connections,
        **options,
    )
    return master


async def _aw(value: Awaitable[T] | T) -> T:
    """redis-py types some asyncio commands as `Awaitable[T] | T`; they are always awaitable here."""
    return await value if inspect.isawaitable(value) else value


def pack(text: str) -> str:
    """`text` (JSON) as stored: zlib-compressed and base64-encoded when that is shorter."""
    packed = base64.b64encode(zlib.compress(text.encode(), 6)).decode()
    return packed if len(packed) < len(text) else text


def unpack(value: str) -> str:
    """What `pack` stored (JSON starts with `{`; base64 never does)."""
    return value if value.startswith("{") else zlib.decompress(base64.b64decode(value)).decode()


def _approval(raw: dict[str, str]) -> ApprovalRecord:
    """An approval from its hash and, in the pseudo-field `_text`, its packed long texts (approvals stored
    before the texts moved out of the hash have them in the hash and no `_text`)."""
    text = raw.pop("_text", "")
    if text:
        raw.update(json.loads(unpack(text)))
    for name in TEXT_FIELDS:  # empty texts are not stored
        raw.setdefault(name, "")
    return ApprovalRecord.from_redis(raw)


def _readable(raw: dict[str, str], text: str | None) -> ApprovalRecord | None:
    """An approval from its hash and texts; None (logged) for a record that cannot be read."""
    try:
        return _approval({**raw, "_text": text or ""})
    except (ValueError, TypeError, zlib.error) as exc:
        log.warning("skipped a malformed approval record %s (%s)", str(raw.get("id", "?"))[:40], exc)
        return None


def _run(raw: dict[str, str]) -> RunRecord | None:
    """A run from its hash; None (logged) for a record that cannot be read, which is skipped rather
    than stopping whatever was reading it."""
    try:
        return RunRecord.from_redis(raw)
    except (ValueError, TypeError) as exc:
        log.warning("skipped a malformed run record %s (%s)", str(raw.get("id", "?"))[:40], exc)
        return None


def _fence_args(fence: Fence | None) -> list[str]:
    return [fence[0], str(fence[1])] if fence is not None else ["", ""]


def _adopted(result: list[Any]) -> tuple[str, int]:
    return str(result[0]), int(result[1]) if len(result) > 1 else 0


def _pairs(flat: list[Any]) -> dict[str, str]:
    return {str(flat[i]): str(flat[i + 1]) for i in range(0, len(flat), 2)}


class ApprovalStore:
    """Runs, approvals, channel settings and the audit log in Redis."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = "hitl",
        audit_retention: int = AUDIT_RETENTION_SECONDS,
        run_retention: int = RUN_RETENTION_SECONDS,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.audit_retention = audit_retention
        self.card_grace = 10.0  # seconds after a decision before anyone else redraws its card
        self._decide = redis.register_script(_DECIDE)
        self._finish_run = redis.register_script(_FINISH_RUN)
        self._admit_run = redis.register_script(_ADMIT_RUN)
        self._update_run = redis.register_script(_UPDATE_RUN)
        self._consume = redis.register_script(_CONSUME)
        self._adopt = redis.register_script(_ADOPT)
        self._claim_outbox = redis.register_script(_CLAIM_OUTBOX)
        self._outbox_done = redis.register_script(_OUTBOX_DONE)
        self._sweep = redis.register_script(_SWEEP)
        self._open_approval = redis.register_script(_OPEN_APPROVAL)
        self._attach_card = redis.register_script(_ATTACH_CARD)
        self._ledger_begin = redis.register_script(_LEDGER_BEGIN)
        self._beat = redis.register_script(_BEAT)
        self.run_retention = run_retention
        # how long a person's decision may wait in Redis's queue and still count (None: any time): a
        # worker that gave up waiting told the person to try again, so a late click must not count
        self.click_window: float | None = None
        self.clock_offset = 0.0  # Redis's clock minus ours (measured at each heartbeat)

    # keys -------------------------------------------------------------------------------
    def approval_key(self, approval_id: str) -> str:
        return f"{self.prefix}:approval:{{{approval_id}}}"

    def text_key(self, approval_id: str) -> str:
        """The approval's long texts (task, proposal, arguments...): kept out of its hash so that the
        hash keeps Redis's compact encoding (a listpack, while every value is under 64 bytes), several
        times smaller than a hash table."""
        return f"{self.prefix}:text:{{{approval_id}}}"

    def checkpoint_key(self, approval_id: str) -> str:
        return f"{self.prefix}:checkpoint:{{{approval_id}}}"

    def card_key(self, channel: str, ts: str) -> str:
        return f"{self.prefix}:card:{channel}:{ts}"

    def run_key(self, run_id: str) -> str:
        return f"{self.prefix}:run:{run_id}"

    def votes_key(self, approval_id: str) -> str:
        return f"{self.prefix}:votes:{{{approval_id}}}"

    def audit_minid(self) -> str:
        """Audit entries older than the retention are trimmed (approximately) as new ones arrive."""
        return str(int((time.time() - self.audit_retention) * 1000))

    def worker_channel(self, worker_id: str) -> str:
        return f"{self.prefix}:worker:{worker_id}"

    @property
    def live_runs_key(self) -> str:
        return f"{self.prefix}:runs:live"

    def heartbeat_key(self, worker_id: str) -> str:
        return f"{self.prefix}:heartbeat:{worker_id}"

    @property
    def outbox_key(self) -> str:
        return f"{self.prefix}:outbox"

    @property
    def deadlines_key(self) -> str:
        return f"{self.prefix}:deadlines"

    @property
    def audit_key(self) -> str:
        return f"{self.prefix}:audit"

    # runs -------------------------------------------------------------------------------
    def _active_keys(self, run: RunRecord) -> list[str]:
        return [f"{self.prefix}:active:user:{run.requester}", f"{self.prefix}:active:channel:{run.channel}"]

    async def create_run(self, run: RunRecord, *, max_per_user: int, max_per_channel: int) -> str:
        """Record a new run if its requester and channel are under their limits of active runs, in one
        atomic step (simultaneous commands cannot all pass the check).

        Returns "ok", "user_limit" or "channel_limit" (then nothing is stored)."""
        audit = {
            "event": "run_started",
            "run": run.id,
            "by": run.requester,
            "origin_channel": run.channel,
            "at": repr(run.created_at),
            "task": run.task[:500],
        }
        admitted = await self._admit_run(
            keys=[
                *self._active_keys(run),
                self.live_runs_key,
                self.run_key(run.id),
                self.channel_runs_key(run.channel),
                self.audit_key,
            ],
            args=[
                run.id,
                max_per_user,
                max_per_channel,
                f"{self.prefix}:run:",
                json.dumps(run.to_redis()),
                repr(run.created_at),
                repr(time.time() - self.run_retention),
                self.audit_minid(),
                json.dumps(audit),
            ],
        )
        return str(admitted)

    def channel_runs_key(self, channel: str) -> str:
        return f"{self.prefix}:channel:{channel}:runs"

    async def get_run(self, run_id: str) -> RunRecord | None:
        raw = await _aw(self.redis.hgetall(self.run_key(run_id)))
        return _run(raw) if raw else None

    async def update_run(self, run_id: str, *, fence: Fence | None = None, **fields: str | float) -> str:
        """Set fields of a run: "ok"; "final" when it has already ended (its status is kept); "fenced"
        when `fence` no longer owns it (nothing is written); "missing"."""
        args = [*_fence_args(fence), *(item for key, value in fields.items() for item in (key, str(value)))]
        return str(await self._update_run(keys=[self.run_key(run_id)], args=args))

    async def finish_run(
        self, run: RunRecord, *, status: str, reason: str = "", by: str = "", fence: Fence | None = None
    ) -> str:
        """Set a final status unless the run already has one: "ok" when this call set it, else the final
        status it had, "fenced" (`fence` no longer owns the run) or "missing". An ended run and its
        indexes are kept `run_retention` seconds."""
        result = str(
            await self._finish_run(
                keys=[
                    self.run_key(run.id),
                    *self._active_keys(run),
                    self.live_runs_key,
                    f"{self.run_key(run.id)}:approvals",
                    self.ledger_key(run.id),
                ],
                args=[status, repr(time.time()), reason, by, run.id, *_fence_args(fence), self.run_retention],
            )
        )
        if result == "ok":
            await self.audit(
                "run_finished", run=run.id, outcome=status, reason=reason[:500], by=by, origin_channel=run.channel
            )
        return result

    async def consume(self, run_id: str, approval_id: str, *, fence: Fence) -> ApprovalRecord | None:
        """The owner takes a decision to continue its run: the decided approval, or None when the run is
        no longer this owner's (another worker adopted it) or the decision was taken already."""
        flat = await self._consume(
            keys=[self.run_key(run_id), self.approval_key(approval_id), self.text_key(approval_id)],
            args=_fence_args(fence),
        )
        return _approval(_pairs(flat)) if flat else None

    async def adopt(
        self, run_id: str, approval_id: str, *, from_worker: str, to_worker: str, again: bool = False
    ) -> tuple[str, int]:
        """Take over a run whose owner's heartbeat is gone, to continue it with a decided approval
        (`again`: one the dead owner had already taken, whose continuation died with it).

        Returns ("ok", the run's new epoch), or why not: "alive", "final", "taken", "pending", "consumed"."""
        keys = [self.run_key(run_id), self.heartbeat_key(from_worker), self.approval_key(approval_id)]
        return _adopted(await self._adopt(keys=keys, args=[from_worker, to_worker, "1" if again else "0"]))

    async def adopt_idle(self, run_id: str, *, from_worker: str, to_worker: str) -> tuple[str, int]:
        """Take over a run whose owner's heartbeat is gone and which has no decision to continue with."""
        keys = [self.run_key(run_id), self.heartbeat_key(from_worker)]
        return _adopted(await self._adopt(keys=keys, args=[from_worker, to_worker, "0"]))

    # the side-effect ledger: tool calls and code that ran in a run ------------------------
    def ledger_key(self, run_id: str) -> str:
        return f"{self.run_key(run_id)}:ledger"

    async def ledger_get(self, run_id: str, name: str) -> dict[str, Any] | None:
        value = await _aw(self.redis.hget(self.ledger_key(run_id), name))
        if not value:
            return None
        try:
            entry = json.loads(value)
        except ValueError:
            return None
        return entry if isinstance(entry, dict) else None

    async def ledger_begin(self, run_id: str, name: str, entry: Mapping[str, Any], *, fence: Fence) -> bool:
        """Note that a call is about to run, if `fence` still owns the run (else False: do not run it)."""
        result = await self._ledger_begin(
            keys=[self.run_key(run_id), self.ledger_key(run_id)], args=[*_fence_args(fence), name, json.dumps(entry)]
        )
        return bool(result == "ok")

    async def ledger_done(self, run_id: str, name: str, entry: Mapping[str, Any]) -> None:
        """Note that a call ran, and its result (whoever owns the run now: it did run)."""
        await _aw(self.redis.hset(self.ledger_key(run_id), name, json.dumps(entry)))

    async def beat(self, worker_id: str, *, ttl: float) -> None:
        """Renew the worker's heartbeat, and measure Redis's clock against ours (see `click_window`)."""
        sent = time.time()
        seconds, micros = await self._beat(keys=[self.heartbeat_key(worker_id)], args=[repr(sent), int(ttl * 1000)])
        self.clock_offset = int(seconds) + int(micros) / 1e6 - (sent + time.time()) / 2

    async def claim(self, what: str, worker_id: str, *, seconds: int) -> bool:
        """One worker does `what` (for `seconds`): True for the first to ask."""
        return bool(await self.redis.set(f"{self.prefix}:claim:{what}", worker_id, nx=True, ex=seconds))

    async def drop_heartbeat(self, worker_id: str) -> None:
        await self.redis.delete(self.heartbeat_key(worker_id))

    async def workers_alive(self, worker_ids: Iterable[str]) -> dict[str, bool]:
        ids = list(dict.fromkeys(worker_ids))
        async with self.redis.pipeline(transaction=False) as pipe:
            for worker_id in ids:
                pipe.exists(self.heartbeat_key(worker_id))
            found = await pipe.execute()
        return {worker_id: bool(alive) for worker_id, alive in zip(ids, found, strict=True)}

    async def live_runs(self) -> list[RunRecord]:
        ids = await _aw(self.redis.smembers(self.live_runs_key))
        async with self.redis.pipeline(transaction=False) as pipe:
            for run_id in ids:
                pipe.hgetall(self.run_key(run_id))
            raws = await pipe.execute()
        return [run for run in map(_run, raws) if run is not None]

    async def outbox_add(self, approval_id: str, *, due: float) -> None:
        """Remember a card that Slack would not update, to try again at `due`."""
        await self.redis.zadd(self.outbox_key, {approval_id: due})

    async def outbox_done(self, drawn: Iterable[ApprovalRecord]) -> None:
        """These cards were redrawn as these records have them: take them out of the outbox (one call for
        many), except those whose approval changed since (a newer state is still to be drawn)."""
        args = [part for record in drawn for part in (record.id, record.status, record.votes)]
        if args:
            await self._outbox_done(keys=[self.outbox_key], args=[*self.approval_key("\0").split("\0"), *args])

    async def outbox_forget(self, approval_ids: Iterable[str]) -> None:
        """Outbox entries with no card to draw (the approval expired, or its card was never posted)."""
        ids = list(approval_ids)
        if ids:
            await self.redis.zrem(self.outbox_key, *ids)

    async def outbox_defer(self, approval_ids: Iterable[str], *, due: float) -> None:
        """Cards this worker is about to redraw: nobody else redraws them before `due` (only entries
        still in the outbox are moved)."""
        entries = dict.fromkeys(approval_ids, due)
        if entries:
            await self.redis.zadd(self.outbox_key, entries, xx=True)

    async def outbox_claim(self, now: float, *, lease: float, limit: int = 50) -> list[str]:
        """Due outbox entries, each claimed by one worker for `lease` seconds: it stays in the outbox
        (due again after the lease) until its card is redrawn, so a worker dying meanwhile loses nothing."""
        claimed = await self._claim_outbox(keys=[self.outbox_key], args=[repr(now), repr(now + lease), limit])
        return [str(x) for x in claimed]

    async def get_checkpoint(self, approval_id: str) -> str | None:
        value = await self.redis.get(self.checkpoint_key(approval_id))
        return unpack(value) if value is not None else None

    async def recent_runs(self, channel: str, *, limit: int = 10) -> list[RunRecord]:
        ids = await self.redis.zrevrange(self.channel_runs_key(channel), 0, limit - 1)
        async with self.redis.pipeline(transaction=False) as pipe:
            for run_id in ids:
                pipe.hgetall(self.run_key(run_id))
            raws = await pipe.execute()
        return [run for run in map(_run, raws) if run is not None]

    # approvals --------------------------------------------------------------------------
    async def create_approval(
        self, approval: ApprovalRecord, *, checkpoint: str | None = None, fence: Fence | None = None
    ) -> str:
        """Store a pending approval with its deadline (before its card is posted), if `fence` still owns
        its run. Returns "ok", "exists" (stored already: a retry) or "fenced" (nothing stored)."""
        fields = approval.to_redis()
        texts = {name: fields.pop(name) for name in TEXT_FIELDS if name in fields}
        audit = {
            "event": "requested",
            "approval": approval.id,
            "run": approval.run_id,
            "by": approval.requester,
            "at": repr(approval.created_at),
            "card_channel": approval.card_channel,
            "origin_channel": approval.origin_channel,
        }
        result = await self._open_approval(
            keys=[
                self.approval_key(approval.id),
                self.text_key(approval.id),
                self.deadlines_key,
                f"{self.run_key(approval.run_id)}:approvals",
                self.checkpoint_key(approval.id),
                self.audit_key,
                self.run_key(approval.run_id),
            ],
            args=[
                *_fence_args(fence),
                approval.id,
                repr(approval.deadline),
                json.dumps(fields),
                pack(json.dumps({k: v for k, v in texts.items() if v})),
                # compressed: a team's state is repetitive JSON (~3 KB -> ~1 KB)
                pack(checkpoint) if checkpoint is not None else "",
                DECIDED_RETENTION_SECONDS,
                self.audit_minid(),
                json.dumps(audit),
            ],
        )
        return str(result)

    async def attach_card(self, approval_id: str, *, channel: str, ts: str) -> str:
        """Note the message showing an approval. Returns the approval's status (a decided one's card is
        put in the outbox, to be redrawn), "other" when another message shows it already, or "missing"."""
        return str(
            await self._attach_card(
                keys=[self.approval_key(approval_id), self.card_key(channel, ts), self.outbox_key],
                args=[channel, ts, approval_id, DECIDED_RETENTION_SECONDS, repr(time.time())],
            )
        )

    async def index_card(self, channel: str, ts: str, approval_id: str) -> None:
        """Note another message that shows an approval (an extra copy of its card)."""
        await self.redis.set(self.card_key(channel, ts), approval_id, ex=DECIDED_RETENTION_SECONDS)

    async def get_approval(self, approval_id: str) -> ApprovalRecord | None:
        found = await self.get_approvals([approval_id])
        return found[0] if found else None

    async def get_approvals(self, approval_ids: Iterable[str]) -> list[ApprovalRecord]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for approval_id in approval_ids:
                pipe.hgetall(self.approval_key(approval_id))
                pipe.get(self.text_key(approval_id))
            replies = await pipe.execute()
        pairs = zip(replies[::2], replies[1::2], strict=True)
        found = (_readable(raw, text) for raw, text in pairs if raw)
        return [approval for approval in found if approval is not None]

    async def approval_for_card(self, channel: str, ts: str) -> str | None:
        value = await self.redis.get(self.card_key(channel, ts))
        return str(value) if value else None

    async def run_approvals(self, run_id: str) -> list[ApprovalRecord]:
        ids = await _aw(self.redis.smembers(f"{self.run_key(run_id)}:approvals"))
        return await self.get_approvals(sorted(ids))

    async def decide(
        self,
        approval_id: str,
        *,
        outcome: str,
        by: str,
        feedback: str = "",
        now: float | None = None,
        card: tuple[str, str] | None = None,
        check_auth: bool = False,
        groups_ok: bool = False,
        attach: bool = False,
    ) -> DecideResult:
        """Move a pending approval to `outcome`, exactly once; or count one approval vote of a quorum.

        Args:
            card: (channel, ts) of the message the click came from; the approval must belong to it.
            now: decision time (epoch seconds); a `timed_out` decision is refused before the deadline.
            check_auth: apply the approval's rules on who may decide (a person's click).
            groups_ok: the caller checked that `by` is in one of the approval's user groups.
            attach: if the approval's card ts was never stored, take `card`'s (its worker died after
                posting the card and before storing its ts).

        Returns `ok` with the decided record; `vote` when an approval was counted towards a quorum
        not yet reached; `already` with the record as it was decided; `self`, `not_allowed`
        (refused and audited), `check_groups` (`by` is not named: check the groups, then call again
        with `groups_ok`) or `duplicate` (this person's vote already counts) with the record;
        `missing`, `mismatch` (not this card's approval) or `not_due` without one.
        """
        channel, ts = card if card is not None else ("", "")
        stamp = repr(time.time() if now is None else now)
        status, flat, *heard = await self._decide(
            keys=[
                self.approval_key(approval_id),
                self.deadlines_key,
                self.audit_key,
                self.votes_key(approval_id),
                self.outbox_key,
                self.text_key(approval_id),
                f"{self.prefix}:refused:{{{approval_id}}}:{by}",
            ],
            args=[
                approval_id,
                outcome,
                by,
                stamp,
                feedback,
                channel,
                ts,
                self.prefix,
                self.audit_minid(),
                DECIDED_RETENTION_SECONDS,
                "1" if check_auth else "0",
                "1" if groups_ok else "0",
                self.card_grace,
                "1" if attach else "0",
                self.card_key(channel, ts),
                repr(time.time() + self.clock_offset + self.click_window)
                if check_auth and self.click_window is not None
                else "",
            ],
        )
        record = _approval(_pairs(flat)) if flat else None
        return DecideResult(status=status, approval=record, owner_heard=bool(heard and heard[0]))

    async def time_out_due(self, now: float, *, limit: int = 200) -> tuple[list[DecideResult], bool]:
        """Time out up to `limit` approvals whose deadline is before `now`, in one atomic step (the
        same decide step as a click's), so any number of workers can sweep without doing the same work
        twice. Returns the timed-out approvals and whether more may be due."""
        approval_key, votes_key = self.approval_key("\0").split("\0"), self.votes_key("\0").split("\0")
        text_key = self.text_key("\0").split("\0")
        due, decided = await self._sweep(
            keys=[self.deadlines_key, self.audit_key, self.outbox_key],
            args=[
                repr(now),
                limit,
                self.prefix,
                self.audit_minid(),
                DECIDED_RETENTION_SECONDS,
                self.card_grace,
                *approval_key,
                *votes_key,
                *text_key,
            ],
        )
        results = [
            DecideResult(status="ok", approval=_approval(_pairs(flat)), owner_heard=bool(heard))
            for flat, heard in decided
        ]
        return results, int(due) >= limit

    async def next_deadline(self) -> float | None:
        first = await self.redis.zrange(self.deadlines_key, 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    # settings ---------------------------------------------------------------------------
    async def channel_settings(self, channel: str, *, default_timeout: int) -> ChannelSettings:
        raw = await _aw(self.redis.hgetall(f"{self.prefix}:settings:{channel}"))

        def ids(name: str) -> tuple[str, ...]:
            value = raw.get(name) or ""
            return () if value in ("", "anyone") else tuple(value.split(","))

        return ChannelSettings(
            timeout=int(raw.get("timeout") or default_timeout),
            timeout_outcome=raw.get("timeout_outcome") or "reject",
            approvers=ids("approvers"),
            allow_self_approval=raw.get("allow_self_approval") == "true",
            required_approvals=int(raw.get("required_approvals") or 1),
            approvals_channel=raw.get("approvals_channel") or "",
            admins=ids("admins"),
            mode=parse_mode(raw.get("mode")),
            max_auto_replies=int(raw.get("max_auto_replies") or DEFAULT_MAX_AUTO_REPLIES),
            risk_words=risk_words_setting(raw.get("risk_words")),
            checkpoint_every=int(raw.get("checkpoint_every") or 0),
            timeout_approves_tools=raw.get("timeout_approves_tools") == "true",
        )

    async def set_channel_setting(self, channel: str, key: str, value: str, *, by: str) -> str | None:
        """Change one setting; audited with before and after. Returns the value it had."""
        settings_key = f"{self.prefix}:settings:{channel}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hget(settings_key, key)
            pipe.hset(settings_key, key, value)
            before, _ = await pipe.execute()
        await self.audit(
            "settings_changed", origin_channel=channel, by=by, setting=key, before=before or "", after=value
        )
        return str(before) if before is not None else None

    # audit & messaging ------------------------------------------------------------------
    async def audit(self, event: str, **fields: str | float) -> None:
        entry = {"event": event, "at": repr(time.time()), **{k: str(v) for k, v in fields.items()}}
        await self.redis.xadd(self.audit_key, entry, minid=self.audit_minid(), approximate=True)  # type: ignore[arg-type]

    async def audit_entries(self, *, count: int = 1000) -> list[dict[str, str]]:
        entries = await self.redis.xrange(self.audit_key, count=count)
        return [{"id": str(entry_id), **dict(values)} for entry_id, values in entries]

    async def channel_audit(self, channel: str, *, limit: int = 10, scan: int = 5000) -> list[dict[str, str]]:
        """The newest `limit` audit entries about `channel` (as origin or approvals channel)."""
        found: list[dict[str, str]] = []
        upper = "+"
        scanned = 0
        while len(found) < limit and scanned < scan:
            batch = await self.redis.xrevrange(self.audit_key, max=upper, count=500)
            if not batch:
                break
            for entry_id, values in batch:
                if channel in (values.get("origin_channel"), values.get("card_channel")):
                    found.append({"id": str(entry_id), **dict(values)})
                    if len(found) == limit:
                        break
            scanned += len(batch)
            upper = "(" + str(batch[-1][0])
        return found

    async def export_audit(self, *, since: float, channels: Iterable[str] = ()) -> AsyncIterator[dict[str, str]]:
        """Audit entries since `since` (epoch seconds), oldest first, optionally only about `channels`."""
        wanted = set(channels)
        lower = str(int(since * 1000))
        while True:
            batch = await self.redis.xrange(self.audit_key, min=lower, count=1000)
            for entry_id, values in batch:
                if not wanted or wanted & {values.get("origin_channel"), values.get("card_channel")}:
                    yield {"id": str(entry_id), **dict(values)}
            if len(batch) < 1000:
                return
            lower = "(" + str(batch[-1][0])

    async def publish_to_worker(self, worker_id: str, message: Mapping[str, Any]) -> int:
        return int(await self.redis.publish(self.worker_channel(worker_id), json.dumps(message)))
