"""Discovery over real mDNS on loopback: screens appear within 2 s and disappear within 5 s."""

import socket
import time

import pytest
from helpers.cast_helpers import LOOPBACK, CompanionProcess, CompanionThread, LoopThread, cast_deps, unique

from edge.cast.chromecast import local_address_for, relay_page_url, room_from_name, screen_from_cast_info
from edge.cast.screens import ScreenState
from edge.core.events import Card
from edge.core.settings import CastSettings

cast_deps()

APPEAR_SECONDS = 2.0
DISAPPEAR_SECONDS = 5.0


@pytest.fixture
def caster(tmp_path):
    from edge.cast.caster import CardCaster

    settings = CastSettings(interface=LOOPBACK, state_dir=str(tmp_path / "speaker"), browse_chromecast=False)
    running = CardCaster(settings).start()
    yield running
    running.close()


def named(name):
    return lambda screens: any(screen.name == name for screen in screens)


def gone(name):
    return lambda screens: not any(screen.name == name for screen in screens)


def test_companion_appears_with_its_txt_record_and_goes_away_on_stop(caster, tmp_path):
    name = unique("Hall display")
    settings = CastSettings(interface=LOOPBACK, port=0, name=name, room="hall", resolution="1280x720", state_dir=str(tmp_path / "screen"))
    started = time.perf_counter()
    companion = CompanionThread(settings, advertise=True)
    try:
        assert caster.wait_for(named(name), APPEAR_SECONDS), f"not seen within {APPEAR_SECONDS} s of starting"
        appeared = time.perf_counter() - started
        screen = next(screen for screen in caster.screens() if screen.name == name)
        assert (screen.room, screen.resolution, screen.protocol, screen.kind) == ("hall", "1280x720", 2, "edgecast")
        assert (screen.host, screen.port, screen.screen_id) == (LOOPBACK, companion.companion.port, companion.companion.companion_id)
    finally:
        stopped = time.perf_counter()
        companion.stop()
    assert caster.wait_for(gone(name), DISAPPEAR_SECONDS), f"still listed {DISAPPEAR_SECONDS} s after stopping"
    print(f"appeared after {appeared:.2f} s, disappeared {time.perf_counter() - stopped:.2f} s after stop")


def test_a_killed_companion_disappears_within_5_s(caster, tmp_path):
    name = unique("Garage tablet")
    companion = CompanionProcess(tmp_path / "screen", name, "garage")
    try:
        assert caster.wait_for(named(name), APPEAR_SECONDS + 1)
    finally:
        killed = time.perf_counter()
        companion.kill()  # no mDNS goodbye: only the liveness probe can notice
    assert caster.wait_for(gone(name), DISAPPEAR_SECONDS), f"still listed {DISAPPEAR_SECONDS} s after SIGKILL"
    elapsed = time.perf_counter() - killed
    states = [screen.state for screen in caster.screens(include_unreachable=True) if screen.name == name]
    assert states in ([], [ScreenState.UNREACHABLE])
    print(f"disappeared {elapsed:.2f} s after SIGKILL")


def test_a_speaker_started_later_finds_running_companions_quickly(tmp_path):
    from edge.cast.caster import CardCaster

    name = unique("Study monitor")
    companion = CompanionThread(CastSettings(interface=LOOPBACK, port=0, name=name, state_dir=str(tmp_path / "s")), advertise=True)
    try:
        started = time.perf_counter()
        with CardCaster(CastSettings(interface=LOOPBACK, state_dir=str(tmp_path / "speaker"), browse_chromecast=False)) as late:
            assert late.wait_for(named(name), APPEAR_SECONDS)
            assert time.perf_counter() - started < APPEAR_SECONDS + 0.5
    finally:
        companion.stop()


# -- Chromecasts: real mDNS records on loopback, read by pychromecast's own browser ------------------


def googlecast_record(name, model, port=8009):
    import uuid

    from zeroconf.asyncio import AsyncServiceInfo

    properties = {"id": uuid.uuid4().hex, "fn": name, "md": model, "ve": "05", "ca": "4101"}
    return AsyncServiceInfo(
        "_googlecast._tcp.local.", f"{model.replace(' ', '-')}-{properties['id']}._googlecast._tcp.local.",
        addresses=[socket.inet_aton(LOOPBACK)], port=port, properties=properties,
        server=f"cast-{properties['id'][:8]}.local.",
    )


@pytest.fixture
def advertised_chromecasts():
    pytest.importorskip("pychromecast", reason="Chromecast support needs the cast extra: pip install -e '.[cast]'")
    from zeroconf import IPVersion
    from zeroconf.asyncio import AsyncZeroconf

    loop = LoopThread()
    names = {"tv": f"{unique('X')} Living Room TV", "mini": unique("Kitchen speaker"), "group": unique("Everywhere")}
    records = [
        googlecast_record(names["tv"], "Chromecast"), googlecast_record(names["mini"], "Google Nest Mini"),
        googlecast_record(names["group"], "Google Cast Group", port=32187),
    ]

    async def register():
        zeroconf = AsyncZeroconf(interfaces=[LOOPBACK], ip_version=IPVersion.V4Only)
        for record in records:  # unique names: no probe needed, as in edge.cast.advertise
            await zeroconf.async_register_service(record, cooperating_responders=True)
        return zeroconf

    zeroconf = loop.run(register())
    yield names
    loop.run(zeroconf.async_close())
    loop.close()


def test_chromecasts_with_a_screen_are_listed_speakers_and_groups_are_not(advertised_chromecasts, tmp_path):
    from edge.cast.caster import CardCaster

    names = advertised_chromecasts
    settings = CastSettings(interface=LOOPBACK, state_dir=str(tmp_path / "speaker"), deliver_timeout_seconds=2.0)
    with CardCaster(settings) as caster:
        assert caster.wait_for(named(names["tv"]), 5.0), "the Chromecast was not listed"
        time.sleep(0.5)  # give the speaker and the group the same chance to show up
        listed = {screen.name: screen for screen in caster.screens()}
        tv = listed[names["tv"]]
        assert (tv.kind, tv.port, tv.model) == ("chromecast", 8009, "Chromecast") and tv.room.endswith("living room")
        assert names["mini"] not in listed and names["group"] not in listed
        assert caster.pair(names["tv"])["confirmed"]  # a Chromecast is cast to only once the user allowed it
        # No Chromecast answers at 127.0.0.1:8009, so the cast must end speech-only, with the reason.
        outcome = caster.cast(Card(title="hi"), hint=names["tv"]).outcome(timeout=20)
        assert outcome["status"] == "speech-only", outcome
        assert outcome["failed"][0]["screen"] == names["tv"]


def test_chromecast_helpers():
    assert room_from_name("Kitchen TV") == "kitchen" and room_from_name("Living Room Display") == "living room"
    assert room_from_name("Bob's Chromecast") == "bob's" and room_from_name("Upstairs") == ""
    assert local_address_for("127.0.0.1") == "127.0.0.1"
    assert relay_page_url("127.0.0.1", 8123) == "http://127.0.0.1:8123/"
    assert relay_page_url("127.0.0.1", 8123, "k3y") == "http://127.0.0.1:8123/#key=k3y"

    class Info:
        uuid, host, port, model_name, friendly_name = "u1", "10.0.0.5", 8009, "Chromecast", "Den TV"
        cast_type = "cast"

    assert screen_from_cast_info(Info).key == "chromecast:u1"
    Info.cast_type = "audio"
    assert screen_from_cast_info(Info) is None
