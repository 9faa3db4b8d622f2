"""The audit archive (AUDIT_ARCHIVE): the log's signed entries kept in a write-once folder or S3 bucket, in sealed
segments with a Merkle tree and signed checkpoints, verified entry by entry without Redis, one entry proven alone.

    merkle.py   pure: RFC 6962 leaf and node hashes, the tree's right edge, inclusion proofs, C2SP tlog-tiles names
    layout.py   pure: the archive's objects by name and their encodings (entries, manifest, C2SP signed note)
    stores.py   where the objects live: a folder or an S3 bucket, each object written create-only and read back
                (S3: If-None-Match, Object Lock retention)
    writer.py   the writer: one worker at a time (a lease) appends a sealed segment of what signed checkpoints cover
                and raises `archived_through`
    verify.py   `audit verify --archive`: every tree head derived again, checkpoints, chain, tiles, and Redis joined
    proofs.py   `audit prove SEQ` and `audit check-proof FILE`: one entry's inclusion proof, checked offline
    cli.py      the commands' entry points (bot/__main__.py parses them)

May import: `bot.core`, `bot.store` and `bot.audit`.
"""
