"""Hotel booking (`hotel_book`): search by place, night and budget; book only after a yes.

The dialogue layer asks for whatever is missing (edge/skills/builtin/specs/hotels.yaml), then the skill
offers the cheapest hotel within the budget and asks "Shall I book it?" (`confirm=True`). Only a
"yes" calls it again with `confirmed=True`, and it books exactly the hotel it offered (kept in
`SkillReply.state`), not whatever a new search would find. "Not that one" or "anything cheaper?"
calls it again with the offered hotel in `state["declined"]`: it offers the next. How many nights
and people ("for two nights", "for 3 people"; one each unless said) are kept to the booking.

Hotels come from a `HotelProvider`; `SampleHotelProvider` reads a small JSON file (bundled:
edge/skills/builtin/data/hotels.json) and keeps bookings in the skills' database, so it works offline.
"""

from __future__ import annotations

import abc
import json
import logging
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import ClassVar

from edge.skills.base import Mention, SkillError, SkillReply, SkillRequest
from edge.skills.declared import DeclaredSkill, SkillContext
from edge.skills.phrasing import describe_day, format_date
from edge.skills.slots import CURRENCY_WORDS, Money, title
from edge.skills.store import SkillStore

logger = logging.getLogger(__name__)

SAMPLE_HOTELS = Path(__file__).resolve().parent / "data" / "hotels.json"
_BOOKINGS = """CREATE TABLE IF NOT EXISTS hotel_bookings (
    id INTEGER PRIMARY KEY, user TEXT NOT NULL, hotel_id TEXT NOT NULL, hotel TEXT NOT NULL,
    night TEXT NOT NULL, price REAL NOT NULL, currency TEXT NOT NULL, created TEXT NOT NULL,
    nights INTEGER NOT NULL DEFAULT 1, guests INTEGER NOT NULL DEFAULT 1)"""


class HotelProviderError(SkillError):
    """The hotel provider could not search or book; the message says what to fix."""


@dataclass(frozen=True)
class Hotel:
    id: str
    name: str
    city: str
    area: str
    price: float  # per night
    currency: str  # ISO 4217
    rating: float = 0.0

    def price_spoken(self) -> str:
        return Money(self.price, self.currency).spoken()


@dataclass(frozen=True)
class Booking:
    reference: str
    hotel: Hotel
    night: date  # the first night
    nights: int = 1
    guests: int = 1


class HotelProvider(abc.ABC):
    @abc.abstractmethod
    def search(self, place: str, night: date) -> list[Hotel]:
        """Hotels in or near `place` (a city or an area) with a room that night, any price."""

    @abc.abstractmethod
    def book(self, hotel_id: str, night: date, user: str, now: datetime, nights: int = 1, guests: int = 1) -> Booking:
        """Book `nights` nights from `night` for `guests` people; raises HotelProviderError when it cannot."""


class SampleHotelProvider(HotelProvider):
    """Hotels from a JSON file ({"hotels": [{id, name, city, area, price, currency, rating}]})."""

    def __init__(self, path: Path, store: SkillStore) -> None:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            self.hotels = [Hotel(**item) for item in raw["hotels"]]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise HotelProviderError(f"cannot read hotels from {path}: {error}; set skills.hotel_data to a JSON "
                                     "file like edge/skills/builtin/data/hotels.json") from error
        self._store = store
        store.execute(_BOOKINGS)
        store.ensure_column("hotel_bookings", "nights", "INTEGER NOT NULL DEFAULT 1")
        store.ensure_column("hotel_bookings", "guests", "INTEGER NOT NULL DEFAULT 1")

    def search(self, place: str, night: date) -> list[Hotel]:
        """Hotels in that area or city; else in a city named among the words ('downtown london')."""
        place = place.lower()
        found = [hotel for hotel in self.hotels if place in (hotel.city, hotel.area) or place in hotel.area]
        words = f" {place} "
        return found or [hotel for hotel in self.hotels if f" {hotel.city} " in words]

    def book(self, hotel_id: str, night: date, user: str, now: datetime, nights: int = 1, guests: int = 1) -> Booking:
        hotel = next((item for item in self.hotels if item.id == hotel_id), None)
        if hotel is None:
            raise HotelProviderError(f"hotel {hotel_id!r} is not in the sample data")
        rows = self._store.execute(
            "INSERT INTO hotel_bookings (user, hotel_id, hotel, night, price, currency, created, nights, guests) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (user, hotel.id, hotel.name, night.isoformat(), hotel.price, hotel.currency, now.isoformat(), nights, guests),
        )
        return Booking(f"H{int(rows[0]['id']):04d}", hotel, night, nights, guests)

    def bookings(self, user: str) -> list[dict]:
        rows = self._store.execute("SELECT hotel, night, price, currency, nights, guests FROM hotel_bookings "
                                   "WHERE user = ?", (user,))
        return [dict(row) for row in rows]


