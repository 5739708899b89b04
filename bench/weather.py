"""The open-meteo provider's latency over loopback: a new question, a cached one, and the give-up
time against a server that never answers (the network itself is not measured: this machine has none).

    python -m bench.weather            # writes bench/results/weather.json

The server replays the test fixtures (tests/skills/fixtures/open_meteo/, written from the documented
response format) byte for byte on 127.0.0.1.
"""

from __future__ import annotations

import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

from bench.provenance import write_result
from edge.core.settings import WeatherSettings
from edge.skills.builtin.open_meteo import OpenMeteoWeather
from edge.skills.providers import WeatherServiceError
from tests.helpers.replay_http import ReplayServer, Reply

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "skills" / "fixtures" / "open_meteo"
DAY = date(2025, 3, 14)
REPEATS = 50


def settings(port: int, **overrides) -> WeatherSettings:
    base = f"http://127.0.0.1:{port}"
    return WeatherSettings(geocoding_url=f"{base}/v1/search", forecast_url=f"{base}/v1/forecast", **overrides)


def timed(call) -> float:
    began = time.perf_counter()
    call()
    return (time.perf_counter() - began) * 1000


def main() -> int:
    routes = {"/v1/search?name=paris": Reply.file(FIXTURES / "geocoding-paris.json"),
              "/v1/forecast?latitude=48.85341": Reply.file(FIXTURES / "forecast-paris-2025-03-14-celsius.json")}
    with ReplayServer(routes) as server:
        cold = [timed(lambda: OpenMeteoWeather(settings(server.port)).forecast("paris", DAY)) for _ in range(REPEATS)]
        provider = OpenMeteoWeather(settings(server.port))
        provider.forecast("paris", DAY)
        asked = len(server.requests)
        cached = [timed(lambda: provider.forecast("paris", DAY)) for _ in range(REPEATS)]
        cached_requests = len(server.requests) - asked
    with ReplayServer({"/v1/search?name=paris": Reply.hang()}) as server:
        give_up = []
        for _ in range(3):
            began = time.perf_counter()
            try:
                OpenMeteoWeather(settings(server.port, timeout_seconds=1.0)).forecast("paris", DAY)
            except WeatherServiceError:
                give_up.append((time.perf_counter() - began) * 1000)
    result = {
        "new_question_ms": {"p50": round(float(np.percentile(cold, 50)), 2), "p95": round(float(np.percentile(cold, 95)), 2),
                            "requests": 2},
        "cached_ms": {"p50": round(float(np.percentile(cached, 50)), 3), "p95": round(float(np.percentile(cached, 95)), 3),
                      "requests": cached_requests},
        "never_answers_timeout_1s_gave_up_ms": [round(value, 1) for value in give_up],
        "repeats": REPEATS,
    }
    path = write_result("weather", result, ["edge-voice"])
    print(f"new question p50 {result['new_question_ms']['p50']} ms (2 GETs over loopback), cached p50 "
          f"{result['cached_ms']['p50']} ms ({cached_requests} requests), timeout 1 s gave up after {result['never_answers_timeout_1s_gave_up_ms']} ms -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
