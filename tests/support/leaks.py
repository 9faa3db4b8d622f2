"""Where a secret could be kept or sent, looked at whole: every key and value of Redis (`redis_dump`, packed texts
unpacked), every object of a folder archive (`folder_dump`, gzip opened) or every version of every object of an S3
bucket (`bucket_dump`), and a program's webhook receiver recording every body it is sent (`webhook_receiver`); `leaks`
finds secrets in any of them in any spelling of their digits (with or without spaces of any kind, dashes, dots or
slashes; digits of any script, fullwidth forms; JSON's `\\uXXXX` escapes read)."""

from __future__ import annotations

import contextlib
import gzip
import re
import unicodedata
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web

from bot.store.codec import unpack

_PACKED = re.compile(rb"[A-Za-z0-9+/]{16,}={0,2}")
SEPARATORS = re.compile(r"[\s\-./\u200b-\u200d\u2060\ufeff]")  # (`\s`: every Unicode space, NBSP too)
_ESCAPED = re.compile(r"\\u([0-9a-fA-F]{4})")


def plain(text: str) -> str:
    """`text` with JSON's `\\uXXXX` escapes read, compatibility forms folded (NFKC: fullwidth digits and letters) and
    the decimal digits of any script (Arabic-Indic...) as ASCII digits."""
    text = unicodedata.normalize("NFKC", _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), text))
    return "".join(c if c.isascii() or unicodedata.decimal(c, None) is None else str(unicodedata.decimal(c))
                   for c in text)


def leaks(text: str, secrets: Iterable[str]) -> list[str]:
    """The `secrets` found in `text`: as written, or both `plain` with their separators taken out (a card written
    `4111 1111 1111 1111` is found as `4111111111111111`, `4111-1111-1111-1111`, `４１１１.１１１１...`)."""
    bare = SEPARATORS.sub("", plain(text))
    return [s for s in secrets
            if s in text or (len(found := SEPARATORS.sub("", plain(s))) >= 8 and found in bare)]


def bucket_dump(client: Any, bucket: str) -> str:
    """Every version of every object of an S3 `bucket` (a boto3 `client`), gzip opened, as one text: each with its key,
    version and Object Lock (mode and retain-until date)."""
    parts: list[str] = []
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for version in page.get("Versions", []):
            got = client.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
            data = got["Body"].read()
            text = (gzip.decompress(data) if version["Key"].endswith(".gz") else data).decode("utf-8", "replace")
            parts.append(f"{version['Key']} {version['VersionId']} {got.get('ObjectLockMode', '')}"
                         f" {got.get('ObjectLockRetainUntilDate', '')} {text}")
    return "\n".join(parts)


def folder_dump(root: Path) -> str:
    """Every file under `root` (an archive: `file://`), gzip opened, as one text."""
    parts: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        parts.append(f"{path.relative_to(root)} " + (gzip.decompress(data) if path.suffix == ".gz" else data).decode(
            "utf-8", "replace"))
    return "\n".join(parts)


class Receiver:
    """A program's webhook receiver: every body it was sent, raw."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.read())
        return web.json_response({"ok": True})


@contextlib.asynccontextmanager
async def webhook_receiver() -> AsyncIterator[Receiver]:
    """A `Receiver` listening on loopback (its `url`) while the context lasts."""
    got = Receiver()
    app = web.Application()
    app.router.add_post("/hook", got.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    got.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield got
    await runner.cleanup()


async def redis_dump(redis_url: str) -> str:
    """Every key of Redis and every value, whatever its type, as one text; a packed text (an approval's long
    texts, zlib and base64) also unpacked."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=False)
    parts: list[str] = []
    try:
        async for key in client.scan_iter(count=500):
            kind = (await client.type(key)).decode()
            value: Any
            if kind == "none":  # (gone since the scan: expired, or deleted)
                continue
            if kind == "string":
                value = await client.get(key)
            elif kind == "hash":
                value = await client.hgetall(key)
            elif kind == "list":
                value = await client.lrange(key, 0, -1)
            elif kind == "set":
                value = await client.smembers(key)
            elif kind == "zset":
                value = await client.zrange(key, 0, -1, withscores=True)
            elif kind == "stream":
                value = await client.xrange(key)
            else:
                raise AssertionError(f"a key of type {kind}: {key!r}")
            parts.append(f"{key!r} {value!r} {_decoded(value)}")  # (as bytes, and as text: no escape hides one)
            parts += _unpacked(value)
    finally:
        await client.aclose()
    return "\n".join(parts)


def _decoded(value: Any) -> str:
    """A value of Redis (bytes, or a container of them) as text, UTF-8 read."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return " ".join(f"{_decoded(k)} {_decoded(v)}" for k, v in value.items())
    if isinstance(value, list | tuple | set):
        return " ".join(_decoded(item) for item in value)
    return str(value)


def _unpacked(value: Any) -> list[str]:
    """The packed texts inside a value, unpacked."""
    found: list[str] = []
    for packed in _PACKED.findall(repr(value).encode()):
        try:
            found.append(unpack(packed.decode()))
        except Exception:  # (most such runs are not packed texts)
            continue
    return found
