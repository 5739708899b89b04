"""A Chromecast is cast to only after the user confirmed it; the relay's page needs its secret (finding 6)."""

import asyncio
import json

import pytest
from helpers.cast_helpers import LOOPBACK, LoopThread, cast_deps, unique

from edge.core.events import Card
from edge.core.settings import CastSettings

from .companion_fakes import advertise_chromecast

cast_deps()
pytest.importorskip("pychromecast", reason="Chromecast support needs the cast extra: pip install -e '.[cast]'")


@pytest.fixture
def chromecast():
    loop = LoopThread()
    name = f"{unique('Neighbour')} TV"
    zeroconf = loop.run(advertise_chromecast(name, 8009))  # pychromecast takes other ports for groups
    yield name
    loop.run(zeroconf.async_close())
    loop.close()


def test_a_new_chromecast_needs_confirmation_before_the_first_cast(chromecast, tmp_path):
    from edge.cast.caster import CardCaster

    settings = CastSettings(interface=LOOPBACK, state_dir=str(tmp_path), deliver_timeout_seconds=2.0)
    with CardCaster(settings) as caster:
        assert caster.wait_for(lambda screens: any(s.name == chromecast for s in screens), 10), "the Chromecast was not listed"
        tv = next(s for s in caster.screens() if s.name == chromecast)
        assert not caster.is_paired(tv)
        outcome = caster.cast(Card(title="Private reminder"), hint=chromecast).outcome(timeout=20)
        assert outcome["status"] == "speech-only" and "failed" not in outcome, outcome  # not even tried
        assert "edge cast pair" in outcome["reason"]
        assert caster._relay.companion is None  # noqa: SLF001 (no relay page was started for it)
        assert caster.pair(chromecast, timeout=5)["confirmed"] is True
    with CardCaster(settings) as again:  # the confirmation is kept
        assert again.wait_for(lambda screens: any(s.name == chromecast for s in screens), 10)
        tv = next(s for s in again.screens() if s.name == chromecast)
        assert again.is_paired(tv)
        outcome = again.cast(Card(title="Now allowed"), hint=chromecast).outcome(timeout=20)
        assert outcome["failed"][0]["screen"] == chromecast  # tried now (nothing answers at its address)


def test_the_relay_page_needs_its_secret(tmp_path):
    import aiohttp

    from edge.cast.discovery import ScreenRegistry
    from edge.cast.relay import ChromecastRelay

    settings = CastSettings(interface=LOOPBACK, state_dir=str(tmp_path), browse_chromecast=False)
    loop = LoopThread()

    async def scenario():
        relay = ChromecastRelay(settings, ScreenRegistry(settings))
        companion = await relay._started()  # noqa: SLF001 (what the first cast to a Chromecast does)
        base = f"http://{LOOPBACK}:{companion.port}/"
        try:
            async with aiohttp.ClientSession() as session:
                async with session.ws_connect(base + "ws") as stranger:
                    refused = json.loads((await asyncio.wait_for(stranger.receive(), 5)).data)
                async with session.ws_connect(base + "ws", params={"key": companion.view_key}) as chromecast:
                    welcomed = json.loads((await asyncio.wait_for(chromecast.receive(), 5)).data)
                async with session.post(base + "api/pair", json={"code": "000000", "speaker_id": "x"}) as response:
                    pairing = response.status
            return refused, welcomed, pairing, relay.page_url(LOOPBACK), companion.view_key
        finally:
            await relay.stop()

    try:
        refused, welcomed, pairing, url, key = loop.run(scenario())
    finally:
        loop.close()
    assert refused["type"] == "locked" and "history" not in refused
    assert welcomed["type"] == "hello"
    assert pairing in (404, 405)  # the relay takes no speakers: it is the speaker's own page
    assert url.endswith(f"/#key={key}") and len(key) >= 16
