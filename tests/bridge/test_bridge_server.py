"""`edge bridge serve` as Home Assistant sees it: the real `wyoming` client against our server, real models."""

import asyncio
import socket

import numpy as np
import pytest
from helpers.bridge_server import ServerThread

from edge.audio.wavio import resample
from edge.runtime.demo import demo_turns
from firmware_bridge.simulator import wav_request_pcm

wyoming = pytest.importorskip("wyoming", reason="the wyoming package is the interoperability peer: pip install -e '.[test]'")
from wyoming.asr import Transcribe, Transcript  # noqa: E402
from wyoming.audio import AudioChunk, AudioStart, AudioStop  # noqa: E402
from wyoming.client import AsyncTcpClient  # noqa: E402
from wyoming.error import Error  # noqa: E402
from wyoming.handle import Handled, NotHandled  # noqa: E402
from wyoming.info import Attribution, Describe, Info, Satellite  # noqa: E402
from wyoming.intent import Intent, NotRecognized, Recognize  # noqa: E402
from wyoming.pipeline import PipelineStage, RunPipeline  # noqa: E402
from wyoming.satellite import RunSatellite  # noqa: E402
from wyoming.tts import Synthesize  # noqa: E402

from edge.escalation.escalator import NO_CLOUD_APOLOGY  # noqa: E402
from edge.skills.builtin.jokes import JOKES  # noqa: E402

MATHS = next(turn for turn in demo_turns() if turn.intent == "qa_maths")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = ServerThread(tmp_path_factory.mktemp("skills") / "edge.sqlite3")
    yield running
    running.close()


def talk(server, requests, until, timeout=60):
    """Send wyoming events with the wyoming package's client; read events until `until(event)`."""

    async def exchange():
        async with AsyncTcpClient("127.0.0.1", server.port) as client:
            for event in requests:
                await client.write_event(event.event() if hasattr(event, "event") else event)
            received = []
            while True:
                event = await asyncio.wait_for(client.read_event(), timeout)
                assert event is not None, f"server closed the connection after {[e.type for e in received]}"
                received.append(event)
                if until(event):
                    return received

    return asyncio.run(exchange())


def audio_events(pcm: bytes, rate=16000, width=2, channels=1, chunk_bytes=2048):
    yield AudioStart(rate, width, channels)
    for start in range(0, len(pcm), chunk_bytes):
        yield AudioChunk(rate, width, channels, pcm[start : start + chunk_bytes])
    yield AudioStop()


def test_describe_offers_asr_tts_intent_and_handle_honestly(server):
    (event,) = talk(server, [Describe()], until=lambda e: e.type == "info")
    info = Info.from_event(event)
    assert [p.name for p in info.asr] == ["edge-asr"] and info.asr[0].models[0].languages == ["en"]
    assert info.tts[0].voices[0].name == "en_US-joe-medium"
    assert info.intent[0].models[0].name == "hwu64-minilm-int8"
    assert info.handle[0].supports_home_control is False
    assert info.wake == [] and info.mic == [] and info.snd == [] and info.satellite is None


def test_transcribe_gives_the_exact_transcript(server):
    pcm = wav_request_pcm(MATHS.wav)
    events = talk(server, [Transcribe(language="en"), *audio_events(pcm)], until=lambda e: e.type == "transcript")
    assert Transcript.from_event(events[-1]).text == "What is 2 to the power of 20 plus 20 squared plus 20?"


def test_transcribe_converts_44k_stereo(server):
    mono = np.frombuffer(wav_request_pcm(demo_turns()[0].wav), "<i2").astype(np.float32) / 32768
    high = (resample(mono, 16000, 44100) * 32767).astype("<i2")
    stereo = np.repeat(high, 2).tobytes()
    events = talk(server, [Transcribe(), *audio_events(stereo, rate=44100, channels=2, chunk_bytes=4096)],
                  until=lambda e: e.type == "transcript")
    assert Transcript.from_event(events[-1]).text == "What time is it?"


def test_synthesize_streams_reply_audio(server):
    events = talk(server, [Synthesize(text="The kitchen timer is done.")], until=lambda e: e.type == "audio-stop")
    start = AudioStart.from_event(events[0])
    assert (start.rate, start.width, start.channels) == (22050, 2, 1)
    chunks = [AudioChunk.from_event(e) for e in events if e.type == "audio-chunk"]
    assert all(len(chunk.audio) <= 2048 for chunk in chunks)
    seconds = sum(len(chunk.audio) for chunk in chunks) / 2 / 22050
    assert 1.0 < seconds < 3.5
    assert chunks[-1].timestamp == pytest.approx(1000 * (seconds - len(chunks[-1].audio) / 2 / 22050), abs=1)


