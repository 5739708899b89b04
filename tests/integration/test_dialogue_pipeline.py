"""Conversations through the real pipeline: spoken by the bundled Piper voice into the pipeline's
ASR (Whisper), read by the intent model and the dialogue layer, answered by the skills, and spoken
back. Each script asserts the replies and the dialogue state after every turn.

The user's lines are phrased as Whisper tiny.en hears them right: it hears "Book a hotel in
London" as "Book of Hotel in London", so the correction script says "Find me a hotel in London".
"""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from edge.audio.wavio import RequestAudio, resample
from edge.core.settings import load_settings
from edge.runtime.alerts import AlertScheduler
from edge.runtime.turn import Turn
from edge.tts.piper import bundled_voice_paths

SHANGHAI = ZoneInfo("Asia/Shanghai")
FIXED_NOW = datetime(2026, 11, 25, 9, 0, tzinfo=SHANGHAI)  # a Wednesday

if not hasattr(Turn, "announce"):
    pytest.skip("the dialogue layer is not wired into edge/runtime/turn.py yet (docs/dialogue_integration.patch)",
                allow_module_level=True)


def settings_for(database):
    return load_settings(environ={}, overrides={"skills.database_path": str(database), "skills.timezone": "Asia/Shanghai",
                                                "skills.entry_points": "false"})


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    database = tmp_path_factory.mktemp("dialogue") / "edge.sqlite3"
    loaded = Turn.load(settings_for(database), clock=lambda: FIXED_NOW)
    yield loaded
    loaded.close()


@pytest.fixture(scope="module")
def user_voice():
    """The bundled Piper voice without its random noise, so that the user's lines (and what
    Whisper hears in them) are the same on every run."""
    from piper import PiperVoice, SynthesisConfig

    model, config = bundled_voice_paths()
    return PiperVoice.load(model, config_path=config), SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)


def spoken(user_voice, text):
    """The user's line as the microphone would give it, at 16 kHz."""
    voice, config = user_voice
    samples = np.concatenate([chunk.audio_int16_array for chunk in voice.synthesize(text, syn_config=config)])
    audio = resample(samples.astype(np.float32) / 32768.0, voice.config.sample_rate, 16000)
    return RequestAudio(audio, 16000, voice.config.sample_rate, 1, False)


def test_spoken_hotel_booking(pipeline, user_voice):
    script = [
        ("Book a hotel near Beijing West station for Friday.", "What's your budget per night?", True),
        ("About two hundred yuan.",
         "Jade Garden Hotel near Beijing West Station has a room on Friday for 188 yuan. Shall I book it?", True),
        ("Yes, please.", "Booked Jade Garden Hotel for Friday night, 188 yuan. Your reference is H0001.", False),
    ]
    for said, reply, follow_up in script:
        result = pipeline.run_audio(spoken(user_voice, said), session="spoken-hotel")
        trace = result.trace.to_dict()
        assert "error" not in trace, trace
        assert trace["reply"] == reply, trace["transcript"]
        assert trace["route"] == "local" and trace["route_rule"] == "dialogue"
        assert result.expects_follow_up is follow_up and trace["dialogue"]["expects_follow_up"] is follow_up
        assert result.reply_audio is not None and len(result.reply_audio.samples) > 0


def test_spoken_timer_fires_and_is_announced(pipeline, user_voice):
    result = pipeline.run_audio(spoken(user_voice, "Set a timer for five seconds."), session="timer")
    assert result.trace.to_dict()["reply"] == "Timer set for 5 seconds."
    announced = []
    scheduler = AlertScheduler(pipeline.skill_context, lambda alert: announced.append(pipeline.announce(alert)))
    assert scheduler.poll(FIXED_NOW + timedelta(seconds=4)) == []
    alerts = scheduler.poll(FIXED_NOW + timedelta(seconds=6))
    assert [alert.text for alert in alerts] == ["Your timer for 5 seconds is done."]
    audio = announced[0]
    heard = pipeline.transcribe(resample(audio.samples.astype(np.float32) / 32768.0, audio.sample_rate, 16000), 16000)
    assert "timer" in heard.text.lower() and "done" in heard.text.lower()


FRIDAY, THURSDAY = date(2026, 11, 27), date(2026, 11, 26)
NO_WEATHER = "no weather service is set up on this speaker."


def say(pipeline, user_voice, text, session):
    """One spoken turn; the trace, after checking that the dialogue layer answered it on the device."""
    trace = pipeline.run_audio(spoken(user_voice, text), session=session).trace.to_dict()
    assert "error" not in trace, trace
    assert trace["route"] == "local" and trace["route_rule"] == "dialogue", trace
    return trace


def active_frame(pipeline, session):
    """The request the speaker is filling in for `session` (None when nothing is pending)."""
    return pipeline.dialogue.sessions.get(session).active


def bookings(pipeline):
    """What was booked: hotel, night, price and currency of each booking (nights and guests left out)."""
    rows = pipeline.skills.skill_for("hotel_book").provider.bookings(pipeline.settings.dialogue.user)
    return [{key: row[key] for key in ("hotel", "night", "price", "currency")} for row in rows]


