"""The change an ask's artefacts make, as people read it (bot/core/diffs.py): hunks with line numbers from
before/after (difflib) or from a given unified diff, counts, the summary words, side-by-side rows; big inputs kept
within bounds and counted."""

from __future__ import annotations

import difflib
import doctest
import random
from typing import Any

import pytest

import bot.core.diffs as diffs
from bot.core.diffs import MAX_DIFF_LINES, MAX_FILES, file_changes, from_diff, from_texts, read, side_by_side, summary


def numbered(count: int, word: str = "line") -> str:
    return "".join(f"{word} {i}\n" for i in range(1, count + 1))


def test_the_docstrings_examples_hold() -> None:
    failed, tried = doctest.testmod(diffs)
    assert tried >= 5 and failed == 0


def test_a_2000_line_file_gives_its_hunks_with_the_numbers_diff_u_gives() -> None:
    before = numbered(2000)
    after = before.replace("line 10\n", "line ten\n").replace("line 1500\n", "")
    change = from_texts("src/big.py", before, after)
    expected = [h for h in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="")
                if h.startswith("@@")]
    assert [h.header for h in change.hunks] == expected == ["@@ -7,7 +7,7 @@", "@@ -1497,7 +1497,6 @@"]
    assert (change.added, change.removed) == (1, 2)
    first = change.hunks[0].lines
    assert [(x.kind, x.text, x.old, x.new) for x in first[2:5]] == [
        (" ", "line 9", 9, 9), ("-", "line 10", 10, None), ("+", "line ten", None, 10)]


def test_a_given_diff_reads_as_the_same_change_and_several_files_each_apart() -> None:
    before, after = numbered(300), numbered(300).replace("line 150\n", "line 150\nnew\n")
    one = "".join(difflib.unified_diff(before.splitlines(True), after.splitlines(True), "a/x.py", "b/x.py"))
    two = one + one.replace("x.py", "y.py")
    read_back = from_diff("ignored", two)
    assert [(c.path, c.added, c.removed) for c in read_back] == [("x.py", 1, 0), ("y.py", 1, 0)]
    assert read_back[0].hunks == from_texts("x.py", before, after).hunks


def test_a_removed_line_that_looks_like_a_header_stays_in_its_hunk() -> None:
    diff = "--- a/f\n+++ b/f\n@@ -1,2 +1,1 @@\n--- not a header\n keep\n"
    [change] = from_diff("f", diff)
    assert (change.path, change.removed, [x.text for x in change.hunks[0].lines]) == ("f", 1, ["-- not a header",
                                                                                               "keep"])


def test_a_new_file_and_a_deleted_one() -> None:
    new = from_texts("n.txt", None, "a\nb\n")
    gone = from_texts("g.txt", "a\n", None)
    assert (new.new_file, new.added, new.hunks[0].header) == (True, 2, "@@ -0,0 +1,2 @@")
    assert (gone.deleted, gone.removed, gone.hunks[0].header) == (True, 1, "@@ -1,1 +0,0 @@")


def test_huge_changes_are_kept_within_bounds_and_counted() -> None:
    change = from_texts("all.txt", numbered(30_000, "old"), numbered(30_000, "new"))
    assert (change.added, change.removed) == (30_000, 30_000)
    assert change.shown_lines == MAX_DIFF_LINES and change.lines_left == 60_000 - MAX_DIFF_LINES
    many = "".join(f"--- a/f{i}\n+++ b/f{i}\n@@ -1,1 +1,1 @@\n-a\n+b\n" for i in range(MAX_FILES + 20))
    changes = read([{"kind": "file", "path": "p", "diff": many, "before_sha256": "0" * 64}])
    assert (len(changes.files), changes.files_left) == (MAX_FILES, 20)
    assert summary([{"kind": "file", "path": "p", "diff": many, "before_sha256": "0" * 64}]).endswith(
        f"in {MAX_FILES + 20:,} files")


def test_the_summary_words() -> None:
    artifacts: list[dict[str, Any]] = [
        {"kind": "file", "path": "a", "before": "x\n", "after": "y\nz\n"},
        {"kind": "file", "path": "b", "before": None, "after": "1\n2\n"},
        {"kind": "command", "command": "make"}, {"kind": "command", "command": "make test"},
        {"kind": "message", "to": ["a@x.org", "b@x.org", "c@x.org"], "body": "hi"},
        {"kind": "message", "to": ["#general"], "body": "hi"},
        {"kind": "query", "sql": "select 1"},
    ]
    assert summary(artifacts) == ("+4 −1 in 2 files · 2 commands · email to 3 people · message to 1 recipient"
                                  " · 1 query")
    assert summary([]) == "" and file_changes({"kind": "command", "command": "ls"}) == []


def test_side_by_side_pairs_removed_with_added_lines() -> None:
    hunk = from_texts("f", "a\nb\nc\nd\n", "a\nB\nc\nd\ne\n").hunks[0]
    rows = [(r.left and (r.left.old, r.left.text), r.right and (r.right.new, r.right.text), r.changed)
            for r in side_by_side(hunk)]
    assert rows == [((1, "a"), (1, "a"), False), ((2, "b"), (2, "B"), True), ((3, "c"), (3, "c"), False),
                    ((4, "d"), (4, "d"), False), (None, (5, "e"), True)]


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
def test_a_large_files_diff_is_found_fast_applies_and_reads_back_as_kept() -> None:
    """The matching blocks of a large file (`_blocks`: common start and end, split at a unique line) make a diff
    that turns `before` into `after`, whatever the lines (repeated ones too), and its kept text (`unified`) reads
    back to the same hunks; a 2,000-line file with three edits is found in a few slices, not difflib's lines."""
    rnd = random.Random(79)
    for _ in range(300):
        size = rnd.choice([0, 7, 400])
        before = [rnd.choice(["x", "y", "", "-- z", f"u{rnd.randrange(10**6)}"]) for _ in range(size)]
        after = list(before)
        for _ in range(rnd.randint(0, 6)):
            at = rnd.randint(0, len(after))
            if rnd.random() < 0.4 and after:
                after.pop(min(at, len(after) - 1))
            else:
                after[at:at] = rnd.choice([["x"], ["new"], after[max(0, at - 40):at]])
        matcher = diffs._Matcher(before, after)
        rebuilt: list[str] = []
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            assert tag != "equal" or before[i1:i2] == after[j1:j2]
            rebuilt.extend(before[i1:i2] if tag == "equal" else after[j1:j2])
        assert rebuilt == after
        text_before, text_after = "".join(f"{x}\n" for x in before), "".join(f"{x}\n" for x in after)
        whole, kept = from_texts("f", text_before, text_after), from_diff("f", diffs.unified(text_before, text_after))
        assert [c.hunks for c in kept] == ([whole.hunks] if whole.hunks else [])
    lines = [f"value_{n} = compute({n})" for n in range(2000)]
    edited = [*lines[:10], "fast", *lines[11:1000], "strict", *lines[1001:1900], "new", *lines[1900:]]
    assert diffs._Matcher(lines, edited).get_opcodes() == difflib.SequenceMatcher(
        None, lines, edited, autojunk=False).get_opcodes()
