"""Audit integrity: the audit log's entries hashed and signed off the write path, and `audit verify`.

The store numbers each entry in the step that writes it (bot/store/lua/lib/audit.lua), which also keeps the log's
shard index (a change of scheme starts a new shard and freezes the old one); everything else is here:

    digests.py      pure: an entry's canonical encoding (RFC 8785) and digest, the chain of digests by seq
    walk.py         pure: this scheme's entries checked against the signed checkpoints (altered, deleted,
                    inserted; where the log starts; the unsigned tail)
    legacy.py       pure: the old Lua-hashed chain (before #44), so logs upgraded from it still verify
    bridged.py      pure: a rolling upgrade through the released bridge (the old workers' entries and the bridge's
                    interleaved), the frozen shard of scheme `bridged` of such a log, so it still verifies
    shards.py       pure: the log as a sequence of shards, each of one scheme and verified by its rules, the old
                    ones frozen: the shard index (`Keys.audit_shards`) read, and how a finding names its shard
    checkpoints.py  the writer: one worker at a time (a lease) hashes new entries, trims the log and signs a
                    checkpoint every AUDIT_CHECKPOINT_INTERVAL or AUDIT_CHECKPOINT_EVERY entries
    walker.py       pure: the walk over the shards, each entry handed to its shard's scheme and every problem
                    named with its shard (the shards of a log without an index told by its entries' form)
    verify.py       `python -m bot audit verify`: reads the entries, checkpoints and keys from Redis, feeds the
                    walker and says what it found
    archive/        the write-once archive (AUDIT_ARCHIVE): sealed segments, tiles, signed tree heads in a folder
                    or S3 bucket; `audit verify --archive`, `audit prove`, `audit check-proof`

    >>> from bot.audit.digests import canonical
    >>> canonical("1-0", {"event": "settings", "seq": "1"})
    b'["1-0","event","settings","seq","1"]'

May import: `bot.core` and `bot.store`.
"""
