"""The Slack app: where Slack's requests come in, above the approval core and the runs it calls.

    app.py           the worker's one Bolt app (its workspaces, `authorize`), the edge that resolves each
                     request's workspace (`Edge`), and the `POST /slack/events` handler: every request's signature
                     checked once, before anything parses it
    arg_names.py     Bolt's reading of each listener's parameters, once per function's code (not once per worker)
    context.py       a request's workspace as a value in its Bolt context: `parts_of(context)`, the one door
                     through which a listener gets the parts that serve its request
    oauth.py         Slack's OAuth install (`/slack/install`, `/slack/oauth_redirect`) through Bolt's OAuth flow
    gate.py          a shape check in front of Bolt
    payloads.py      Slack's payloads read by models: an interaction's shape (for the gate), a submitted view's
                     inputs, a slash command's fields
    members.py       a Bolt middleware before every listener: only people of the installing workspace act
    click_answers.py  a click answered to its person under the card: ephemerally, else through its response_url
    command_parser.py  `/agent ...` text -> a command (pure)
    commands.py      the commands `/agent ...` asks for (pure)
    slackbot_mcp.py  `POST /slack/mcp`, Slackbot's MCP endpoint: signed as events, each signature once, its
                     person checked as a click's, then served by the MCP SDK's server and transport
    asgi.py          an ASGI application (the SDK's transport) mounted under aiohttp: its lifespan, its requests
    slackbot_tools.py  Slackbot's tools behind it: upstream MCP servers (the MCP gateway's code: above the core,
                     which imports no agent framework), read-only calls forwarded, others asked for on the
                     person's behalf through the API's `ask` and run once through its `use`
    listeners/       the handlers, one module per surface: `slash_command`, `actions`, `views`, `home`, `installs`

It imports anything in `bot` below the HTTP server (`bot/server.py`, which mounts it) but `devslack`; nothing
below imports it. What the bot sends Slack (Block Kit, the Web API client, the directory) is `bot/slack/`."""
