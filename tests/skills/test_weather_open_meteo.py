"""The open-meteo weather provider against a local server that replays Open-Meteo's answers.

The fixture files in fixtures/open_meteo/ follow the documented schema of Open-Meteo's
geocoding API (`/v1/search`: `results[]` with `name`, `latitude`, `longitude`, `country`,
`admin1`, `timezone`, ...; no `results` key when nothing matches) and forecast API
(`/v1/forecast`: `daily_units` and `daily` with `time`, `weather_code` (WMO code),
`temperature_2m_max`, `temperature_2m_min`; HTTP 400 `{"error": true, "reason": ...}` for a date
out of range). They were written from the providers' documentation and the field names, units
and layout it shows (this machine cannot reach the internet), not captured from the live service;
the server sends them byte for byte. Down (connection refused), slow (a server that never answers),
a dropped connection, an nginx 502 page and truncated JSON are the failure cases.
"""

from __future__ import annotations

import time
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from helpers.replay_http import ReplayServer, Reply, closed_port

from edge.core.settings import NluSettings, Settings, SkillSettings, WeatherSettings
from edge.dialogue import DialogueManager
from edge.nlu.runtime import IntentModel
from edge.skills.base import SkillRequest
from edge.skills.builtin.open_meteo import OpenMeteoWeather
from edge.skills.loader import load_skills
from edge.skills.slots import SlotValue

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "open_meteo"
NOW = datetime(2025, 3, 13, 9, 30, tzinfo=ZoneInfo("Europe/Paris"))
GEOCODING, FORECAST = "/v1/search", "/v1/forecast"
UNREACHABLE = "Sorry, I can't reach the weather service right now. Please try again in a moment."


def routes(unit="celsius", forecast_reply=None):
    table = {
        f"{GEOCODING}?name=paris": Reply.file(FIXTURES / "geocoding-paris.json"),
        f"{GEOCODING}?name=london": Reply.file(FIXTURES / "geocoding-london.json"),
        f"{GEOCODING}?name=atlantis": Reply.file(FIXTURES / "geocoding-nowhere.json"),
        f"{FORECAST}?latitude=48.85341&start_date=2025-03-14&temperature_unit={unit}":
            forecast_reply or Reply.file(FIXTURES / f"forecast-paris-2025-03-14-{unit}.json"),
        f"{FORECAST}?latitude=51.50853&start_date=2025-03-15&temperature_unit={unit}":
            Reply.file(FIXTURES / "forecast-london-2025-03-15-celsius.json"),
        f"{FORECAST}?latitude=48.85341&start_date=2025-04-30":
            Reply.file(FIXTURES / "forecast-out-of-range.json", status=400),
    }
    return table


def weather_settings(server_port: int, **overrides) -> WeatherSettings:
    base = f"http://127.0.0.1:{server_port}"
    return WeatherSettings(geocoding_url=base + GEOCODING, forecast_url=base + FORECAST, **overrides)


@pytest.fixture(scope="module")
def model():
    return IntentModel.load(NluSettings())


class Speaker:
    """The skills and the dialogue, as a turn runs them, at NOW in Paris."""

    def __init__(self, model, tmp_path, weather: WeatherSettings):
        self.model = model
        self.settings = Settings(skills=SkillSettings(database_path=str(tmp_path / "edge.sqlite3"), timezone="Europe/Paris",
                                                      entry_points=False, weather_provider="open-meteo"), weather=weather)
        self.loaded = load_skills(self.settings, clock=lambda: NOW)
        self.dialogue = DialogueManager(self.settings.dialogue, self.loaded.registry, self.loaded.context.memory,
                                        lambda: NOW)

    @property
    def provider(self) -> OpenMeteoWeather:
        return self.loaded.registry.skill_for("weather_query").provider

    def say(self, text: str) -> str:
        return self.dialogue.respond(self.dialogue.interpret(self.model.predict(text), text, "test")).text

    def close(self):
        self.loaded.close()


@pytest.fixture
def speaker_for(model, tmp_path):
    made = []

    def make(weather: WeatherSettings) -> Speaker:
        made.append(Speaker(model, tmp_path, weather))
        return made[-1]

    yield make
    for speaker in made:
        speaker.close()


def test_the_forecast_names_place_day_condition_and_temperatures(speaker_for):
    with ReplayServer(routes()) as server:
        speaker = speaker_for(weather_settings(server.port))
        assert speaker.say("what's the weather in Paris tomorrow") == \
            "In Paris, France tomorrow: light rain, 4 to 11 degrees Celsius."
        assert speaker.say("what's the weather like in London on Saturday") == \
            "In London, United Kingdom on Saturday: overcast skies, 2 to 10 degrees Celsius."
        forecast_query = next(path for path in server.requests if path.startswith(FORECAST))
        assert "daily=weather_code%2Ctemperature_2m_max%2Ctemperature_2m_min" in forecast_query
        assert "timezone=auto" in forecast_query


