"""The routing policy, the dialogue state and the speech chunking of streamed answers."""

import pytest

from edge.core.events import IntentResult
from edge.core.settings import RouterSettings
from edge.escalation.history import DialogueState, parse_correction
from edge.escalation.router import Router
from edge.tts.chunking import SpeechChunker, speakable
from edge.tts.speech import answer_card


def intent(name, confidence):
    return IntentResult(text="x", intent=name, confidence=confidence, out_of_scope=name == "out_of_scope" or confidence < 0.5)


@pytest.fixture
def router():
    return Router(RouterSettings(min_confidence=-1), bundle_threshold=0.5, oos_label="out_of_scope")


@pytest.mark.parametrize(
    "name, confidence, escalate, rule",
    [
        ("alarm_set", 0.97, False, "confident"),
        ("out_of_scope", 0.93, True, "out-of-scope"),
        ("qa_factoid", 0.99, True, "world-knowledge"),
        ("recommendation_movies", 0.8, True, "world-knowledge"),
        ("general_joke", 0.95, False, "confident"),
        ("alarm_set", 0.31, True, "low-confidence"),
    ],
)
def test_rules(router, name, confidence, escalate, rule):
    decision = router.decide(intent(name, confidence))
    assert (decision.escalate, decision.rule) == (escalate, rule)
    assert decision.reason.startswith(rule + ": ")


def test_low_confidence_reason_names_the_threshold_and_its_source(router):
    decision = router.decide(intent("alarm_set", 0.31))
    assert "0.31 is below the threshold 0.50 (bundle oos_threshold)" in decision.reason
    assert decision.trace()["route_threshold"] == {"confidence": 0.5, "source": "bundle oos_threshold"}
    stricter = Router(RouterSettings(min_confidence=0.8), bundle_threshold=0.5, oos_label="out_of_scope")
    assert stricter.decide(intent("alarm_set", 0.7)).reason.endswith("(router.min_confidence)")


def test_settings_can_keep_an_intent_local_or_turn_the_router_off():
    default = Router(RouterSettings(), 0.9, "out_of_scope")
    assert (default.threshold, default.threshold_unit) == (3.5, "logit_margin")  # router.min_margin, not the bundle's 0.9
    keep = Router(RouterSettings(local_intents="qa_*"), 0.5, "out_of_scope")
    assert keep.decide(intent("qa_factoid", 0.9)).rule == "local-policy"
    off = Router(RouterSettings(enabled=False), 0.5, "out_of_scope")
    assert not off.decide(intent("out_of_scope", 0.9)).escalate


def test_by_default_the_logit_margin_decides_and_the_confidence_is_the_fallback():
    router = Router(RouterSettings(), 0.9, "out_of_scope")
    torn = IntentResult(text="x", intent="alarm_set", confidence=0.45, oos_margin=6.0)  # split between two alarms
    unsure = IntentResult(text="x", intent="alarm_set", confidence=0.8, oos_margin=1.2)  # out_of_scope close behind
    assert router.decide(torn).rule == "confident"
    decision = router.decide(unsure)
    assert (decision.escalate, decision.rule) == (True, "low-confidence")
    assert "logit margin of 1.20, under router.min_margin 3.50" in decision.reason
    assert decision.trace()["route_threshold"] == {"logit_margin": 3.5, "source": "router.min_margin"}
    # a bundle with no out-of-scope intent gives no margin: the confidence rule applies
    no_margin = router.decide(intent("alarm_set", 0.45))
    assert no_margin.rule == "low-confidence" and no_margin.trace()["route_threshold"]["source"] == "router.min_confidence"
    off = Router(RouterSettings(min_margin=-1), 0.9, "out_of_scope")
    assert off.decide(torn).rule == "low-confidence" and off.decide(unsure).rule == "confident"


def test_an_unsure_follow_up_to_an_escalated_turn_escalates_too(router):
    now = [100.0]
    state = DialogueState(clock=lambda: now[0])
    state.add("why is the sky blue", "Because of Rayleigh scattering.", "qa_factoid", "cloud")
    now[0] = 110.0
    assert router.decide(intent("general_explain", 0.8), state).rule == "follow-up"
    assert router.decide(intent("alarm_set", 0.97), state).rule == "confident"  # a sure command stays local
    now[0] = 200.0
    assert router.decide(intent("general_explain", 0.8), state).rule == "confident"


