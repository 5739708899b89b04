"""Our Wyoming framing and event types against the `wyoming` package, byte for byte; bad input refused."""

import asyncio
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge.wyoming import events as ours
from firmware_bridge.wyoming.framing import (
    Frame,
    FrameDecoder,
    FrameLimits,
    FrameReader,
    HeaderTooLargeError,
    MalformedFrameError,
    PayloadTooLargeError,
    TruncatedFrameError,
    WyomingProtocolError,
    encode_frame,
)

wyoming = pytest.importorskip("wyoming", reason="the wyoming package is the interoperability peer: pip install -e '.[test]'")
from wyoming import asr, audio, error, handle, info, intent, ping, pipeline, satellite, tts, wake  # noqa: E402
from wyoming.event import Event, async_read_event, async_write_event  # noqa: E402
from wyoming.version import __version__ as WYOMING_VERSION  # noqa: E402

PAIRS = [  # (our event, the same event built with the wyoming package)
    (ours.AudioStart(rate=16000, width=2, channels=1, timestamp=0), audio.AudioStart(16000, 2, 1, timestamp=0)),
    (ours.AudioChunk(rate=22050, width=2, channels=1, audio=b"\x01\x00" * 512), audio.AudioChunk(22050, 2, 1, b"\x01\x00" * 512)),
    (ours.AudioStop(timestamp=1234), audio.AudioStop(timestamp=1234)),
    (ours.AudioStop(), audio.AudioStop()),
    (ours.Describe(), info.Describe()),
    (ours.Transcribe(language="en"), asr.Transcribe(language="en")),
    (ours.Transcript(text="Wie spät ist es?", language="de"), asr.Transcript(text="Wie spät ist es?", language="de")),
    (ours.Synthesize(text="Hello.", voice={"name": "en_US-joe-medium"}), tts.Synthesize(text="Hello.", voice=tts.SynthesizeVoice(name="en_US-joe-medium"))),
    (ours.Detect(), wake.Detect()),
    (ours.Detection(name="okay_nabu", timestamp=10), wake.Detection(name="okay_nabu", timestamp=10)),
    (ours.Recognize(text="set an alarm"), intent.Recognize(text="set an alarm")),
    (ours.Intent(name="alarm_set", entities=[{"name": "time", "value": "seven am"}], text="set an alarm"),
     intent.Intent(name="alarm_set", entities=[intent.Entity("time", "seven am")], text="set an alarm")),
    (ours.Intent(name="alarm_query"), intent.Intent(name="alarm_query")),
    (ours.NotRecognized(text="blah"), intent.NotRecognized(text="blah")),
    (ours.Handled(text="Done."), handle.Handled(text="Done.")),
    (ours.NotHandled(), handle.NotHandled()),
    (ours.RunSatellite(), satellite.RunSatellite()),
    (ours.StreamingStarted(), satellite.StreamingStarted()),
    (ours.RunPipeline(start_stage="asr", end_stage="tts", wake_word_name="okay_nabu"),
     pipeline.RunPipeline(start_stage=pipeline.PipelineStage.ASR, end_stage=pipeline.PipelineStage.TTS, wake_word_name="okay_nabu")),
    (ours.Error(text="no", code="busy"), error.Error(text="no", code="busy")),
    (ours.Ping(text="x"), ping.Ping(text="x")),
]


class _Sink:
    """Enough of a StreamWriter for async_write_event."""

    def __init__(self):
        self.data = bytearray()

    def writelines(self, pieces):
        for piece in pieces:
            self.data += piece

    def write(self, piece):
        self.data += piece

    async def drain(self):
        pass


def wyoming_bytes(event: Event) -> bytes:
    sink = _Sink()
    asyncio.run(async_write_event(event, sink))
    return bytes(sink.data)


@pytest.mark.parametrize("our_event, their_event", PAIRS, ids=lambda e: getattr(e, "type", type(e).__name__))
def test_bytes_match_the_wyoming_package(our_event, their_event):
    theirs = wyoming_bytes(their_event.event())
    assert encode_frame(our_event.to_frame(), version=WYOMING_VERSION) == theirs
    (frame,) = FrameDecoder().feed(theirs)
    assert ours.decode_event(frame) == our_event


def test_info_we_send_is_read_by_the_wyoming_package():
    from firmware_bridge.info import satellite_info

    async def read_back(data: bytes) -> Event:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return await async_read_event(reader)

    sent = satellite_info("kitchen-sat", "kitchen").to_frame()
    parsed = info.Info.from_event(asyncio.run(read_back(encode_frame(sent))))
    assert parsed.satellite.name == "kitchen-sat" and parsed.satellite.area == "kitchen"


def test_old_style_header_with_inline_data_is_read():
    block = b'{"language": "en"}'
    line = json.dumps({"type": "transcript", "data": {"text": "hi"}, "data_length": len(block)}).encode() + b"\n"
    (frame,) = FrameDecoder().feed(line + block)
    assert frame == Frame("transcript", {"text": "hi", "language": "en"})


