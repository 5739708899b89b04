"""`edge cast …`: screens for rich answers.

    edge cast companion --name "Kitchen TV" --room kitchen   # on the screen's machine; open the URL it prints
    edge cast screens                                        # what this speaker sees on the network
    edge cast pair "kitchen tv" 123456                       # the code the companion's page shows
    edge cast pair "living room tv"                          # a Chromecast: allow casting to it (once)
    edge cast unpair "kitchen tv"                            # forget a screen
    edge cast send --to "kitchen tv" card.json               # a card as JSON (Card fields), - for stdin
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import signal
import sys
from pathlib import Path
from typing import Any

from edge.core.errors import ExitCode
from edge.core.settings import Settings


def network_options() -> argparse.ArgumentParser:
    """--interface and --state-dir, for every command that advertises or looks for screens."""
    network = argparse.ArgumentParser(add_help=False)
    network.add_argument(
        "--interface", help="IPv4 address of the interface to use for mDNS, e.g. 127.0.0.1 (default: all)"
    )
    network.add_argument("--state-dir", help="where pairing tokens are kept (default: cast.state_dir)")
    return network


ACTIONS = ("companion", "screens", "pair", "unpair", "send")


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    network = network_options()
    group = commands.add_parser("cast", help="screens: the companion page, finding, pairing, sending cards",
                                description="Rich answers on screens: run the companion page on a screen, list and "
                                "pair screens from the speaker, send a card by hand.")
    actions = group.add_subparsers(dest="cast_command", required=True, metavar="ACTION")

    companion = actions.add_parser(
        "companion", parents=[common, network], help="show cast cards on this machine's screen",
        description="Serve the full-screen card page, advertise it as _edgecast._tcp, and show a pairing code.",
    )
    companion.add_argument("--port", type=int, help="TCP port of the page (default: cast.port; 0: any free port)")
    companion.add_argument("--name", help="the screen's name, e.g. 'Kitchen TV' (default: the host name)")
    companion.add_argument("--room", help="the room it is in, e.g. kitchen")
    companion.add_argument("--resolution", help="WIDTHxHEIGHT to advertise")
    companion.add_argument("--speakers", action="store_true", help="list the speakers paired with this screen and exit")
    companion.add_argument("--unpair", metavar="SPEAKER", help="revoke a speaker's pairing (name or id) and exit; "
                           "a running companion stops trusting it at once")
    companion.set_defaults(handler=_run_companion)

    unpair = actions.add_parser("unpair", parents=[common, network], help="forget a screen this speaker paired with or allowed")
    unpair.add_argument("screen", help="the screen's name (as `edge cast screens` shows it) or id")
    unpair.set_defaults(handler=_run_unpair)

    screens = actions.add_parser("screens", parents=[common, network], help="list the screens this speaker can cast to")
    screens.add_argument("--wait", type=float, default=2.0, help="seconds to listen for screens (default 2)")
    screens.add_argument("--json", action="store_true", help="one JSON object per screen")
    screens.set_defaults(handler=_run_screens)

    pair = actions.add_parser(
        "pair", parents=[common, network], help="pair this speaker with a companion screen, or allow a Chromecast",
        description="Pair with a companion (the code its screen shows), or confirm that this speaker may cast to a "
        "Chromecast (no code): a Chromecast is never cast to before that.",
    )
    pair.add_argument("screen", help="the screen's name or room, e.g. 'kitchen tv'")
    pair.add_argument("code", nargs="?", default="", help="the code a companion's screen shows (none for a Chromecast)")
    pair.add_argument("--wait", type=float, default=5.0, help="seconds to look for the screen (default 5)")
    pair.set_defaults(handler=_run_pair)

    cast = actions.add_parser("send", parents=[common, network], help="send a card (JSON) to a screen")
    cast.add_argument("card", nargs="?", default="-", help="a JSON file with the card's fields (default: stdin)")
    cast.add_argument("--to", dest="hint", help="the screen's name or room (default: last used, then own room)")
    cast.add_argument("--wait", type=float, default=3.0, help="seconds to look for screens first (default 3)")
    cast.set_defaults(handler=_run_cast)


def cast_settings(args: argparse.Namespace, settings: Settings):
    """settings.cast with this command's flags applied."""
    changes = {
        name: getattr(args, name) for name in ("interface", "state_dir", "port", "name", "room", "resolution")
        if getattr(args, name, None) is not None
    }
    return dataclasses.replace(settings.cast, **changes)


