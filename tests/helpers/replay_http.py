"""A local HTTP server on 127.0.0.1 that replays stored responses byte for byte.

    with ReplayServer({"/v1/search?name=paris": Reply.file(FIXTURES / "geocoding-paris.json")}) as server:
        url = server.url("/v1/search")
        ...
        server.requests                       # every path+query asked, in order

A route is the request's path, optionally with its query (query parameters compared as a set,
so their order does not matter; a route without a query matches any). Besides files, a route can
hang until the test ends (`Reply.hang()`: the client's timeout must fire; released at exit, never
a sleep), or close the connection without answering (`Reply.drop()`). An unknown route is a 404.
`closed_port()` gives a port nobody listens on (connection refused: the service is down).
"""

from __future__ import annotations

import socket
import threading
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    mode: str = "answer"  # answer | hang | drop

    @classmethod
    def file(cls, path: Path, status: int = 200, content_type: str = "application/json; charset=utf-8") -> Reply:
        return cls(status, path.read_bytes(), content_type)

    @classmethod
    def hang(cls) -> Reply:
        return cls(mode="hang")

    @classmethod
    def drop(cls) -> Reply:
        return cls(mode="drop")


def _key(target: str) -> tuple[str, frozenset]:
    parsed = urllib.parse.urlsplit(target)
    return parsed.path, frozenset(urllib.parse.parse_qsl(parsed.query))


class ReplayServer:
    def __init__(self, routes: dict[str, Reply]) -> None:
        self.routes = {_key(target): reply for target, reply in routes.items()}
        self.requests: list[str] = []
        self.released = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                server.requests.append(self.path)
                reply = server.find(self.path)
                if reply is None:
                    self.send_error(404)
                elif reply.mode == "hang":
                    server.released.wait(120)
                elif reply.mode == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                else:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)

            def log_message(self, *args) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="replay-http", daemon=True)

    def find(self, target: str) -> Reply | None:
        path, query = _key(target)
        exact = self.routes.get((path, query))
        if exact is not None:
            return exact
        # a route whose query is a subset of the request's (e.g. only name=paris)
        matching = [reply for (route_path, route_query), reply in self.routes.items()
                    if route_path == path and route_query <= query]
        return matching[0] if matching else None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> ReplayServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.released.set()
        self._httpd.shutdown()
        self._httpd.server_close()


def closed_port() -> int:
    """A loopback port with nobody listening (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