def test_dialogue_context_keeps_recent_turns_and_forgets_after_quiet():
    now = [0.0]
    state = DialogueState(idle_seconds=60, clock=lambda: now[0])
    for index in range(4):
        state.add(f"q{index}", f"a{index}", "qa_factoid", "cloud")
        now[0] += 10
    assert state.context_messages(2) == [
        {"role": "user", "content": "q2"}, {"role": "assistant", "content": "a2"},
        {"role": "user", "content": "q3"}, {"role": "assistant", "content": "a3"},
    ]
    now[0] += 600
    assert state.context_messages(2) == [] and state.last() is None


@pytest.mark.parametrize(
    "text, meant",
    [
        ("No, I meant set a timer for five minutes", "set a timer for five minutes"),
        ("no i said turn off the lights.", "turn off the lights"),
        ("nope, actually play some jazz", "play some jazz"),
        ("No thanks", None),
        ("I meant nothing", None),
    ],
)
def test_corrections_are_recognised(text, meant):
    assert parse_correction(text) == meant


def test_chunker_speaks_a_first_clause_early_then_whole_sentences():
    chunker = SpeechChunker()
    stream = "The sky looks blue, because air scatters blue light more. Red light passes. 1. First\n2. Second\n"
    pieces = []
    for start in range(0, len(stream), 3):
        pieces += chunker.feed(stream[start : start + 3])
    pieces.append(chunker.flush())
    assert pieces[:3] == ["The sky looks blue,", "because air scatters blue light more.", "Red light passes."]
    assert pieces[3:5] == ["1. First", "2. Second"]  # a list number is not a sentence of its own


def test_chunker_cuts_a_long_first_clause_after_six_words():
    chunker = SpeechChunker()
    assert chunker.feed("one two three four five six seven eight nine ") == ["one two three four five six"]
    assert chunker.feed("ten. eleven") == ["seven eight nine ten."]


def test_a_slow_stream_starts_speaking_the_words_that_came_after_the_wait():
    now = [0.0]
    chunker = SpeechChunker(first_wait_seconds=0.1, clock=lambda: now[0])
    assert chunker.feed("Canberra is th") == []  # not yet waited
    now[0] = 0.05
    assert chunker.feed("e") == []
    now[0] = 0.12
    assert chunker.feed("") == ["Canberra is"]  # a tick: time passed, two whole words are there
    assert chunker.feed(" capital of Australia. It") == ["the capital of Australia."]


def test_speakable_drops_markdown_and_links():
    assert speakable("## Day 1\n- **Visit** the `Colosseum` at https://x.example/a?b") == "Day 1 Visit the Colosseum at a link"


def test_long_or_structured_answers_become_cards():
    plan = "Here is a plan:\n1. Colosseum\n2. Vatican\n3. Trastevere"
    card = answer_card("plan a three day trip to rome", plan, spoken_max_chars=300)
    assert card.items == ["Colosseum", "Vatican", "Trastevere"] and card.body == plan
    table = answer_card("compare", "| a | b |\n|---|---|\n| 1 | 2 |", 300)
    assert table.table == [["a", "b"], ["1", "2"]]
    assert answer_card("why is the sky blue", "Rayleigh scattering.", 300) is None
    assert answer_card("q", "word " * 100, 300).body.startswith("word")


def test_open_ended_requests_escalate_whatever_intent_the_model_guesses(router):
    rome = IntentResult(text="plan a three day trip to rome", intent="transport_ticket", confidence=0.55)
    decision = router.decide(rome)
    assert (decision.escalate, decision.rule) == (True, "open-request")
    assert "'plan'" in decision.reason
    planned_alarm = IntentResult(text="set an alarm for my plan", intent="alarm_set", confidence=0.97)
    assert not router.decide(planned_alarm).escalate  # only the first word counts


def test_the_issue_example_goes_to_the_cloud_through_the_real_intent_model():
    from edge.core.settings import NluSettings
    from edge.nlu.runtime import IntentModel

    model = IntentModel.load(NluSettings())
    real = Router(RouterSettings(), bundle_threshold=model.manifest.oos_threshold, oos_label=model.manifest.oos_label)
    for request in ("Plan a three-day trip to Rome.", "Why is the sky blue?"):
        assert real.decide(model.predict(request)).escalate, request
    alarm = model.predict("set an alarm for seven am")
    assert alarm.oos_margin is not None and alarm.oos_margin > 3.5  # far ahead of out_of_scope
    assert not real.decide(alarm).escalate
