"""Satellite sessions over real sockets with the real models: many at once, arbitration, faults, resume."""

import asyncio
import json
import subprocess
import sys

import numpy as np
import pytest
from helpers.bridge_server import ServerThread
from helpers.processes import STARTUP_SECONDS

from edge.runtime.demo import demo_turns
from firmware_bridge.client import WyomingClient
from firmware_bridge.satellites import SatelliteState
from firmware_bridge.simulator import TurnReport, collect_reply, hello, run_turn, stream_request, wav_request_pcm
from firmware_bridge.wyoming.events import AudioChunk, AudioStart, RunPipeline, VoiceStopped

TURNS = {turn.intent: turn for turn in demo_turns()}
WHAT_TIME = demo_turns()[0]
MATHS = TURNS["qa_maths"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = ServerThread(tmp_path_factory.mktemp("skills") / "edge.sqlite3",
                           **{"bridge.arbitration_window_seconds": 1.0, "bridge.resume_seconds": 30.0})
    yield running
    running.close()


def turn(server, wav, **kwargs):
    kwargs.setdefault("speed", 0)
    return asyncio.run(run_turn("127.0.0.1", server.port, wav_request_pcm(wav, kwargs.pop("gain", 1.0)), **kwargs))


def test_simulated_satellite_turn(server):
    report = turn(server, WHAT_TIME.wav, name="hall")
    assert report.answered, report.error
    assert report.transcript == "What time is it?"
    assert report.reply == "It's 7:05 AM."
    assert report.events[:3] == ["transcript", "synthesize", "audio-start"] and report.events[-1] == "audio-stop"
    assert report.reply_rate == 22050 and 0.5 < len(report.reply_audio) / 2 / 22050 < 3
    assert 0 < report.latency_seconds < 10


def test_several_satellites_at_once_each_get_their_own_answer(server):
    picks = [WHAT_TIME, MATHS, TURNS["general_joke"]]

    async def all_at_once():
        return await asyncio.gather(*(
            run_turn("127.0.0.1", server.port, wav_request_pcm(pick.wav), name=f"room-{n}", room=f"room-{n}", speed=4)
            for n, pick in enumerate(picks)
        ))

    reports = asyncio.run(all_at_once())
    from whisper_normalizer.english import EnglishTextNormalizer

    normalize = EnglishTextNormalizer()  # punctuation differs between ASR engines; the words must not
    assert [normalize(r.transcript) for r in reports] == [normalize(pick.text) for pick in picks]
    assert all(r.answered for r in reports)
    assert "1048996" in reports[1].reply.replace(",", "")
    sessions = server.inspect(lambda: {n: s.turns for n, s in server.server.hub.sessions.items() if n.startswith("room-")})
    assert sessions == {"room-0": 1, "room-1": 1, "room-2": 1}


def test_two_satellites_in_one_room_answer_once_on_the_louder(server):
    turns_before = server.inspect(lambda: server.engine.turns_run)

    async def both_hear_it():
        near = run_turn("127.0.0.1", server.port, wav_request_pcm(MATHS.wav, 1.0), name="kitchen-near", room="kitchen", speed=4)
        far = run_turn("127.0.0.1", server.port, wav_request_pcm(MATHS.wav, 0.2), name="kitchen-far", room="kitchen", speed=4)
        return await asyncio.gather(far, near)

    far, near = asyncio.run(both_hear_it())
    assert near.answered and "1048996" in near.reply.replace(",", "")
    assert not far.answered and far.error.code == "answered-elsewhere" and far.reply_audio == bytearray()
    assert server.inspect(lambda: server.engine.turns_run) == turns_before + 1  # the pipeline ran once
    room, winner, levels = server.inspect(lambda: server.server.hub.arbiter.decisions[-1])
    assert (room, winner) == ("kitchen", "kitchen-near")
    assert levels["kitchen-near"] - levels["kitchen-far"] == pytest.approx(20 * np.log10(5), abs=0.5)


def test_disconnect_mid_stream_frees_the_session_and_reconnect_resumes(server):
    pcm = wav_request_pcm(MATHS.wav)

    async def cut_off():
        client = await WyomingClient.connect("127.0.0.1", server.port)
        await hello(client, "porch", "porch", 10)
        await client.send(RunPipeline(start_stage="asr", end_stage="tts"), AudioStart())
        for start in range(0, len(pcm) // 2, 2048):
            await client.send(AudioChunk(audio=pcm[start : start + 2048]))
        for _ in range(100):  # until the server holds the half request
            buffered = server.inspect(lambda: server.server.hub.buffered_bytes)
            if buffered >= len(pcm) // 2 - 2048:
                break
            await asyncio.sleep(0.02)
        client.abort()  # power cut: no audio-stop, no goodbye
        return buffered

    assert asyncio.run(cut_off()) > 0

    def freed():
        session = server.server.hub.sessions["porch"]
        return session.state, session.request, server.server.hub.buffered_bytes, server.server.hub.arbiter.pending

    for _ in range(100):
        state = server.inspect(freed)
        if state[0] is SatelliteState.DISCONNECTED:
            break
        asyncio.run(asyncio.sleep(0.05))
    assert state == (SatelliteState.DISCONNECTED, None, 0, 0)
    before = server.inspect(lambda: server.server.hub.sessions["porch"])
    report = turn(server, WHAT_TIME.wav, name="porch", room="porch")  # same name: the session resumes
    assert report.answered and report.transcript == "What time is it?"
    after = server.inspect(lambda: server.server.hub.sessions["porch"])
    assert after is before and after.turns == 1  # the cut request never became a turn


def test_a_reply_missed_during_a_disconnect_is_delivered_on_reconnect(server):
    async def ask_then_vanish():
        client = await WyomingClient.connect("127.0.0.1", server.port)
        await hello(client, "garage", None, 10)
        await stream_request(client, wav_request_pcm(MATHS.wav), speed=0)
        client.abort()  # gone right after audio-stop, before any answer

    async def come_back():
        for _ in range(200):  # wait until the server has the answer ready
            await asyncio.sleep(0.05)
            if server.inspect(lambda: server.server.hub.sessions["garage"].undelivered):
                break
        client = await WyomingClient.connect("127.0.0.1", server.port)
        try:
            seen = await hello(client, "garage", None, 10)
            report = await collect_reply(client, TurnReport(), stopped_at=0.0, timeout_seconds=30)
            return seen, report
        finally:
            await client.close()

    asyncio.run(ask_then_vanish())
    seen, report = asyncio.run(come_back())
    assert [e.type for e in seen] == ["run-satellite"]
    assert report.transcript == "What is 2 to the power of 20 plus 20 squared plus 20?"
    assert "1048996" in report.reply.replace(",", "") and len(report.reply_audio) > 0
    assert server.inspect(lambda: server.server.hub.sessions["garage"].undelivered) is None


def test_a_request_without_audio_stop_ends_after_silence(server):
    silence = bytes(16000 * 2)  # one second

    async def no_stop():
        client = await WyomingClient.connect("127.0.0.1", server.port)
        try:
            await hello(client, "attic", None, 10)
            stopped_at = await stream_request(client, wav_request_pcm(WHAT_TIME.wav) + silence, speed=0, send_stop=False)
            first = await client.receive(30)
            report = await collect_reply(client, TurnReport(), stopped_at, 30)
            return first, report
        finally:
            await client.close()

    first, report = asyncio.run(no_stop())
    assert isinstance(first, VoiceStopped)
    assert report.transcript == "What time is it?" and report.answered


def test_simulator_cli_against_the_server(server, tmp_path):
    out = tmp_path / "reply.wav"
    completed = subprocess.run(
        [sys.executable, "-m", "firmware_bridge.simulator", "--server", f"tcp://127.0.0.1:{server.port}",
         "--wav", str(MATHS.wav), "--speed", "0", "--out", str(out), "--json", "--name", "cli-sat"],
        capture_output=True, timeout=STARTUP_SECONDS,
    )
    assert completed.returncode == 0, completed.stderr.decode()
    summary = json.loads(completed.stdout)
    assert summary["answered"] and summary["transcript"] == "What is 2 to the power of 20 plus 20 squared plus 20?"
    assert out.stat().st_size > 44 and summary["reply_wav"] == str(out)
    bad = subprocess.run([sys.executable, "-m", "firmware_bridge.simulator", "--server", "http://nowhere", "--wav", str(MATHS.wav)],
                         capture_output=True, timeout=STARTUP_SECONDS)
    assert bad.returncode == 2 and b"tcp://HOST:PORT" in bad.stderr


def test_a_board_on_a_serial_line_is_a_satellite(server):
    from helpers.bridge_uart_relay import Faults, Relay, open_pty

    from firmware_bridge.uart.link import UartLink, UartSettings
    from firmware_bridge.uart.messages import Audio, AudioStart, AudioStop, Button, ButtonAction, LedRing
    from firmware_bridge.uart.satellite import UartSatellite
    from firmware_bridge.uart.transport import SerialTransport

    host_pty, board_pty = open_pty(), open_pty()
    fast = UartSettings(ack_timeout_seconds=0.05)
    pcm = wav_request_pcm(WHAT_TIME.wav)

    async def host_side():
        link = UartLink(SerialTransport(host_pty.path), fast, "edge")
        await UartSatellite(link, server.server.hub, "desk-board", "desk").run()

    async def board_side():
        faults = Faults(corrupt_rate=0.03, drop_rate=0.03, seed=5)
        relay = Relay(host_pty, board_pty, faults)
        relay.start()
        link = UartLink(SerialTransport(board_pty.path), fast, "board")
        await link.open()
        host = asyncio.run_coroutine_threadsafe(host_side(), server.loop)
        try:
            await asyncio.wait_for(link.wait_up(), 10)
            await link.send_reliably(Button(0, ButtonAction.PRESSED))
            await link.send(AudioStart(16000, 2, 1))
            for start in range(0, len(pcm), 1024):
                await link.send(Audio(pcm[start : start + 1024]))
            await link.send_reliably(AudioStop())
            leds, reply = [], bytearray()
            while True:
                message = await asyncio.wait_for(link.receive(), 30)
                if isinstance(message, LedRing):
                    leds.append(message.state.name)
                    if message.state.name == "IDLE" and reply:
                        return leds, reply, faults
                elif isinstance(message, Audio):
                    reply += message.pcm
        finally:
            host.cancel()
            await link.close()
            relay.stop()

    leds, reply, faults = asyncio.run(board_side())
    session = server.inspect(lambda: server.server.hub.sessions["desk-board"])
    assert leds == ["IDLE", "LISTENING", "THINKING", "SPEAKING", "IDLE"]
    assert session.last_trace["transcript"] == "What time is it?" and session.room == "desk"
    assert len(reply) / 2 / 22050 == pytest.approx(session.last_trace["reply_audio_seconds"], abs=0.002)  # all of it
    assert faults.corrupted + faults.dropped > 0


def test_edge_serve_and_edge_satellite_commands(tmp_path):
    import signal

    from helpers.processes import SHUTDOWN_SECONDS, STARTUP_SECONDS, LineReader

    serve = subprocess.Popen(
        [sys.executable, "-m", "edge", "serve", "--wyoming", "tcp://127.0.0.1:0", "--no-zeroconf",
         "--set", f"skills.database_path={tmp_path / 'edge.sqlite3'}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = LineReader(serve).wait_for("Wyoming on port")  # printed once the models are loaded
        port = int(line.split("port ")[1].split()[0])
        out = tmp_path / "reply.wav"
        asked = subprocess.run(
            [sys.executable, "-m", "edge", "satellite", "--server", f"tcp://127.0.0.1:{port}", "--wav", str(WHAT_TIME.wav),
             "--speed", "0", "--out", str(out)],
            capture_output=True, text=True, timeout=STARTUP_SECONDS,
        )
        assert asked.returncode == 0, asked.stderr
        assert "you:     What time is it?" in asked.stdout and "latency:" in asked.stdout
        assert out.exists()
    finally:
        serve.send_signal(signal.SIGINT)
        assert serve.wait(SHUTDOWN_SECONDS) == 0
    bad = subprocess.run([sys.executable, "-m", "edge", "serve", "--wyoming", "udp://x:1"], capture_output=True, text=True,
                         timeout=STARTUP_SECONDS)
    assert bad.returncode == 2 and "tcp://HOST:PORT" in bad.stderr


def test_an_alert_with_no_satellite_connected_waits_for_one(server):
    """After a restart the satellites redial; until one is back, an alert is not a failed attempt
    (the scheduler keeps it) and the first satellite to connect hears it."""
    from edge.runtime.alerts import NoListenerError
    from firmware_bridge.wyoming.events import Synthesize

    hub = server.server.hub
    assert not [session for session in server.inspect(lambda: list(hub.sessions.values())) if session.peer is not None]
    with pytest.raises(NoListenerError):
        server.call(hub.announce_alert("Your timer for 5 seconds is done.", "hall"))

    async def back_and_hears_it():
        client = await WyomingClient.connect("127.0.0.1", server.port)
        try:
            await hello(client, "hall", "hall", STARTUP_SECONDS)
            reached = await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(
                hub.announce_alert("Your timer for 5 seconds is done.", "hall"), server.loop))
            while not isinstance(event := await client.receive(STARTUP_SECONDS), Synthesize):
                pass
            return reached, event.text
        finally:
            await client.close()

    assert asyncio.run(back_and_hears_it()) == (["hall"], "Your timer for 5 seconds is done.")


def test_an_alert_is_spoken_while_every_inference_worker_is_busy(server):
    """Alert speech has its own thread: a timer rings on time even while every worker is held by a
    long turn (the soak saw alerts ring a minute late behind an LLM that hung 12 s per turn)."""
    import threading

    from firmware_bridge.wyoming.events import Synthesize

    hub = server.server.hub
    release = threading.Event()
    held = [asyncio.run_coroutine_threadsafe(hub.engine._run(release.wait, 120), server.loop)
            for _ in range(hub.engine._executor._max_workers)]

    async def hears_it():
        client = await WyomingClient.connect("127.0.0.1", server.port)
        try:
            await hello(client, "pantry", "pantry", STARTUP_SECONDS)
            reached = await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(
                hub.announce_alert("Your pasta timer is done.", "pantry"), server.loop))
            while not isinstance(event := await client.receive(STARTUP_SECONDS), Synthesize):
                pass
            return reached, event.text
        finally:
            await client.close()

    try:
        assert asyncio.run(hears_it()) == (["pantry"], "Your pasta timer is done.")
        assert not any(future.done() for future in held)  # the workers were busy the whole time
    finally:
        release.set()
        for future in held:
            future.result(STARTUP_SECONDS)