class HotelSkill(DeclaredSkill):
    spec_file: ClassVar[str] = "specs/hotels.yaml"

    def __init__(self, context: SkillContext, provider: HotelProvider | None = None) -> None:
        super().__init__(context)
        path = Path(context.settings.skills.hotel_data).expanduser() if context.settings.skills.hotel_data else SAMPLE_HOTELS
        self.provider = provider or SampleHotelProvider(path, context.store)

    def on_hotel_book(self, request: SkillRequest) -> SkillReply:
        now = self.now(request)
        if request.confirmed and request.state.get("hotel"):
            return self._book(request, now)
        place, night, budget = request.values["place"], request.values["date"], request.values["budget"]
        stay = _Stay.of(request)
        when = describe_day(night.value, now.date())
        found = self.provider.search(place.value, night.value)
        if not found:
            return SkillReply(text=f"I found no hotels near {place.spoken}. Where else would you like to stay?",
                              ask_slot="place")
        currency = found[0].currency
        wanted: Money = budget.value
        if wanted.currency and wanted.currency != currency:
            return SkillReply(text=f"Hotels near {place.spoken} are priced in {CURRENCY_WORDS.get(currency, currency)}. "
                                   f"What's your budget per night in {CURRENCY_WORDS.get(currency, currency)}?",
                              ask_slot="budget")
        affordable = sorted((hotel for hotel in found if hotel.price <= wanted.amount), key=lambda h: (h.price, -h.rating))
        if not affordable:
            cheapest = min(found, key=lambda hotel: hotel.price)
            return SkillReply(text=f"Nothing near {place.spoken} is within {Money(wanted.amount, currency).spoken()}; "
                                   f"the cheapest is {cheapest.name} at {cheapest.price_spoken()} a night. "
                                   "What's your budget per night?", ask_slot="budget")
        declined = list(request.state.get("declined", []))
        left = [hotel for hotel in affordable if hotel.id not in declined]
        lead = ""
        if not left:  # every one was turned down: say so and start the list again
            lead, left, declined = (f"That's every hotel near {place.spoken} within "
                                    f"{Money(wanted.amount, currency).spoken()}. "), affordable, []
        hotel = left[0]
        where = title(hotel.area)
        return SkillReply(
            text=f"{lead}{hotel.name} near {where} has {stay.room()} {when} {stay.price(hotel)}. Shall I book it?",
            confirm=True, state={"hotel": asdict(hotel), "night": night.value.isoformat(), "offer": hotel.id,
                                 "declined": declined, "nights": stay.nights, "guests": stay.guests},
            card={"title": f"Hotels near {place.spoken}", "table": [["Hotel", "Area", "Price per night"]] + [
                [item.name, title(item.area), item.price_spoken()] for item in affordable[:5]]},
            mentions=tuple(Mention("hotel", ref=item.id, name=item.name.lower()) for item in left[:3]),
        )

    def _book(self, request: SkillRequest, now: datetime) -> SkillReply:
        hotel = Hotel(**request.state["hotel"])
        night = date.fromisoformat(request.state["night"])
        stay = _Stay(int(request.state.get("nights", 1)), int(request.state.get("guests", 1)))
        booking = self.provider.book(hotel.id, night, request.user, now, stay.nights, stay.guests)
        logger.info("booked %s for %s, %d night(s), %d guest(s) (%s)", hotel.name, night, stay.nights, stay.guests,
                    booking.reference)
        return SkillReply(
            text=f"Booked {hotel.name} {stay.booked(night, now.date(), hotel)}. Your reference is {booking.reference}.",
            card={"title": "Hotel booked", "table": [["Hotel", hotel.name], ["Night", night.isoformat()],
                                                      ["Nights", str(stay.nights)], ["Guests", str(stay.guests)],
                                                      ["Price", hotel.price_spoken()], ["Reference", booking.reference]]},
            mentions=(Mention("booking", ref=booking.reference, name=hotel.name.lower()),),
        )


@dataclass(frozen=True)
class _Stay:
    """How many nights, for how many people (one each unless said), and how the offer says them."""

    nights: int = 1
    guests: int = 1

    @classmethod
    def of(cls, request: SkillRequest) -> _Stay:
        nights, guests = request.values.get("nights"), request.values.get("guests")
        return cls(int(nights.value) if nights else 1, int(guests.value) if guests else 1)

    def room(self) -> str:
        return "a room" if self.guests == 1 else f"a room for {self.guests} people"

    def price(self, hotel: Hotel) -> str:
        if self.nights == 1:
            return f"for {hotel.price_spoken()}"
        total = Money(hotel.price * self.nights, hotel.currency).spoken()
        return f"for {self.nights} nights at {hotel.price_spoken()} a night, {total} in all"

    def booked(self, night: date, today: date, hotel: Hotel) -> str:
        people = "" if self.guests == 1 else f" for {self.guests} people"
        if self.nights == 1:
            return f"for {night_phrase(night, today)}{people}, {hotel.price_spoken()}"
        total = Money(hotel.price * self.nights, hotel.currency).spoken()
        first = describe_day(night, today).removeprefix("on ")
        return f"for {self.nights} nights from {first}{people}, {total} in all"


def night_phrase(night: date, today: date) -> str:
    """'tonight', 'tomorrow night', 'Saturday night', 'the night of Monday, December 14, 2026'."""
    ahead = (night - today).days
    if ahead == 0:
        return "tonight"
    if ahead == 1:
        return "tomorrow night"
    if 1 < ahead < 7:
        return f"{night.strftime('%A')} night"
    return f"the night of {format_date(night)}"
