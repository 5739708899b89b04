"""Weather from Open-Meteo (open-meteo.com): no key, its own geocoder, daily forecasts in °C or °F.

    provider = OpenMeteoWeather(settings.weather)        # skills.weather_provider = "open-meteo"
    provider.forecast("paris", date(2025, 3, 14))        # Forecast("light rain", 4.2, 11.3, "C", "Paris, France")

Two requests per new question: the geocoding API (place name -> coordinates; the answer is kept
until the cache is full) and the forecast API (one day's weather code, lowest and highest
temperature; kept `weather.cache_seconds`). Both together get `weather.timeout_seconds`. A
service that cannot be reached, is slow, or answers something that is not the documented JSON
raises `WeatherServiceError`; a place the geocoder does not know raises `UnknownPlaceError`; a day
outside the forecast range (past days, or more than 16 days ahead) is no data (None).
docs/skills.md says why Open-Meteo rather than MET Norway.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import date
from typing import ClassVar

from edge.core.settings import WeatherSettings
from edge.skills.http import HttpJsonError, get_json
from edge.skills.providers import Forecast, UnknownPlaceError, WeatherProvider, WeatherServiceError

logger = logging.getLogger(__name__)

NAME = "open-meteo"
DAILY = "weather_code,temperature_2m_max,temperature_2m_min"
UNITS = {"celsius": "C", "fahrenheit": "F"}

# WMO weather interpretation codes, as the forecast API documents them (daily `weather_code`).
WMO_CODES = {
    0: "clear skies", 1: "mainly clear skies", 2: "partly cloudy skies", 3: "overcast skies",
    45: "fog", 48: "freezing fog",
    51: "light drizzle", 53: "drizzle", 55: "heavy drizzle", 56: "light freezing drizzle", 57: "freezing drizzle",
    61: "light rain", 63: "rain", 65: "heavy rain", 66: "light freezing rain", 67: "freezing rain",
    71: "light snow", 73: "snow", 75: "heavy snow", 77: "snow grains",
    80: "light rain showers", 81: "rain showers", 82: "violent rain showers", 85: "light snow showers", 86: "snow showers",
    95: "thunderstorms", 96: "thunderstorms with light hail", 99: "thunderstorms with heavy hail",
}


@dataclass(frozen=True)
class Place:
    name: str  # "Paris, France": what the speaker says
    latitude: float
    longitude: float


class TtlCache:
    """A few entries, each kept `seconds` (0: until pushed out), the oldest pushed out first. Thread-safe."""

    def __init__(self, entries: int, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries, self._seconds, self._clock = max(1, entries), seconds, clock
        self._items: OrderedDict[Hashable, tuple[float, object]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable) -> object | None:
        with self._lock:
            found = self._items.get(key)
            if found is None or (self._seconds and self._clock() - found[0] > self._seconds):
                self._items.pop(key, None)
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return found[1]

    def put(self, key: Hashable, value: object) -> None:
        with self._lock:
            self._items[key] = (self._clock(), value)
            self._items.move_to_end(key)
            while len(self._items) > self._entries:
                self._items.popitem(last=False)


class OpenMeteoWeather(WeatherProvider):
    name: ClassVar[str] = NAME

    def __init__(self, settings: WeatherSettings, cache_clock: Callable[[], float] = time.monotonic) -> None:
        if settings.temperature_unit not in UNITS:
            raise ValueError(f"weather.temperature_unit must be celsius or fahrenheit, not {settings.temperature_unit!r}")
        self.settings = settings
        self.places = TtlCache(settings.cache_entries, 0.0, cache_clock)
        self.forecasts = TtlCache(settings.cache_entries, settings.cache_seconds, cache_clock)

    def forecast(self, place: str, day: date) -> Forecast | None:
        deadline = time.monotonic() + self.settings.timeout_seconds
        found = self.place(place, deadline)
        key = (found.latitude, found.longitude, day.isoformat(), self.settings.temperature_unit)
        cached = self.forecasts.get(key)
        if cached is not None:
            return cached if isinstance(cached, Forecast) else None
        forecast = self._fetch_forecast(found, day, deadline)
        self.forecasts.put(key, forecast if forecast is not None else False)
        return forecast

    def place(self, words: str, deadline: float) -> Place:
        key = words.strip().lower()
        cached = self.places.get(key)
        if isinstance(cached, Place):
            return cached
        document = self._get(self.settings.geocoding_url,
                             {"name": key, "count": 1, "language": self.settings.language, "format": "json"}, deadline)
        results = document.get("results") if isinstance(document, dict) else None
        if not results:
            if not isinstance(document, dict):
                raise WeatherServiceError("the geocoding service answered something that is not its documented JSON")
            raise UnknownPlaceError(f"the weather service knows no place called {words!r}")
        found = _place(results[0])
        self.places.put(key, found)
        return found

    def _fetch_forecast(self, place: Place, day: date, deadline: float) -> Forecast | None:
        params = {"latitude": place.latitude, "longitude": place.longitude, "daily": DAILY, "timezone": "auto",
                  "start_date": day.isoformat(), "end_date": day.isoformat(),
                  "temperature_unit": self.settings.temperature_unit}
        try:
            document = self._get(self.settings.forecast_url, params, deadline)
        except WeatherServiceError as error:
            if "out of allowed range" in str(error):  # HTTP 400 {"error": true, "reason": "Parameter 'start_date' is out ..."}
                return None
            raise
        return _forecast(document, day, place)

    def _get(self, url: str, params: dict[str, object], deadline: float) -> object:
        try:
            return get_json(url, params, deadline, self.settings.max_response_bytes)
        except HttpJsonError as error:
            logger.warning("weather service: %s", error)
            raise WeatherServiceError(str(error)) from error


def _place(result: object) -> Place:
    try:
        name, country = str(result["name"]), str(result.get("country") or "")
        latitude, longitude = float(result["latitude"]), float(result["longitude"])
    except (TypeError, KeyError, ValueError, AttributeError) as error:
        raise WeatherServiceError(f"the geocoding answer lacks a documented field: {error}") from error
    return Place(f"{name}, {country}" if country and country != name else name, latitude, longitude)


def _forecast(document: object, day: date, place: Place) -> Forecast | None:
    try:
        daily, units = document["daily"], document["daily_units"]
        times = list(daily["time"])
        if day.isoformat() not in times:
            return None
        index = times.index(day.isoformat())
        code, low, high = daily["weather_code"][index], daily["temperature_2m_min"][index], daily["temperature_2m_max"][index]
        unit = "F" if "F" in str(units["temperature_2m_max"]) else "C"
    except (TypeError, KeyError, IndexError, ValueError) as error:
        raise WeatherServiceError(f"the forecast answer lacks a documented field: {error!r}") from error
    if code is None or low is None or high is None:
        return None  # the model has no value for that day
    try:
        summary = WMO_CODES.get(int(code), "weather I have no word for")
        return Forecast(summary, float(low), float(high), unit, place.name)
    except (TypeError, ValueError) as error:
        raise WeatherServiceError(f"the forecast answer has a value that is not a number: {error}") from error
