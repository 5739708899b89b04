"""Casting latency: discovery, delivery round trip, and what casting costs the spoken answer.

    python -m bench.cast_latency [--repeats 5] [--discovery-rounds 5] [--deliveries 40]

Everything runs on loopback with real parts: `edge cast companion` processes advertising over mDNS,
a CardCaster browsing for them, headless Debian chromium showing the page (when installed),
and the real pipeline (Whisper, intent model, skills, Piper) for the first-audio comparison.

Writes bench/results/cast_latency.json:
- discovery: seconds from a companion's start to the speaker listing it; from a clean stop
  (mDNS goodbye) and from SIGKILL (liveness probe) to the speaker dropping it;
- delivery: cast() to acknowledgement, with no page open ("stored") and with a chromium page
  rendering the card ("shown");
- first_audio: end of speech to first reply audio over the demo turns, each turn run without
  and with a card cast right after the skill reply and before TTS (as the turn loop will do),
  interleaved in one process; plus how long the cast() call itself blocks the turn, and the CPU
  time of the caster's thread while the reply is spoken (with the GIL, the most it can have
  delayed the turn thread; unlike wall-clock times it does not move with other load on the box).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from bench.provenance import write_result
from edge.cast.caster import CardCaster
from edge.core.events import Card
from edge.core.settings import CastSettings, load_settings

PACKAGES = ("edge-voice", "zeroconf", "aiohttp", "markdown-it-py", "pychromecast", "playwright", "onnxruntime", "piper-tts")
LOOPBACK = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def stats_ms(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(float(np.percentile(values, 50)), 2), "p95": round(float(np.percentile(values, 95)), 2),
        "mean": round(float(np.mean(values)), 2), "max": round(float(np.max(values)), 2), "n": len(values),
    }


class CompanionProcess:
    def __init__(self, state_dir: Path, name: str):
        command = [sys.executable, "-m", "edge", "cast", "companion", "--interface", LOOPBACK, "--port", "0",
                   "--name", name, "--room", "bench", "--state-dir", str(state_dir)]
        self.started = time.perf_counter()
        self.process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                                        stdout=subprocess.PIPE, text=True)
        match = re.search(r"at (http://\S+)\s+pairing code (\d+)", self.process.stdout.readline())
        if match is None:
            self.process.kill()
            raise RuntimeError("edge cast companion did not start")
        self.url, self.code = match.group(1), match.group(2)

    def stop(self, kill: bool = False) -> None:
        (self.process.kill if kill else self.process.terminate)()
        self.process.wait(10)


def has(name: str):
    return lambda screens: any(screen.name == name for screen in screens)


def lacks(name: str):
    return lambda screens: not any(screen.name == name for screen in screens)


def measure_discovery(caster: CardCaster, scratch: Path, rounds: int) -> dict:
    """In-process companions for appear/stop (the timer starts at Companion.start()), processes for SIGKILL."""
    import asyncio

    from edge.cast.companion import Companion

    appear, stop, kill = [], [], []
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    for index in range(rounds):
        name = f"bench screen {os.getpid()}-{index}"
        settings = CastSettings(interface=LOOPBACK, port=0, name=name, state_dir=str(scratch / f"screen{index}"))
        companion = Companion(settings)
        started = time.perf_counter()
        starting = asyncio.run_coroutine_threadsafe(companion.start(), loop)  # seen before start() returns
        if not caster.wait_for(has(name), 10):
            raise RuntimeError(f"{name} was not discovered")
        appear.append((time.perf_counter() - started) * 1000)
        starting.result(10)
        stopped = time.perf_counter()
        asyncio.run_coroutine_threadsafe(companion.stop(), loop).result(10)
        caster.wait_for(lacks(name), 30)
        stop.append((time.perf_counter() - stopped) * 1000)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    for index in range(max(1, rounds // 2)):
        name = f"bench killed {os.getpid()}-{index}"
        process = CompanionProcess(scratch / f"killed{index}", name)
        caster.wait_for(has(name), 10)
        killed = time.perf_counter()
        process.stop(kill=True)
        caster.wait_for(lacks(name), 30)
        kill.append((time.perf_counter() - killed) * 1000)
    return {
        "appear_after_start_ms": stats_ms(appear), "disappear_after_stop_ms": stats_ms(stop),
        "disappear_after_sigkill_ms": stats_ms(kill),
        "targets": {"appear_ms": 2000, "disappear_ms": 5000},
        "probe_interval_seconds": caster.settings.probe_interval_seconds,
    }


def sample_card(index: int, text: str = "") -> Card:
    return Card(
        title=f"Answer {index}", body=f"**{text or 'Here it is.'}**\n\n" + "A line of detail. " * 40,
        table=[["Day", "High", "Low"]] + [[f"Day {day}", f"{20 + day}°", f"{10 + day}°"] for day in range(5)],
        items=[f"step {step}" for step in range(5)],
    )


def measure_delivery(caster: CardCaster, screen_name: str, url: str, deliveries: int) -> dict:
    stored = [caster.cast(sample_card(i), hint=screen_name).outcome(10)["ms"] for i in range(deliveries)]
    result = {"no_page_open_ms": stats_ms(stored)}
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        result["with_chromium_page"] = "skipped: playwright is not installed"
        return result
    if not Path(CHROMIUM).exists():
        result["with_chromium_page"] = f"skipped: no {CHROMIUM}"
        return result
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(url)
        page.wait_for_selector("#status.online")
        shown = []
        for index in range(deliveries):
            # Playwright's sync API is not thread-safe; the caster works on its own thread meanwhile.
            outcome = caster.cast(sample_card(index), hint=screen_name).outcome(10)
            if outcome.get("ack") != "shown":
                raise RuntimeError(f"the page did not acknowledge: {outcome}")
            shown.append(outcome["ms"])
        browser.close()
    result["with_chromium_page_ms"] = stats_ms(shown)
    return result


def casting_turn_class():
    """The real Turn, casting a card for every reply right before it is spoken (as `Turn._finish` does
    for replies that have one), so every turn of the demo can be measured with and without a cast."""
    from edge.runtime.turn import Turn

    class CastingTurn(Turn):
        bench_caster: CardCaster | None = None  # set per turn; the lists and caster_clock are set after load()

        def _finish(self, request, reply, card, spoken=None):
            caster_cpu = time.clock_gettime(self.caster_clock)
            if self.bench_caster is not None:
                started = time.perf_counter()
                self.tickets.append(self.bench_caster.cast(card or sample_card(len(self.tickets), reply.text)))
                self.cast_call_ms.append((time.perf_counter() - started) * 1000)
            result = super()._finish(request, reply, None, spoken)
            # CPU the caster's thread used while this reply was spoken: an upper bound on how long it
            # can have held the GIL, and so on how much it can have delayed the turn thread.
            self.caster_cpu_ms.append((time.clock_gettime(self.caster_clock) - caster_cpu) * 1000)
            return result

    return CastingTurn


def paired_difference(with_cast: list[float], without: list[float]) -> dict[str, float]:
    """Median and mean of per-turn differences, with a bootstrap 95% interval of the mean."""
    differences = np.array(with_cast) - np.array(without)
    generator = np.random.default_rng(0)
    means = [float(np.mean(generator.choice(differences, len(differences)))) for _ in range(2000)]
    return {
        "median": round(float(np.median(differences)), 2), "mean": round(float(np.mean(differences)), 2),
        "mean_95ci": [round(float(np.percentile(means, 2.5)), 2), round(float(np.percentile(means, 97.5)), 2)],
        "n": len(differences),
    }


def measure_first_audio(caster: CardCaster, repeats: int, scratch: Path) -> dict:
    """Each demo turn twice in a row, without and with a cast (order alternating), on the real pipeline."""
    from edge.runtime.demo import demo_turns

    overrides = {"skills.database_path": str(scratch / "bench.sqlite3")}
    settings = load_settings(environ={}, overrides=overrides)
    if any(section.name == "router" for section in dataclasses.fields(settings)):
        settings = load_settings(environ={}, overrides={**overrides, "router.enabled": False})  # every turn local
    pipeline = casting_turn_class().load(settings)
    pipeline.tickets, pipeline.cast_call_ms, pipeline.caster_cpu_ms = [], [], []
    pipeline.caster_clock = time.pthread_getcpuclockid(caster._thread.ident)
    pipeline.run_wav(demo_turns()[0].wav)  # warm-up
    arms = ("without_cast", "with_cast")
    first_audio: dict[str, list[float]] = {arm: [] for arm in arms}
    reply_to_audio: dict[str, list[float]] = {arm: [] for arm in arms}
    caster_cpu: dict[str, list[float]] = {arm: [] for arm in arms}
    for repeat in range(repeats):
        for turn_index, turn in enumerate(demo_turns()):
            order = arms if (repeat + turn_index) % 2 == 0 else arms[::-1]  # neither arm always runs second
            for arm in order:
                pipeline.bench_caster = caster if arm == "with_cast" else None
                marks = pipeline.run_wav(turn.wav).trace.to_dict()["timestamps_ms"]
                first_audio[arm].append(marks["first_reply_audio"])
                reply_to_audio[arm].append(marks["first_reply_audio"] - marks["skill_done"])
                caster_cpu[arm].append(pipeline.caster_cpu_ms[-1])
                if arm == "with_cast":
                    pipeline.tickets[-1].outcome(10)  # the next turn starts with no delivery in flight
    pipeline.close()
    outcomes = [ticket.outcome(0) for ticket in pipeline.tickets]
    return {
        "turns_per_arm": len(first_audio["with_cast"]),
        "end_of_speech_to_first_audio_ms": {arm: stats_ms(first_audio[arm]) for arm in arms},
        "skill_reply_to_first_audio_ms": {arm: stats_ms(reply_to_audio[arm]) for arm in arms},
        "added_by_casting_ms": {
            "end_of_speech_to_first_audio": paired_difference(first_audio["with_cast"], first_audio["without_cast"]),
            "skill_reply_to_first_audio": paired_difference(reply_to_audio["with_cast"], reply_to_audio["without_cast"]),
            "target": 10,
        },
        "cast_call_blocking_ms": stats_ms(pipeline.cast_call_ms),
        "caster_thread_cpu_during_reply_ms": {arm: stats_ms(caster_cpu[arm]) for arm in arms},
        "casts_delivered": sum(outcome["status"] == "delivered" for outcome in outcomes),
        "cast_outcome_ms": stats_ms([outcome["ms"] for outcome in outcomes]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="passes over the demo turns per arm (default 5)")
    parser.add_argument("--discovery-rounds", type=int, default=5, help="companion start/stop rounds (default 5)")
    parser.add_argument("--deliveries", type=int, default=40, help="casts per delivery measurement (default 40)")
    parser.add_argument("--skip-first-audio", action="store_true", help="leave out the pipeline comparison")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        scratch = Path(temporary)
        speaker = CastSettings(interface=LOOPBACK, state_dir=str(scratch / "speaker"), browse_chromecast=False)
        with CardCaster(speaker, speaker_name="bench speaker") as caster:
            discovery = measure_discovery(caster, scratch, args.discovery_rounds)
            name = f"bench tv {os.getpid()}"
            screen = CompanionProcess(scratch / "tv", name)
            try:
                caster.pair(name, screen.code)
                delivery = measure_delivery(caster, name, screen.url, args.deliveries)
                first_audio = None if args.skip_first_audio else measure_first_audio(caster, args.repeats, scratch)
            finally:
                screen.stop()
    result = {"interface": LOOPBACK, "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
              "discovery": discovery, "delivery": delivery}
    if first_audio is not None:
        result["first_audio"] = first_audio
    path = write_result("cast_latency", result, PACKAGES)
    print(path.read_text())


if __name__ == "__main__":
    main()
