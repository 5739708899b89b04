"""The Home Assistant token goes only where it should (finding 11): no plain HTTP off this machine
unless the operator opts in, and never along a redirect."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from edge.core.settings import HomeSettings
from edge.skills.builtin.home_backends import HomeAssistantBackend, HomeCommand, HomeError

TOKEN = "long-lived-secret-token"
LIGHT = HomeCommand("light", "kitchen", "on")


def _serve(handler):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_plain_http_to_a_lan_host_is_refused_unless_opted_in():
    from edge.skills.builtin.home_backends import check_ha_url

    lan = HomeAssistantBackend(HomeSettings(backend="home-assistant", ha_url="http://homeassistant.local:8123"),
                               environ={"EDGE_HA_TOKEN": TOKEN})
    with pytest.raises(HomeError, match=r"plain http.*home\.ha_allow_plain_http"):
        lan.send(LIGHT)
    check_ha_url("http://192.168.1.5:8123", allow_plain_http=True)  # the operator opted in
    for url in ("https://homeassistant.local:8123", "http://127.0.0.1:8123", "http://localhost:8123", "http://[::1]:8123"):
        check_ha_url(url, allow_plain_http=False)
    with pytest.raises(HomeError, match="home.ha_url"):
        check_ha_url("ftp://homeassistant.local", allow_plain_http=True)
    assert HomeSettings().ha_url.startswith("https://")


def test_redirects_are_not_followed_with_the_token():
    received = []

    class Elsewhere(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            received.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"[]")

        do_POST = do_GET  # noqa: N815

        def log_message(self, *args):
            pass

    elsewhere = _serve(Elsewhere)

    class Redirecting(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{elsewhere.server_port}/collect")
            self.end_headers()

        def log_message(self, *args):
            pass

    home = _serve(Redirecting)
    try:
        backend = HomeAssistantBackend(HomeSettings(backend="home-assistant", ha_url=f"http://127.0.0.1:{home.server_port}"),
                                       environ={"EDGE_HA_TOKEN": TOKEN})
        with pytest.raises(HomeError, match="redirect"):
            backend.send(LIGHT)
    finally:
        home.shutdown()
        elsewhere.shutdown()
    assert received == [], f"the token followed a redirect: {json.dumps(received)}"
