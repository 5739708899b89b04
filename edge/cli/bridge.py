"""`edge bridge …`: the Wyoming server for satellites and Home Assistant, and a satellite simulator.

    edge bridge serve --wyoming tcp://127.0.0.1:10700      # models loaded once; one session per satellite
    edge bridge satellite --wav request.wav                # stream a WAV as a satellite would
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import sys

from edge.core.errors import ExitCode
from edge.core.notify import Notifier
from edge.core.settings import Settings
from edge.runtime.line import serving_version, update_poller
from edge.runtime.metrics import Metrics, metrics_endpoint
from edge.runtime.watchdog import feed_from_event_loop
from firmware_bridge.simulator import add_simulator_arguments, simulate

logger = logging.getLogger(__name__)

ACTIONS = ("serve", "satellite")


def add_commands(commands, common: argparse.ArgumentParser) -> None:
    group = commands.add_parser("bridge", help="satellites and Home Assistant over Wyoming; UART boards",
                                description="Serve the on-device turn to Wyoming peers (satellites, Home Assistant) "
                                "and UART boards, or simulate a satellite.")
    actions = group.add_subparsers(dest="bridge_command", required=True, metavar="ACTION")
    serve = actions.add_parser(
        "serve", parents=[common], help="serve ASR, TTS, intent, handle and satellites over Wyoming",
        description="Run the on-device turn as a Wyoming service (Home Assistant, Rhasspy, satellites).",
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
    serve.add_argument("--no-cast", action="store_true",
                       help="never cast cards to screens (by default, with the cast extra installed and cast.enabled, "
                       "a reply's card goes to the nearest paired screen, as with `edge run`)")
    serve.set_defaults(handler=run_serve)

    satellite = actions.add_parser(
        "satellite", parents=[common], help="simulate a satellite: stream a WAV to a Wyoming server",
        description="Stream a WAV to a Wyoming server as a satellite does after its wake word; print the "
        "transcript and reply, write the reply audio.",
    )
    add_simulator_arguments(satellite)
    satellite.set_defaults(handler=lambda args, settings: simulate(args))


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
        print(f"edge bridge serve: {error}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    settings = dataclasses.replace(settings, bridge=bridge)
    if args.no_cast:
        settings = dataclasses.replace(settings, cast=dataclasses.replace(settings.cast, enabled=False))
    try:
        with metrics_endpoint(settings.metrics) as metrics:
            return asyncio.run(_serve(settings, metrics))
    except KeyboardInterrupt:
        return 0


def _print_satellite_key(name: str, settings: Settings) -> int:
    import os

    from firmware_bridge.access import satellite_key

    variable = settings.bridge.secret_env
    secret = os.environ.get(variable, "") if variable else ""
    if not secret:
        print(f"edge bridge serve: no secret: put one in ${variable or 'EDGE_WYOMING_SECRET'} (bridge.secret_env), "
              "the same for the server and this command", file=sys.stderr)
        return ExitCode.BAD_INPUT
    print(satellite_key(secret, name).hex())
    return 0


async def _serve(settings: Settings, metrics: Metrics | None = None) -> int:
    from edge.cast.speaker import start_speaker_caster

    # Cards of the satellites' replies go to the nearest paired screen, as `edge run`'s do.
    caster = await asyncio.to_thread(start_speaker_caster, settings.cast)
    try:
        return await _serve_with(settings, caster, metrics)
    finally:
        if caster is not None:
            await asyncio.to_thread(caster.close)


async def _serve_with(settings: Settings, caster, metrics: Metrics | None) -> int:
    from edge.runtime.turn import Turn
    from firmware_bridge.engine import TurnEngine
    from firmware_bridge.server import BadUriError, WyomingServer, parse_tcp_uri

    if metrics is not None:
        metrics.set_bundle(serving_version(settings))
    try:
        turn = await asyncio.to_thread(Turn.load, settings, caster=caster,
                                       on_trace=metrics.observe if metrics else None)
    except Exception as error:  # model loading failures all reach the user as one line
        logger.debug("turn load failed", exc_info=True)
        print(f"edge bridge serve: cannot start: {error}", file=sys.stderr)
        return ExitCode.FAILED
    bridge = settings.bridge
    engine = TurnEngine(turn, bridge.inference_workers, bridge.max_pending_turns)
    try:
        server = WyomingServer(engine, settings)
        port = await server.start(bridge.uri, zeroconf=bridge.zeroconf, interface=bridge.interface)
    except (OSError, BadUriError, ValueError) as error:
        print(f"edge bridge serve: cannot listen on {bridge.uri}: {error}", file=sys.stderr)
        engine.close()
        turn.close()
        return ExitCode.FAILED
    host = parse_tcp_uri(bridge.uri)[0]
    print(f"edge bridge serve: Wyoming on port {port} at {host} (models loaded)", flush=True)
    if not server.policy.restricted and host not in ("127.0.0.1", "::1", "localhost"):
        print(f"edge bridge serve: anyone who can reach {host} may use this server: set bridge.allowed_peers or a "
              "satellite secret (docs/security.md)", file=sys.stderr, flush=True)
    if metrics is not None:
        metrics.watch_alerts(server.alerts)
    notifier = Notifier.from_environment()
    notifier.ready(f"Wyoming on port {port}")
    watchdog = asyncio.create_task(feed_from_event_loop(notifier))
    try:
        with update_poller(settings, metrics):  # update.poll_minutes: the line's newer bundle, loaded at restart
            await server.serve_forever()
    except asyncio.CancelledError:
        pass
    finally:
        notifier.stopping()
        watchdog.cancel()
        await server.close()
        engine.close()
        turn.close()
    return 0
