"""Who may use the Wyoming port: the listen address, an allow-list of peers, satellite keys, names kept.

    uri = listen_uri(settings.bridge)                       # tcp://127.0.0.1:10700 unless told otherwise
    policy = AccessPolicy.from_settings(settings.bridge, os.environ)
    gate = policy.gate(peer_address)                        # one per accepted connection
    first = gate.opening_events()                           # [edge-challenge] when a key is needed
    if gate.take(frame): continue                           # an edge-auth frame, checked
    names.claim(name, gate, peer_address)                   # may this connection use this satellite name?

Defaults: the server listens on loopback only, and everything that reaches it is served (the
machine's own processes). On a LAN address (`bridge.interface`, or an explicit `bridge.uri`) set
at least one of:

- `bridge.allowed_peers`: comma-separated addresses or networks served without a key (Home
  Assistant's address, e.g. `192.168.1.10`, or `192.168.1.0/24`);
- `bridge.secret_env`: the environment variable holding a secret. Each satellite gets its own
  key derived from it (`edge bridge serve --satellite-key NAME` prints it; the board keeps it) and proves
  it without sending it: the server opens with `edge-challenge {nonce}`, the satellite answers
  `edge-auth {name, proof}` with proof = HMAC-SHA256(key, "edge-satellite-auth" | nonce | name).
  A proven connection may use that satellite name only.

With either set, a peer that is not on the list and does not prove a key gets
`error {code: unauthorized}` and the connection closes, before any event is served.

Satellite names are sessions (their turns, their undelivered reply): a name held by a proven
satellite can be taken only with that satellite's key; a name held without a key stays with
the address that holds it (until its session expires, `bridge.resume_seconds` after it left).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from edge.core.settings import BridgeSettings
from firmware_bridge.wyoming.framing import Frame
from firmware_bridge.wyoming.schema import EventFormatError, WyomingEvent

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
AUTH_CONTEXT = "edge-satellite-auth"
MAX_NAME_CHARS = 64

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class AccessDenied(Exception):
    """This connection may not do what it asked; `code` goes back in the error event, then it closes."""

    def __init__(self, text: str, code: str = "unauthorized"):
        super().__init__(text)
        self.code = code


def listen_uri(bridge: BridgeSettings) -> str:
    """Where `edge bridge serve` listens: `bridge.uri` when set, else `bridge.interface` (else loopback) on `bridge.port`."""
    if bridge.uri:
        return bridge.uri
    host = bridge.interface or DEFAULT_HOST
    return f"tcp://[{host}]:{bridge.port}" if ":" in host else f"tcp://{host}:{bridge.port}"


def parse_networks(text: str) -> tuple[Network, ...]:
    """`bridge.allowed_peers` as networks; ValueError names the entry that is not an address or network."""
    networks = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as error:
            raise ValueError(f"bridge.allowed_peers: {item!r} is not an IP address or network (e.g. 192.168.1.0/24)") from error
    return tuple(networks)


def satellite_key(secret: str | bytes, name: str) -> bytes:
    """The key of satellite `name`, derived from the server's secret; give it to that satellite only."""
    secret_bytes = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(secret_bytes, f"satellite\n{name}".encode(), hashlib.sha256).digest()


