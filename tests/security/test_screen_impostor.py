"""A fake companion that advertises a paired companion's id learns nothing it can use (finding 1).

The speaker pairs with a real companion, which then leaves mDNS (it keeps serving). A fake
advertises the same companion id and name on another port. The speaker must not send it the
pairing secret (nor anything derived from it that works elsewhere) nor the card; and whatever the
fake recorded, replayed to the real companion, must not put a card on the real screen.
"""

import asyncio
import hashlib
import json
import time

import pytest
from helpers.cast_helpers import LOOPBACK, CompanionThread, LoopThread, cast_deps, unique

from edge.core.events import Card, encode_event
from edge.core.settings import CastSettings

from .companion_fakes import FakeCompanion

cast_deps()

SECRET_TITLE = "Door code 4711"


def _wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout:g} s")
        time.sleep(0.02)


async def _replay(url: str, recorded: list[str]) -> list[int]:
    """Try everything the fake recorded against the real companion; the HTTP statuses it got."""
    import aiohttp

    headers = {line.split(": ", 1)[0]: line.split(": ", 1)[1] for line in recorded if ": " in line and not line.startswith("{")}
    forwarded = {name: value for name, value in headers.items() if name.lower() in ("authorization", "cookie")}
    frames = [line for line in recorded if line.startswith("{")]
    paths = [line.split(" ", 1)[1] for line in recorded if line.startswith("GET /api/ws")]
    card = json.loads(encode_event(Card(title="Replayed onto the real screen")))["data"]
    statuses = []
    async with aiohttp.ClientSession() as session:
        async with session.post(url + "api/cards", data=encode_event(Card(title="Replayed onto the real screen")),
                                headers=forwarded) as response:
            statuses.append(response.status)
        for path in paths or ["/api/ws"]:
            try:
                socket = await session.ws_connect(url.rstrip("/") + path, headers=forwarded)
            except aiohttp.WSServerHandshakeError as error:
                statuses.append(error.status)
                continue
            statuses.append(101)
            for frame in [*frames, json.dumps({"type": "card", "id": "replayed", "card": card})]:
                if socket.closed:
                    break
                await socket.send_str(frame)
                try:
                    await asyncio.wait_for(socket.receive(), 1.0)
                except TimeoutError:
                    pass
            await socket.close()
    return statuses


def test_speaker_never_sends_its_token_to_an_impostor(tmp_path):
    from edge.cast.caster import CardCaster

    name = unique("Hall screen")
    real = CompanionThread(CastSettings(interface=LOOPBACK, port=0, name=name, room="hall",
                                        state_dir=str(tmp_path / "screen"), ack_timeout_seconds=0.2), advertise=True)
    speaker = CastSettings(interface=LOOPBACK, state_dir=str(tmp_path / "speaker"), browse_chromecast=False,
                           fallback_to_other_screens=False, deliver_timeout_seconds=3.0, probe_interval_seconds=0.2)
    fake = FakeCompanion(real.companion.companion_id, name)
    fake_loop = LoopThread()
    try:
        with CardCaster(speaker, speaker_name="Hall speaker") as caster:
            caster.pair(name, real.code(), timeout=10)
            assert caster.cast(Card(title="hello"), hint=name).outcome(timeout=10)["status"] == "delivered"
            token = caster.tokens.token_for(real.companion.companion_id)
            shown_before = len(real.companion.hub.history)

            real.loop.run(real.companion.advertiser.stop())  # the real screen leaves mDNS; the fake takes its id
            real.companion.advertiser = None
            fake_loop.run(fake.start())
            _wait_until(lambda: any(s.port == fake.port for s in caster.screens()), 10, "the speaker never saw the fake")

            outcome = caster.cast(Card(title=SECRET_TITLE, body="for the family only"), hint=name).outcome(timeout=15)
            seen = "\n".join(fake.received)
            assert token not in seen, "the speaker sent its pairing token to an impostor"
            assert hashlib.sha256(token.encode()).hexdigest() not in seen
            assert SECRET_TITLE not in seen, "the speaker sent the card to an impostor"
            assert outcome["status"] == "speech-only", outcome

            statuses = real.loop.run(_replay(real.url, fake.received))
            assert len(real.companion.hub.history) == shown_before, f"a replay put a card on the real screen: {statuses}"
    finally:
        fake_loop.run(fake.stop())
        fake_loop.close()
        real.stop()


@pytest.mark.parametrize("tamper", ["inject", "alter", "replay"])
def test_an_impostor_relaying_the_proof_cannot_add_or_change_a_card(tamper, tmp_path):
    from edge.cast.caster import CardCaster

    from .companion_fakes import RelayingImpostor

    name = unique("Den screen")
    real = CompanionThread(CastSettings(interface=LOOPBACK, port=0, name=name, room="den",
                                        state_dir=str(tmp_path / "screen"), ack_timeout_seconds=0.2), advertise=True)
    speaker = CastSettings(interface=LOOPBACK, state_dir=str(tmp_path / "speaker"), browse_chromecast=False,
                           fallback_to_other_screens=False, deliver_timeout_seconds=3.0, probe_interval_seconds=0.2)
    relay = RelayingImpostor(real.companion.companion_id, name, real.url, tamper)
    relay_loop = LoopThread()
    try:
        with CardCaster(speaker, speaker_name="Den speaker") as caster:
            caster.pair(name, real.code(), timeout=10)
            real.loop.run(real.companion.advertiser.stop())
            real.companion.advertiser = None
            relay_loop.run(relay.start())
            _wait_until(lambda: any(s.port == relay.port for s in caster.screens()), 10, "the speaker never saw the relay")
            caster.cast(Card(title="Dinner at eight"), hint=name).outcome(timeout=15)
            time.sleep(0.5)  # let the real companion finish with whatever the relay sent
            titles = [view["title"] for view in real.companion.hub.history]
    finally:
        relay_loop.run(relay.stop())
        relay_loop.close()
        real.stop()
    assert relay.tampered >= 1, "the relay never saw the card: the test did not exercise it"
    assert "Injected by the relay" not in titles and "Send money to the relay" not in titles
    assert titles.count("Dinner at eight") <= 1, titles
