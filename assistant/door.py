"""Who may reach the app, and who may change what runs programs or names secrets.

Every page run starts by asking the door about the browser session it serves. What the door
sees is the websocket handshake of that session (`Visit`): its `Host` and `Origin` headers, the
TCP peer address, and whether a proxy said it forwarded the request.

- **The Host check** stops DNS rebinding. A web page at `evil.example` whose name is made to
  resolve to 127.0.0.1 talks to the app as same-origin: the browser sends `Host:
  evil.example:8501`. Only this machine's own names are served (`localhost` and `*.localhost`,
  loopback addresses, the configured `server.address`) and names the owner lists in
  `ASSISTANT_ALLOWED_HOSTS` (a LAN name or address, a proxy's public name; `.example.org`
  covers its subdomains, `*` turns the check off), as Django's ALLOWED_HOSTS, Jupyter and Vite
  do.
- **The Origin check** stops other web pages, another local port included
  (`http://localhost:9999` is not `http://localhost:8501`): a browser always sends the page's
  origin on a websocket. It must be the origin the browser asked for (the `Host`), or a name the
  owner listed (a proxy that rewrites `Host`). No `Origin` at all is a program, not a page.
- **The host's owner** is a browser on this machine that came straight in: a loopback peer, a
  loopback name, and no proxy header (`X-Forwarded-For`, `Forwarded`, `X-Real-IP`, `Via`…). The
  server trusts proxy headers only from loopback peers (uvicorn's default), so a visitor cannot
  claim to be local by sending them. While no login is configured, only the owner may change
  endpoints, key sources and tool servers (which run programs and name secrets); everyone the
  door lets in may chat.

The door never reads the database: a refused browser causes no write, not even a new database
seeded in its language.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from assistant.i18n import _

LOCAL_NAMES = frozenset({"localhost"})
WILDCARD_ADDRESSES = frozenset({"", "0.0.0.0", "::"})
# Headers a reverse proxy adds; their presence means the browser is not the peer we see.
PROXY_HEADERS = (
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-port",
    "forwarded",
    "x-real-ip",
    "via",
)
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


@dataclass(frozen=True)
class Visit:
    """One browser session as the server saw its websocket handshake."""

    host: str | None  # the Host header, as sent ("localhost:8501", "[::1]:8501")
    origin: str | None  # the Origin header, None when a program sent none
    peer: str | None  # the TCP peer's address (after the server's own proxy handling)
    proxied: bool = False  # a proxy header was present

    @classmethod
    def from_handshake(cls, headers: Iterable[tuple[str, str]], peer: str | None) -> Visit:
        """A visit from the handshake's headers (names in any case) and the peer address."""
        lowered: dict[str, str] = {}
        for name, value in headers:
            lowered.setdefault(name.lower(), value)
        return cls(
            host=lowered.get("host"),
            origin=lowered.get("origin"),
            peer=peer,
            proxied=any(name in lowered for name in PROXY_HEADERS),
        )


def split_host(value: str) -> tuple[str, int | None] | None:
    """`Host` header → (lower-case name without brackets or a final dot, port); None when
    malformed."""
    value = value.strip()
    if not value:
        return None
    try:
        parts = urlsplit(f"//{value}")
        name, port = parts.hostname, parts.port
    except ValueError:  # a bad port, unbalanced brackets
        return None
    if not name or parts.path or parts.query or parts.fragment or parts.username:
        return None
    return name.rstrip(".").lower(), port


def _is_loopback_name(name: str) -> bool:
    if name in LOCAL_NAMES or name.endswith(".localhost"):
        return True  # browsers resolve *.localhost to loopback themselves (RFC 6761)
    return _is_loopback_address(name)


def _is_loopback_address(address: str | None) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1 from a dual-stack socket
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))


def parse_allowed_hosts(raw: str | None) -> tuple[str, ...]:
    """`ASSISTANT_ALLOWED_HOSTS` → normalized names (commas or spaces between them)."""
    names = []
    for entry in (raw or "").replace(",", " ").split():
        if entry == "*":
            names.append("*")
            continue
        subdomains = entry.startswith(".")
        parsed = split_host(entry.lstrip("."))
        if parsed is None:
            continue  # `config` refuses these with a sentence; never widen the door
        names.append(("." if subdomains else "") + parsed[0])
    return tuple(names)


@dataclass(frozen=True)
class Door:
    """The rules, from the owner's settings."""

    allowed_hosts: tuple[str, ...] = ()  # parse_allowed_hosts(ASSISTANT_ALLOWED_HOSTS)
    server_address: str | None = None  # Streamlit's server.address, when set to one name

    def _listed(self, name: str, wildcard: bool = True) -> bool:
        for allowed in self.allowed_hosts:
            if allowed == name or (wildcard and allowed == "*"):
                return True
            if allowed.startswith(".") and (name == allowed[1:] or name.endswith(allowed)):
                return True
        return False

    def _own_name(self, name: str) -> bool:
        if _is_loopback_name(name):
            return True
        address = (self.server_address or "").strip().strip("[]").rstrip(".").lower()
        return address not in WILDCARD_ADDRESSES and name == address

    def refusal(self, visit: Visit) -> str | None:
        """Why this browser session is not served (one sentence), or None to let it in."""
        host = split_host(visit.host or "")
        if host is None or not (self._own_name(host[0]) or self._listed(host[0])):
            shown = (visit.host or "").strip()[:80] or _("(none)")
            return _(
                "This app does not answer to the name {name}. Open it at http://localhost "
                "on the computer it runs on; to share it on a network, its owner adds the "
                "name to ASSISTANT_ALLOWED_HOSTS."
            ).format(name=shown)
        if visit.origin is not None and not self._same_or_listed_origin(visit.origin, host):
            return _(
                "This app only answers its own pages, not a page from {origin}. Open it "
                "directly in the browser's address bar."
            ).format(origin=visit.origin.strip()[:80])
        return None

    def _same_or_listed_origin(self, origin: str, host: tuple[str, int | None]) -> bool:
        try:
            parts = urlsplit(origin.strip())
            name, port = parts.hostname, parts.port
        except ValueError:
            return False
        if not name or parts.scheme not in DEFAULT_PORTS:
            return False  # "null" (a sandboxed frame or a file), or something else
        name = name.rstrip(".").lower()
        if self._listed(name, wildcard=False):
            return True  # a name the owner gave (a proxy that rewrites Host)
        port = port or DEFAULT_PORTS[parts.scheme]
        host_name, host_port = host
        return name == host_name and port == (host_port or DEFAULT_PORTS[parts.scheme])

    def is_owner(self, visit: Visit) -> bool:
        """A browser on this machine that came straight in (not through a proxy)."""
        host = split_host(visit.host or "")
        return (
            _is_loopback_address(visit.peer)
            and not visit.proxied
            and host is not None
            and _is_loopback_name(host[0])
            and self.refusal(visit) is None
        )


def owner_only_reason() -> str:
    """What a visitor reads where the host's controls would be."""
    return _(
        "Only a browser on the computer that runs the app can change endpoints, keys and "
        "tool servers: they run programs and use its keys. You can chat with what its owner "
        "set up. To share the app safely, its owner adds the name people use to "
        "ASSISTANT_ALLOWED_HOSTS and keeps these settings to themselves."
    )