def test_frames_split_anywhere_decode_the_same():
    stream = b"".join(encode_frame(event.to_frame()) for event, _ in PAIRS)
    whole = FrameDecoder().feed(stream)
    for step in (1, 3, 17, 4096):
        decoder = FrameDecoder()
        pieces = [frame for start in range(0, len(stream), step) for frame in decoder.feed(stream[start : start + step])]
        assert pieces == whole
    assert len(whole) == len(PAIRS)


@pytest.mark.parametrize(
    "data, error",
    [
        (b"not json\n", MalformedFrameError),
        (b"[1, 2]\n", MalformedFrameError),
        (b'{"data": {}}\n', MalformedFrameError),
        (b'{"type": "x", "payload_length": -1}\n', MalformedFrameError),
        (b'{"type": "x", "payload_length": true}\n', MalformedFrameError),
        (b'{"type": "x", "data_length": 2}\n[]', MalformedFrameError),
        (b'{"type": "x", "data": [1]}\n', MalformedFrameError),
        (b"[" * 20000 + b"\n", HeaderTooLargeError),
        (b"[" * 5000 + b"]" * 5000 + b"\n", MalformedFrameError),  # deep nesting: no RecursionError escapes
        (b'{"type": "x", "payload_length": 99999999999}\n', PayloadTooLargeError),
        (b'{"type": "x", "data_length": 2000000}\n', PayloadTooLargeError),
        (b"\xff\xfe\n", MalformedFrameError),
    ],
)
def test_garbage_raises_a_specific_error(data, error):
    with pytest.raises(error):
        FrameDecoder().feed(data)


def test_oversized_header_is_refused_before_it_is_buffered():
    decoder = FrameDecoder(FrameLimits(max_header_bytes=1024))
    with pytest.raises(HeaderTooLargeError, match="max_header_bytes"):
        for _ in range(100):
            decoder.feed(b"x" * 100)
    assert decoder.buffered_bytes <= 1024 + 100


def test_known_event_with_wrong_fields_is_an_event_format_error():
    with pytest.raises(ours.EventFormatError, match="transcript event needs 'text'"):
        ours.decode_event(Frame("transcript", {}))
    with pytest.raises(ours.EventFormatError, match="wrong type"):
        ours.decode_event(Frame("audio-chunk", {"rate": "fast", "width": 2, "channels": 1}))
    with pytest.raises(ours.EventFormatError, match="unusable audio format"):
        ours.decode_event(Frame("audio-start", {"rate": 16000, "width": 9, "channels": 1}))
    with pytest.raises(ours.EventFormatError, match="stages"):
        ours.decode_event(Frame("run-pipeline", {"start_stage": "asr", "end_stage": "dance"}))
    assert ours.decode_event(Frame("timer-started", {"id": 1})) == Frame("timer-started", {"id": 1})


def test_every_event_type_round_trips():
    for event_class in ours.EVENT_TYPES.values():
        required = {"text": "t", "name": "n", "start_stage": "asr", "end_stage": "tts"}
        import dataclasses

        kwargs = {field.name: required[field.name] for field in dataclasses.fields(event_class)
                  if field.name in required and field.default is dataclasses.MISSING}
        event = event_class(**kwargs)
        (frame,) = FrameDecoder().feed(encode_frame(event.to_frame()))
        assert ours.decode_event(frame) == event


def test_stream_reader_distinguishes_end_of_stream_from_a_cut_frame():
    async def read_all(data: bytes):
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        frames = FrameReader(reader)
        found = []
        while (frame := await frames.read()) is not None:
            found.append(frame)
        return found

    whole = encode_frame(ours.AudioChunk(audio=b"\x00\x01" * 100).to_frame())
    assert len(asyncio.run(read_all(whole * 3))) == 3
    with pytest.raises(TruncatedFrameError):
        asyncio.run(read_all(whole + whole[:-5]))


def valid_stream() -> bytes:
    return b"".join(encode_frame(event.to_frame()) for event, _ in PAIRS[:8])


@st.composite
def mutated_streams(draw):
    data = bytearray(valid_stream())
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "insert", "delete", "digit"]))
        if action == "flip":
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del data[position : position + draw(st.integers(1, 8))]
        else:
            data[position:position] = str(draw(st.integers(0, 10**12))).encode()
    return bytes(data)


def check_decoder_on(data: bytes, split: int) -> None:
    """The property: frames or a WyomingProtocolError, never another exception or unbounded buffering."""
    limits = FrameLimits(max_header_bytes=4096, max_data_bytes=65536, max_payload_bytes=65536)
    decoder = FrameDecoder(limits)
    try:
        for start in range(0, len(data), split):
            for frame in decoder.feed(data[start : start + split]):
                if isinstance(ours.decode_event(frame), ours.WyomingEvent):
                    encode_frame(ours.decode_event(frame).to_frame())
            if decoder.buffered_bytes > limits.max_buffered_bytes:
                raise AssertionError(f"decoder holds {decoder.buffered_bytes} bytes")
        decoder.close()
    except WyomingProtocolError:
        pass


@settings(max_examples=1000, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_streams(), st.integers(1, 512))
def test_fuzz_mutated_valid_streams(data, split):
    check_decoder_on(data, split)


@settings(max_examples=1000, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096), st.integers(1, 512))
def test_fuzz_random_bytes(data, split):
    check_decoder_on(data, split)
