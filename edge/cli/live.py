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
from edge.core.notify import Notifier
from edge.core.settings import Settings
from edge.runtime.line import serving_version, update_poller
from edge.runtime.metrics import metrics_endpoint
from edge.runtime.watchdog import WatchedSource

logger = logging.getLogger(__name__)



def _printer(as_json: bool, notifier: Notifier | None = None, metrics=None):
    turns = [0]

    def report(trace_object) -> None:
        trace = trace_object.to_dict()
        if metrics is not None:
            metrics.observe(trace)
        if notifier is not None:  # `systemctl status edge` shows the last turn
            turns[0] += 1
            first_audio = trace.get("stages_ms", {}).get("end_of_speech_to_first_audio")
            notifier.status(f"{turns[0]} turn(s); last: {trace.get('route')} via {trace.get('skill')}"
                            + (f", first audio after {first_audio:.0f} ms" if first_audio is not None else ""))
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
    notifier = Notifier.from_environment()
    with speaker_caster(settings.cast) as caster, metrics_endpoint(settings.metrics) as metrics:
        loop = _load_loop(settings, args.json, caster=caster, follow_stream_clock=True, notifier=notifier, metrics=metrics)
        if loop is None:
            return ExitCode.FAILED
        sink = FileSink(args.out_dir)
        notifier.ready(f"reading {args.input}")
        try:
            traces = loop.run(WatchedSource(source, notifier.pinger()), sink)
        finally:
            notifier.stopping()
            loop.close()
    if not args.json:
        print(f"\n{len(traces)} turn(s) in {source.seconds:.1f} s of audio; replies written to {args.out_dir}/")
    return ExitCode.FAILED if any(trace.error is not None for trace in traces) else 0


def run_microphone(args: argparse.Namespace, settings: Settings) -> int:
    """Listen on the microphone and answer on the speaker until interrupted (Ctrl-C)."""
    from edge.listen.wake import PushToTalk

    activation = PushToTalk() if settings.live.activation == "push-to-talk" else None
    notifier = Notifier.from_environment()
    with speaker_caster(settings.cast) as caster, metrics_endpoint(settings.metrics) as metrics:
        loop = _load_loop(settings, args.json, activation, caster, notifier=notifier, metrics=metrics)
        if loop is None:
            return ExitCode.FAILED
        with update_poller(settings, metrics):  # update.poll_minutes: the line's newer bundle, loaded at restart
            return _listen(loop, settings, notifier)


def _listen(loop, settings: Settings, notifier: Notifier) -> int:
    from edge.audio.devices import MicrophoneSource, SpeakerSink
    from edge.audio.stream import AudioDeviceError
    from edge.listen.wake import PushToTalk

    if isinstance(loop.activation, PushToTalk):
        threading.Thread(target=_enter_presses, args=(loop.activation,), daemon=True).start()
        print("edge run: press Enter, then speak.", flush=True)
        notifier.ready("press Enter, then speak")
    else:
        print(f"edge run: listening for the wake word {settings.wake.model!r}.", flush=True)
        notifier.ready(f"listening for the wake word {settings.wake.model!r}")
    try:
        loop.run(WatchedSource(MicrophoneSource(settings.live), notifier.pinger()), SpeakerSink(settings.live))
    except AudioDeviceError as error:
        print(f"edge run: {error}", file=sys.stderr)
        return ExitCode.FAILED
    except KeyboardInterrupt:
        return 0
    finally:
        notifier.stopping()
        loop.close()
    return 0


def _enter_presses(push_to_talk) -> None:
    for _line in sys.stdin:
        push_to_talk.press()


def _load_loop(settings: Settings, as_json: bool, activation=None, caster=None, follow_stream_clock: bool = False,
               notifier: Notifier | None = None, metrics=None):
    from edge.runtime.live import LiveLoop

    if metrics is not None:
        metrics.set_bundle(serving_version(settings))
    try:
        loop = LiveLoop.load(settings, on_turn=_printer(as_json, notifier, metrics), activation=activation, caster=caster,
                             on_alert=_alert_printer(as_json), follow_stream_clock=follow_stream_clock)
    except Exception as error:  # model loading failures all reach the user as one line
        logger.debug("live loop load failed", exc_info=True)
        print(f"edge: cannot start: {error}", file=sys.stderr)
        return None
    if metrics is not None:
        metrics.watch_alerts(loop.alerts)
    return loop
