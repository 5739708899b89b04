"""`edge serve` (the Wyoming server) and `edge satellite` (the satellite simulator)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import sys
from pathlib import Path

from edge.settings import Settings

logger = logging.getLogger(__name__)

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def add_commands(commands, common: argparse.ArgumentParser) -> None:
    serve = commands.add_parser(
        "serve", parents=[common], help="serve ASR, TTS, intent, handle and satellites over Wyoming",
        description="Run the on-device pipeline as a Wyoming service (Home Assistant, Rhasspy, satellites).",
    )
    serve.add_argument("--wyoming", metavar="tcp://HOST:PORT",
                       help="where to listen (default: bridge.uri, else tcp://<bridge.interface>:10700, else 127.0.0.1 only)")
    serve.add_argument("--interface", metavar="IP", help="listen and advertise on this address (bridge.interface); "
                       "set bridge.allowed_peers or a satellite secret too (docs/security.md)")
    serve.add_argument("--satellite-key", metavar="NAME", help="print the key of satellite NAME (derived from the secret in "
                       "$EDGE_WYOMING_SECRET, see bridge.secret_env) and exit; put it on that satellite only")
    serve.add_argument("--no-zeroconf", action="store_true", help="do not advertise _wyoming._tcp.local.")
    serve.add_argument("--satellite", action="append", default=[], metavar="tcp://HOST:PORT",
                       help="also dial this satellite (e.g. wyoming-satellite); repeatable")
    serve.add_argument("--uart", metavar="DEVICE", help="also serve a board on this serial port (UART_SPEC.md)")
    serve.set_defaults(handler=run_serve)

    satellite = commands.add_parser(
        "satellite", parents=[common], help="simulate a satellite: stream a WAV to a Wyoming server",
        description="Stream a WAV to a Wyoming server as a satellite does after its wake word; print the "
        "transcript and reply, write the reply audio.",
    )
    add_simulator_arguments(satellite)
    satellite.set_defaults(handler=lambda args, settings: _simulate(args))


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
                        help="environment variable holding this satellite's key in hex (edge serve --satellite-key NAME); "
                        "unset: no key (default EDGE_SATELLITE_KEY)")


def simulator_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m firmware_bridge.simulator", description=__doc__)
    add_simulator_arguments(parser)
    parser.add_argument("-v", "--verbose", action="count", default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    return _simulate(args)


def _simulate(args: argparse.Namespace) -> int:
    from edge.audio.wavio import AudioInputError, write_wav
    from firmware_bridge.server import BadUriError, parse_tcp_uri
    from firmware_bridge.simulator import SatelliteTurnError, run_turn, wav_request_pcm

    try:
        host, port = parse_tcp_uri(args.server)
        pcm = wav_request_pcm(args.wav, args.gain)
        key = _satellite_key(args.key_env)
    except (BadUriError, AudioInputError, ValueError) as error:
        print(f"edge satellite: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        report = asyncio.run(run_turn(host, port, pcm, args.name, args.room, args.speed, timeout_seconds=args.timeout, key=key))
    except (OSError, TimeoutError, SatelliteTurnError) as error:
        print(f"edge satellite: no answer from {args.server}: {error or type(error).__name__}", file=sys.stderr)
        return EXIT_FAILED
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
    return 0 if report.answered or (report.error is not None and report.error.code == "answered-elsewhere") else EXIT_FAILED


def _satellite_key(variable: str) -> bytes | None:
    import os

    value = os.environ.get(variable, "").strip() if variable else ""
    if not value:
        return None
    try:
        return bytes.fromhex(value)
    except ValueError as error:
        raise ValueError(f"${variable} must be the hex key `edge serve --satellite-key NAME` printed") from error


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    from firmware_bridge.access import listen_uri, parse_networks
    from firmware_bridge.server import BadUriError, parse_tcp_uri

    if args.satellite_key:
        return _print_satellite_key(args.satellite_key, settings)
    bridge = settings.bridge
    satellites = ",".join(filter(None, [bridge.satellites, *args.satellite]))
    bridge = dataclasses.replace(bridge, interface=args.interface or bridge.interface)
    bridge = dataclasses.replace(
        bridge, uri=args.wyoming or listen_uri(bridge),
        zeroconf=bridge.zeroconf and not args.no_zeroconf, satellites=satellites,
        uart_device=args.uart or bridge.uart_device,
    )
    try:
        parse_tcp_uri(bridge.uri)
        parse_networks(bridge.allowed_peers)  # before the models load, not after
    except (BadUriError, ValueError) as error:
        print(f"edge serve: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    settings = dataclasses.replace(settings, bridge=bridge)
    try:
        return asyncio.run(_serve(settings))
    except KeyboardInterrupt:
        return 0


def _print_satellite_key(name: str, settings: Settings) -> int:
    import os

    from firmware_bridge.access import satellite_key

    variable = settings.bridge.secret_env
    secret = os.environ.get(variable, "") if variable else ""
    if not secret:
        print(f"edge serve: no secret: put one in ${variable or 'EDGE_WYOMING_SECRET'} (bridge.secret_env), "
              "the same for the server and this command", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(satellite_key(secret, name).hex())
    return 0


async def _serve(settings: Settings) -> int:
    from edge.pipeline import Pipeline
    from firmware_bridge.engine import TurnEngine
    from firmware_bridge.server import BadUriError, WyomingServer, parse_tcp_uri

    try:
        pipeline = await asyncio.to_thread(Pipeline.load, settings)
    except Exception as error:  # model loading failures all reach the user as one line
        logger.debug("pipeline load failed", exc_info=True)
        print(f"edge serve: cannot start: {error}", file=sys.stderr)
        return EXIT_FAILED
    bridge = settings.bridge
    engine = TurnEngine(pipeline, bridge.inference_workers, bridge.max_pending_turns)
    try:
        server = WyomingServer(engine, settings)
        port = await server.start(bridge.uri, zeroconf=bridge.zeroconf, interface=bridge.interface)
    except (OSError, BadUriError, ValueError) as error:
        print(f"edge serve: cannot listen on {bridge.uri}: {error}", file=sys.stderr)
        engine.close()
        pipeline.close()
        return EXIT_FAILED
    host = parse_tcp_uri(bridge.uri)[0]
    print(f"edge serve: Wyoming on port {port} at {host} (models loaded)", flush=True)
    if not server.policy.restricted and host not in ("127.0.0.1", "::1", "localhost"):
        print(f"edge serve: anyone who can reach {host} may use this server: set bridge.allowed_peers or a "
              "satellite secret (docs/security.md)", file=sys.stderr, flush=True)
    try:
        await server.serve_forever()
    except asyncio.CancelledError:
        pass
    finally:
        await server.close()
        engine.close()
        pipeline.close()
    return 0
