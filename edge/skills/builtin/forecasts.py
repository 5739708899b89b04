"""The weather and currency skills, over the provider interfaces of edge/skills/providers.py.

The speaker never invents a forecast or a rate: with the offline provider the weather skill
answers that it has no data, and the currency skill reports itself unavailable, so a currency
question goes to the cloud tier (router.escalate_intents) rather than to a skill that knows nothing.
"""

from __future__ import annotations

from typing import ClassVar

from edge.skills.base import SkillReply, SkillRequest
from edge.skills.builtin.open_meteo import NAME, OpenMeteoWeather
from edge.skills.declared import DeclaredSkill, SkillContext
from edge.skills.phrasing import describe_day
from edge.skills.providers import (
    OFFLINE,
    CurrencyProvider,
    OfflineRates,
    OfflineWeather,
    UnknownPlaceError,
    WeatherProvider,
    WeatherServiceError,
    named_provider,
)
from edge.skills.slots import CURRENCIES, CURRENCY_WORDS, Money


class WeatherSkill(DeclaredSkill):
    spec_file: ClassVar[str] = "specs/weather.yaml"

    def __init__(self, context: SkillContext, provider: WeatherProvider | None = None) -> None:
        super().__init__(context)
        self.provider = provider or named_provider("weather", context.settings.skills.weather_provider, {
            OFFLINE: OfflineWeather, NAME: lambda: OpenMeteoWeather(context.settings.weather)})

    def on_weather_query(self, request: SkillRequest) -> SkillReply:
        now = self.now(request)
        place = request.values["place"]
        day = request.values["date"].value if "date" in request.values else now.date()
        when = describe_day(day, now.date())
        try:
            forecast = self.provider.forecast(str(place.value), day)
        except WeatherServiceError:
            return SkillReply("Sorry, I can't reach the weather service right now. Please try again in a moment.")
        except UnknownPlaceError:
            return SkillReply(f"Sorry, the weather service doesn't know a place called {place.spoken}.")
        if forecast is None and isinstance(self.provider, OfflineWeather):
            return SkillReply(f"I have no weather data for {place.spoken} {when}: no weather service is set up on "
                              "this speaker.")
        if forecast is None:
            return SkillReply(f"I have no forecast for {place.spoken} {when}: the weather service only looks about "
                              "two weeks ahead.")
        where = forecast.place or place.spoken
        low, high = round(forecast.low), round(forecast.high)
        degrees = {"C": "degrees Celsius", "F": "degrees Fahrenheit"}.get(forecast.unit, "degrees")
        return SkillReply(f"In {where} {when}: {forecast.summary}, {low} to {high} {degrees}.",
                          card={"title": f"Weather in {where}", "body": f"{when}: {forecast.summary}, "
                                f"{low}–{high} °{forecast.unit}"})


class CurrencySkill(DeclaredSkill):
    spec_file: ClassVar[str] = "specs/currency.yaml"

    def __init__(self, context: SkillContext, provider: CurrencyProvider | None = None) -> None:
        super().__init__(context)
        self.provider = provider or named_provider("currency", context.settings.skills.currency_provider, {OFFLINE: OfflineRates})

    def available(self, intent: str) -> bool:
        return not isinstance(self.provider, OfflineRates)

    def on_qa_currency(self, request: SkillRequest) -> SkillReply:
        amount: Money = request.values["amount"].value
        target = CURRENCIES.get(str(request.values["target"].value), "")
        source = amount.currency or CURRENCIES.get(str(getattr(request.values.get("source"), "value", "")), "")
        if not source:
            return SkillReply("From which currency?", ask_slot="amount")
        rate = self.provider.rate(source, target)
        if rate is None:
            return SkillReply(f"I have no exchange rate from {CURRENCY_WORDS.get(source, source)} to "
                              f"{CURRENCY_WORDS.get(target, target)}: no currency service is set up on this speaker.")
        converted = Money(round(amount.amount * rate, 2), target)
        return SkillReply(f"{amount.spoken()} is about {converted.spoken()}.")
