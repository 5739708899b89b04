"""`edge ask` (one turn from text or audio, or a batch) and `edge run` (the speaker's main job).

    edge ask "what is 2 to the power of 20 plus 20 squared plus 20"
    edge ask --wav request.wav --json
    edge run                     # the microphone, else the bundled demo conversation
    edge run --input talk.wav    # the live loop over a recording
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from edge.cast.speaker import speaker_caster
from edge.cli.cast import cast_settings, network_options
from edge.core.errors import ExitCode
from edge.core.settings import Settings

logger = logging.getLogger(__name__)

ASK_SESSION = "ask"  # `edge ask`: one conversation per process (a batch is one conversation)
DEMO_SESSION = "local"


def add_commands(commands, common: argparse.ArgumentParser) -> None:
    ask = commands.add_parser(
        "ask", parents=[common, network_options()], help="run one turn from text or a WAV file",
        description="Run one turn (or one per line of --batch) through the whole on-device pipeline.",
    )
    ask.add_argument("text", nargs="?", help="the request as text (omit with --wav or --batch)")
    ask.add_argument(
        "--wav", nargs="?", const="", metavar="FILE",
        help="the request as an audio file (WAV, FLAC, OGG; any rate); with --batch, a bare --wav "
        "means each line is an audio path",
    )
    ask.add_argument("--batch", type=Path, help="one request per line, one trace per line")
    ask.add_argument("--json", action="store_true", help="print each turn's trace as one JSON line")
    ask.add_argument("--out", type=Path, help="write the spoken reply to this WAV (with --batch: a folder)")
    ask.add_argument(
        "--cast", action="store_true",
        help="cast the reply's card (a list, a table) to a paired screen found with mDNS",
    )
    ask.add_argument(
        "--screen-wait", type=float, default=3.0, metavar="SECONDS",
        help="with --cast: wait this long at most for a paired screen to be found first (default 3)",
    )
    ask.set_defaults(handler=_run_ask)

    run = commands.add_parser(
        "run", parents=[common, network_options()], help="the speaker's main job (demo conversation when there is no microphone)",
        description="Listen and answer: with a microphone, the live loop (wake word, VAD, ASR, streamed "
        "replies, barge-in); with --input FILE, the same loop over a recording; with no audio device, "
        "plays the bundled demo conversation through the whole pipeline. Replies go to --out-dir.",
    )
    run.add_argument("--demo", action="store_true", help="play the bundled demo even if a microphone exists")
    run.add_argument("--listen", action="store_true",
                     help="the microphone or nothing: exit with 3 when there is none (the service runs this; never the demo)")
    run.add_argument(
        "--input", type=Path, metavar="FILE",
        help="run the live loop (wake word, VAD, ASR, replies) over this recording as if it were the microphone",
    )
    run.add_argument("--out-dir", type=Path, default=Path("out"), help="where reply WAVs go (default ./out)")
    run.add_argument("--json", action="store_true", help="print each turn's trace as one JSON line")
    run.add_argument(
        "--no-cast", action="store_true",
        help="never cast cards to screens (by default, with cast.enabled, "
        "a reply's card goes to the nearest paired screen: see `edge cast pair`)",
    )
    run.set_defaults(handler=_run_main_job)


def _with_cast_flags(args: argparse.Namespace, settings: Settings) -> Settings:
    """settings.cast as `--interface`, `--state-dir` and `--no-cast` (edge run) or `--cast`
    (edge ask, which casts only when asked to) say."""
    cast = cast_settings(args, settings)
    if getattr(args, "no_cast", False) or getattr(args, "cast", True) is False:
        cast = dataclasses.replace(cast, enabled=False)
    return dataclasses.replace(settings, cast=cast)


def _ask_usage_problem(args: argparse.Namespace) -> str | None:
    if args.batch is not None:
        if args.text is not None or args.wav:
            return "with --batch, the requests come from the file: give no TEXT, and --wav without a FILE"
        return None
    if (args.text is None) == (not args.wav):
        return "give the request as TEXT or as --wav FILE (or many with --batch FILE)"
    return None


def _run_ask(args: argparse.Namespace, settings: Settings) -> int:
    problem = _ask_usage_problem(args)
    if problem is not None:
        print(f"edge ask: {problem}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    as_wav = args.wav is not None
    if args.batch is not None:
        requests = _batch_requests(args.batch)
    else:
        requests = iter([(args.wav if as_wav else args.text, None)])
    settings = _with_cast_flags(args, settings)
    with speaker_caster(settings.cast, wait_seconds=args.screen_wait) as caster:
        turn = _load_turn(settings, with_asr=as_wav, caster=caster)
        if turn is None:
            return ExitCode.FAILED
        failures = 0
        try:
            for number, (request, problem) in enumerate(requests, start=1):
                result = _one_turn(turn, request, problem, as_wav=as_wav)
                failures += result.error is not None
                out = _reply_path(args.out, number, batch=args.batch is not None)
                if out is not None and result.reply_audio is not None:
                    _write_reply(out, result)  # before the report, so the trace names the reply WAV
                _report(result, args.json)
        finally:
            turn.close()
    return ExitCode.FAILED if failures and not args.batch else 0


def _one_turn(turn, request, problem: str | None, as_wav: bool):
    from edge.core.events import Error

    if problem is None and isinstance(request, str) and _has_undecodable_bytes(request):
        problem = "the request text is not valid UTF-8"
    if problem is not None:
        return turn.failed(Error(text=problem, code="bad-input"), ASK_SESSION, source=str(request))
    if as_wav:
        return turn.run_wav(Path(request), ASK_SESSION)
    return turn.run_text(request, ASK_SESSION)


def _batch_requests(path: Path) -> Iterator[tuple[str, str | None]]:
    """Lines of a batch file; a line that is not UTF-8 comes with a problem instead of text."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        yield str(path), f"cannot read batch file {path}: {error.strerror}"
        return
    for number, line in enumerate(raw.splitlines(), start=1):
        try:
            text = line.decode("utf-8").strip()
        except UnicodeDecodeError:
            yield f"{path}:{number}", f"{path} line {number} is not valid UTF-8"
            continue
        if text and not text.startswith("#"):
            yield text, None


