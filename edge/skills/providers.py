"""Weather and currency provider interfaces; the offline providers have no data and say so.

    WeatherSkill(context, provider=MyForecasts())      # any WeatherProvider (edge/skills/builtin/forecasts.py)
    CurrencySkill(context, provider=MyRates())          # any CurrencyProvider

The speaker never invents a forecast or a rate: with the offline provider the weather skill
answers that it has no data, and the currency skill reports itself unavailable, so a currency
question goes to the cloud tier (router.escalate_intents) rather than to a skill that knows nothing.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import date
from typing import ClassVar

from edge.core.errors import ConfigError

OFFLINE = "offline"


class ProviderConfigError(ConfigError, ValueError):
    """A provider named in the settings does not exist."""


@dataclass(frozen=True)
class Forecast:
    summary: str  # "light rain"
    low: float  # degrees
    high: float
    unit: str = "C"


class WeatherProvider(abc.ABC):
    name: ClassVar[str] = ""

    @abc.abstractmethod
    def forecast(self, place: str, day: date) -> Forecast | None:
        """The forecast, or None when there is no data for that place and day."""


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


def named_provider(kind: str, name: str, known: dict[str, type]) -> object:
    if name not in known:
        raise ProviderConfigError(f"unknown {kind} provider {name!r} in skills.{kind}_provider; use one of "
                                  f"{', '.join(known)} (or install a skill that brings its own and disable this one)")
    return known[name]()