def test_recognize_gives_intent_with_entities(server):
    (event,) = talk(server, [Recognize(text="set an alarm for seven am tomorrow")], until=lambda e: True)
    intent = Intent.from_event(event)
    assert intent.name == "alarm_set"
    assert {(e.name, e.value) for e in intent.entities} == {("time", "seven am"), ("date", "tomorrow")}
    out_of_scope = "what size wipers does this car take"  # a CLINC150 out-of-scope question
    (event,) = talk(server, [Recognize(text=out_of_scope)], until=lambda e: True)
    assert NotRecognized.is_type(event.type) and NotRecognized.from_event(event).text == out_of_scope


def test_handle_answers_with_the_skills(server):
    (event,) = talk(server, [Transcript(text="what is two plus two")], until=lambda e: True)
    assert Handled.is_type(event.type) and Handled.from_event(event).text == "2 plus 2 is 4."
    (event,) = talk(server, [Transcript(text="tell me a funny joke")], until=lambda e: True)
    assert Handled.is_type(event.type) and Handled.from_event(event).text in JOKES
    # No skill and no online assistant: not handled, and the reply says why (the cascade's apology).
    (event,) = talk(server, [Transcript(text="order me a pizza")], until=lambda e: True)
    assert NotHandled.is_type(event.type) and NotHandled.from_event(event).text == NO_CLOUD_APOLOGY


def test_full_satellite_turn_with_the_wyoming_client(server):
    hello = Info(satellite=Satellite(name="wyoming-client-sat", attribution=Attribution("test", ""), installed=True,
                                     description=None, version=None, area="study"))
    run = RunPipeline(start_stage=PipelineStage.ASR, end_stage=PipelineStage.TTS)
    pcm = wav_request_pcm(MATHS.wav)
    events = talk(server, [hello, run, *audio_events(pcm)], until=lambda e: e.type == "audio-stop")
    types = [e.type for e in events]
    assert types[:4] == ["run-satellite", "transcript", "synthesize", "audio-start"]
    assert RunSatellite.is_type(types[0])
    assert Transcript.from_event(events[1]).text == "What is 2 to the power of 20 plus 20 squared plus 20?"
    assert "1048996" in Synthesize.from_event(events[2]).text.replace(",", "")
    assert types.count("audio-chunk") > 10 and types[-1] == "audio-stop"


def test_oversized_frames_are_refused_and_the_server_keeps_serving(server):
    async def send_raw(data: bytes) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(data)
        await writer.drain()
        reply = await asyncio.wait_for(reader.read(), 10)  # until the server closes
        writer.close()
        return reply

    reply = asyncio.run(send_raw(b'{"type": "audio-chunk", "payload_length": 999999999}\n'))
    assert b'"protocol-error"' in reply and b"max_payload_bytes" in reply
    reply = asyncio.run(send_raw(b"x" * 20000))
    assert b"no end of header" in reply
    (event,) = talk(server, [Recognize(text="what is two plus two")], until=lambda e: True)
    assert event.type == "intent"
    events = talk(server, [RunPipeline(start_stage=PipelineStage.WAKE, end_stage=PipelineStage.TTS)],
                  until=lambda e: e.type == "error")
    assert [e.type for e in events] == ["run-satellite", "error"]  # an anonymous satellite, told what to fix
    assert Error.from_event(events[-1]).code == "unsupported-stage"


def test_zeroconf_advertises_wyoming_on_the_chosen_interface(server):
    zeroconf = pytest.importorskip("zeroconf", reason="pip install -e '.[bridge]'")
    from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

    from firmware_bridge.discovery import SERVICE_TYPE, ZeroconfAdvertiser

    async def advertise_and_find():
        advertiser = ZeroconfAdvertiser(f"edge-test-{socket.gethostname()}", server.port, "127.0.0.1")
        await advertiser.start()
        browser = AsyncZeroconf(interfaces=["127.0.0.1"])
        try:
            info = AsyncServiceInfo(SERVICE_TYPE, f"{advertiser.name}.{SERVICE_TYPE}")
            found = await info.async_request(browser.zeroconf, 3000)
            return found, info
        finally:
            await browser.async_close()
            await advertiser.stop()

    try:
        found, info = asyncio.run(advertise_and_find())
    except OSError as error:  # no multicast on this machine's loopback
        pytest.skip(f"multicast on 127.0.0.1 is not available here: {error}")
    assert found, "the _wyoming._tcp.local. service was not found on 127.0.0.1"
    assert info.port == server.port and info.parsed_addresses() == ["127.0.0.1"]
    assert zeroconf.__version__
