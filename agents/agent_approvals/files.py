"""Reading a file someone else names (a hook's input, a tool's arguments, an approved change's path), so that no
name can hang the reader or flood it:

    regular_bytes(path, most=)   the bytes of the regular file at `path` (`FileNotFoundError`: there is none)
    regular_sha256(path, most=)  the hex SHA-256 of that file's bytes, read in chunks
    off_loop(read, *args)        `read(*args)` on the readers' own small pool of threads (READERS), at most
                                 READ_TIMEOUT seconds (`TimeoutError`): a slow disk holds neither the event loop nor
                                 the default executor the rest of the process runs on
    inside(root, path)           whether `path` (relative to `root`), symbolic links followed, lies in `root`

Only a regular file is read. It is opened without waiting (`O_NONBLOCK`: a FIFO with no writer opens at once) and
without following a symbolic link in its last part (`O_NOFOLLOW`, on the path with every link already resolved), and
the opened file's own status (`fstat`, not a look at the name before it is opened) says what it is: a FIFO, a
device (`/dev/zero`), a socket or a directory is refused (`NotRegular`, saying which), never read or waited on. At
most `most` bytes are read: a larger file is refused (`TooLarge`), never cut (a cut file's digest is no file's).
Both are `OSError`s, as the other reasons a file cannot be read are.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import stat
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Final, TypeVar

MOST_READ: Final = 4 * 1024 * 1024  # the largest file read whole (to show its change on a card)
MOST_HASHED: Final = 64 * 1024 * 1024  # the largest file hashed (to check it is still the approved `before`)
READERS: Final = 2  # threads of the readers' own pool
READ_TIMEOUT: Final = 10.0  # seconds a read off the event loop may take, then `TimeoutError`
CHUNK: Final = 1024 * 1024
_FLAGS: Final = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(
    os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
_KINDS: Final = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                 (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"), (stat.S_ISLNK, "a symbolic link"))
# made at import, its threads at first use: file reads never wait behind (nor hold) the default executor's work
_readers = ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="agent-approvals-files")
T = TypeVar("T")


class NotRegular(OSError):
    """The path names something other than a regular file (a FIFO, a device, a socket, a directory)."""


class TooLarge(OSError):
    """The file is larger than the reader reads."""


@contextmanager
def _opened(path: str | os.PathLike[str]) -> Iterator[tuple[int, int]]:
    """The file descriptor of the regular file at `path` (its links resolved, opened not following one and not
    waiting), and its size; `NotRegular` when it is no regular file."""
    descriptor = os.open(os.path.realpath(path), _FLAGS)
    try:
        mode = os.fstat(descriptor)
        if not stat.S_ISREG(mode.st_mode):
            kind = next((name for test, name in _KINDS if test(mode.st_mode)), "not a file")
            raise NotRegular(f"not a regular file: {kind}")
        yield descriptor, mode.st_size
    finally:
        os.close(descriptor)


def _chunks(descriptor: int, most: int) -> Iterator[bytes]:
    """The file's bytes in chunks; `TooLarge` past `most` bytes (a file that grows while it is read too)."""
    read = 0
    while chunk := os.read(descriptor, CHUNK):
        read += len(chunk)
        if read > most:
            raise TooLarge(f"larger than {_size(most)}")
        yield chunk


def _size(most: int) -> str:
    return f"{most // (1024 * 1024)} MiB" if most % (1024 * 1024) == 0 else f"{most} bytes"


def regular_bytes(path: str | os.PathLike[str], *, most: int = MOST_READ) -> bytes:
    """The bytes of the regular file at `path`: `FileNotFoundError` when there is none, `NotRegular` when it is no
    regular file, `TooLarge` when it holds more than `most` bytes (another `OSError`: it cannot be read)."""
    with _opened(path) as (descriptor, size):
        if size > most:
            raise TooLarge(f"larger than {_size(most)}")
        return b"".join(_chunks(descriptor, most))


def regular_sha256(path: str | os.PathLike[str], *, most: int = MOST_HASHED) -> str:
    """The hex SHA-256 of the regular file at `path` (the errors of `regular_bytes`)."""
    digest = hashlib.sha256()
    with _opened(path) as (descriptor, size):
        if size > most:
            raise TooLarge(f"larger than {_size(most)}")
        for chunk in _chunks(descriptor, most):
            digest.update(chunk)
    return digest.hexdigest()


def inside(root: str | os.PathLike[str], path: str | os.PathLike[str]) -> bool:
    """Whether `path` (relative to `root`), its symbolic links followed, lies in `root` (its links followed too)."""
    real_root = os.path.realpath(root)
    target = os.path.realpath(os.path.join(root, path))
    return os.path.commonpath((real_root, target)) == real_root


async def off_loop(read: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`read(*args, **kwargs)` on the readers' own threads, its answer or `TimeoutError` past READ_TIMEOUT seconds
    (the thread is left to finish; the caller goes on)."""
    running = asyncio.get_running_loop().run_in_executor(_readers, functools.partial(read, *args, **kwargs))
    return await asyncio.wait_for(running, READ_TIMEOUT)