def test_spoken_correction_changes_the_slot_and_the_booking(pipeline, user_voice):
    session = "spoken-correction"
    trace = say(pipeline, user_voice, "Find me a hotel in London for tomorrow.", session)
    assert trace["reply"] == "What's your budget per night?"
    assert active_frame(pipeline, session).values["date"].value == THURSDAY

    corrected = say(pipeline, user_voice, "No, make it Friday.", session)
    assert corrected["reply"] == "Okay, on Friday. What's your budget per night?"
    assert corrected["dialogue"]["action"] == "correct" and corrected["dialogue"]["asked_slot"] == "budget"
    assert corrected["dialogue"]["slots"] == {"place": "london", "date": "friday"}
    assert "correction" not in corrected  # a slot correction, not a wrong intent for the flywheel
    frame = active_frame(pipeline, session)
    assert frame.values["date"].value == FRIDAY and frame.values["place"].value == "london"

    offer = say(pipeline, user_voice, "About one hundred pounds.", session)
    assert offer["reply"] == "Paddington Rooms near Paddington has a room on Friday for 95 pounds. Shall I book it?"
    assert offer["dialogue"]["confirming"] is True

    booked = say(pipeline, user_voice, "Yes, please.", session)
    assert booked["reply"].startswith("Booked Paddington Rooms for Friday night, 95 pounds. Your reference is H")
    assert active_frame(pipeline, session) is None
    assert {"hotel": "Paddington Rooms", "night": "2026-11-27", "price": 95.0, "currency": "GBP"} in bookings(pipeline)


def test_spoken_cancellation_of_an_offer_books_nothing(pipeline, user_voice):
    session = "spoken-cancel"
    before = bookings(pipeline)
    assert say(pipeline, user_voice, "Book a hotel near Beijing West station for Friday.", session)["reply"] == \
        "What's your budget per night?"
    offer = say(pipeline, user_voice, "About two hundred yuan.", session)
    assert offer["reply"] == \
        "Jade Garden Hotel near Beijing West Station has a room on Friday for 188 yuan. Shall I book it?"
    assert active_frame(pipeline, session).confirming

    cancelled = say(pipeline, user_voice, "Cancel.", session)
    assert cancelled["reply"] == "Okay, cancelled."
    assert cancelled["dialogue"] == {"action": "cancel", "intent": "hotel_book", "slots": {}, "expects_follow_up": False}
    assert active_frame(pipeline, session) is None and not pipeline.dialogue.expects_follow_up(session)

    # A late "yes" confirms nothing: the offer is gone (a bare yes with nothing pending is only acknowledged).
    late = pipeline.run_audio(spoken(user_voice, "Yes, please."), session=session).trace.to_dict()
    assert late.get("dialogue", {}).get("action") != "confirm"
    assert not late["reply"].startswith("Booked")
    assert bookings(pipeline) == before


def test_spoken_context_carry_over(pipeline, user_voice):
    session = "spoken-weather"
    first = say(pipeline, user_voice, "What's the weather in Paris?", session)
    assert first["reply"] == f"I have no weather data for Paris today: {NO_WEATHER}"
    assert first["dialogue"]["slots"] == {"place": "paris", "date": "today"}

    carried = say(pipeline, user_voice, "And tomorrow?", session)
    assert carried["reply"] == f"I have no weather data for Paris tomorrow: {NO_WEATHER}"
    assert carried["dialogue"] == {"action": "carry", "intent": "weather_query",
                                   "slots": {"place": "paris", "date": "tomorrow"}, "expects_follow_up": False}

    moved = say(pipeline, user_voice, "What about London?", session)  # the date carries on, the place changes
    assert moved["reply"] == f"I have no weather data for London tomorrow: {NO_WEATHER}"
    assert moved["dialogue"]["action"] == "carry" and moved["dialogue"]["slots"] == {"place": "london", "date": "tomorrow"}


def test_typed_correction_cancellation_and_context(pipeline):
    def say_typed(text):
        return pipeline.run_text(text, session="typed").trace.to_dict()

    assert say_typed("book a hotel in london for tomorrow")["reply"] == "What's your budget per night?"
    corrected = say_typed("no, I meant Friday")
    assert corrected["reply"] == "Okay, on Friday. What's your budget per night?"
    assert "correction" not in corrected  # a slot correction, not a wrong intent for the flywheel
    assert say_typed("cancel")["reply"] == "Okay, cancelled."
    assert say_typed("what's the weather in London")["reply"].startswith("I have no weather data for London today")
    carried = say_typed("and tomorrow?")
    assert carried["reply"].startswith("I have no weather data for London tomorrow")
    assert carried["route_rule"] == "dialogue" and carried["dialogue"]["action"] == "carry"


def test_a_spoken_fact_survives_a_restart_and_fills_a_slot(tmp_path, user_voice):
    settings = settings_for(tmp_path / "edge.sqlite3")
    first = Turn.load(settings, clock=lambda: FIXED_NOW)
    try:
        asked = say(first, user_voice, "What's the weather tomorrow?", "before")
        assert asked["reply"] == "For which city?" and asked["dialogue"]["asked_slot"] == "place"
        # A whole request of another skill while the speaker waits for the city is that request,
        # not an answer that happens to contain a city.
        remembered = say(first, user_voice, "Remember my home city is Shanghai.", "before")
        assert remembered["reply"] == "Okay, I'll remember that your home city is Shanghai."
        assert remembered["dialogue"]["intent"] == "memory_remember"
        assert active_frame(first, "before") is None
    finally:
        first.close()

    second = Turn.load(settings, clock=lambda: FIXED_NOW)  # a new process would load exactly this
    try:
        weather = say(second, user_voice, "What's the weather tomorrow?", "after")
        assert weather["reply"] == f"I have no weather data for Shanghai tomorrow: {NO_WEATHER}"
        assert weather["dialogue"]["slots"] == {"date": "tomorrow", "place": "shanghai"}
        assert weather["dialogue"]["expects_follow_up"] is False
        assert say(second, user_voice, "What's my home city?", "after")["reply"] == "Your home city is Shanghai."
    finally:
        second.close()
