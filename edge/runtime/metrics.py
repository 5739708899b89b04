"""`/metrics` in Prometheus' text format: turns, routes, stage latencies, errors, alerts, memory,
and the intent model bundle the speaker serves (its product line and version).

    metrics = Metrics()
    metrics.set_bundle(installed_version(bundle_dir))         # edge_bundle_info, before the turn loads it
    turn = Turn.load(settings, on_trace=metrics.observe)      # every turn's trace
    metrics.watch_alerts(scheduler)                           # due / rung / given up / missed
    server = MetricsServer(metrics, "127.0.0.1", 9464).start()
    ...
    server.close()

The server is the standard library's (a daemon thread; nothing to install) and listens on
loopback unless `metrics.host` says otherwise. Names follow Prometheus' conventions: counters end
in `_total`, durations are histograms in seconds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from edge.core.settings import MetricsSettings
from edge.core.trace import TurnTrace

if TYPE_CHECKING:
    from edge.nlu.signed import BundleVersion

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Stage latency buckets (seconds): a short command's ASR is ~0.05 s, a cloud answer's first audio ~1-3 s.
BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
STAGES = ("asr", "nlu", "skill", "tts", "llm_first_token", "end_of_speech_to_first_audio")


class _Histogram:
    def __init__(self) -> None:
        self.counts = [0] * len(BUCKETS)
        self.total = 0.0
        self.count = 0

    def observe(self, seconds: float) -> None:
        for index, bound in enumerate(BUCKETS):
            if seconds <= bound:
                self.counts[index] += 1
        self.total += seconds
        self.count += 1


class Metrics:
    """Thread-safe counters and histograms fed by turn traces; `render()` gives the text format."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._turns: dict[tuple[str, str], int] = {}  # (route, skill) -> turns
        self._errors: dict[str, int] = {}  # error code -> turns that failed with it
        self._stages: dict[str, _Histogram] = {stage: _Histogram() for stage in STAGES}
        self._alert_sources: list[Callable[[], dict[tuple[str, str], int]]] = []
        self._started = time.time()
        self._bundle: dict[str, str] | None = None  # product, version, sha256 of the bundle loaded
        self._pending: str | None = None  # a bundle installed by the update poll, loaded at the next start
        self._update_checks: dict[str, int] = {}  # outcome -> polls of the update source

    def set_bundle(self, version: BundleVersion) -> None:
        """The bundle this process serves (an edge.nlu.signed.BundleVersion): `edge_bundle_info`."""
        with self._lock:
            self._bundle = {"product": version.product, "version": version.version, "sha256": version.sha256}

    def set_pending_bundle(self, version: str) -> None:
        """A newer bundle is installed and waits for a restart: `edge_bundle_pending_info`."""
        with self._lock:
            self._pending = version

    def count_update_check(self, outcome: str) -> None:
        with self._lock:
            self._update_checks[outcome] = self._update_checks.get(outcome, 0) + 1

    def observe(self, trace: TurnTrace | dict[str, Any]) -> None:
        data = trace.to_dict() if isinstance(trace, TurnTrace) else trace
        with self._lock:
            key = (str(data.get("route") or "none"), str(data.get("skill") or "none"))
            self._turns[key] = self._turns.get(key, 0) + 1
            error = data.get("error")
            if error:
                code = str(error.get("code", "unknown"))
                self._errors[code] = self._errors.get(code, 0) + 1
            for stage, milliseconds in (data.get("stages_ms") or {}).items():
                if stage in self._stages and milliseconds is not None:
                    self._stages[stage].observe(float(milliseconds) / 1000.0)

    def watch_alerts(self, scheduler) -> None:
        """Report an AlertScheduler's outcomes (edge/runtime/alerts.py) at every scrape."""
        self._alert_sources.append(scheduler.outcomes)

    def render(self) -> str:
        with self._lock:
            lines = self._render_turns() + self._render_stages() + self._render_bundle()
        return "\n".join(lines + self._render_alerts() + _render_process(self._started)) + "\n"

    def _render_turns(self) -> list[str]:
        lines = ["# HELP edge_turns_total Turns answered, by route (local, cloud, offline) and skill.",
                 "# TYPE edge_turns_total counter"]
        lines += [f'edge_turns_total{{route="{_label(route)}",skill="{_label(skill)}"}} {count}'
                  for (route, skill), count in sorted(self._turns.items())]
        lines += ["# HELP edge_turn_errors_total Turns that failed (an apology was spoken), by error code.",
                  "# TYPE edge_turn_errors_total counter"]
        lines += [f'edge_turn_errors_total{{code="{_label(code)}"}} {count}' for code, count in sorted(self._errors.items())]
        return lines

    def _render_stages(self) -> list[str]:
        lines = ["# HELP edge_stage_seconds Time per turn stage (asr, nlu, skill, tts, llm_first_token, "
                 "end_of_speech_to_first_audio).", "# TYPE edge_stage_seconds histogram"]
        for stage, histogram in self._stages.items():
            for bound, count in zip(BUCKETS, histogram.counts, strict=True):
                lines.append(f'edge_stage_seconds_bucket{{stage="{stage}",le="{bound}"}} {count}')
            lines.append(f'edge_stage_seconds_bucket{{stage="{stage}",le="+Inf"}} {histogram.count}')
            lines.append(f'edge_stage_seconds_sum{{stage="{stage}"}} {histogram.total:.6f}')
            lines.append(f'edge_stage_seconds_count{{stage="{stage}"}} {histogram.count}')
        return lines

    def _render_bundle(self) -> list[str]:
        lines = ["# HELP edge_bundle_info The intent model bundle this process serves: its product line, version "
                 "(NAME-DIGEST8 of its signed package, else its folder) and model.onnx's sha256.",
                 "# TYPE edge_bundle_info gauge"]
        if self._bundle is not None:
            labels = ",".join(f'{name}="{_label(value)}"' for name, value in self._bundle.items())
            lines.append(f"edge_bundle_info{{{labels}}} 1")
        lines += ["# HELP edge_bundle_pending_info A newer bundle the update poll installed; a restart loads it.",
                  "# TYPE edge_bundle_pending_info gauge"]
        if self._pending is not None:
            lines.append(f'edge_bundle_pending_info{{version="{_label(self._pending)}"}} 1')
        lines += ["# HELP edge_update_checks_total Polls of update.source, by outcome (installed, already_installed, "
                  "refused, failed).", "# TYPE edge_update_checks_total counter"]
        lines += [f'edge_update_checks_total{{outcome="{_label(outcome)}"}} {count}'
                  for outcome, count in sorted(self._update_checks.items())]
        return lines

    def _render_alerts(self) -> list[str]:
        totals: dict[tuple[str, str], int] = {}
        for source in self._alert_sources:
            for key, count in source().items():
                totals[key] = totals.get(key, 0) + count
        lines = ["# HELP edge_alerts_total Timers, alarms and reminders by outcome: due, rung (heard), given_up, missed.",
                 "# TYPE edge_alerts_total counter"]
        lines += [f'edge_alerts_total{{kind="{_label(kind)}",outcome="{_label(outcome)}"}} {count}'
                  for (kind, outcome), count in sorted(totals.items())]
        return lines


