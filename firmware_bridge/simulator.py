"""A satellite simulator: streams a WAV to a Wyoming server as a satellite would after its wake word.

    python -m firmware_bridge.simulator --server tcp://127.0.0.1:10700 --wav request.wav --out reply.wav
    edge bridge satellite --server tcp://127.0.0.1:10700 --wav request.wav --speed 4

It says hello (`info` with its name and room), waits for `run-satellite`, sends `run-pipeline`
(asr → tts), streams the audio in chunks at real time (or `--speed` times faster), sends
`audio-stop`, and collects the transcript, the reply text and the reply audio. Latency is from
the moment audio-stop is written to the first reply audio chunk received.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.audio.wavio import float_to_int16, read_request_audio
from edge.core.errors import ExitCode, PeerError
from firmware_bridge.client import WyomingClient
from firmware_bridge.info import satellite_info
from firmware_bridge.wyoming.events import (
    AudioChunk,
    AudioStart,
    AudioStop,
    Error,
    RunPipeline,
    RunSatellite,
    Synthesize,
    Transcript,
)

SAMPLE_RATE = 16000  # hertz, what the simulator streams


class SatelliteTurnError(PeerError):
    """The server did not complete the turn (it closed, stalled, or sent an error)."""


@dataclass
class TurnReport:
    transcript: str | None = None
    reply: str | None = None
    reply_audio: bytearray = field(default_factory=bytearray)  # int16 mono at reply_rate
    reply_rate: int = 0  # hertz
    latency_seconds: float | None = None  # audio-stop sent → first reply audio chunk
    error: Error | None = None  # e.g. code "answered-elsewhere"
    events: list[str] = field(default_factory=list)  # event types received, in order

    @property
    def answered(self) -> bool:
        return self.error is None and self.latency_seconds is not None


def wav_request_pcm(path: Path, gain: float = 1.0) -> bytes:
    """A WAV (any rate, mono or not) as the 16 kHz int16 mono PCM a satellite microphone gives."""
    audio = read_request_audio(path, SAMPLE_RATE)
    return float_to_int16(np.clip(audio.samples * gain, -1.0, 1.0)).astype("<i2").tobytes()


async def stream_request(client: WyomingClient, pcm: bytes, speed: float = 1.0, samples_per_chunk: int = 1024,
                         send_stop: bool = True) -> float:
    """Stream PCM as a satellite would; return the perf_counter time audio-stop (or the last chunk) went out."""
    await client.send(RunPipeline(start_stage="asr", end_stage="tts", wake_word_name="okay_nabu"),
                      AudioStart(rate=SAMPLE_RATE, width=2, channels=1, timestamp=0))
    step = samples_per_chunk * 2
    started = time.perf_counter()
    for offset in range(0, len(pcm), step):
        timestamp = offset // 2 * 1000 // SAMPLE_RATE
        await client.send(AudioChunk(rate=SAMPLE_RATE, width=2, channels=1, timestamp=timestamp, audio=pcm[offset : offset + step]))
        if speed > 0:
            due = started + (offset + step) / 2 / SAMPLE_RATE / speed
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
    if send_stop:
        await client.send(AudioStop(timestamp=len(pcm) // 2 * 1000 // SAMPLE_RATE))
    return time.perf_counter()


async def collect_reply(client: WyomingClient, report: TurnReport, stopped_at: float, timeout_seconds: float) -> TurnReport:
    """Read the server's answer until audio-stop, or an error that refuses the request."""
    while True:
        event = await client.receive(timeout_seconds)
        if event is None:
            raise SatelliteTurnError("the server closed the connection before answering")
        report.events.append(event.type)
        if _note(report, event, stopped_at):
            return report


def _note(report: TurnReport, event, stopped_at: float) -> bool:
    """Record one event of the answer; True when the answer is complete."""
    if isinstance(event, Transcript):
        report.transcript = event.text
    elif isinstance(event, Synthesize):
        report.reply = event.text
    elif isinstance(event, AudioStart):
        report.reply_rate = event.rate
    elif isinstance(event, AudioChunk):
        if report.latency_seconds is None:
            report.latency_seconds = time.perf_counter() - stopped_at
        report.reply_audio += event.audio
    elif isinstance(event, Error):
        report.error = event
        return report.transcript is None  # refused (answered-elsewhere, busy…): no reply follows
    return isinstance(event, AudioStop)


async def hello(client: WyomingClient, name: str, room: str | None, timeout_seconds: float,
                key: bytes | None = None) -> list:
    """Say who we are (first proving the satellite key, when given: firmware_bridge.access); return
    what the server sent up to run-satellite (a resumed reply follows it)."""
    if key:
        await prove_key(client, name, key, timeout_seconds)
    await client.send(satellite_info(name, room))
    seen = []
    while True:
        event = await client.receive(timeout_seconds)
        if event is None:
            raise SatelliteTurnError("the server closed the connection during hello")
        seen.append(event)
        if isinstance(event, RunSatellite):
            return seen
        if isinstance(event, Error):
            raise SatelliteTurnError(f"server refused the satellite: {event.text}")


