"""Where a URL a program gives points (a webhook's, a callback's), as the HTTP client will connect: its host
normalised as aiohttp does (IDNA / UTS #46), and whether that host is this machine or a private network. Pure."""

from __future__ import annotations

import ipaddress
import re
import socket

from yarl import URL


def client_host(url: str | URL) -> str:
    """The host of `url` as the HTTP client (aiohttp, through yarl) connects to it: normalised by IDNA / UTS #46,
    so `１２７．０．０．１` and `127。0。0。1` are `127.0.0.1`. Checks look at this host, never at the text as sent;
    ValueError when it cannot be a host."""
    found = url if isinstance(url, URL) else URL(url)
    return found.host or ""


LEGACY_IPV4 = re.compile(r"^[0-9a-fx.]{1,40}$")  # 127.1, 0x7f.1, 2130706433: inet_aton's shorthand spellings


def private_host(host: str) -> bool:
    """Whether `host` (normalised: `client_host`) names this machine or a private network: a loopback, private,
    link-local or reserved address (in any spelling the resolver reads as one, `127.1` or `2130706433` too), or
    `localhost`. (Names are checked again, by what they resolve to, when a webhook is sent.)"""
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if not LEGACY_IPV4.fullmatch(host):
            return False
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return False
    return not address.is_global
