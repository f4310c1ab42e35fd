"""Who the playground answers, and the headers every answer carries.

A server on 127.0.0.1 is out of other machines' reach, but not out of the reach of the web pages open in
this machine's browser. Three ways in are closed here:

- DNS rebinding: a page on evil.example has its name re-pointed at 127.0.0.1 and then reads this server as
  its own origin. Its requests still say `Host: evil.example`, so only this server's own host names are
  answered (403 for any other).
- Requests from other sites: a form or a fetch on another site can POST to 127.0.0.1 as text/plain without
  the browser asking first. A POST must be `Content-Type: application/json` (415 otherwise), which a browser
  sends to another origin only after a preflight this server never grants; and when the browser names the
  page that sent it (`Origin`), that must be this server's page (403 otherwise).
- Script from data: the page builds text nodes, never HTML; the Content-Security-Policy on every answer
  also forbids inline script, so a run's name or settings could not run even if some code put them in as HTML.
"""

from __future__ import annotations

import ipaddress
import re

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOCAL_NAMES = ("127.0.0.1", "localhost", "::1")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}
# a Host header or an Origin's authority: a name or an [IPv6] address, and a port
AUTHORITY = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?")


def authority(value: str) -> tuple[str, int] | None:
    """The host name (lower case, an IPv6 address without brackets) and port (80 if none) of "name[:port]", or
    None if it is not one."""
    match = AUTHORITY.fullmatch(value.lower())
    return (match[1].strip("[]"), int(match[2] or 80)) if match else None


def is_ip_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class Guard:
    """ASGI middleware: refuses what the module docstring says with a JSON error, and adds SECURITY_HEADERS to
    every answer (refusals too).

    `host` is the address the server listens on. Besides the loopback names it answers to that one; for a
    wildcard (0.0.0.0, ::) that is every address of the machine, so any IP address is answered (a rebinding
    page's Host is a DNS name, never an address)."""

    def __init__(self, app: ASGIApp, host: str) -> None:
        self.app = app
        self.names = {*LOCAL_NAMES, host.lower().strip("[]")}
        self.any_address = host in ("0.0.0.0", "::")

    def serves(self, name: str) -> bool:
        return name in self.names or (self.any_address and is_ip_address(name))

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        """The status and reason to refuse the request with, or None to answer it."""
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        addressed = authority(host)
        if addressed is None or not self.serves(addressed[0]):
            return 403, (f"this server answers only to {', '.join(sorted(self.names))} (as the Host), "
                         f"not {host[:100]!r}")
        if scope["method"] != "POST":
            return None
        # the page's own origin: one of this server's names, on the port the request was sent to (which differs
        # from the listening port behind a forwarded port, ssh -L 9000:localhost:8000)
        origin = headers.get("origin")
        sender = authority(origin.removeprefix("http://")) if origin and origin.startswith("http://") else None
        if origin is not None and (sender is None or not self.serves(sender[0]) or sender[1] != addressed[1]):
            return 403, f"requests from other pages ({origin[:100]}) are not answered: use this server's page"
        if headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return 415, "send the request body as JSON, with Content-Type: application/json"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).update(SECURITY_HEADERS)
            await send(message)

        refused = self.refusal(scope)
        if refused is not None:
            status, reason = refused
            await JSONResponse({"error": reason}, status_code=status)(scope, receive, with_headers)
            return
        await self.app(scope, receive, with_headers)
