"""Audit integrity: the audit log's entries hashed and signed off the write path, and `audit verify`.

The store numbers each entry in the step that writes it (bot/store/lua/lib/audit.lua), which also opens the log's
shard index (which scheme it is written in, from which entry); everything else is here:

    digests.py      pure: an entry's canonical encoding (RFC 8785) and digest, the chain of digests by seq
    walk.py         pure: this scheme's entries checked against the signed checkpoints (altered, deleted,
                    inserted; where the log starts; the unsigned tail)
    shards.py       pure: the shard index (`Keys.audit_shards`) read: one shard, of this scheme, and how a
                    finding names it
    chains.py       one chain per tenant (home's takes the global entries), and the signed global checkpoints over
                    every chain's head: written after the chains' own, checked by verify and the watcher
    checkpoints.py  the writer: one worker at a time (a lease) hashes new entries, trims the log and signs a
                    checkpoint every AUDIT_CHECKPOINT_INTERVAL or AUDIT_CHECKPOINT_EVERY entries
    walker.py       pure: the walk over the log, where it starts and ends, every problem named with its shard,
                    and the summary
    verify.py       `python -m bot audit verify`: reads the entries, checkpoints and keys from Redis, feeds the
                    walker and says what it found
    rounds.py       the loop the checkpoint writer, the archive writer, the watcher and the SIEM stream each are (a
                    round every few seconds in a task of its own; Redis down said once a minute, other failures
                    logged)
    census.py       pure: the watcher's cheap look at the whole Redis log: its length, first and last entries
                    against what the signed checkpoints and the counter say it holds
    watch.py        the watcher: one worker at a time (a lease) verifies each new checkpoint as it is written and
                    says a finding (altered, deleted, inserted, forged, stalled) in ALERTS_CHANNEL and a webhook
    archive/        the write-once archive (AUDIT_ARCHIVE): sealed segments, tiles, signed tree heads in a folder
                    or S3 bucket; `audit verify --archive`, `audit prove`, `audit check-proof`
    siem/           the audit stream into a SIEM (AUDIT_SIEM_URL): each entry as an OCSF event, in order, at
                    least once, to Splunk's HEC, syslog over TLS or a file; a cursor in Redis

    >>> from bot.audit.digests import canonical
    >>> canonical("1-0", {"event": "settings", "seq": "1"})
    b'["1-0","event","settings","seq","1"]'

May import: `bot.core` and `bot.store`.
"""
