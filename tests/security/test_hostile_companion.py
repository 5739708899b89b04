"""A paired companion that turns hostile cannot break the speaker's turn (finding 7)."""

import json
import uuid

import pytest
from helpers.cast_helpers import LOOPBACK, LoopThread, cast_deps, unique

from edge.core.events import Card
from edge.core.settings import CastSettings

from .companion_fakes import FakeCompanion

cast_deps()

HOSTILE_ACKS = {
    "a list": lambda message: "[1, 2]",
    "a string": lambda message: '"shown"',
    "a number": lambda message: "42",
    "null": lambda message: "null",
    "an id that is a list": lambda message: json.dumps({"type": "ack", "id": [message.get("id")]}),
    "eight megabytes": lambda message: json.dumps({"type": "ack", "id": message.get("id"), "pad": "x" * (8 << 20)}),
}


@pytest.mark.parametrize("kind", list(HOSTILE_ACKS))
def test_bad_ack_is_speech_only(kind, tmp_path):
    from edge.cast.caster import CardCaster
    from edge.cast.pairing import ScreenTokens
    from edge.cast.proof import pairing_key

    token = "t" * 43
    fake = FakeCompanion(uuid.uuid4().hex, unique("Hostile screen"), ack=HOSTILE_ACKS[kind], key=pairing_key(token))
    loop = LoopThread()
    loop.run(fake.start())
    settings = CastSettings(interface=LOOPBACK, state_dir=str(tmp_path), browse_chromecast=False,
                            fallback_to_other_screens=False, deliver_timeout_seconds=5.0)
    ScreenTokens(settings.state_dir).save(fake.companion_id, fake.name, token)
    try:
        with CardCaster(settings) as caster:
            assert caster.wait_for(lambda screens: any(s.name == fake.name for s in screens), 10)
            outcome = caster.cast(Card(title="Weather", body="Sunny"), hint=fake.name).outcome(timeout=20)
            assert outcome["status"] == "speech-only", outcome
            assert fake.name in outcome["failed"][0]["screen"]
            again = caster.cast(Card(title="Still here"), hint=fake.name).outcome(timeout=20)
            assert again["status"] == "speech-only"  # the caster's loop survived the first one
    finally:
        loop.run(fake.stop())
        loop.close()


def test_a_huge_pairing_answer_is_refused(tmp_path):
    """Pairing talks to whatever answers to a name on mDNS: its answer is read only so far."""
    from edge.cast.caster import CardCaster
    from edge.cast.client import PairingFailed

    fake = FakeCompanion(uuid.uuid4().hex, unique("Greedy screen"))
    fake.http_answer = json.dumps({"token": "t" * 43, "id": fake.companion_id, "pad": "x" * (16 << 20)}).encode()
    loop = LoopThread()
    loop.run(fake.start())
    settings = CastSettings(interface=LOOPBACK, state_dir=str(tmp_path), browse_chromecast=False)
    try:
        with CardCaster(settings) as caster:
            with pytest.raises(PairingFailed, match="over"):
                caster.pair(fake.name, "123456", timeout=20)
            assert fake.companion_id not in caster.tokens.paired_ids()
    finally:
        loop.run(fake.stop())
        loop.close()


def test_a_pathological_card_does_not_stall_the_companion(tmp_path):
    """A paired speaker's 256 KB of markdown built to be slow (about 2 s of CPU to parse) is rendered
    off the companion's event loop: its other pages, its health and its pairing keep answering."""
    import time
    import urllib.request

    from helpers.cast_helpers import CompanionThread

    from edge.cast.client import ScreenLink
    from edge.cast.discovery import Screen
    from edge.cast.proof import pairing_key

    companion = CompanionThread(CastSettings(interface=LOOPBACK, port=0, name="Slow screen", state_dir=str(tmp_path),
                                             ack_timeout_seconds=0.1))
    token = companion.companion.paired.add("speaker-1", "Speaker")
    screen = Screen("k", "Slow screen", "", "edgecast", LOOPBACK, companion.companion.port, companion.companion.companion_id)
    loop = LoopThread()

    async def send():
        import aiohttp

        async with aiohttp.ClientSession() as session:
            link = ScreenLink(session, screen, pairing_key(token), "speaker-1")
            try:
                return await link.deliver(Card(title="slow", body="*[_`" * 60000), 60)
            finally:
                await link.close()

    try:
        import asyncio

        sent = time.perf_counter()
        delivery = asyncio.run_coroutine_threadsafe(send(), loop.loop)
        time.sleep(0.3)  # the card is being rendered now
        slowest = 0.0
        while not delivery.done():
            started = time.perf_counter()
            with urllib.request.urlopen(companion.url + "api/health", timeout=10) as answer:
                answer.read()
            slowest = max(slowest, time.perf_counter() - started)
        assert delivery.result(60)["type"] == "ack"
        rendering = time.perf_counter() - sent
    finally:
        loop.close()
        companion.stop()
    # Blocked, health would wait out the whole render (5 s here when quiet); a busy machine slows both.
    assert slowest < max(0.5, rendering / 3), f"health took {slowest:.2f} s of a {rendering:.2f} s render"
