"""The local on-call provider stand-in (issue 90): `python -m bot dev --oncall` and the tests' provider.

    server.py  `OnCallStandIn`: an HTTP server on 127.0.0.1 (its own thread) speaking PagerDuty's REST API v2
               (`/oncalls`, `/users/<id>`), Opsgenie's (`/v2/schedules/<id>/on-calls`) and Grafana OnCall's
               (`/api/v1/schedules/<id>/`, `/api/v1/users/<id>/`) shapes, with schedules that change hands every few
               minutes (or when told), a token it checks, and a switch that makes it fail (down, malformed)

Nothing of the product: it imports only itself, what the stand-ins share (bot/devkit), the standard library and
aiohttp (tests/test_layout.py).
"""
