"""A small JSON-over-HTTP GET for skills' providers: a deadline for the whole answer, a size cap,
and one exception for everything that can go wrong on the way (`HttpJsonError`).

    document = get_json("https://api.example/v1/x", {"q": "berlin"}, deadline=time.monotonic() + 2.5)

Standard library only (urllib), so a provider needs no extra package. The deadline bounds the
whole exchange: the connection and each read wait at most the time that was left when the request
was sent, and a body still arriving at the deadline is abandoned between two reads.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping

from edge.core.errors import PeerError

USER_AGENT = "edge-voice/0.1 (on-device voice assistant)"
_CHUNK = 16384


class HttpJsonError(PeerError):
    """The service could not be reached, was too slow, failed, or answered something that is not JSON."""

    def __init__(self, message: str, kind: str, status: int | None = None, body: object = None) -> None:
        super().__init__(message)
        self.kind = kind  # unreachable | timeout | http | garbage
        self.status = status
        self.body = body  # the decoded JSON of an HTTP error, when it had one


def get_json(url: str, params: Mapping[str, object], deadline: float, max_bytes: int = 262144) -> object:
    """GET `url?params` and decode its JSON body, within `deadline` (time.monotonic() seconds)."""
    full = f"{url}?{urllib.parse.urlencode(params)}"
    request = urllib.request.Request(full, headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=_left(deadline, full)) as response:
            body = _read(response, deadline, max_bytes, full)
    except urllib.error.HTTPError as error:
        raise _http_error(error, full) from error
    except TimeoutError as error:
        raise HttpJsonError(f"{full} did not answer in time", "timeout") from error
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            raise HttpJsonError(f"{full} did not answer in time", "timeout") from error
        raise HttpJsonError(f"cannot reach {full}: {error.reason}", "unreachable") from error
    except (OSError, ValueError) as error:  # connection reset, a malformed status line (http.client)
        raise HttpJsonError(f"{full} broke off: {type(error).__name__}: {error}", "garbage") from error
    return _decode(body, full)


def _left(deadline: float, url: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise HttpJsonError(f"{url} did not answer in time", "timeout")
    return left


def _read(response, deadline: float, max_bytes: int, url: str) -> bytes:
    """The body, one socket read at a time (`read1`), so a server that trickles bytes is cut at the deadline."""
    chunks: list[bytes] = []
    size = 0
    while True:
        _left(deadline, url)
        chunk = response.read1(_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise HttpJsonError(f"{url} sent more than {max_bytes} bytes", "garbage")
        chunks.append(chunk)


def _decode(body: bytes, url: str) -> object:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        preview = body[:60].decode("utf-8", "replace")
        raise HttpJsonError(f"{url} answered with something that is not JSON ({preview!r}...)", "garbage") from error


def _http_error(error: urllib.error.HTTPError, url: str) -> HttpJsonError:
    try:
        document = json.loads(error.read(65536).decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        document = None
    reason = document.get("reason") if isinstance(document, dict) else None
    return HttpJsonError(f"{url} answered HTTP {error.code}{': ' + str(reason) if reason else ''}", "http",
                         error.code, document)
