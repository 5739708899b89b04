import dataclasses

import pytest

from edge.core.events import (
    EVENT_TYPES,
    AudioChunk,
    AudioStart,
    AudioStop,
    Card,
    Detection,
    Error,
    EventDecodeError,
    IntentResult,
    Reply,
    Transcript,
    decode_event,
    encode_event,
)

SAMPLES = [
    AudioStart(rate=22050, width=2, channels=1),
    AudioChunk(audio=bytes(range(256)), rate=16000),
    AudioStop(),
    Detection(name="okay_nabu", score=0.93),
    Transcript(text="What time is it?", audio_seconds=1.7),
    Transcript(text="Make me a latte.", audio_seconds=2.1, intent="orderDrink", slots={"coffeeDrink": "latte"},
               grammar={"accepted": True, "text": "Make me a latte.", "cost_per_token": 0.02}),
    IntentResult(text="what time is it", intent="datetime_query", confidence=0.97, slots={"date": "today"},
                 alternatives=[("alarm_query", 0.01)]),
    Reply(text="It's 7:05 AM. \u00e9\u4e2d", route="local", skill="clock"),
    Card(title="Steps", body="**bold**", table=[["a", "b"], ["1", "2"]], items=["x"], chart={"values": [1, 2]}),
    Error(text="bad audio", code="bad-audio"),
]


def test_every_event_type_has_a_sample():
    assert {type(event) for event in SAMPLES} == set(EVENT_TYPES.values())


@pytest.mark.parametrize("event", SAMPLES, ids=lambda event: event.type)
def test_round_trip(event):
    line = encode_event(event)
    assert "\n" not in line
    assert decode_event(line) == event
    assert decode_event(line.encode("utf-8")) == event


@pytest.mark.parametrize(
    "line, message",
    [
        ("not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        ('{"type": "nope"}', "unknown event type"),
        ('{"type": "transcript", "data": []}', "'data' must be an object"),
        ('{"type": "transcript", "data": {"text": 5}}', "wrong type"),
        ('{"type": "transcript", "data": {"colour": "red"}}', "unknown fields"),
        ('{"type": "audio-chunk", "data": {"audio": "***"}}', "base64"),
        ('{"type": "detection", "data": {"score": true}}', "wrong type"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_garbage_raises_a_clear_error(line, message):
    with pytest.raises(EventDecodeError, match=message):
        decode_event(line)


def test_events_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        SAMPLES[4].text = "changed"
