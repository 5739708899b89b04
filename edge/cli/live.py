"""`edge run --input FILE` and `edge run` with a microphone: the live loop from the command line."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from pathlib import Path

from edge.cast.speaker import speaker_caster
from edge.core.errors import ExitCode
from edge.core.settings import Settings

logger = logging.getLogger(__name__)



def _printer(as_json: bool):
    def report(trace_object) -> None:
        trace = trace_object.to_dict()
        if as_json:
            print(json.dumps(trace, ensure_ascii=False), flush=True)
            return
        live = trace.get("live", {})
        stages = ", ".join(f"{name} {ms:.0f} ms" for name, ms in trace.get("stages_ms", {}).items())
        print(f"\n[{live.get('trigger')} at {live.get('wake_at_s')} s] you: {trace.get('transcript')!s}")
        if trace.get("intent"):
            print(f"intent: {trace['intent']} ({trace['confidence']:.2f}) {trace.get('slots') or ''}")
        print(f"reply:  {trace.get('reply')}")
        print(f"timing: {stages}", flush=True)
    return report


def _alert_printer(as_json: bool):
    def report(alert) -> None:
        if as_json:
            print(json.dumps({"alert": {"kind": alert.kind, "text": alert.text, "due": alert.due.isoformat(),
                                        "session": alert.session}}, ensure_ascii=False), flush=True)
        else:
            print(f"\n[{alert.kind}] {alert.text}", flush=True)
    return report


def run_file(args: argparse.Namespace, settings: Settings) -> int:
    """The live loop over a recording, as if it were the microphone; replies to --out-dir."""
    from edge.audio.files import FileSink, FileSource
    from edge.audio.wavio import AudioInputError

    try:
        source = FileSource(Path(args.input), settings.live.frame_samples)
    except AudioInputError as error:
        print(f"edge run: {error}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    with speaker_caster(settings.cast) as caster:
        loop = _load_loop(settings, args.json, caster=caster, follow_stream_clock=True)
        if loop is None:
            return ExitCode.FAILED
        sink = FileSink(args.out_dir)
        try:
            traces = loop.run(source, sink)
        finally:
            loop.close()
    if not args.json:
        print(f"\n{len(traces)} turn(s) in {source.seconds:.1f} s of audio; replies written to {args.out_dir}/")
    return ExitCode.FAILED if any(trace.error is not None for trace in traces) else 0


def run_microphone(args: argparse.Namespace, settings: Settings) -> int:
    """Listen on the microphone and answer on the speaker until interrupted (Ctrl-C)."""
    from edge.audio.devices import MicrophoneSource, SpeakerSink
    from edge.audio.stream import AudioDeviceError
    from edge.listen.wake import PushToTalk

    activation = PushToTalk() if settings.live.activation == "push-to-talk" else None
    with speaker_caster(settings.cast) as caster:
        loop = _load_loop(settings, args.json, activation, caster)
        if loop is None:
            return ExitCode.FAILED
        if isinstance(loop.activation, PushToTalk):
            threading.Thread(target=_enter_presses, args=(loop.activation,), daemon=True).start()
            print("edge run: press Enter, then speak.", flush=True)
        else:
            print(f"edge run: listening for the wake word {settings.wake.model!r}.", flush=True)
        try:
            loop.run(MicrophoneSource(settings.live), SpeakerSink(settings.live))
        except AudioDeviceError as error:
            print(f"edge run: {error}", file=sys.stderr)
            return ExitCode.FAILED
        except KeyboardInterrupt:
            return 0
        finally:
            loop.close()
    return 0


def _enter_presses(push_to_talk) -> None:
    for _line in sys.stdin:
        push_to_talk.press()


def _load_loop(settings: Settings, as_json: bool, activation=None, caster=None, follow_stream_clock: bool = False):
    from edge.runtime.live import LiveLoop

    try:
        return LiveLoop.load(settings, on_turn=_printer(as_json), activation=activation, caster=caster,
                             on_alert=_alert_printer(as_json), follow_stream_clock=follow_stream_clock)
    except Exception as error:  # model loading failures all reach the user as one line
        logger.debug("live loop load failed", exc_info=True)
        print(f"edge: cannot start: {error}", file=sys.stderr)
        return None
