"""The companion's HTTP and WebSocket API on real sockets: pairing, refusals, malformed messages."""

import json

import pytest
from helpers.cast_helpers import LOOPBACK, CompanionThread, LoopThread, cast_deps, png_bytes

from edge.core.events import Card, encode_event
from edge.core.settings import CastSettings

cast_deps()


@pytest.fixture(scope="module")
def companion(tmp_path_factory):
    settings = CastSettings(
        interface=LOOPBACK, port=0, name="Hall screen", room="hall", state_dir=str(tmp_path_factory.mktemp("companion")),
        ack_timeout_seconds=0.5,
    )
    running = CompanionThread(settings)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client():
    loop = LoopThread()
    yield loop
    loop.close()


async def request(method, url, body=None, token=None, raw=None):
    import aiohttp

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session:
        async with session.request(method, url, json=body, data=raw, headers=headers) as response:
            return response.status, await response.text(), response.headers


def pair(client, companion, name="Test speaker"):
    status, text, _ = client.run(request("POST", companion.url + "api/pair", {"code": companion.code(), "speaker_id": name, "speaker_name": name}))
    assert status == 200, text
    return json.loads(text)["token"]


@pytest.fixture(scope="module")
def token(client, companion):
    return pair(client, companion)


def test_page_is_served_with_a_strict_content_security_policy(client, companion):
    status, text, headers = client.run(request("GET", companion.url))
    assert status == 200 and '<script src="/app.js"' in text
    policy = headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "img-src 'self' data:" in policy and "script-src 'self';" in policy
    assert "unsafe-inline" not in policy and "https:" not in policy
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_health_names_the_companion(client, companion):
    status, text, _ = client.run(request("GET", companion.url + "api/health"))
    assert status == 200
    assert json.loads(text) | {"viewers": 0} == {
        "id": companion.companion.companion_id, "name": "Hall screen", "room": "hall", "protocol": 1, "viewers": 0,
    }


def test_unpaired_senders_are_refused(client, companion):
    card = encode_event(Card(title="hello"))
    status, text, headers = client.run(request("POST", companion.url + "api/cards", raw=card))
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    assert "pair this speaker first" in json.loads(text)["text"]
    status, _, _ = client.run(request("POST", companion.url + "api/cards", raw=card, token="not-a-token"))
    assert status == 403


def test_unpaired_websocket_is_refused_before_upgrade(client, companion):
    import aiohttp

    async def connect():
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(companion.url + "api/ws"):
                    return 101
            except aiohttp.WSServerHandshakeError as error:
                return error.status

    assert client.run(connect()) == 401


def test_wrong_pairing_code_is_403_and_the_right_one_gives_a_token(client, companion):
    right = companion.code()
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    status, text, _ = client.run(request("POST", companion.url + "api/pair", {"code": wrong, "speaker_id": "x"}))
    assert status == 403 and "wrong pairing code" in text
    status, _, _ = client.run(request("POST", companion.url + "api/pair", {"speaker_id": "x"}))
    assert status == 400
    token = pair(client, companion, "Second speaker")
    assert companion.code() != right  # a code pairs one speaker only
    status, text, _ = client.run(request("POST", companion.url + "api/cards", raw=encode_event(Card(title="hi")), token=token))
    assert status == 200 and json.loads(text)["status"] == "stored"


def test_oversized_and_malformed_cards_are_refused_with_reasons(client, companion, token):
    big = encode_event(Card(title="big", body="x" * 500_000))
    status, text, _ = client.run(request("POST", companion.url + "api/cards", raw=big, token=token))
    assert status == 413 and "cast.max_body_bytes" in json.loads(text)["text"]
    status, text, _ = client.run(request("POST", companion.url + "api/cards", raw="{nope", token=token))
    assert status == 400 and "not JSON" in text
    svg = encode_event(Card(title="svg", image=b"<svg onload=alert(1)>"))
    status, text, _ = client.run(request("POST", companion.url + "api/cards", raw=svg, token=token))
    assert status == 400 and "PNG, JPEG" in text


def test_malformed_websocket_messages_get_errors_and_other_clients_keep_working(client, companion, token):
    import aiohttp

    async def scenario():
        async with aiohttp.ClientSession() as session:
            speaker = await session.ws_connect(companion.url + "api/ws", headers={"Authorization": f"Bearer {token}"})
            bad_page = await session.ws_connect(companion.url + "ws")
            good_page = await session.ws_connect(companion.url + "ws")
            for page in (bad_page, good_page):
                assert (await page.receive_json())["type"] == "hello"
            replies = {}
            for label, payload in [("not json", "{oops"), ("no type", "[1,2]"), ("unknown", '{"type":"launch"}')]:
                await speaker.send_str(payload)
                replies[f"speaker {label}"] = await speaker.receive_json()
                await bad_page.send_str(payload)
                replies[f"page {label}"] = await bad_page.receive_json()
            await speaker.send_bytes(b"\x00\x01")
            replies["speaker binary"] = await speaker.receive_json()
            await speaker.send_json({"type": "card", "id": "no-card"})
            replies["speaker no card"] = await speaker.receive_json()
            await speaker.send_json({"type": "card", "id": "big", "card": {"title": "x", "body": "y" * 300_000}})
            replies["speaker big"] = await speaker.receive_json()
            # Everyone is still connected: a real card reaches both pages and is acknowledged.
            image = json.loads(encode_event(Card(title="ok", image=png_bytes())))["data"]
            await speaker.send_json({"type": "card", "id": "good", "card": image})
            shown = [await page.receive_json() for page in (bad_page, good_page)]
            await good_page.send_json({"type": "ack", "id": shown[1]["card"]["id"]})
            ack = await speaker.receive_json()
            closed = [socket.closed for socket in (speaker, bad_page, good_page)]
            for socket in (speaker, bad_page, good_page):
                await socket.close()
            return replies, shown, ack, closed

    replies, shown, ack, closed = client.run(scenario())
    assert all(reply["type"] == "error" for reply in replies.values()), replies
    assert replies["speaker big"]["code"] == "too-large" and replies["speaker big"]["id"] == "big"
    assert replies["page unknown"]["code"] == "bad-message" and "unknown message type 'launch'" in replies["page unknown"]["text"]
    assert replies["speaker binary"]["text"].startswith("messages are JSON text frames")
    assert [message["card"]["title"] for message in shown] == ["ok", "ok"]
    assert shown[0]["card"]["image"].startswith("data:image/png;base64,")
    assert ack["type"] == "ack" and ack["id"] == "good" and ack["status"] == "shown" and ack["viewers"] == 2
    assert closed == [False, False, False]


def test_only_pages_on_the_companion_machine_see_the_pairing_code():
    from edge.cast.companion import shows_pairing_code

    assert shows_pairing_code("127.0.0.1", on_remote_pages=False)
    assert shows_pairing_code("::1", on_remote_pages=False)
    assert not shows_pairing_code("192.168.1.20", on_remote_pages=False)
    assert not shows_pairing_code(None, on_remote_pages=False)
    assert shows_pairing_code("192.168.1.20", on_remote_pages=True)


def test_a_new_code_is_announced_after_pairing(client, companion):
    announced = []
    companion.companion.on_code = announced.append
    try:
        pair(client, companion, "Third speaker")
    finally:
        companion.companion.on_code = None
    assert announced == [companion.code()]