def _render_process(started: float) -> list[str]:
    resident = _resident_bytes()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    lines = ["# HELP edge_process_resident_memory_bytes Resident memory of the speaker's process now.",
             "# TYPE edge_process_resident_memory_bytes gauge"]
    if resident is not None:
        lines.append(f"edge_process_resident_memory_bytes {resident}")
    lines += ["# HELP edge_process_peak_resident_memory_bytes Peak resident memory since the process started.",
              "# TYPE edge_process_peak_resident_memory_bytes gauge", f"edge_process_peak_resident_memory_bytes {peak}",
              "# HELP edge_process_start_time_seconds When the process started (Unix time).",
              "# TYPE edge_process_start_time_seconds gauge", f"edge_process_start_time_seconds {started:.3f}"]
    return lines


def _resident_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class MetricsServer:
    """GET /metrics on `host:port` from a daemon thread; anything else is 404."""

    def __init__(self, metrics: Metrics, host: str = "127.0.0.1", port: int = 0) -> None:
        self.metrics = metrics
        self._server = ThreadingHTTPServer((host, port), _handler(metrics))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> MetricsServer:
        self._thread.start()
        logger.info("metrics on http://%s:%d/metrics", *self._server.server_address[:2])
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(metrics: Metrics) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self.path.split("?", 1)[0] != "/metrics":
                self.send_error(404, "only /metrics here")
                return
            body = metrics.render().encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
            logger.debug("metrics: " + format, *args)

    return Handler


@contextlib.contextmanager
def metrics_endpoint(settings: MetricsSettings) -> Iterator[Metrics | None]:
    """Metrics served on `metrics.host:metrics.port` for a `with` block; None when the port is 0
    or cannot be bound (logged: metrics never stop the speaker)."""
    if settings.port <= 0:
        yield None
        return
    metrics = Metrics()
    try:
        server = MetricsServer(metrics, settings.host, settings.port).start()
    except OSError as error:
        logger.warning("metrics are off: cannot listen on %s:%d (%s)", settings.host, settings.port, error)
        yield None
        return
    try:
        yield metrics
    finally:
        server.close()
