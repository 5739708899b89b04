"""One soak run: the runtime, its peers and the faults on a timetable, all on loopback.

    result = asyncio.run(Soak(seconds=600, satellites=8, scratch=folder).run())

The timetable, as fractions of the load's length: the LLM server answers, hangs (15-30 %),
answers, errors with HTTP 500 (40-55 %) and recovers; the runtime is killed with -9 at 10 % and
45 %, each time just after it acknowledged a write while another write was in flight, kept down
until an alert set before the kill is due (30 s at most), and started again; the UART board is
unplugged at 35 % and 70 % and plugged in again 3 s later. A step that waits (a kill, for its
moment) delays the ones after it. After the load the satellites stay connected until every alert
set during the run has come due.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import signal
import sqlite3
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.soak.board import SoakBoard
from bench.soak.record import Record, alert_accounting, due_alerts, rows_check
from bench.soak.report import resource_figures, targets, turn_figures
from bench.soak.requests import board_script, request_clips, satellite_script
from bench.soak.runtime import RuntimeProcess, free_port
from bench.soak.satellite import SoakSatellite
from bench.soak.screen import CompanionScreen
from firmware_bridge.access import satellite_key
from tests.helpers.fake_openai import FakeOpenAI

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
LLM_PHASES = [(0.0, "ok"), (0.15, "hang"), (0.30, "ok"), (0.40, "http500"), (0.55, "ok")]  # (from fraction, mode)
KILLS = (0.10, 0.45)
UNPLUGS = (0.35, 0.70)
UNPLUGGED_SECONDS = 3.0
KILL_WAIT_SECONDS = 60.0  # for an acknowledgement with another write in flight; then it is killed anyway
ALERT_GRACE_SECONDS = 10.0  # after the last alert's time: announcing it (TTS, sending) takes a moment
SAMPLE_SECONDS = 1.0
HOLD_DOWN_MAX_SECONDS = 30.0  # a killed runtime stays down until an alert set before the kill is due, at most this


class Soak:
    def __init__(self, seconds: float, satellites: int, scratch: Path) -> None:
        self.seconds = seconds
        self.satellites = satellites
        self.scratch = scratch
        self.database = scratch / "edge.sqlite3"
        self.record = Record()
        self.samples: list[dict[str, Any]] = []
        self.timeline: list[dict[str, Any]] = []
        self.rows: list[dict[str, Any]] = []
        self.secret = secrets.token_hex(16)
        self.environ = {**os.environ, "EDGE_WYOMING_SECRET": self.secret, "PYTHONPATH": str(ROOT)}
        self.began = 0.0
        self.downtimes: list[tuple[float, float]] = []  # (killed, ready again), wall-clock
        self.recovered_at = 0.0
        self.failures: list[str] = []  # a peer of the soak itself that failed: the figures are not to be trusted

    def note(self, event: str, **details: Any) -> None:
        self.timeline.append({"at_s": round(time.monotonic() - self.began, 1), "event": event, **details})
        logger.info("%s %s", event, details or "")

    def runtime_command(self, port: int, llm_url: str, board: SoakBoard) -> list[str]:
        return [
            sys.executable, "-m", "edge", "bridge", "serve", "-v", "--wyoming", f"tcp://127.0.0.1:{port}", "--no-zeroconf",
            "--uart", str(board.device), "--set", f"skills.database_path={self.database}", "--set", f"llm.base_url={llm_url}",
            "--set", f"cast.state_dir={self.scratch / 'speaker'}", "--set", "cast.interface=127.0.0.1",
            "--set", "cast.browse_chromecast=false", "--set", "bridge.uart_name=uart-board",
            "--set", "bridge.uart_room=workshop",
        ]

    async def run(self) -> dict[str, Any]:
        clips = await asyncio.to_thread(request_clips)
        with FakeOpenAI(mode="ok", answer="Paris is the capital of France.") as llm:
            screen = await CompanionScreen.start(self.scratch / "screen", sys.executable, ROOT, self.environ)
            try:
                await screen.pair(self.scratch / "speaker")
                return await self._run(clips, llm, screen)
            finally:
                await screen.stop()

    async def _run(self, clips, llm: FakeOpenAI, screen: CompanionScreen) -> dict[str, Any]:
        board = SoakBoard(self.scratch, board_script(clips), self.record, load_until=float("inf"))
        board.plug()
        port = free_port()
        command = self.runtime_command(port, llm.base_url, board)
        runtime = RuntimeProcess(command, self.environ, self.scratch / "runtime.log", ROOT)
        self.began = time.monotonic()
        self.note("runtime started", ready_seconds=round(await runtime.start(), 1))
        load_until = time.monotonic() + self.seconds
        board.load_until = load_until
        leave = asyncio.Event()
        peers = [
            SoakSatellite(f"sat-{index}", satellite_key(self.secret, f"sat-{index}"), port,
                          satellite_script(index, clips), self.record, load_until, leave, seed=index)
            for index in range(self.satellites)
        ]
        tasks = [asyncio.create_task(peer.run(), name=peer.name) for peer in peers]
        background = [asyncio.create_task(screen.watch(self.record)), asyncio.create_task(self._sample(runtime))]
        try:
            await self._timetable(runtime, board, llm, load_until)
            until = await self._wait_for_alerts()
        finally:
            leave.set()
            await asyncio.wait(tasks, timeout=30)
            for task in [*tasks, *background]:
                task.cancel()
            ended = await asyncio.gather(*tasks, *background, return_exceptions=True)
            self.failures = [f"{type(error).__name__}: {error}" for error in ended
                             if isinstance(error, Exception) and not isinstance(error, asyncio.CancelledError)]
            await board.unplug()
            self.note("runtime stopped", returncode=await runtime.stop())
        self.rows.append({"when": "at the end", **rows_check(self.database, self.record.acks)})
        return self._result(command, runtime, board, llm, peers, screen, until, load_until)

    async def _timetable(self, runtime: RuntimeProcess, board: SoakBoard, llm: FakeOpenAI, load_until: float) -> None:
        start = load_until - self.seconds
        steps = sorted([(at, "llm", mode) for at, mode in LLM_PHASES] + [(at, "kill", None) for at in KILLS]
                       + [(at, "unplug", None) for at in UNPLUGS])
        for fraction, action, mode in steps:
            await asyncio.sleep(max(0.0, start + fraction * self.seconds - time.monotonic()))
            if action == "llm":
                llm.mode = mode
                self.recovered_at = time.time()  # the last switch is the recovery
                self.note("llm server", mode=mode)
            elif action == "kill":
                await self._kill_and_restart(runtime)
            else:
                await board.unplug()
                self.note("uart board unplugged")
                await asyncio.sleep(UNPLUGGED_SECONDS)
                board.plug()
                self.note("uart board plugged in")
        await asyncio.sleep(max(0.0, load_until - time.monotonic()))
        self.note("load ended")

    async def _kill_and_restart(self, runtime: RuntimeProcess) -> None:
        """kill -9 just after an acknowledged write while another write is in flight, restart, and
        check that every row acknowledged before the kill is there."""
        fired = asyncio.get_running_loop().create_future()

        def on_ack(ack) -> None:
            if not fired.done() and self.record.writes_in_flight > 0 and runtime.process is not None:
                runtime.process.send_signal(signal.SIGKILL)
                fired.set_result(ack)

        self.record.on_ack = on_ack
        try:
            ack = await asyncio.wait_for(fired, KILL_WAIT_SECONDS)
        except TimeoutError:
            ack = None
        finally:
            self.record.on_ack = None
        in_flight = self.record.writes_in_flight
        await runtime.kill()
        killed_at = time.time()
        self.note("runtime killed (-9)", after_ack=None if ack is None else f"{ack.kind} {ack.what} ({ack.satellite})",
                  writes_in_flight=in_flight)
        # Stay down until an alert set before the kill is due: the restarted runtime must ring it.
        upcoming = [alert.due for alert in due_alerts(self.database, float("inf")) if alert.due > killed_at]
        if upcoming:
            await asyncio.sleep(max(0.0, min(min(upcoming) + 1.0 - time.time(), HOLD_DOWN_MAX_SECONDS)))
        restart_at = time.time()
        ready = await runtime.start()
        self.downtimes.append((killed_at, time.time()))
        self.record.incarnation += 1
        acked = [ack for ack in self.record.acks if ack.at < restart_at]
        check = rows_check(self.database, acked)
        check["integrity"] = _integrity(self.database)
        self.rows.append({"when": f"after kill {len(self.rows) + 1}", "writes_in_flight_at_kill": in_flight, **check})
        self.note("runtime restarted", ready_seconds=round(ready, 1), rows_lost=check["lost"])

    async def _sample(self, runtime: RuntimeProcess) -> None:
        while True:
            sample = runtime.sample()
            if sample is not None:
                self.samples.append({"at": time.time(), **sample})
            await asyncio.sleep(SAMPLE_SECONDS)

    async def _wait_for_alerts(self) -> float:
        """Until the last alert set during the run is due, and a little more; returns that time."""
        alerts = due_alerts(self.database, float("inf"))
        last = max((alert.due for alert in alerts), default=time.time())
        until = last + ALERT_GRACE_SECONDS
        await asyncio.sleep(max(0.0, until - time.time()))
        self.note("alert wait ended", alerts_set=len(alerts))
        return last

    def _result(self, command, runtime, board, llm, peers, screen, until, load_until) -> dict[str, Any]:
        load_until_wall = time.time() - (time.monotonic() - load_until)
        resources = resource_figures(self.samples, runtime.starts, load_until_wall)
        alerts = alert_accounting(self.database, self.record.rings, until, self.downtimes)
        # every ring as heard, for reading beside the runtime's log (kept with --keep)
        (self.scratch / "rings.json").write_text(json.dumps([asdict(ring) for ring in self.record.rings]))
        cloud = [turn for turn in self.record.turns if turn.kind == "cloud" and turn.answered]
        return {
            "setup": {
                "seconds": self.seconds, "satellites": self.satellites, "uart_boards": 1, "screens": 1,
                "runtime_command": " ".join(["python", *(_relative(part, self.scratch) for part in command[1:])]),
                "llm_phases": [{"from_fraction": at, "mode": mode} for at, mode in LLM_PHASES],
                "kills_at_fraction": list(KILLS), "unplugs_at_fraction": list(UNPLUGS),
                "transport": "TCP and a pseudo-terminal on this machine only",
                "latency": "audio-stop written -> first reply audio read (satellites and the board)",
            },
            "targets": targets(self.rows, alerts, resources),
            "turns": turn_figures(self.record),
            "alerts": alerts,
            "rows": self.rows,
            "resources": resources,
            "llm": {"requests": len(llm.requests),
                    "cloud_turns_answered_by_the_llm": sum(turn.reply == llm.answer for turn in cloud),
                    "cloud_turns_apologised": sum(turn.reply != llm.answer for turn in cloud),
                    "answered_after_it_recovered": sum(turn.reply == llm.answer and turn.started > self.recovered_at
                                                       for turn in cloud)},
            "companion": {"cards_shown": len(self.record.cards), "page_connections": screen.page_connections,
                          "list_queries_served": sum(t.kind == "query" and t.answered for t in self.record.turns)},
            "uart_board": {"plugged_in": board.plugs},
            "satellite_connections": {peer.name: peer.connections for peer in peers},
            "soak_failures": self.failures,
            "timeline": self.timeline,
            "fd_listing_at_each_start_end": [_last_listing(self.samples, start["pid"], self.scratch) for start in runtime.starts],
            "samples": [{**{k: v for k, v in sample.items() if k != "fd_listing"},
                         "at": round(sample["at"] - self.samples[0]["at"], 1)} for sample in self.samples],
        }


def _last_listing(samples: list[dict[str, Any]], pid: int, scratch: Path) -> dict[str, int]:
    """What a runtime start's descriptors were at its last sample (scratch paths shortened)."""
    last = next((sample for sample in reversed(samples) if sample["pid"] == pid), {})
    return {_relative(what, scratch): count for what, count in sorted(last.get("fd_listing", {}).items())}


def _integrity(database: Path) -> str:
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        connection.close()


def _relative(part: str, scratch: Path) -> str:
    part = part.replace(str(scratch), "<scratch>")
    return part.replace(str(ROOT) + os.sep, "")
