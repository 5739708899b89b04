"""References and ellipsis against a session's recent things, with the real intent bundle and skills:
"cancel it", "how long is left on the egg timer", "the other one", "and butter too", "and in Sydney?",
"no, half past six instead", a bare "yes" with nothing pending."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from edge.core.settings import NluSettings, Settings, SkillSettings
from edge.dialogue import DialogueManager
from edge.dialogue.references import Reference, additive, find_reference, verb_of, without_references
from edge.nlu.runtime import IntentModel
from edge.skills.loader import load_skills

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=SHANGHAI)  # a Wednesday


@pytest.mark.parametrize(("text", "kinds", "expected"), [
    ("cancel it", set(), Reference(pronoun=True)),
    ("how long is left on the egg timer", {"timer"}, Reference(kind="timer", name="egg")),
    ("and the other one", {"timer"}, Reference(other=True)),
    ("no not that one", set(), Reference(pronoun=True, negated=True)),
    ("cancel the first one", set(), Reference(ordinal=0)),
    ("what's the weather like there", set(), Reference(place=True)),
    ("set a timer for ten minutes", {"timer"}, None),  # "a timer" is a new one
    ("set another timer", {"timer"}, None),
    ("add milk to my shopping list", {"timer"}, None),
])
def test_references_are_found(text, kinds, expected):
    assert find_reference(text, kinds) == expected


@pytest.mark.parametrize(("text", "verb"), [
    ("stop it", "cancel"), ("get rid of that", "cancel"), ("how long is left on it", "query"),
    ("turn them off", "off"), ("switch it on", "on"), ("make it ten minutes later", "change"),
    ("no half past six instead", "change"), ("what about it", ""),
])
def test_verbs(text, verb):
    assert verb_of(text) == verb


def test_ellipsis_markers():
    assert additive("and butter too") == "butter"
    assert additive("eggs as well") == "eggs"
    assert additive("what about paris") == "paris"
    assert additive("also some bread please") == "some bread"
    assert additive("add butter") is None
    assert without_references("and another one for eight") == "and for eight"


@pytest.fixture(scope="module")
def model():
    return IntentModel.load(NluSettings())


class Clock:
    def __init__(self):
        self.now, self.mono = NOW, 1000.0

    def advance(self, seconds):
        self.now += timedelta(seconds=seconds)
        self.mono += seconds


@pytest.fixture
def say(model, tmp_path):
    settings = Settings(skills=SkillSettings(database_path=str(tmp_path / "edge.sqlite3"), timezone="Asia/Shanghai",
                                             entry_points=False))
    clock = Clock()
    loaded = load_skills(settings, clock=lambda: clock.now)
    dialogue = DialogueManager(settings.dialogue, loaded.registry, loaded.context.memory, lambda: clock.now,
                               monotonic=lambda: clock.mono)

    def turn(text, wait=0.0):
        clock.advance(wait)
        return dialogue.respond(dialogue.interpret(model.predict(text), text, "test"))

    turn.store, turn.clock = loaded.context.store, clock
    yield turn
    loaded.close()


def replies(say, *lines):
    return [say(line).text for line in lines]


def test_a_timer_is_asked_about_and_stopped(say):
    assert say("set a timer for 20 minutes").text == "Timer set for 20 minutes."
    left = say("how long is left?", wait=75)
    assert left.text == "About 19 minutes left on your timer." and left.action == "sentence"
    stopped = say("stop it")
    assert (stopped.text, stopped.action, stopped.intent) == ("Cancelled your timer for 20 minutes.", "refer", "alarm_remove")
    assert say.store.execute("SELECT COUNT(*) FROM alarms")[0][0] == 0


def test_named_timers_and_the_other_one(say):
    assert replies(say, "set an egg timer for 5 minutes", "set a timer for 10 minutes called pasta") == [
        "Egg timer set for 5 minutes.", "Pasta timer set for 10 minutes."]
    assert say("how long is left on the egg timer", wait=60).text == "4 minutes left on your egg timer."
    other = say("and the other one?")
    assert other.text == "9 minutes left on your pasta timer." and other.action == "refer"
    assert say("cancel it").text == "Cancelled your pasta timer."
    names = [row["name"] for row in say.store.execute("SELECT name FROM alarms")]
    assert names == ["egg"]


def test_it_after_a_list_of_two_is_asked_not_guessed(say):
    replies(say, "set a timer for 5 minutes", "set a timer for 10 minutes")
    listed = say("what timers do i have")
    assert listed.text == "You have 2 timers: 5 minutes left and 10 minutes left."
    asked = say("cancel it")
    assert asked.text == "Which one: the timer for 5 minutes or the timer for 10 minutes?" and asked.expects_follow_up
    assert say("the second one").text == "Cancelled your timer for 10 minutes."
    assert say("what timers do i have").text == "5 minutes left on your timer."


def test_an_alarm_just_set_is_moved_by_a_correction(say):
    assert say("set an alarm for 6 am").text == "Alarm set for 6:00 AM tomorrow."
    moved = say("no, half past six instead")
    assert moved.text == "Okay, I moved your alarm to 6:30 AM tomorrow." and moved.action == "refer"
    assert say("make it ten minutes later").text == "Okay, I moved your alarm to 6:40 AM tomorrow."
    rows = [row["fire_at"] for row in say.store.execute("SELECT fire_at FROM alarms")]
    assert rows == ["2026-11-26T06:40:00+08:00"]


def test_list_items_follow_up(say):
    assert replies(say, "add milk to my shopping list", "and butter too", "actually make that oat milk",
                   "what's on my shopping list", "remove the first one") == [
        "Added milk to your shopping list.", "Added butter to your shopping list.",
        "Okay, oat milk instead of butter on your shopping list.", "Your shopping list has 2 items: milk and oat milk.",
        "Removed milk from your shopping list."]
    assert [row["item"] for row in say.store.execute("SELECT item FROM list_items")] == ["oat milk"]


def test_a_place_is_carried_to_another_place_and_another_question(say):
    assert replies(say, "what time is it in london", "and in sydney?", "what about tokyo") == [
        "In London it's 1:00 AM.", "In Sydney it's 12:00 PM.", "In Tokyo it's 10:00 AM."]
    weather = say("and the weather?")
    assert weather.intent == "weather_query" and weather.slots["place"] == "tokyo"


def test_bare_yes_no_and_thanks_with_nothing_pending(say):
    yes = say("yes")
    assert (yes.text, yes.action, yes.expects_follow_up) == (
        "I wasn't asking anything just then. What can I do for you?", "social", True)
    assert replies(say, "no", "thank you") == ["Okay.", "You're welcome."]


def test_a_late_yes_is_told_the_offer_timed_out(say):
    offer = say("book a hotel in london for friday under 150 pounds")
    assert offer.text.endswith("Shall I book it?")
    late = say("yes", wait=61)
    assert late.text == "Sorry, I waited too long for your answer, so I didn't go ahead. Please ask again."
    assert say.store.execute("SELECT COUNT(*) FROM hotel_bookings")[0][0] == 0


def test_a_booking_keeps_its_nights_and_people_and_offers_another(say):
    assert replies(say, "book a hotel in london for friday for two nights", "for 3 people", "about 200 pounds") == [
        "What's your budget per night?", "What's your budget per night?",
        "Paddington Rooms near Paddington has a room for 3 people on Friday for 2 nights at 95 pounds a night, "
        "190 pounds in all. Shall I book it?"]
    assert say("not that one").text == (
        "King's Cross Lodge near King's Cross has a room for 3 people on Friday for 2 nights at 120 pounds a night, "
        "240 pounds in all. Shall I book it?")
    assert say("yes").text == "Booked King's Cross Lodge for 2 nights from Friday for 3 people, 240 pounds in all. " \
                              "Your reference is H0001."
    rows = say.store.execute("SELECT hotel, night, nights, guests, price FROM hotel_bookings")
    assert [tuple(row) for row in rows] == [("King's Cross Lodge", "2026-11-27", 2, 3, 120.0)]