def _has_undecodable_bytes(text: str) -> bool:
    """argv bytes that were not UTF-8 arrive as lone surrogates (PEP 383)."""
    return any("\udc80" <= char <= "\udcff" for char in text)


def _load_turn(settings: Settings, with_asr: bool, caster=None):
    from edge.runtime.turn import Turn

    try:
        return Turn.load(settings, with_asr=with_asr, caster=caster)
    except Exception as error:  # model loading failures all reach the user as one line
        logger.debug("turn load failed", exc_info=True)
        print(f"edge: cannot start: {error}", file=sys.stderr)
        return None


def _reply_path(out: Path | None, number: int, batch: bool) -> Path | None:
    if out is None:
        return None
    return out / f"reply-{number:04d}.wav" if batch else out


def _write_reply(path: Path, result) -> None:
    from edge.audio.wavio import write_wav

    write_wav(path, result.reply_audio.samples, result.reply_audio.sample_rate)
    result.trace.reply_wav = str(path)


def _report(result, as_json: bool) -> None:
    trace = result.trace.to_dict()
    if as_json:
        print(json.dumps(trace, ensure_ascii=False), flush=True)
        return
    if "error" in trace:
        print(f"edge: {trace['error']['text']}", file=sys.stderr)
        return
    stages = ", ".join(f"{name} {ms:.0f} ms" for name, ms in trace["stages_ms"].items())
    print(f"you:    {trace.get('transcript')!s}")
    if trace.get("intent"):
        print(f"intent: {trace['intent']} ({trace['confidence']:.2f}) {trace.get('slots') or ''}")
    print(f"reply:  {trace['reply']}")
    print(f"timing: {stages}", flush=True)


def _run_main_job(args: argparse.Namespace, settings: Settings) -> int:
    from edge.runtime.demo import demo_turns

    settings = _with_cast_flags(args, settings)
    if args.input is not None:
        from edge.cli.live import run_file

        return run_file(args, settings)
    if not args.demo:
        if _microphone_available():
            from edge.cli.live import run_microphone

            return run_microphone(args, settings)
        if args.listen:
            print("edge run: no microphone found (install the audio extra and PortAudio: see docs/live.md)",
                  file=sys.stderr)
            return ExitCode.UNAVAILABLE
        print("edge run: no microphone found; playing the bundled demo conversation "
              "(`edge run --input FILE.wav` runs the live loop over a recording).")
    with tempfile.TemporaryDirectory(prefix="edge-demo-") as scratch:
        # The demo sets an alarm: keep it (and its ledgers) out of the user's own database.
        demo_skills = dataclasses.replace(settings.skills, database_path=str(Path(scratch) / "demo.sqlite3"))
        return _play_demo(args, dataclasses.replace(settings, skills=demo_skills), demo_turns())


def _play_demo(args: argparse.Namespace, settings: Settings, turns) -> int:
    with speaker_caster(settings.cast) as caster:
        turn = _load_turn(settings, with_asr=True, caster=caster)
        if turn is None:
            return ExitCode.FAILED
        failures = 0
        try:
            for number, demo in enumerate(turns, start=1):
                result = turn.run_wav(demo.wav, DEMO_SESSION)
                out = args.out_dir / f"reply-{number:02d}-{demo.wav.stem}.wav"
                _write_reply(out, result)
                failures += result.error is not None
                if not args.json:
                    print(f"\n[{number}] {demo.wav.name}")
                _report(result, args.json)
        finally:
            turn.close()
    if not args.json:
        print(f"\nreplies written to {args.out_dir}/")
    return ExitCode.FAILED if failures else 0


def _microphone_available() -> bool:
    """True when PortAudio (the optional `audio` extra) sees an input device."""
    try:
        import sounddevice
    except (ImportError, OSError):  # not installed, or PortAudio missing
        return False
    try:
        return any(device["max_input_channels"] > 0 for device in sounddevice.query_devices())
    except Exception:  # PortAudio errors have no common base class
        return False

