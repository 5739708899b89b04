"""Weather and currency provider interfaces; the offline providers have no data and say so.

    WeatherSkill(context, provider=MyForecasts())      # any WeatherProvider (edge/skills/builtin/forecasts.py)
    CurrencySkill(context, provider=MyRates())          # any CurrencyProvider

The speaker never invents a forecast or a rate: with the offline provider (the default: nothing
leaves the device) the weather skill answers that it has no data; a networked provider
(edge/skills/builtin/open_meteo.py) raises `WeatherServiceError` when its service cannot be reached
or answers garbage, and `UnknownPlaceError` when it has never heard of the place, and the currency skill reports itself unavailable, so a currency
question goes to the cloud tier (router.escalate_intents) rather than to a skill that knows nothing.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import ClassVar

from edge.core.errors import BadInputError, ConfigError, PeerError

OFFLINE = "offline"


class ProviderConfigError(ConfigError, ValueError):
    """A provider named in the settings does not exist."""


class WeatherServiceError(PeerError):
    """The weather service cannot be reached, is too slow, or answered something unreadable."""


class UnknownPlaceError(BadInputError, LookupError):
    """The weather service knows no place by that name."""


@dataclass(frozen=True)
class Forecast:
    summary: str  # "light rain"
    low: float  # degrees
    high: float
    unit: str = "C"  # C or F
    place: str = ""  # the place the provider found ("Paris, France"); empty: the words the user said


class WeatherProvider(abc.ABC):
    name: ClassVar[str] = ""

    @abc.abstractmethod
    def forecast(self, place: str, day: date) -> Forecast | None:
        """The forecast, or None when there is no data for that place and day.

        Raises WeatherServiceError (service down, slow, garbage) or UnknownPlaceError."""


class OfflineWeather(WeatherProvider):
    name: ClassVar[str] = OFFLINE

    def forecast(self, place: str, day: date) -> Forecast | None:
        return None


class CurrencyProvider(abc.ABC):
    name: ClassVar[str] = ""

    @abc.abstractmethod
    def rate(self, source: str, target: str) -> float | None:
        """Units of `target` per unit of `source` (ISO codes), or None without data."""


class OfflineRates(CurrencyProvider):
    name: ClassVar[str] = OFFLINE

    def rate(self, source: str, target: str) -> float | None:
        return None


def named_provider(kind: str, name: str, known: Mapping[str, Callable[[], object]]) -> object:
    """Build the provider `skills.<kind>_provider` names, from its factory in `known`."""
    if name not in known:
        raise ProviderConfigError(f"unknown {kind} provider {name!r} in skills.{kind}_provider; use one of "
                                  f"{', '.join(known)} (or install a skill that brings its own and disable this one)")
    return known[name]()
