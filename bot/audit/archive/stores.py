"""Where the archive's objects live: a folder (`file:///abs/folder`) or an S3-compatible bucket
(`s3://bucket/prefix`, through boto3: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION... as
any AWS tool reads them).

Every object is written create-only and counts only once read back equal (`put`): an object already there with the
same bytes is taken as written (a retry after a crash), one with other bytes is `Conflict`, never replaced. In S3 the
put says `If-None-Match: *` (the store refuses an existing key); a store that does not support it gets a look first
(HEAD, under the writer's lease). On a bucket with Object Lock each object is put with its retention
(`AUDIT_ARCHIVE_RETAIN`; COMPLIANCE mode: nobody can shorten it or delete the object before then). In a folder the
object is written aside and hard-linked into place (the link fails when the name exists), then made read-only.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

UNLISTED = ("NotImplemented", "AccessDenied")  # a store or credentials that do not list versions: read the newest
PINNED = 600.0  # seconds a listing of every version says which version of an object is read (a whole check's)


CHAINS = "chains/"  # where the other tenants' chains are archived, one folder each (`Under`)

class ArchiveError(Exception):
    """The archive cannot be read or written as asked: the message says why (never a credential)."""


class Conflict(ArchiveError):
    """An object is already in the archive with other bytes than those being written: it is not replaced."""


class ArchiveStore(Protocol):
    url: str

    @property
    def locked(self) -> bool:
        """Whether the store keeps each object under a retention (S3 Object Lock)."""

    async def put(self, name: str, data: bytes) -> None: ...

    async def get(self, name: str) -> bytes | None: ...

    async def names(self, prefix: str) -> list[str]: ...

    async def overwritten(self) -> dict[str, int]:
        """The objects the store keeps older versions of (an overwrite on a versioned bucket without Object Lock),
        each with how many versions it has; {} where a store keeps no versions (a folder)."""
        ...


def open_archive(url: str, *, retain: float = 0.0) -> ArchiveStore:
    """The store `url` names (`file:///abs/folder` or `s3://bucket/prefix`); ArchiveError for anything else."""
    parsed = urlparse(url.strip())
    if parsed.scheme == "file":
        path = unquote(parsed.path)
        if parsed.netloc not in ("", "localhost") or not path.startswith("/"):
            raise ArchiveError(f"AUDIT_ARCHIVE {url[:200]!r}: a folder is file:///an/absolute/path")
        return FolderStore(Path(path))
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ArchiveError(f"AUDIT_ARCHIVE {url[:200]!r}: an S3 archive is s3://bucket/prefix")
        return S3Store(parsed.netloc, parsed.path.strip("/"), retain=retain)
    raise ArchiveError(f"AUDIT_ARCHIVE {url[:200]!r}: use file:///abs/folder or s3://bucket/prefix")


def unwritable(url: str) -> str | None:
    """Why this process cannot write the folder archive `url` names (`file:///abs/folder`): its nearest existing
    folder is a file, or not writable; None when it can, or for an S3 archive (a bucket's outage stops nothing: it is
    written to as it comes back)."""
    store = open_archive(url)
    if not isinstance(store, FolderStore):
        return None
    there = store.root
    while not there.exists() and there != there.parent:
        there = there.parent
    if not there.is_dir():
        return f"{there} is a file, not a folder: the archive cannot be written under it"
    if not os.access(there, os.W_OK | os.X_OK):
        return f"{there} is not writable by this process (uid {os.getuid()})"
    return None


async def check_written(store: ArchiveStore, *, name: str, data: bytes) -> None:
    """Read `name` back: Conflict unless it holds `data`."""
    back = await store.get(name)
    if back != data:
        raise Conflict(f"{name} is already in the archive with other bytes: not replaced" if back is not None
                       else f"{name} was written but cannot be read back")


class FolderStore:
    """The archive in a folder (a mounted WORM volume, or a folder synced elsewhere)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = root.as_uri()

    @property
    def locked(self) -> bool:
        return False

    def _path(self, name: str) -> Path:
        if name.startswith("/") or ".." in name.split("/"):
            raise ArchiveError(f"not an archive object's name: {name[:100]!r}")
        return self.root / name

    async def put(self, name: str, data: bytes) -> None:
        try:
            await asyncio.to_thread(self._put, name, data)
        except OSError as exc:
            raise ArchiveError(f"writing {name} in {self.url}: {exc.strerror or type(exc).__name__}") from None
        await check_written(self, name=name, data=data)

    def _put(self, name: str, data: bytes) -> None:
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, aside = tempfile.mkstemp(dir=path.parent, prefix=".put-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(aside, 0o444)
            with contextlib.suppress(FileExistsError):  # there already: compared by the caller
                os.link(aside, path)
        finally:
            os.unlink(aside)

    async def get(self, name: str) -> bytes | None:
        try:
            return await asyncio.to_thread(self._path(name).read_bytes)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ArchiveError(f"{name}: {exc.strerror}") from None

    async def names(self, prefix: str) -> list[str]:
        return await asyncio.to_thread(self._names, prefix)

    async def overwritten(self) -> dict[str, int]:
        return {}  # (a folder keeps no versions: an overwrite by hand is found by its bytes)

    def _names(self, prefix: str) -> list[str]:
        """The objects whose names start with `prefix` (a folder's, or any start of a name)."""
        folder = prefix.rpartition("/")[0]
        base = self._path(folder) if folder else self.root
        if not base.is_dir():
            return []
        return sorted(name for p in base.rglob("*") if p.is_file() and not p.name.startswith(".put-")
                      and (name := str(p.relative_to(self.root))).startswith(prefix))


class S3Store:
    """The archive in an S3 bucket under a prefix (boto3; its calls run in a thread)."""

    def __init__(self, bucket: str, prefix: str, *, retain: float) -> None:
        import boto3  # (only an S3 archive needs it)

        self.bucket = bucket
        self.prefix = prefix + "/" if prefix else ""
        self.url = f"s3://{bucket}/{prefix}"
        self.retain = retain
        self._client: Any = boto3.client("s3")
        self._lock: bool | None = None  # the bucket's Object Lock, once asked
        self._versioned: bool | None = None  # the bucket keeps versions (Object Lock, or versioning on), once asked
        self._oldest: dict[str, str] = {}  # name -> its oldest version's id, for each object written over
        self._listed = float("-inf")  # when `overwritten` last listed every version (monotonic)
        self._conditional = True  # If-None-Match honoured (else: HEAD first)

    @property
    def locked(self) -> bool:
        return bool(self._lock)

    def _error(self, exc: Exception, what: str) -> ArchiveError:
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            return ArchiveError(f"{what}: S3 said {error.get('Code', '?')}: {str(error.get('Message', ''))[:200]}")
        return ArchiveError(f"{what}: {type(exc).__name__}: {str(exc)[:200]}")

    def _code(self, exc: Exception) -> str:
        response = getattr(exc, "response", None)
        return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""

    def _object_lock(self) -> bool:
        if self._lock is None:
            try:
                found = self._client.get_object_lock_configuration(Bucket=self.bucket)
                self._lock = found.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"
            except Exception as exc:
                if self._code(exc) not in ("ObjectLockConfigurationNotFoundError", "NotImplemented"):
                    raise self._error(exc, f"{self.url}: its Object Lock setting") from None
                self._lock = False
        return self._lock

    async def put(self, name: str, data: bytes) -> None:
        await asyncio.to_thread(self._put, name, data)
        await check_written(self, name=name, data=data)

    def _put(self, name: str, data: bytes) -> None:
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": self.prefix + name, "Body": data}
        if self._object_lock() and self.retain > 0:
            args["ObjectLockMode"] = "COMPLIANCE"
            args["ObjectLockRetainUntilDate"] = (datetime.datetime.now(datetime.UTC)
                                                 + datetime.timedelta(seconds=self.retain))
            args["ChecksumAlgorithm"] = "SHA256"  # (a put with a retention must carry a checksum)
        try:
            if self._conditional:
                try:
                    self._client.put_object(IfNoneMatch="*", **args)
                    return
                except Exception as exc:
                    code = self._code(exc)
                    if code in ("PreconditionFailed", "ConditionalRequestConflict"):
                        return  # there already: compared by the caller
                    if code not in ("NotImplemented", "InvalidArgument", "InvalidRequest") and (
                            type(exc).__name__ != "ParamValidationError"):  # (a boto3 without If-None-Match)
                        raise
                    self._conditional = False
            if self._exists(name):
                return
            self._client.put_object(**args)
        except ArchiveError:
            raise
        except Exception as exc:
            raise self._error(exc, f"writing {name}") from None

    def _exists(self, name: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=self.prefix + name)
            return True
        except Exception as exc:
            if self._code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    async def get(self, name: str) -> bytes | None:
        return await asyncio.to_thread(self._get, name)

    def _get(self, name: str) -> bytes | None:
        """The object's oldest version: the one the writer put (and locked), whatever was put over it since."""
        try:
            version = self._oldest_version(name)
            if version == "":
                return None
            found = (self._client.get_object(Bucket=self.bucket, Key=self.prefix + name, VersionId=version)
                     if version is not None else self._client.get_object(Bucket=self.bucket, Key=self.prefix + name))
            return bytes(found["Body"].read())
        except ArchiveError:
            raise
        except Exception as exc:
            if self._code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._error(exc, f"reading {name}") from None

    def _oldest_version(self, name: str) -> str | None:
        """The id of the oldest version of `name` ("": it has none), or None to read it plainly (a bucket without
        versions, or one version only). Within `PINNED` seconds of a listing of every version (`overwritten`, which
        a check of the whole archive makes first), that listing says; else the object's own are listed."""
        if time.monotonic() - self._listed < PINNED:
            return self._oldest.get(name)
        if not self._is_versioned():
            return None
        key = self.prefix + name
        versions: list[tuple[Any, int, str]] = []  # (when, -its place: S3 lists a key's newest first, its id)
        try:
            for page in self._client.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=key):
                versions += [(v.get("LastModified"), -len(versions) - n, str(v["VersionId"]))
                             for n, v in enumerate(page.get("Versions", [])) if v.get("Key") == key]
        except Exception as exc:
            if self._code(exc) not in UNLISTED:
                raise
            return None  # (credentials without s3:ListBucketVersions: the newest version, as before)
        if not versions:
            return ""
        return min(versions)[2] if len(versions) > 1 else None

    def _is_versioned(self) -> bool:
        if self._versioned is None:
            try:
                status = self._client.get_bucket_versioning(Bucket=self.bucket).get("Status")
            except Exception as exc:
                if self._code(exc) not in UNLISTED:
                    raise self._error(exc, f"{self.url}: its versioning") from None
                status = None  # (not said, or not allowed to be asked: Object Lock says it keeps versions)
            self._versioned = status == "Enabled" or self._object_lock()
        return self._versioned

    async def names(self, prefix: str) -> list[str]:
        return await asyncio.to_thread(self._names, prefix)

    def _names(self, prefix: str) -> list[str]:
        found: list[str] = []
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                               Prefix=self.prefix + prefix):
                found += [str(o["Key"])[len(self.prefix):] for o in page.get("Contents", [])]
        except Exception as exc:
            raise self._error(exc, f"listing {self.url}") from None
        return sorted(found)

    async def overwritten(self) -> dict[str, int]:
        return await asyncio.to_thread(self._overwritten)

    def _overwritten(self) -> dict[str, int]:
        """Every key under the prefix with more than one version (delete markers count: a delete over a version)."""
        counts: dict[str, int] = {}
        oldest: dict[str, tuple[Any, int, str]] = {}
        seen = 0
        try:
            for page in self._client.get_paginator("list_object_versions").paginate(Bucket=self.bucket,
                                                                                    Prefix=self.prefix):
                for version in page.get("Versions", []):
                    name = str(version["Key"])[len(self.prefix):]
                    seen += 1  # (a key's versions are listed newest first: a later one of the same time is older)
                    at = (version.get("LastModified"), -seen, str(version["VersionId"]))
                    if name not in oldest or at < oldest[name]:
                        oldest[name] = at
                for version in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                    name = str(version["Key"])[len(self.prefix):]
                    counts[name] = counts.get(name, 0) + 1
        except Exception as exc:
            if self._code(exc) == "NotImplemented":
                return {}  # (a store without versions)
            raise self._error(exc, f"listing the versions in {self.url}") from None
        over = {name: count for name, count in sorted(counts.items()) if count > 1}
        self._oldest = {name: oldest[name][2] for name in over if name in oldest}
        self._listed = time.monotonic()
        return over


