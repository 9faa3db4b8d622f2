"""`python -m bot` parses every subcommand with one argparse parser (#46.6): `serve`, `dev`, `keys`, `signing`,
`policy`, `audit` and `report` each have their help, and a wrong word is refused by argparse with the subcommand's usage
(exit 2) before anything is read or reached."""

from __future__ import annotations

import pytest

from bot.__main__ import main

SUBCOMMANDS = ("serve", "dev", "keys", "signing", "policy", "audit", "report")


def test_the_top_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    said = capsys.readouterr().out
    assert all(name in said for name in SUBCOMMANDS), said


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["keys", "--help"], ["python -m bot keys", "create", "list", "revoke", "only a hash of the key is kept"]),
        (["keys", "create", "--help"], ["python -m bot keys create", "--channel", "--max-pending"]),
        (["signing", "--help"], ["python -m bot signing", "rotate", "show", "0600"]),
        (["signing", "rotate", "--help"], ["python -m bot signing rotate", "--file"]),
        (["policy", "--help"], ["python -m bot policy", "check", "replay", "explain", "FIXTURES", "POLICY_DIR"]),
        (["policy", "test", "--help"], ["python -m bot policy test", "expect: allow", "--dir"]),
        (["audit", "--help"], ["python -m bot audit", "--jwks"]),
        (["report", "--help"], ["python -m bot report", "--rubber-stamp-min"]),
        (["dev", "--help"], ["python -m bot dev", "--port"]),
        (["serve", "--help"], ["python -m bot serve"]),
    ],
)
def test_each_subcommand_has_its_help(argv: list[str], words: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 0
    said = capsys.readouterr().out
    assert all(word in said for word in words), said


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["keys"], ["usage: python -m bot keys", "required: action"]),
        (["keys", "mint", "x"], ["usage: python -m bot keys", "invalid choice: 'mint'"]),
        (["keys", "create", "ci"], ["usage: python -m bot keys create", "--channel"]),
        (["signing", "rotate", "--fiel", "x"], ["usage: python -m bot", "unrecognized arguments: --fiel x"]),
        (["signing"], ["usage: python -m bot signing", "required: action"]),
        (["policy", "replay", "--format", "csv"], ["usage: python -m bot policy replay", "invalid choice: 'csv'"]),
        (["launch"], ["usage: python -m bot", "invalid choice: 'launch'"]),
    ],
)
def test_a_wrong_word_is_refused_with_the_usage(
    argv: list[str], words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"REDIS_URL": "redis://127.0.0.1:9/0"}  # nothing listens there: refused before anything is reached
    with pytest.raises(SystemExit) as done:
        main(argv, environ=env)
    assert done.value.code == 2
    said = capsys.readouterr().err
    assert all(word in said for word in words), said


def test_settings_come_from_the_mapping_given(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["signing", "show"], environ={}) == 2  # no keys named: said, no environment read
    assert "no signing keys: set SIGNING_KEYS_FILE" in capsys.readouterr().err
    assert main(["keys", "list"], environ={"REDIS_TIMEOUT": "soon"}) == 2
    assert "REDIS_TIMEOUT must be a number of seconds" in capsys.readouterr().err
