"""Who may talk to a companion's web side: the Host it is reached by, the page's Origin, the view key.

    host_allowed("192.168.1.20:8765", names)        # IP literals always; names only from the list
    origin_allowed(origin_header, host_header)      # a browser page of this companion, or no browser
    page_belongs(remote, key, view_key, trust_loopback=True)

- **Host**: a page that reached the companion through a DNS name the companion does not know is a
  DNS-rebinding attack (another site's name pointed at the companion's address); it gets 421.
  An IP address cannot be rebound, so IP literals are always fine.
- **Origin**: browsers send it on every WebSocket; a page of another site (any other Origin) is
  refused, so a web page open in a browser on the companion's machine cannot read its cards or
  its pairing code. Non-browser clients send none.
- **View key**: the page socket carries history and every card; a page proves it belongs by
  being on the companion's own machine (unless `cast.trust_loopback_pages` is off) or by the
  key in the link the companion prints (`http://ADDRESS:PORT/#key=KEY`, passed on as `?key=`).
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit


def _hostname(host: str) -> str:
    """The host part of a Host header value (no port, no IPv6 brackets), lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def own_host_names(extra: str = "", advertised: Iterable[str] = ()) -> frozenset[str]:
    """The names the companion answers to: localhost, this machine's name (and .local), the mDNS
    host name it advertises, and the comma-separated `cast.allowed_host_names`."""
    machine = socket.gethostname().lower()
    names = {"localhost", machine, f"{machine}.local", *(name.lower().rstrip(".") for name in advertised)}
    names.update(name.strip().lower() for name in extra.split(",") if name.strip())
    return frozenset(names)


def host_allowed(host: str | None, names: frozenset[str]) -> bool:
    if not host:
        return True  # HTTP/1.0 without Host: no browser sends that
    name = _hostname(host)
    return is_ip_literal(name) or name in names


def origin_allowed(origin: str | None, host: str | None) -> bool:
    """True when there is no Origin (not a browser) or it is this companion's own origin."""
    if origin is None:
        return True
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and bool(host) and parts.netloc.lower() == str(host).lower()


def page_belongs(remote: str | None, key: str | None, view_key: str, trust_loopback: bool = True) -> bool:
    """A page on this machine (when trusted), or one that shows the view key."""
    if key and view_key and hmac.compare_digest(key.encode(), view_key.encode()):
        return True
    if not trust_loopback or remote is None:
        return False
    try:
        return ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False