def test_fahrenheit_is_asked_for_and_spoken(speaker_for):
    with ReplayServer(routes(unit="fahrenheit")) as server:
        speaker = speaker_for(weather_settings(server.port, temperature_unit="fahrenheit"))
        assert speaker.say("what's the weather in Paris tomorrow") == \
            "In Paris, France tomorrow: light rain, 40 to 52 degrees Fahrenheit."
        assert any("temperature_unit=fahrenheit" in path for path in server.requests)


def test_answers_are_cached_places_longer_than_forecasts(speaker_for):
    with ReplayServer(routes()) as server:
        speaker = speaker_for(weather_settings(server.port, cache_seconds=600.0))
        first = speaker.say("what's the weather in Paris tomorrow")
        asked = len(server.requests)
        assert asked == 2  # geocoding + forecast
        assert speaker.say("what's the weather in Paris tomorrow") == first
        assert len(server.requests) == asked  # both from the cache
        assert speaker.provider.forecasts.hits == 1 and speaker.provider.places.hits == 1


def test_a_stale_forecast_is_asked_again(model, tmp_path):
    with ReplayServer(routes()) as server:
        now = [100.0]
        provider = OpenMeteoWeather(weather_settings(server.port, cache_seconds=60.0), cache_clock=lambda: now[0])
        provider.forecast("paris", NOW.date().replace(day=14))
        now[0] += 61.0
        provider.forecast("paris", NOW.date().replace(day=14))
        assert [path.split("?")[0] for path in server.requests] == [GEOCODING, FORECAST, FORECAST]


def test_an_unknown_place_and_a_day_out_of_range_are_said_plainly(speaker_for):
    with ReplayServer(routes()) as server:
        speaker = speaker_for(weather_settings(server.port))
        assert speaker.say("what's the weather in Atlantis tomorrow") == \
            "Sorry, the weather service doesn't know a place called Atlantis."
        # the date parser reads no month names yet: ask the skill directly, as the dialogue would
        request = SkillRequest(intent="weather_query", text="weather in paris on april 30", raw_text="", now=NOW, values={
            "place": SlotValue("paris", "paris", "Paris"), "date": SlotValue("april 30", date(2025, 4, 30), "April 30")})
        assert speaker.loaded.registry.handle(request).text == \
            "I have no forecast for Paris on April 30: the weather service only looks about two weeks ahead."


def test_a_service_that_is_down_is_said_honestly_and_fast(speaker_for):
    speaker = speaker_for(weather_settings(closed_port()))
    began = time.monotonic()
    assert speaker.say("what's the weather in Paris tomorrow") == UNREACHABLE
    assert time.monotonic() - began < 2.5


def test_a_service_that_never_answers_is_given_up_at_the_timeout(speaker_for):
    slow = {f"{GEOCODING}?name=paris": Reply.hang()}
    with ReplayServer(slow) as server:
        speaker = speaker_for(weather_settings(server.port, timeout_seconds=0.5))
        began = time.monotonic()
        assert speaker.say("what's the weather in Paris tomorrow") == UNREACHABLE
        waited = time.monotonic() - began
        assert 0.45 <= waited < speaker.settings.skills.handler_timeout_seconds  # the provider's limit, not the registry's


@pytest.mark.parametrize("reply", [
    Reply.file(FIXTURES / "bad-gateway.html", status=502, content_type="text/html"),
    Reply.file(FIXTURES / "bad-gateway.html", status=200, content_type="text/html"),
    Reply.file(FIXTURES / "forecast-truncated.json"),
    Reply.drop(),
    Reply(body=b'{"daily_units": {}, "daily": {"time": ["2025-03-14"]}}'),
    Reply(body=b'{"daily_units": {"temperature_2m_max": "\\u00b0C"}, "daily": {"time": ["2025-03-14"], '
               b'"weather_code": ["rain"], "temperature_2m_max": [11.3], "temperature_2m_min": [4.2]}}'),
], ids=["502-page", "html-200", "truncated", "dropped", "fields-missing", "not-a-number"])
def test_garbage_from_the_service_is_never_spoken_as_weather(speaker_for, reply):
    with ReplayServer(routes(forecast_reply=reply)) as server:
        speaker = speaker_for(weather_settings(server.port))
        assert speaker.say("what's the weather in Paris tomorrow") == UNREACHABLE


def test_nothing_leaves_the_device_by_default(model, tmp_path):
    settings = Settings(skills=SkillSettings(database_path=str(tmp_path / "edge.sqlite3"), entry_points=False))
    assert settings.skills.weather_provider == "offline"
    loaded = load_skills(settings, clock=lambda: NOW)
    try:
        assert type(loaded.registry.skill_for("weather_query").provider).__name__ == "OfflineWeather"
    finally:
        loaded.close()