def satellite_proof(key: bytes, nonce: str, name: str) -> str:
    return hmac.new(key, f"{AUTH_CONTEXT}\n{nonce}\n{name}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class AuthChallenge(WyomingEvent):
    """Server → peer, first on a connection that must prove a satellite key."""

    type: ClassVar[str] = "edge-challenge"
    nonce: str


@dataclass(frozen=True)
class Auth(WyomingEvent):
    """Peer → server: the satellite name and the proof of its key for the challenge's nonce."""

    type: ClassVar[str] = "edge-auth"
    name: str
    proof: str


def _address(peer: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(peer or "")
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


@dataclass(frozen=True)
class AccessPolicy:
    networks: tuple[Network, ...] = ()
    secret: bytes = field(default=b"", repr=False)

    @classmethod
    def from_settings(cls, bridge: BridgeSettings, environ: Mapping[str, str]) -> AccessPolicy:
        secret = environ.get(bridge.secret_env, "") if bridge.secret_env else ""
        return cls(parse_networks(bridge.allowed_peers), secret.encode("utf-8"))

    @property
    def restricted(self) -> bool:
        return bool(self.networks or self.secret)

    def allows(self, peer: str | None) -> bool:
        """Served without a key: nothing is restricted, or the address is on the allow-list."""
        if not self.restricted:
            return True
        address = _address(peer)
        return address is not None and any(address in network for network in self.networks)

    def gate(self, peer: str | None) -> PeerGate:
        return PeerGate(self, peer)


class PeerGate:
    """One connection's admission: allowed at once, or after proving a satellite key."""

    def __init__(self, policy: AccessPolicy, peer: str | None, trusted: bool = False):
        self.policy = policy
        self.peer = peer
        self.admitted = trusted or policy.allows(peer)
        self.opened_by_server = trusted  # a satellite the server dialled: no idle timeout, no key
        self.identity: str | None = None  # the satellite name this connection proved a key for
        self.nonce = secrets.token_hex(16)

    @classmethod
    def trusted(cls) -> PeerGate:
        """A connection the server opened itself (a satellite the operator configured)."""
        return cls(AccessPolicy(), None, trusted=True)

    def opening_events(self) -> list[WyomingEvent]:
        """What the server says first; AccessDenied when this peer can never be admitted."""
        if self.admitted:
            return []
        if not self.policy.secret:
            raise AccessDenied(self._refusal())
        return [AuthChallenge(nonce=self.nonce)]

    def take(self, frame: Frame) -> bool:
        """True when `frame` was the gate's own (edge-auth, now checked); AccessDenied for anything
        else before the peer is admitted."""
        if frame.type == Auth.type:
            self._check(frame)
            return True
        if not self.admitted:
            raise AccessDenied(self._refusal())
        return False

    def _check(self, frame: Frame) -> None:
        if not self.policy.secret:
            return  # nothing to prove: ignore it
        try:
            auth = Auth.from_frame(frame)
        except EventFormatError as error:
            raise AccessDenied(f"edge-auth needs a name and a proof: {error}") from error
        if not 0 < len(auth.name) <= MAX_NAME_CHARS:
            raise AccessDenied(f"a satellite name is 1 to {MAX_NAME_CHARS} characters")
        expected = satellite_proof(satellite_key(self.policy.secret, auth.name), self.nonce, auth.name)
        if not hmac.compare_digest(auth.proof.encode(), expected.encode()):
            logger.warning("%s: wrong key for satellite %r", self.peer, auth.name)
            raise AccessDenied(f"wrong key for satellite {auth.name!r}: give it the key `edge bridge serve --satellite-key NAME` prints")
        self.admitted, self.identity = True, auth.name
        self.nonce = ""  # one proof per challenge

    def _refusal(self) -> str:
        return (f"{self.peer or 'this peer'} may not use this server: add its address to bridge.allowed_peers on the "
                "server, or give the satellite its key (edge bridge serve --satellite-key NAME)")


@dataclass
class _Claim:
    proven: bool
    address: str | None


class NameClaims:
    """Which connection identity holds each satellite name (see the module docstring)."""

    def __init__(self) -> None:
        self._claims: dict[str, _Claim] = {}

    def claim(self, name: str, gate: PeerGate, known: Any) -> None:
        """Let this connection use satellite `name`, or raise AccessDenied(code "name-taken").

        `known` holds the names that still have sessions (claims of the others are forgotten)."""
        for stale in [held for held in self._claims if held not in known]:
            del self._claims[stale]
        if gate.identity is not None and gate.identity != name:
            raise AccessDenied(f"this connection proved the key of satellite {gate.identity!r}, not of {name!r}", "name-taken")
        held = self._claims.get(name) if name in known else None
        proven = gate.identity == name
        if held is not None and not proven and (held.proven or held.address != gate.peer):
            raise AccessDenied(
                f"satellite name {name!r} belongs to another connection ({'its key' if held.proven else held.address}); "
                "choose another name, or prove the satellite's key", "name-taken",
            )
        self._claims[name] = _Claim(proven, gate.peer)
