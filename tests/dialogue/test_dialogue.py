"""Scripted multi-turn conversations through the dialogue layer, with the real intent bundle."""

import dataclasses
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from edge.core.settings import NluSettings, Settings, SkillSettings
from edge.dialogue import DialogueManager
from edge.nlu.runtime import IntentModel
from edge.runtime.alerts import AlertScheduler
from edge.skills.loader import load_skills
from edge.skills.providers import Forecast, WeatherProvider

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=SHANGHAI)  # a Wednesday


@pytest.fixture(scope="module")
def model():
    return IntentModel.load(NluSettings())


class FakeMonotonic:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class Conversation:
    """One session against a database in `tmp_path`; `restart()` reloads everything from disk."""

    def __init__(self, model, tmp_path, weather=None):
        self.model, self.weather = model, weather
        self.settings = Settings(skills=SkillSettings(database_path=str(tmp_path / "edge.sqlite3"),
                                                      timezone="Asia/Shanghai", entry_points=False))
        self.monotonic = FakeMonotonic()
        self.clock_now = NOW
        self._load()

    def _load(self):
        self.loaded = load_skills(self.settings, clock=lambda: self.clock_now)
        if self.weather is not None:
            self.loaded.registry.skill_for("weather_query").provider = self.weather
        self.dialogue = DialogueManager(self.settings.dialogue, self.loaded.registry, self.loaded.context.memory,
                                        lambda: self.clock_now, monotonic=self.monotonic)

    def restart(self):
        self.loaded.close()
        self._load()

    def say(self, text):
        turn = self.dialogue.interpret(self.model.predict(text), text, "test")
        return self.dialogue.respond(turn)

    def script(self, *lines):
        return [self.say(line).text for line in lines]

    def bookings(self):
        return self.loaded.context.store.execute("SELECT hotel, night, price FROM hotel_bookings")

    def close(self):
        self.loaded.close()


@pytest.fixture
def chat(model, tmp_path):
    conversation = Conversation(model, tmp_path)
    yield conversation
    conversation.close()


def test_hotel_booking_asks_for_the_budget_and_books_after_a_yes(chat):
    first = chat.say("Book a hotel near Beijing West station for Friday")
    assert first.text == "What's your budget per night?"
    assert first.expects_follow_up and first.asked_slot == "budget" and first.intent == "hotel_book"
    assert first.slots == {"place": "beijing west station", "date": "friday"}
    offer = chat.say("about 200 yuan")
    assert offer.text == "Jade Garden Hotel near Beijing West Station has a room on Friday for 188 yuan. Shall I book it?"
    assert offer.expects_follow_up and offer.confirming and offer.action == "answer"
    assert chat.bookings() == []  # nothing is booked before the yes
    booked = chat.say("yes")
    assert booked.text == "Booked Jade Garden Hotel for Friday night, 188 yuan. Your reference is H0001."
    assert not booked.expects_follow_up and booked.action == "confirm"
    assert [tuple(row) for row in chat.bookings()] == [("Jade Garden Hotel", "2026-11-27", 188.0)]


def test_hotel_booking_asks_for_each_missing_slot(chat):
    assert chat.script("I need a hotel", "London", "tomorrow", "a hundred pounds", "yes please") == [
        "Where would you like to stay?",
        "Which night would you like to stay?",
        "What's your budget per night?",
        "Paddington Rooms near Paddington has a room tomorrow for 95 pounds. Shall I book it?",
        "Booked Paddington Rooms for tomorrow night, 95 pounds. Your reference is H0001.",
    ]


def test_a_correction_changes_one_slot(chat):
    assert chat.script("book a hotel near beijing west station", "friday", "no, make it Saturday",
                       "two hundred", "no, make it Sunday", "yes") == [
        "Which night would you like to stay?",
        "What's your budget per night?",
        "Okay, on Saturday. What's your budget per night?",
        "Jade Garden Hotel near Beijing West Station has a room on Saturday for 188 yuan. Shall I book it?",
        "Okay, on Sunday. Jade Garden Hotel near Beijing West Station has a room on Sunday for 188 yuan. Shall I book it?",
        "Booked Jade Garden Hotel for Sunday night, 188 yuan. Your reference is H0001.",
    ]
    assert [row["night"] for row in chat.bookings()] == ["2026-11-29"]


def test_a_budget_below_every_hotel_is_asked_again(chat):
    assert chat.script("find me a hotel in shanghai for tomorrow under 100 yuan", "300 yuan", "yes")[:2] == [
        "Nothing near Shanghai is within 100 yuan; the cheapest is Hongqiao Station Hotel at 230 yuan a night. "
        "What's your budget per night?",
        "Hongqiao Station Hotel near Hongqiao Station has a room tomorrow for 230 yuan. Shall I book it?",
    ]


def test_cancel_and_decline(chat):
    assert chat.script("remind me to call mom", "cancel") == ["When should I remind you?", "Okay, cancelled."]
    assert chat.loaded.context.memory.reminders() == []
    assert chat.script("book a hotel in london for tomorrow under 150 pounds", "no thanks") == [
        "Paddington Rooms near Paddington has a room tomorrow for 95 pounds. Shall I book it?",
        "Okay, I won't go ahead.",
    ]
    assert chat.bookings() == []
    assert chat.say("what time is it").text == "It's 9:00 AM."  # nothing left pending
    nothing = chat.say("never mind")  # with nothing pending: answered here, not sent to an LLM
    assert nothing.text == "Okay. There was nothing to cancel." and nothing.action == "cancel"


