"""CardCaster as the turn loop uses it: instant return, choice of screen, fallback, speech-only."""

import asyncio
import time

import pytest
from helpers.cast_helpers import LOOPBACK, CompanionProcess, CompanionThread, LoopThread, cast_deps, unique
from helpers.processes import STARTUP_SECONDS

from edge.core.events import Card
from edge.core.settings import CastSettings

cast_deps()

CAST_CALL_BUDGET_SECONDS = 0.005  # cast() must return before the reply's speech could notice


class SilentPage:
    """A page that connects to a companion and never acknowledges: deliveries to it wait."""

    def __init__(self, url):
        import aiohttp

        self.loop = LoopThread()

        async def connect():
            self.session = aiohttp.ClientSession()
            self.socket = await self.session.ws_connect(url + "ws")
            await self.socket.receive_json()  # hello

        self.loop.run(connect())

    def wait_for_card(self, timeout: float) -> dict:
        """The next card the companion pushes to this page (which will never acknowledge it)."""

        async def receive():
            while True:
                message = await asyncio.wait_for(self.socket.receive_json(), timeout)
                if message.get("type") == "card":
                    return message

        return self.loop.run(receive(), timeout + 5)

    def close(self):
        async def disconnect():
            await self.socket.close()
            await self.session.close()

        self.loop.run(disconnect())
        self.loop.close()


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """Two paired screens in the kitchen (one a separate process), one unpaired in the kitchen too."""
    from edge.cast.caster import CardCaster

    names = {"slow": unique("Kitchen TV"), "tablet": unique("Kitchen tablet"), "stranger": unique("Kitchen frame")}
    slow = CompanionProcess(tmp_path_factory.mktemp("slow"), names["slow"], "kitchen", "--set", "cast.ack_timeout_seconds=3")
    screen_settings = CastSettings(interface=LOOPBACK, port=0, room="kitchen", ack_timeout_seconds=0.5)
    tablet = CompanionThread(
        CastSettings(**{**screen_settings.__dict__, "name": names["tablet"], "state_dir": str(tmp_path_factory.mktemp("tablet"))}),
        advertise=True,
    )
    stranger = CompanionThread(
        CastSettings(**{**screen_settings.__dict__, "name": names["stranger"], "state_dir": str(tmp_path_factory.mktemp("stranger"))}),
        advertise=True,
    )
    speaker = CastSettings(
        interface=LOOPBACK, state_dir=str(tmp_path_factory.mktemp("speaker")), room="kitchen",
        browse_chromecast=False, deliver_timeout_seconds=5.0,
    )
    caster = CardCaster(speaker, speaker_name="Kitchen speaker").start()
    try:
        caster.pair(names["slow"], slow.code, timeout=5)
        caster.pair(names["tablet"], tablet.code(), timeout=5)
        assert caster.wait_for(lambda screens: names["stranger"] in {s.name for s in screens}, 5)
        yield caster, names, slow
    finally:
        caster.close()
        slow.kill()
        tablet.stop()
        stranger.stop()


def timed_cast(caster, card, hint=None):
    started = time.perf_counter()
    ticket = caster.cast(card, hint)
    return ticket, time.perf_counter() - started


def test_cast_returns_at_once_and_names_the_screen_it_reached(home):
    caster, names, _ = home
    ticket, call_seconds = timed_cast(caster, Card(title="Timer", items=["pasta: 9 min"]), hint="kitchen tablet")
    assert call_seconds < CAST_CALL_BUDGET_SECONDS
    outcome = ticket.outcome(timeout=5)
    assert outcome["status"] == "delivered" and outcome["screen"] == names["tablet"] and outcome["ack"] == "stored"
    assert outcome["ms"] < 1000


def test_unpaired_screens_are_never_chosen(home):
    caster, names, _ = home
    outcome = caster.cast(Card(title="Frame?"), hint=names["stranger"]).outcome(timeout=5)
    assert outcome["screen"] != names["stranger"]
    assert outcome["status"].startswith("fallback:")  # the hint named a screen that is not paired


def test_without_a_hint_the_last_used_screen_is_chosen(home):
    caster, names, _ = home
    caster.cast(Card(title="one"), hint=names["tablet"]).outcome(timeout=5)
    outcome = caster.cast(Card(title="two")).outcome(timeout=5)
    assert (outcome["status"], outcome["screen"]) == ("delivered", names["tablet"])


def test_a_screen_that_vanishes_mid_delivery_falls_back_to_another(home):
    caster, names, slow = home
    page = SilentPage(slow.url)  # the slow screen now waits up to 3 s for its page's ack
    try:
        ticket, call_seconds = timed_cast(caster, Card(title="Recipe", body="1. Boil water"), hint=names["slow"])
        page.wait_for_card(timeout=STARTUP_SECONDS)  # the companion is now waiting for the page's ack
        assert not ticket.done(), "delivery should still be waiting for the page's ack"
        slow.kill()
        outcome = ticket.outcome(timeout=10)
    finally:
        page.close()
    assert call_seconds < CAST_CALL_BUDGET_SECONDS
    assert outcome["status"] == f"fallback:{names['tablet']}", outcome
    assert outcome["failed"][0]["screen"] == names["slow"]
    assert outcome["ms"] < 2000  # noticed at once, not after the 5 s delivery timeout
    assert names["slow"] not in {screen.name for screen in caster.screens()}


def test_speech_only_when_no_screen_takes_the_card(tmp_path):
    from edge.cast.caster import CardCaster

    settings = CastSettings(interface=LOOPBACK, state_dir=str(tmp_path), browse_chromecast=False)
    with CardCaster(settings) as lonely:
        outcome = lonely.cast(Card(title="anyone?")).outcome(timeout=5)
    assert outcome["status"] == "speech-only" and outcome["screen"] is None
    assert "no paired screen" in outcome["reason"]
    off = CardCaster(CastSettings(enabled=False, state_dir=str(tmp_path)))
    assert off.start().cast(Card(title="x")).outcome(0)["reason"].startswith("casting is off")
