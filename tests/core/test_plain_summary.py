"""One plain sentence of what an approval does (bot/core/plain_summary.py, pure, deterministic)."""

from __future__ import annotations

from agent_approvals.artifacts import command, file_change, file_diff, message, query, text_sha256

from bot.core.plain_summary import changed_lines, plain_summary

BEFORE = "".join(f"line {n}\n" for n in range(1, 2001))


def test_each_artefact_in_one_sentence() -> None:
    after = BEFORE.replace("line 7\n", "seven\n").replace("line 900\n", "")
    assert plain_summary([file_change("src/prices.py", BEFORE, after), command("make deploy")]) == (
        "Changes 2 lines in src/prices.py and runs make deploy.")
    assert plain_summary([file_change("new.py", None, "a\nb\n"), file_change("old.py", "x\n", None),
                          query("select 1", "prod"), message(["a@x.io", "b@x.io"], "hi")]) == (
        "Creates new.py (2 lines), deletes old.py, runs a query on prod and sends a message to 2 people.")
    diff = "--- a/a.txt\n+++ b/a.txt\n@@ -1,2 +1,2 @@\n-a\n-b\n+c\n"
    assert plain_summary([file_diff("a.txt", diff, text_sha256("a\nb\n"))]) == "Changes 2 lines in a.txt."
    assert plain_summary([message("bob@example.com", "hi")]) == "Sends a message to bob@example.com."


def test_many_artefacts_are_counted_and_long_parts_cut() -> None:
    said = plain_summary([command(f"echo {n}") for n in range(6)] + [command("x" * 200, cwd="/srv")])
    assert said == "Runs echo 0, runs echo 1, runs echo 2, runs echo 3 and 3 more changes."
    assert len(plain_summary([command("y" * 500)])) < 80


def test_without_artefacts_the_tools_description_else_nothing() -> None:
    assert plain_summary([], description="Send an email to a customer. Uses SMTP.", tool="send_email") == (
        "Calls send_email: Send an email to a customer.")
    assert plain_summary([], description="", tool="send_email") == ""
    assert plain_summary([]) == ""


def test_changed_lines_counts_a_replaced_line_once() -> None:
    assert changed_lines("a\nb\nc\n", "a\nB\nc\n") == 1
    assert changed_lines("a\n", "a\nb\nc\n") == 2
    assert changed_lines(BEFORE, BEFORE) == 0
