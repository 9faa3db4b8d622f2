"""The operator's commands of `python -m bot` that are not the worker (bot/__main__.py parses them all with one
argparse parser and calls these):

    keys.py      `python -m bot keys create | list | revoke` (API keys, made by `bot.api.keys.create_key`)
    served.py    whether the workspace `keys create` names is served (its own install, or an org-wide one added to it)
    sponsors.py  a key's sponsor checked with Slack (`users.info`: a person it knows, active, not a bot)
    signing.py   `python -m bot signing rotate | show` (the signing keys' file: `bot.core.key_files`)
    policy.py    `python -m bot policy check | test | replay | explain` (policy bundles: `bot.policy`)
    policy_cases.py  `policy test`'s fixtures: the YAML cases read as policy requests and their expected outcomes
    freeze.py    `python -m bot freeze | unfreeze <scope>` (the freeze, for when Slack is down: `bot.store.freezes`)
    drill.py     `python -m bot freeze drill`: a timed freeze and unfreeze, an ask refused meanwhile, audited
    move.py      `python -m bot store move-workspaces`: each workspace's keys to a hash tag of its own (issue 89)
    teams.py     `python -m bot teams manifest`: the Teams app package (deploy/teams/ filled in and zipped)
    exits.py     how a command that cannot go on ends: `error: …` on stderr, its exit code

Each module gives its subcommand's arguments (`add_arguments`) and runs it (`*_command`), its settings read
through `bot.core.settings`. `python -m bot report` and `audit` live with what they read (the report's and the
audit log's packages).

May import: `bot.core`, `bot.store`, `bot.policy`, `bot.report`, `bot.slack` (its text), `bot.approvals` (the freeze
link a drill asks), `bot.api` and `agents`; nothing imports it
but `bot.__main__`.
"""