class Under:
    """The archive of one tenant's audit chain (bot/audit/chains.py): every name under `chains/<tenant>/` of the
    deployment's archive, which holds the home chain at its top (the same layout each: bot/audit/archive/layout.py)."""

    def __init__(self, archive: ArchiveStore, chain: str) -> None:
        self._archive = archive
        self._prefix = f"{CHAINS}{chain}/"
        self.url = f"{archive.url.rstrip('/')}/{self._prefix}"

    @property
    def locked(self) -> bool:
        return self._archive.locked

    async def put(self, name: str, data: bytes) -> None:
        await self._archive.put(self._prefix + name, data)

    async def get(self, name: str) -> bytes | None:
        return await self._archive.get(self._prefix + name)

    async def names(self, prefix: str) -> list[str]:
        return [name.removeprefix(self._prefix) for name in await self._archive.names(self._prefix + prefix)]

    async def overwritten(self) -> dict[str, int]:
        return {name.removeprefix(self._prefix): n for name, n in (await self._archive.overwritten()).items()
                if name.startswith(self._prefix)}


async def chains_in(archive: ArchiveStore) -> list[str]:
    """The tenants whose chains the archive holds (`chains/<tenant>/log.json`), sorted."""
    return sorted({name.removeprefix(CHAINS).partition("/")[0] for name in await archive.names(CHAINS)
                   if name.endswith("/log.json") and name.count("/") == 2})
