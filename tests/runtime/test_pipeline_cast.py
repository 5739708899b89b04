"""A skill's card goes from a real turn to a real paired companion; the trace says where."""

import pytest
from helpers.cast_helpers import LOOPBACK, CompanionThread, cast_deps, unique

from edge.core.settings import CastSettings, load_settings
from edge.runtime.turn import Turn

cast_deps()


@pytest.fixture(scope="module")
def kitchen(tmp_path_factory):
    from edge.cast.caster import CardCaster

    name = unique("Kitchen TV")
    screen = CompanionThread(
        CastSettings(interface=LOOPBACK, port=0, room="kitchen", name=name, state_dir=str(tmp_path_factory.mktemp("tv"))),
        advertise=True,
    )
    speaker = CastSettings(interface=LOOPBACK, state_dir=str(tmp_path_factory.mktemp("speaker")), room="kitchen",
                           browse_chromecast=False)
    caster = CardCaster(speaker, speaker_name="Kitchen speaker").start()
    database = tmp_path_factory.mktemp("skills") / "edge.sqlite3"
    settings = load_settings(environ={}, overrides={"skills.database_path": str(database)})
    pipeline = Turn.load(settings, with_asr=False, caster=caster)
    try:
        caster.pair(name, screen.code(), timeout=5)
        yield pipeline, screen, name
    finally:
        pipeline.close()
        caster.close()
        screen.stop()


def test_a_list_card_is_cast_to_the_paired_screen(kitchen):
    pipeline, screen, name = kitchen
    pipeline.run_text("add milk to my shopping list")
    trace = pipeline.run_text("what is on my shopping list").trace.to_dict()
    assert trace["route"] == "local"
    assert "milk" in trace["reply"].lower()
    cast = trace["card"]["cast"]
    assert (cast["status"], cast["screen"]) == ("delivered", name), cast
    assert screen.companion.hub.history[-1]["title"] == trace["card"]["title"]


def test_without_a_caster_the_card_stays_speech_only(tmp_path):
    settings = load_settings(environ={}, overrides={"skills.database_path": str(tmp_path / "s.sqlite3")})
    pipeline = Turn.load(settings, with_asr=False)
    try:
        pipeline.run_text("add eggs to my shopping list")
        trace = pipeline.run_text("what is on my shopping list").trace.to_dict()
    finally:
        pipeline.close()
    assert trace["card"]["cast"]["status"] == "speech-only"


@pytest.mark.parametrize(
    "transcript, hint",
    [
        ("Show my shopping list on the kitchen TV.", "kitchen TV"),
        ("put it on the living room screen", "living room screen"),
        ("cast the recipe to my tablet", "tablet"),
        ("what is on my shopping list", None),
        ("", None),
    ],
)
def test_screen_hint(transcript, hint):
    from edge.runtime.turn import screen_hint

    assert screen_hint(transcript) == hint
