"""The command parser (bot/slackapp/command_parser.py): `/agent ...` read as typed, bad input quoted inertly."""

from __future__ import annotations

from bot.slackapp.command_parser import (
    Cancel,
    Help,
    Invalid,
    SetConfig,
    ShowConfig,
    ShowPolicy,
    Start,
    Status,
    as_typed,
    parse_command,
)


def test_parse_command_forms() -> None:
    assert parse_command("help") == Help()
    assert parse_command("status") == Status()
    assert parse_command("cancel rabc2345") == Cancel("rabc2345")
    assert parse_command("config") == ShowConfig()
    assert parse_command("config timeout 15m") == SetConfig("timeout", "900")
    assert parse_command("config TIMEOUT_OUTCOME Approve") == SetConfig("timeout_outcome", "approve")
    assert parse_command("Draft an email") == Start("Draft an email")
    assert parse_command("help me write a memo") == Start("help me write a memo")  # a task, not a subcommand
    assert parse_command("--team writer --mode always Draft it") == Start("Draft it", team="writer", mode="always")
    typo = parse_command("--team wrtier Draft it")
    assert isinstance(typo, Invalid) and "Did you mean `writer`?" in typo.message
    for bad in ("--mode sometimes Draft it", "--colour red Draft", "--team", "--team writer", "--mode always"):
        assert isinstance(parse_command(bad), Invalid), bad
    for bad in ("", "   ", "stat", "cancel", "cancel ../../etc", "config nope 1", "config timeout", "word"):
        assert isinstance(parse_command(bad), Invalid), bad


def test_command_text_is_read_as_typed() -> None:
    sent = "Email <@U0BOB|bob> in <#C0SALES|sales> &amp; <!here> about <https://x.example/a|the offer> &lt;b&gt;"
    assert parse_command(sent) == Start("Email @bob in #sales & @here about the offer (https://x.example/a) <b>")
    assert as_typed("<!subteam^S0APPROVERS|@approvers> <#C0PRIV|> <!channel>") == "@approvers #C0PRIV @channel"


def test_invalid_messages_quote_user_text_inertly() -> None:
    result = parse_command("config &lt;!channel&gt; x")  # typed "<!channel>", escaped by Slack
    assert isinstance(result, Invalid) and "&lt;!channel&gt;" in result.message and "<!channel>" not in result.message


def test_policy_alone_shows_the_policies_and_with_more_words_is_a_task() -> None:
    assert parse_command("policy") == parse_command(" Policy ") == ShowPolicy()
    assert parse_command("policy review for Q3") == Start("policy review for Q3")
    assert parse_command("Policies for refunds: draft them") == Start("Policies for refunds: draft them")
    slip = parse_command("plicy")
    assert isinstance(slip, Invalid) and "Did you mean `/agent policy`?" in slip.message
    typo = parse_command("polcy now")
    assert isinstance(typo, Invalid) and "did you mean `/agent policy now`?" in typo.message
