"""A push's connection pinned to a checked address (issue 90): the aiohttp resolver every push is sent through, so a
name that answered a public address when checked cannot answer a private one when the push connects (DNS rebinding).

`PinnedResolver.resolve` looks the host up once for the connection (`lookup`: the loop's `getaddrinfo`, or a test's)
and hands aiohttp only those addresses, each checked global (`global_addresses`): an answer with a loopback, private,
link-local or reserved address among them raises BadSubscription (the push not sent, audited `push_refused`), one that
does not resolve an OSError (aiohttp's connection error: tried again later). The connector keeps no DNS cache
(`pinned_connector`): each new connection is resolved and checked then. TLS SNI and Host stay the endpoint's name. The
local push service's host and port (PUSH_LOCAL_SERVICE_URL: dev and the tests) resolve unchecked."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from bot.push.devices import Lookup, Unresolved, global_addresses, system_lookup


def _host_port(url: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit(url)
        return (parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)) if url else None
    except ValueError:
        return None


class PinnedResolver(AbstractResolver):
    """Resolves a push service's host once per connection and answers only its checked (global) addresses."""

    def __init__(self, lookup: Lookup = system_lookup, *, local_service: str = "") -> None:
        self._lookup = lookup
        self._local = _host_port(local_service)

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        if self._local is not None and (host, port) == self._local:
            found = [str(a).partition("%")[0] for a in await self._lookup(host, port)]
        else:
            try:
                found = await global_addresses(host, port, lookup=self._lookup)
            except Unresolved as exc:
                raise OSError(str(exc)) from None
        answers: list[ResolveResult] = []
        for address in found:
            kind = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
            if family in (socket.AF_UNSPEC, kind):
                answers.append({"hostname": host, "host": address, "port": port, "family": kind, "proto": 0,
                                "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV})
        if not answers:
            raise OSError(f"{host} has no address of the family asked")
        return answers

    async def close(self) -> None:
        return None


def pinned_connector(lookup: Lookup = system_lookup, *, local_service: str = "") -> aiohttp.TCPConnector:
    """The connector of the sender's session: every connection through a `PinnedResolver`, no DNS cache."""
    return aiohttp.TCPConnector(resolver=PinnedResolver(lookup, local_service=local_service), use_dns_cache=False)