def test_unclear_answers_are_asked_again_then_dropped(chat):
    chat.say("book a hotel near beijing west station for friday")
    again = chat.say("purple elephants")
    assert again.text == "Sorry, I didn't get that. What's your budget per night?" and again.expects_follow_up
    chat.say("purple elephants")
    assert chat.say("purple elephants").text == "Sorry, I still didn't get that, so I've stopped."
    assert not chat.dialogue.expects_follow_up("test")


def test_a_pending_question_times_out(chat):
    chat.say("book a hotel near beijing west station for friday")
    assert chat.dialogue.expects_follow_up("test")
    chat.monotonic.now += chat.settings.dialogue.pending_timeout_seconds + 1
    assert not chat.dialogue.expects_follow_up("test")
    late = chat.say("about 200 yuan")
    assert late.intent != "hotel_book" and "Shall I book" not in late.text


def test_a_new_request_drops_the_pending_question(chat):
    chat.say("book a hotel near beijing west station for friday")
    assert chat.say("what time is it").text == "It's 9:00 AM."
    assert not chat.dialogue.expects_follow_up("test")


class TableWeather(WeatherProvider):
    name = "table"

    def forecast(self, place, day):
        table = {("london", date(2026, 11, 25)): Forecast("light rain", 7, 11),
                 ("london", date(2026, 11, 26)): Forecast("sunny", 5, 12),
                 ("paris", date(2026, 11, 26)): Forecast("cloudy", 6, 10)}
        return table.get((place, day))


def test_context_carries_over_to_the_next_question(model, tmp_path):
    chat = Conversation(model, tmp_path, weather=TableWeather())
    try:
        replies = [chat.say(line) for line in ("what's the weather in London", "and tomorrow?", "what about Paris?")]
        assert [reply.text for reply in replies] == [
            "In London today: light rain, 7 to 11 degrees Celsius.",
            "In London tomorrow: sunny, 5 to 12 degrees Celsius.",
            "In Paris tomorrow: cloudy, 6 to 10 degrees Celsius.",
        ]
        assert [reply.action for reply in replies] == ["sentence", "carry", "carry"]
        chat.monotonic.now += chat.settings.dialogue.context_seconds + 1
        assert chat.say("and tomorrow?").action == "model"  # too late to refer back
    finally:
        chat.close()


def test_a_fact_is_remembered_across_a_restart_and_fills_slots(chat):
    assert chat.say("remember my home city is Shanghai").text == "Okay, I'll remember that your home city is Shanghai."
    chat.restart()
    assert chat.say("what's my home city?").text == "Your home city is Shanghai."
    weather = chat.say("what's the weather like tomorrow")
    assert weather.text == "I have no weather data for Shanghai tomorrow: no weather service is set up on this speaker."
    assert weather.slots["place"] == "shanghai"


def test_a_timer_fires_and_is_announced_once(chat):
    assert chat.say("set a timer for 5 seconds").text == "Timer set for 5 seconds."
    heard = []
    scheduler = AlertScheduler(chat.loaded.context, heard.append)
    assert scheduler.poll(NOW + timedelta(seconds=4)) == []
    assert [alert.text for alert in scheduler.poll(NOW + timedelta(seconds=6))] == ["Your timer for 5 seconds is done."]
    assert scheduler.poll(NOW + timedelta(seconds=7)) == []
    chat.restart()  # announced alerts stay announced
    assert AlertScheduler(chat.loaded.context, heard.append).poll(NOW + timedelta(seconds=8)) == []
    assert [alert.kind for alert in heard] == ["timer"]


def test_reminders_are_filled_in_and_announced(chat):
    assert chat.script("remind me to water the plants", "in ten minutes") == [
        "When should I remind you?", "Okay, I'll remind you to water the plants at 9:10 AM today."]
    assert chat.say("remind me at 5 pm").text == "What should I remind you about?"
    assert chat.say("call the bank").text == "Okay, I'll remind you to call the bank at 5:00 PM today."
    scheduler = AlertScheduler(chat.loaded.context, lambda alert: None)
    assert [alert.text for alert in scheduler.poll(NOW + timedelta(minutes=11))] == ["Reminder: water the plants."]
    assert [alert.text for alert in scheduler.poll(NOW.replace(hour=17, minute=1))] == ["Reminder: call the bank."]


def test_lists_volume_and_units(chat):
    assert chat.script("add milk to my shopping list", "add eggs", "put call the bank on my to-do list",
                       "what's on my shopping list", "remove milk from my shopping list", "what is on my list") == [
        "Added milk to your shopping list.", "Added eggs to your shopping list.", "Added call the bank to your to do list.",
        "Your shopping list has 2 items: milk and eggs.", "Removed milk from your shopping list.",
        "Your shopping list has 1 item: eggs.",
    ]
    assert chat.script("set the volume to 7", "turn the volume up", "louder", "louder", "louder", "mute") == [
        "Volume 7.", "Volume 8.", "Volume 9.", "Volume 10.", "The volume is already at its highest, 10.", "Muted."]
    assert chat.script("convert 10 miles to kilometers", "how many pounds in a kilogram",
                       "what is 100 degrees fahrenheit in celsius") == [
        "10 miles is 16.09 kilometers.", "1 kilogram is 2.2 pounds.", "100 degrees fahrenheit is 37.78 degrees celsius."]


def test_the_model_path_fills_declared_slots(chat):
    """A request the sentences do not cover still reaches the skill through the intent model."""
    reply = chat.say("hey can you tell me what the weather looks like in london today")
    assert reply.intent == "weather_query" and reply.action == "model"
    assert reply.text.startswith("I have no weather data for London today")


def test_dialogue_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().dialogue.follow_up_seconds = 1  # type: ignore[misc]
