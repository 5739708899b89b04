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


async def speaker_socket(session, companion, token, speaker_id="Test speaker"):
    """A speaker socket past the pairing proof: (socket, sealed channel)."""
    from edge.cast.proof import new_nonce, pairing_key, speaker_handshake

    nonce = new_nonce()
    socket = await session.ws_connect(companion.url + "api/ws", params={"speaker": speaker_id, "nonce": nonce})
    channel = await speaker_handshake(socket, pairing_key(token), speaker_id, nonce, companion.companion.companion_id)
    return socket, channel


async def exchange(socket, channel, text):
    """Send one sealed message; the companion's sealed answer as an object."""
    await socket.send_str(channel.seal(text))
    return json.loads(channel.open((await socket.receive()).data))


def send_cards(client, companion, token, *texts, speaker_id="Test speaker"):
    """Each text as one sealed speaker message; the answers."""
    import aiohttp

    async def scenario():
        async with aiohttp.ClientSession() as session:
            socket, channel = await speaker_socket(session, companion, token, speaker_id)
            answers = [await exchange(socket, channel, text) for text in texts]
            await socket.close()
            return answers

    return client.run(scenario())


def card_text(card, message_id="m1"):
    return json.dumps({"type": "card", "id": message_id, "card": json.loads(encode_event(card))["data"]})


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
        "id": companion.companion.companion_id, "name": "Hall screen", "room": "hall", "protocol": 2, "viewers": 0,
    }


def test_cards_by_http_post_are_gone(client, companion, token):
    card = encode_event(Card(title="hello"))
    status, text, _ = client.run(request("POST", companion.url + "api/cards", raw=card, token=token))
    assert status == 410 and "pairing proof" in json.loads(text)["text"]


def test_unpaired_websocket_is_refused_before_upgrade(client, companion):
    import aiohttp

    async def connect(params):
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(companion.url + "api/ws", params=params):
                    return 101
            except aiohttp.WSServerHandshakeError as error:
                return error.status

    assert client.run(connect({})) == 400
    assert client.run(connect({"speaker": "stranger", "nonce": "ab" * 16})) == 403


def test_wrong_pairing_code_is_403_and_the_right_one_gives_a_token(client, companion):
    right = companion.code()
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    status, text, _ = client.run(request("POST", companion.url + "api/pair", {"code": wrong, "speaker_id": "x"}))
    assert status == 403 and "wrong pairing code" in text
    status, _, _ = client.run(request("POST", companion.url + "api/pair", {"speaker_id": "x"}))
    assert status == 400
    token = pair(client, companion, "Second speaker")
    assert companion.code() != right  # a code pairs one speaker only
    (ack,) = send_cards(client, companion, token, card_text(Card(title="hi")), speaker_id="Second speaker")
    assert ack["type"] == "ack" and ack["status"] == "stored"


def test_oversized_and_malformed_cards_are_refused_with_reasons(client, companion, token):
    big, nope, svg = send_cards(
        client, companion, token, card_text(Card(title="big", body="x" * 500_000)), "{nope",
        card_text(Card(title="svg", image=b"<svg onload=alert(1)>")),
    )
    assert big["code"] == "too-large" and "cast.max_body_bytes" in big["text"]
    assert nope["code"] == "bad-message" and "not JSON" in nope["text"]
    assert svg["code"] == "bad-card" and "PNG, JPEG" in svg["text"]


def test_malformed_websocket_messages_get_errors_and_other_clients_keep_working(client, companion, token):
    import aiohttp

    async def scenario():
        async with aiohttp.ClientSession() as session:
            speaker, channel = await speaker_socket(session, companion, token)
            bad_page = await session.ws_connect(companion.url + "ws")
            good_page = await session.ws_connect(companion.url + "ws")
            for page in (bad_page, good_page):
                assert (await page.receive_json())["type"] == "hello"
            replies = {}
            for label, payload in [("not json", "{oops"), ("no type", "[1,2]"), ("unknown", '{"type":"launch"}')]:
                replies[f"speaker {label}"] = await exchange(speaker, channel, payload)
                await bad_page.send_str(payload)
                replies[f"page {label}"] = await bad_page.receive_json()
            replies["speaker no card"] = await exchange(speaker, channel, json.dumps({"type": "card", "id": "no-card"}))
            big = {"type": "card", "id": "big", "card": {"title": "x", "body": "y" * 300_000}}
            replies["speaker big"] = await exchange(speaker, channel, json.dumps(big))
            # Everyone is still connected: a real card reaches both pages and is acknowledged.
            image = json.loads(encode_event(Card(title="ok", image=png_bytes())))["data"]
            await speaker.send_str(channel.seal(json.dumps({"type": "card", "id": "good", "card": image})))
            shown = [await page.receive_json() for page in (bad_page, good_page)]
            await good_page.send_json({"type": "ack", "id": shown[1]["card"]["id"]})
            ack = json.loads(channel.open((await speaker.receive()).data))
            closed = [socket.closed for socket in (speaker, bad_page, good_page)]
            for socket in (speaker, bad_page, good_page):
                await socket.close()
            return replies, shown, ack, closed

    replies, shown, ack, closed = client.run(scenario())
    assert all(reply["type"] == "error" for reply in replies.values()), replies
    assert replies["speaker big"]["code"] == "too-large" and replies["speaker big"]["id"] == "big"
    assert replies["page unknown"]["code"] == "bad-message" and "unknown message type 'launch'" in replies["page unknown"]["text"]
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
