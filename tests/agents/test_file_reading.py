"""Reading a file someone else names (`agent_approvals.files`, #87): only a regular file is read (a FIFO with no
writer, a device, a socket, a directory refused at once, never waited on; a link to one too), never more than the
bound (a larger file refused, never cut), and off the event loop on the readers' own small pool with a timeout, so a
read that hangs holds neither the loop nor the default executor. An approved change's file that a link takes out of
its root is not read either (`disk_mismatch`)."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from pathlib import Path

import pytest
from agent_approvals import files
from agent_approvals.artifacts import disk_mismatch, file_diff, text_sha256
from agent_approvals.files import NotRegular, TooLarge, inside, off_loop, regular_bytes, regular_sha256


def test_only_a_regular_file_is_read_and_a_fifo_is_never_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    os.symlink(fifo, tmp_path / "to-pipe")
    (tmp_path / "notes.txt").write_text("hello\n")
    listening = socket.socket(socket.AF_UNIX)
    listening.bind(str(tmp_path / "sock"))
    started = time.monotonic()
    for path, kind in ((fifo, "a FIFO"), (tmp_path / "to-pipe", "a FIFO"), (Path("/dev/zero"), "a character device"),
                       (tmp_path, "a directory")):
        with pytest.raises(NotRegular, match=f"not a regular file: {kind}"):
            regular_bytes(path)
        with pytest.raises(NotRegular):
            regular_sha256(path)
    with pytest.raises(OSError, match="No such device"):  # a socket is not opened at all (ENXIO)
        regular_bytes(tmp_path / "sock")
    assert time.monotonic() - started < 5  # refused at once (a FIFO opened to read waits for a writer)
    listening.close()
    assert regular_bytes(tmp_path / "notes.txt") == b"hello\n"
    assert regular_sha256(tmp_path / "notes.txt") == text_sha256("hello\n")
    with pytest.raises(FileNotFoundError):
        regular_bytes(tmp_path / "gone.txt")


def test_a_file_larger_than_the_bound_is_refused_never_cut(tmp_path: Path) -> None:
    big = tmp_path / "big.log"
    big.write_bytes(b"x" * (files.MOST_READ + 1))
    with pytest.raises(TooLarge, match="larger than 4 MiB"):
        regular_bytes(big)
    assert regular_sha256(big) == text_sha256("x" * (files.MOST_READ + 1))  # hashed: a larger bound (64 MiB)
    with pytest.raises(TooLarge, match="larger than 10 bytes"):
        regular_sha256(big, most=10)


async def test_a_read_that_hangs_times_out_and_holds_no_other_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every reader thread stuck (a disk that does not answer): each read gives up after READ_TIMEOUT, and the
    default executor (what the rest of the process runs off the loop) still answers at once."""
    monkeypatch.setattr(files, "READ_TIMEOUT", 0.3)
    stuck = threading.Event()
    try:
        reads = [off_loop(stuck.wait) for _ in range(files.READERS + 3)]
        outcomes = await asyncio.gather(*reads, return_exceptions=True)
        assert all(isinstance(outcome, TimeoutError) for outcome in outcomes), outcomes
        assert await asyncio.wait_for(asyncio.to_thread(sum, (1, 2)), 2) == 3
    finally:
        stuck.set()
    assert await off_loop(sum, (2, 3)) == 5  # the readers free again


def test_a_change_whose_file_a_link_takes_out_of_its_root_is_not_read(tmp_path: Path) -> None:
    root, elsewhere = tmp_path / "project", tmp_path / "secret"
    root.mkdir()
    elsewhere.mkdir()
    (elsewhere / "token.txt").write_text("xoxb-secret\n")
    os.symlink(elsewhere / "token.txt", root / "link.txt")
    os.symlink(elsewhere, root / "dir")
    os.mkfifo(root / "pipe")
    approved = text_sha256("xoxb-secret\n")
    for name in ("link.txt", "dir/token.txt"):
        assert not inside(root, name)
        assert disk_mismatch(file_diff(name, "@@ -1 +1 @@\n-a\n+b\n", approved), root) == (
            f"{name} leads out of the root (a symbolic link): it is not read")
    assert disk_mismatch(file_diff("pipe", "@@ -1 +1 @@\n-a\n+b\n", approved), root) == (
        "pipe cannot be read (not a regular file: a FIFO)")
    (root / "in.txt").write_text("xoxb-secret\n")
    assert inside(root, "in.txt")
    assert disk_mismatch(file_diff("in.txt", "@@ -1 +1 @@\n-a\n+b\n", approved), root) is None