async def prove_key(client: WyomingClient, name: str, key: bytes, timeout_seconds: float) -> None:
    """Answer the server's edge-challenge with the proof of this satellite's key."""
    from firmware_bridge.access import Auth, AuthChallenge, satellite_proof

    event = await client.receive(timeout_seconds)
    if event is None or getattr(event, "type", None) != AuthChallenge.type:
        kind = getattr(event, "type", "nothing")
        raise SatelliteTurnError(f"the server sent {kind}, not a challenge: is bridge.secret_env set on it?")
    nonce = event.data.get("nonce") if hasattr(event, "data") else None
    if not isinstance(nonce, str):
        raise SatelliteTurnError("the server's challenge has no nonce")
    await client.send(Auth(name=name, proof=satellite_proof(key, nonce, name)))


async def run_turn(host: str, port: int, pcm: bytes, name: str = "simulator", room: str | None = None,
                   speed: float = 1.0, samples_per_chunk: int = 1024, timeout_seconds: float = 60.0,
                   key: bytes | None = None) -> TurnReport:
    """One whole satellite turn on a fresh connection (`key`: this satellite's key, when the server wants one)."""
    client = await WyomingClient.connect(host, port)
    try:
        await hello(client, name, room, timeout_seconds, key)
        stopped_at = await stream_request(client, pcm, speed, samples_per_chunk)
        return await collect_reply(client, TurnReport(), stopped_at, timeout_seconds)
    finally:
        await client.close()


def add_simulator_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", default="tcp://127.0.0.1:10700", metavar="tcp://HOST:PORT")
    parser.add_argument("--wav", type=Path, required=True, help="the request (any rate, mono or stereo)")
    parser.add_argument("--out", type=Path, help="write the reply audio to this WAV")
    parser.add_argument("--name", default="simulator", help="satellite name (its session key)")
    parser.add_argument("--room", help="the room (area) the satellite is in, for wake-word arbitration")
    parser.add_argument("--speed", type=float, default=1.0, help="stream this many times faster than real time (0: no pacing)")
    parser.add_argument("--gain", type=float, default=1.0, help="scale the audio (a farther satellite hears less)")
    parser.add_argument("--json", action="store_true", help="print one JSON line with the results")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each server event")
    parser.add_argument("--key-env", default="EDGE_SATELLITE_KEY", metavar="VARIABLE",
                        help="environment variable holding this satellite's key in hex (edge bridge serve --satellite-key "
                        "NAME); unset: no key (default EDGE_SATELLITE_KEY)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m firmware_bridge.simulator", description=__doc__)
    add_simulator_arguments(parser)
    parser.add_argument("-v", "--verbose", action="count", default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    return simulate(args)


def simulate(args: argparse.Namespace) -> int:
    from edge.audio.wavio import AudioInputError, write_wav
    from firmware_bridge.server import BadUriError, parse_tcp_uri

    try:
        host, port = parse_tcp_uri(args.server)
        pcm = wav_request_pcm(args.wav, args.gain)
        key = _satellite_key(args.key_env)
    except (BadUriError, AudioInputError, ValueError) as error:
        print(f"edge bridge satellite: {error}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    try:
        report = asyncio.run(run_turn(host, port, pcm, args.name, args.room, args.speed, timeout_seconds=args.timeout,
                                      key=key))
    except (OSError, TimeoutError, SatelliteTurnError) as error:
        print(f"edge bridge satellite: no answer from {args.server}: {error or type(error).__name__}", file=sys.stderr)
        return ExitCode.FAILED
    if args.out is not None and report.reply_audio:
        import numpy as np

        write_wav(args.out, np.frombuffer(bytes(report.reply_audio), "<i2"), report.reply_rate)
    summary = {
        "transcript": report.transcript, "reply": report.reply, "answered": report.answered,
        "latency_ms": None if report.latency_seconds is None else round(report.latency_seconds * 1000, 1),
        "reply_audio_seconds": round(len(report.reply_audio) / 2 / report.reply_rate, 3) if report.reply_rate else 0.0,
        "error": None if report.error is None else {"code": report.error.code, "text": report.error.text},
        "reply_wav": str(args.out) if args.out is not None and report.reply_audio else None,
    }
    if args.json:
        print(json.dumps(summary), flush=True)
    else:
        print(f"you:     {report.transcript}")
        print(f"reply:   {report.reply}")
        if report.error is not None:
            print(f"error:   {report.error.code}: {report.error.text}")
        if summary["latency_ms"] is not None:
            print(f"latency: {summary['latency_ms']:.0f} ms (audio-stop to first reply audio)")
        if summary["reply_wav"]:
            print(f"reply audio written to {args.out}")
    return 0 if report.answered or (report.error is not None and report.error.code == "answered-elsewhere") else ExitCode.FAILED



def _satellite_key(variable: str) -> bytes | None:
    import os

    value = os.environ.get(variable, "").strip() if variable else ""
    if not value:
        return None
    try:
        return bytes.fromhex(value)
    except ValueError as error:
        raise ValueError(f"${variable} must be the hex key `edge bridge serve --satellite-key NAME` printed") from error


if __name__ == "__main__":
    raise SystemExit(main())