def _run_companion(args: argparse.Namespace, settings: Settings) -> int:
    from edge.cast.companion import Companion
    from edge.cast.pairing import PairedSpeakers, PairingError

    if args.speakers or args.unpair:
        try:
            return _manage_speakers(PairedSpeakers(cast_settings(args, settings).state_dir), args.unpair)
        except PairingError as error:
            print(f"edge cast companion: {error}", file=sys.stderr)
            return ExitCode.FAILED

    async def serve() -> None:
        companion = Companion(cast_settings(args, settings), on_code=lambda code: print(f"pairing code {code}", flush=True))
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopping.set)
        await companion.start()
        print(f"companion {companion.name!r} at {companion.url}  pairing code {companion.code.current()}", flush=True)
        for link in companion.screen_links():
            print(f"screens on other machines open {link}", flush=True)
        try:
            await stopping.wait()
        finally:
            await companion.stop()

    try:
        asyncio.run(serve())
    except (OSError, ImportError, ValueError, PairingError) as error:
        print(f"edge cast companion: {error}", file=sys.stderr)
        return ExitCode.FAILED
    return 0


def _manage_speakers(paired, unpair: str | None) -> int:
    if unpair:
        names = paired.remove(unpair)
        if not names:
            print(f"edge cast companion: no paired speaker is named {unpair!r}; see edge cast companion --speakers", file=sys.stderr)
            return ExitCode.FAILED
        print(f"unpaired {', '.join(names)}")
        return 0
    for speaker_id, name in sorted(paired.speakers().items(), key=lambda item: item[1].lower()):
        print(f"{name:32} {speaker_id}")
    return 0


def _run_unpair(args: argparse.Namespace, settings: Settings) -> int:
    from edge.cast.pairing import PairingError, ScreenTokens

    try:
        names = ScreenTokens(cast_settings(args, settings).state_dir).forget(args.screen)
    except PairingError as error:
        print(f"edge cast unpair: {error}", file=sys.stderr)
        return ExitCode.FAILED
    if not names:
        print(f"edge cast unpair: this speaker has no screen named {args.screen!r}", file=sys.stderr)
        return ExitCode.FAILED
    print(f"forgot {', '.join(names)}")
    return 0


def _caster(args: argparse.Namespace, settings: Settings):
    from edge.cast.caster import CardCaster
    from edge.cast.pairing import PairingError

    try:
        return CardCaster(dataclasses.replace(cast_settings(args, settings), enabled=True)).start()
    except PairingError as error:
        print(f"edge {args.command}: {error}", file=sys.stderr)
        raise SystemExit(ExitCode.FAILED) from None


def _run_screens(args: argparse.Namespace, settings: Settings) -> int:
    import time

    with _caster(args, settings) as caster:
        time.sleep(args.wait)
        screens = caster.screens(include_unreachable=True)
        for screen in sorted(screens, key=lambda item: item.name.lower()):
            row = {
                "name": screen.name, "room": screen.room, "kind": screen.kind, "address": f"{screen.host}:{screen.port}",
                "resolution": screen.resolution, "state": screen.state.value, "paired": caster.is_paired(screen),
            }
            if args.json:
                print(json.dumps(row, ensure_ascii=False))
            else:
                paired = "paired" if row["paired"] else "not paired"
                print(f"{screen.name:24} {screen.room or '-':12} {screen.kind:10} {row['address']:21} {row['state']:11} {paired}")
        if not screens and not args.json:
            print("no screens found (is `edge cast companion` running on this network? try --interface)")
    return 0


def _run_pair(args: argparse.Namespace, settings: Settings) -> int:
    from edge.cast.client import PairingFailed

    with _caster(args, settings) as caster:
        try:
            answer = caster.pair(args.screen, args.code, timeout=args.wait)
        except PairingFailed as error:
            print(f"edge cast pair: {error}", file=sys.stderr)
            return ExitCode.FAILED
    verb = "allowed casting to" if answer.get("confirmed") else "paired with"
    print(f"{verb} {answer['screen']}" + (f" ({answer['room']})" if answer.get("room") else ""))
    return 0


def _run_cast(args: argparse.Namespace, settings: Settings) -> int:
    try:
        card = read_card(args.card)
    except (OSError, ValueError) as error:
        print(f"edge cast: {error}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    with _caster(args, settings) as caster:
        if args.hint:
            caster.wait_for_screen(args.hint, args.wait)
        else:
            caster.wait_for(lambda screens: any(caster.is_paired(s) for s in screens), args.wait)
        outcome = caster.cast(card, args.hint).outcome(timeout=args.wait + 30)
    print(json.dumps(outcome, ensure_ascii=False))
    return 0 if outcome["status"] != "speech-only" else ExitCode.FAILED


def read_card(source: str):
    """A Card from a JSON file (or '-' for stdin): its fields, or an encoded card event."""
    from edge.core.events import Card, EventDecodeError, decode_event

    text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{source} is not JSON: {error}") from error
    if isinstance(data, dict) and data.get("type") != "card":
        data = {"type": "card", "data": data}
    try:
        event = decode_event(json.dumps(data))
    except EventDecodeError as error:
        raise ValueError(f"{source} is not a card: {error}") from error
    if not isinstance(event, Card):
        raise ValueError(f"{source} is a {event.type!r} event, not a card")
    return event
