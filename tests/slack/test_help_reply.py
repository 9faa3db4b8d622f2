"""`/agent help` (issue #36): a short list, each line saying where to read more; the topics; the whole reference."""

from __future__ import annotations

from bot.slack.blocks import help_reply, help_text
from bot.slackapp.command_parser import Help, parse_command

TEAMS = {"writer": "an assistant drafts, a human reviews", "email": "sends one email"}


def test_the_short_list_is_short_and_says_where_to_read_more() -> None:
    text = help_reply("", presets=TEAMS)
    lines = text.split("\n")
    assert len(lines) <= 10 < len(help_text(presets=TEAMS).split("\n"))
    for more in ("`/agent help config`", "`/agent help rules`", "`/agent help keys`", "`/agent help away`",
                 "`/agent help teams`", "`/agent help all`"):
        assert more in text, more
    assert "`/agent status`" in text and "`/agent cancel <run id>`" in text


def test_each_topic_has_its_forms_and_the_way_back() -> None:
    assert "`/agent config <key> <value>`" in help_reply("config", presets=TEAMS)
    rules = help_reply("rules", presets=TEAMS)
    assert "`/agent rules revoke <rule id>`" in rules and "`/agent rules suggest [N]`" in rules
    assert "*Approve &amp; always allow*" in rules
    assert "`/agent keys create <name> [#channel]`" in help_reply("keys", presets=TEAMS)
    assert "`/agent away off`" in help_reply("away", presets=TEAMS)
    teams = help_reply("teams", presets=TEAMS)
    assert "`writer`: an assistant drafts" in teams and "`policy`" in teams
    assert all(help_reply(t, presets=TEAMS).endswith("The short list: `/agent help`") for t in ("config", "keys"))
    assert help_reply("all", presets=TEAMS) == help_text(presets=TEAMS)


def test_an_unknown_topic_gets_the_short_list_inert() -> None:
    text = help_reply("<!channel>", presets=TEAMS)
    assert text.startswith("No help on `&lt;!channel&gt;`.\n*Start a run*")


def test_help_topics_parse() -> None:
    assert parse_command("help") == Help()
    assert parse_command("help Config") == Help("config")
    assert parse_command("help keys") == Help("keys")
