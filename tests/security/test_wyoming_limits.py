"""One Wyoming peer cannot exhaust the speaker's memory, CPU or connections (finding 3 and a low item)."""

import asyncio

from edge.runtime.demo import demo_turns
from firmware_bridge.simulator import hello, wav_request_pcm
from firmware_bridge.wyoming.events import (
    AudioChunk,
    AudioStart,
    AudioStop,
    Describe,
    Error,
    Info,
    RunPipeline,
    Synthesize,
    Transcribe,
)

from .bridge_helpers import BridgeUnderTest, connect, events_until_closed

WHAT_TIME = demo_turns()[0]
CAP_BYTES = 30 * 16000 * 2  # 30 s (audio.max_request_seconds) of 16 kHz mono int16: 0.96 MB


async def _wait_for(predicate, seconds: float = 30.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not within {seconds:g} s")


def test_asr_buffer_capped_in_16k_mono_seconds(bridge_engine):
    """A peer declaring 384 kHz, 32-bit, 16 channels gets no bigger buffer than 30 s of 16 kHz mono."""
    bridge = BridgeUnderTest(bridge_engine, max_payload_bytes=1 << 20)
    huge = {"rate": 384000, "width": 4, "channels": 16}
    payload = bytes(range(256)) * 4096  # 1 MiB per chunk
    sent = 16 << 20  # 16 MiB: 0.68 s of that format, 21 s of 16 kHz mono

    async def stream(client, first):
        await client.send(*first, AudioStart(**huge))
        for _ in range(sent // len(payload)):
            await client.send(AudioChunk(**huge, audio=payload))

    async def scenario():
        service = await connect(bridge.port)
        await stream(service, [Transcribe(language="en")])
        await _wait_for(lambda: bridge.inspect(lambda: sum(c.buffered_bytes for c in bridge.server.connections)) > 0)
        await asyncio.sleep(0.5)
        as_service = bridge.inspect(lambda: sum(c.buffered_bytes for c in bridge.server.connections))
        satellite = await connect(bridge.port)
        await hello(satellite, "greedy", None, 10)
        await stream(satellite, [RunPipeline(start_stage="asr", end_stage="tts")])
        await _wait_for(lambda: bridge.inspect(lambda: bridge.server.hub.buffered_bytes) > 0)
        await asyncio.sleep(0.5)
        as_satellite = bridge.inspect(lambda: bridge.server.hub.buffered_bytes)
        for client in (service, satellite):
            client.abort()
        return as_service, as_satellite

    try:
        as_service, as_satellite = asyncio.run(scenario())
    finally:
        bridge.close()
    for buffered in (as_service, as_satellite):
        assert 0 < buffered <= CAP_BYTES, f"{buffered} bytes buffered for {sent} bytes sent"


def test_a_long_16k_request_is_cut_at_30_seconds_and_still_transcribed(bridge_engine):
    bridge = BridgeUnderTest(bridge_engine)
    speech = wav_request_pcm(WHAT_TIME.wav)
    pcm = speech + bytes(40 * 32000 - len(speech))  # 40 s: the request, then silence

    async def scenario():
        client = await connect(bridge.port)
        await client.send(Transcribe(language="en"), AudioStart())
        for start in range(0, len(pcm), 32000):
            await client.send(AudioChunk(audio=pcm[start : start + 32000]))
        await _wait_for(lambda: bridge.inspect(lambda: sum(c.buffered_bytes for c in bridge.server.connections)) >= CAP_BYTES)
        buffered = bridge.inspect(lambda: sum(c.buffered_bytes for c in bridge.server.connections))
        await client.send(AudioStop())
        transcript = await client.receive(60)
        await client.close()
        return buffered, transcript

    try:
        buffered, transcript = asyncio.run(scenario())
    finally:
        bridge.close()
    assert buffered == CAP_BYTES
    assert transcript.text == "What time is it?"


def test_long_synthesize_text_refused(bridge_engine):
    bridge = BridgeUnderTest(bridge_engine)
    novel = "It was a dark and stormy night. " * 3000  # 96 000 characters: minutes of CPU on the only worker

    async def scenario():
        client = await connect(bridge.port)
        await client.send(Synthesize(text=novel))
        answer = await client.receive(5)
        await client.send(Synthesize(text="Short and sweet."))
        first = await client.receive(60)
        await client.close()
        return answer, first

    try:
        answer, first = asyncio.run(scenario())
    finally:
        bridge.close()
    assert isinstance(answer, Error) and answer.code == "too-long" and "bridge.max_text_chars" in answer.text
    assert first.type == "audio-start"  # the worker was never tied up


def test_long_announcement_refused(bridge_engine):
    bridge = BridgeUnderTest(bridge_engine)

    async def scenario():
        client = await connect(bridge.port)
        await hello(client, "porch", None, 10)
        await client.send(RunPipeline(start_stage="tts", end_stage="tts", announce_text="ding " * 20000))
        answer = await client.receive(5)
        await client.close()
        return answer

    try:
        answer = asyncio.run(scenario())
    finally:
        bridge.close()
    assert isinstance(answer, Error) and answer.code == "too-long"


def test_idle_connection_closed(bridge_engine):
    bridge = BridgeUnderTest(bridge_engine, idle_timeout_seconds=0.5)

    async def scenario():
        idle = await connect(bridge.port)
        slow = await connect(bridge.port)
        started = asyncio.get_running_loop().time()
        try:
            for byte in b'{"type": "describe"':  # a header trickled in, never finished
                slow._writer.write(bytes([byte]))  # noqa: SLF001
                await slow._writer.drain()  # noqa: SLF001
                await asyncio.sleep(0.05)
        except ConnectionError:
            pass  # closed while still trickling
        idle_events = await events_until_closed(idle, 10)
        slow_events = await events_until_closed(slow, 10)
        elapsed = asyncio.get_running_loop().time() - started
        satellite = await connect(bridge.port)
        await hello(satellite, "quiet-sat", None, 10)
        await asyncio.sleep(1.0)  # a satellite waits for its wake word as long as it likes
        await satellite.send(Describe())
        still_there = await satellite.receive(10)
        await satellite.close()
        return idle_events, slow_events, elapsed, still_there

    try:
        idle_events, slow_events, elapsed, still_there = asyncio.run(scenario())
    finally:
        bridge.close()
    assert [e.code for e in idle_events if isinstance(e, Error)] == ["idle"], idle_events
    assert [e.code for e in slow_events if isinstance(e, Error)] in (["idle"], []), slow_events  # [] if reset first
    assert elapsed < 8
    assert isinstance(still_there, Info)


def test_connection_cap(bridge_engine):
    bridge = BridgeUnderTest(bridge_engine, max_connections=3)

    async def scenario():
        held = [await connect(bridge.port) for _ in range(3)]
        for client in held:
            await client.send(Describe())
            assert isinstance(await client.receive(10), Info)
        extra = await connect(bridge.port)
        refused = await events_until_closed(extra)
        await held.pop().close()
        await _wait_for(lambda: bridge.inspect(lambda: len(bridge.server.connections)) == 2)
        again = await connect(bridge.port)
        await again.send(Describe())
        served = await again.receive(10)
        for client in [*held, again]:
            await client.close()
        return refused, served

    try:
        refused, served = asyncio.run(scenario())
    finally:
        bridge.close()
    assert [e.code for e in refused] == ["too-many-connections"]
    assert isinstance(served, Info)


def test_made_up_names_do_not_lock_out_real_satellites(bridge_engine):
    """Sessions of satellites that left are evicted (oldest first) to make room; connected ones are not."""
    bridge = BridgeUnderTest(bridge_engine, max_satellites=4, resume_seconds=600.0)

    async def scenario():
        for number in range(4):
            fake = await connect(bridge.port)
            await hello(fake, f"made-up-{number}", None, 10)
            await fake.close()
        await _wait_for(lambda: bridge.inspect(
            lambda: all(s.peer is None for s in bridge.server.hub.sessions.values())))
        real = await connect(bridge.port)
        seen = await hello(real, "kitchen", None, 10)
        others = [await connect(bridge.port) for _ in range(3)]
        for number, other in enumerate(others):
            await hello(other, f"room-{number}", None, 10)
        full = await connect(bridge.port)
        from firmware_bridge.info import satellite_info

        await full.send(satellite_info("one-too-many", None))
        refused = await full.receive(10)
        for client in [real, *others, full]:
            await client.close()
        return seen, refused, bridge.inspect(lambda: sorted(bridge.server.hub.sessions))

    try:
        seen, refused, names = asyncio.run(scenario())
    finally:
        bridge.close()
    assert [event.type for event in seen] == ["run-satellite"]
    assert isinstance(refused, Error) and refused.code == "too-many-satellites"
    assert names == ["kitchen", "room-0", "room-1", "room-2"]
