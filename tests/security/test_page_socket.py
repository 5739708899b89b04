"""The companion's page socket (/ws) serves only its own pages (finding 5) and drops idle connections.

Pages prove they belong by being on the companion's own machine or by the view key in the link
`edge cast companion` prints (`http://ADDRESS:PORT/#key=...`). A page of another site (another Origin)
or reached through another host name (DNS rebinding) is refused before the socket opens.
"""

import asyncio
import json
import socket
import time

import pytest
from helpers.cast_helpers import LOOPBACK, CompanionThread, LoopThread, cast_deps

from edge.core.events import Card
from edge.core.settings import CastSettings

cast_deps()


@pytest.fixture
def companion(tmp_path):
    running = CompanionThread(CastSettings(interface=LOOPBACK, port=0, name="Lounge TV", state_dir=str(tmp_path),
                                           ack_timeout_seconds=0.1))
    running.loop.run(running.companion.show(Card(title="Bank statement", body="private")))
    yield running
    running.stop()


async def _open_page(url, headers=None, params=None):
    """(HTTP status, the first message) of a page socket."""
    import aiohttp

    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(url + "ws", headers=headers or {}, params=params or {}) as page:
                message = await asyncio.wait_for(page.receive(), 5)
                return 101, json.loads(message.data) if message.type == aiohttp.WSMsgType.TEXT else None
        except aiohttp.WSServerHandshakeError as error:
            return error.status, None


def test_foreign_origin_refused(companion):
    client = LoopThread()
    try:
        status, hello = client.run(_open_page(companion.url, headers={"Origin": "http://evil.example"}))
        same_status, same_hello = client.run(_open_page(companion.url, headers={"Origin": companion.url.rstrip("/")}))
    finally:
        client.close()
    assert status == 403 and hello is None, "a page of another site opened the socket (and got the pairing code)"
    assert same_status == 101 and same_hello["type"] == "hello" and same_hello["code"]


def test_unknown_host_header_refused(companion):
    import urllib.error
    import urllib.request

    request = urllib.request.Request(companion.url, headers={"Host": "evil.example"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 421
    for host in (f"localhost:{companion.companion.port}", f"127.0.0.1:{companion.companion.port}"):
        with urllib.request.urlopen(urllib.request.Request(companion.url, headers={"Host": host}), timeout=10) as page:
            assert page.status == 200
    client = LoopThread()
    try:
        status, _ = client.run(_open_page(companion.url, headers={"Host": "evil.example"}))
    finally:
        client.close()
    assert status == 421


def test_history_only_for_pages_that_prove_they_belong(tmp_path):
    settings = CastSettings(interface=LOOPBACK, port=0, name="Lounge TV", state_dir=str(tmp_path), trust_loopback_pages=False)
    companion = CompanionThread(settings)
    client = LoopThread()
    try:
        companion.loop.run(companion.companion.show(Card(title="Bank statement", body="private")))
        async def forty_strangers():
            return await asyncio.gather(*(_open_page(companion.url) for _ in range(40)))

        strangers = client.run(forty_strangers())
        wrong = client.run(_open_page(companion.url, params={"key": "guessed"}))
        status, hello = client.run(_open_page(companion.url, params={"key": companion.companion.view_key}))
    finally:
        client.close()
        companion.stop()
    for _, message in [*strangers, wrong]:
        assert message is None or (message["type"] == "locked" and "history" not in message), message
    assert status == 101 and [card["title"] for card in hello["history"]] == ["Bank statement"]  # 40 strangers locked nobody out


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionError:
        return True


def test_idle_and_slowloris_connections_are_closed(tmp_path):
    settings = CastSettings(interface=LOOPBACK, port=0, name="Hall", state_dir=str(tmp_path), http_idle_timeout_seconds=1.0)
    companion = CompanionThread(settings)
    try:
        idle = socket.create_connection((LOOPBACK, companion.companion.port))
        slow = socket.create_connection((LOOPBACK, companion.companion.port))
        started = time.monotonic()
        for piece in (b"GET / HTTP/1.1\r\n", b"Host: 127.0.0.1\r\n", b"X-A: 1\r\n", b"X-B: 2\r\n"):
            slow.sendall(piece)  # a header every 0.4 s, never the blank line that ends them
            time.sleep(0.4)
        assert _closed_within(idle, 10), "an idle connection is still open"
        assert _closed_within(slow, 10), "a connection trickling its headers is still open"
        assert time.monotonic() - started < 10
        idle.close()
        slow.close()
    finally:
        companion.stop()


def test_a_browser_page_without_its_link_is_locked_and_with_it_shows_the_history(tmp_path):
    from helpers.cast_helpers import launch_chromium

    sync_api = pytest.importorskip("playwright.sync_api", reason="the browser tests need playwright: pip install -e '.[test]'")
    settings = CastSettings(interface=LOOPBACK, port=0, name="Hall TV", state_dir=str(tmp_path), trust_loopback_pages=False)
    companion = CompanionThread(settings)
    try:
        companion.loop.run(companion.companion.show(Card(title="Shopping list", items=["milk"])))
        with sync_api.sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                page = browser.new_page()
                page.goto(companion.url)
                page.wait_for_function("() => document.getElementById('status').textContent === 'locked'")
                assert "edge cast companion" in page.inner_text("#card") and "Shopping list" not in page.content()
                page.goto(f"{companion.url}#key={companion.companion.view_key}")
                page.reload()
                page.wait_for_function("() => document.querySelector('#card h1')?.textContent === 'Shopping list'")
            finally:
                browser.close()
    finally:
        companion.stop()
