"""The cloud LLM can act: the skills' intents are offered as OpenAI tools, and a tool call the model
makes runs the local skill through the dialogue's rules, with the call in the privacy ledger.

The cloud is tests/helpers/fake_openai.py speaking the real protocol byte for byte: OpenAI's
documented tool-call chunk shape, and a capture of llama.cpp's server (tests/helpers/recordings/).
The home skill talks to a real mosquitto broker on loopback.
"""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from helpers.fake_openai import RECORDINGS, FakeOpenAI
from helpers.mqtt_broker import MosquittoBroker, MqttListener

from edge.core.settings import load_settings
from edge.llm.client import LlmClient, LlmEndpoint, LlmRequest
from edge.llm.tools import ToolCall, ToolCalls
from edge.runtime.turn import Turn

pytest.importorskip("httpx", reason="the LLM client needs httpx: pip install -e '.[llm]'")

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=ZoneInfo("Europe/London"))  # a Wednesday
COSY = "could you make it a bit cosier in the living room"


def read_calls(fake: FakeOpenAI, tools: tuple = ()) -> tuple[str, list[ToolCall]]:
    client = LlmClient(LlmEndpoint(fake.base_url, total_timeout_seconds=10, retries=0))
    try:
        stream = client.stream(LlmRequest(messages=({"role": "user", "content": COSY},), tools=tools))
        stream.wait_first()
        text = "".join(stream)
        return text, stream.tool_calls
    finally:
        client.close()


def test_openai_streamed_tool_calls_are_assembled():
    calls = [("iot_hue_lightdim", '{"room":"living room","level":40}'), ("iot_wemo_off", '{"room":"kitchen"}')]
    with FakeOpenAI("tool_calls", answer="", tool_calls=calls) as fake:
        text, made = read_calls(fake, tools=({"type": "function", "function": {"name": "x"}},))
    assert text == ""
    assert [(call.name, call.args()) for call in made] == [
        ("iot_hue_lightdim", {"room": "living room", "level": 40}), ("iot_wemo_off", {"room": "kitchen"})]
    assert made[0].id == "call_q7Yd2nVfR3kLm9XcT4bWs000"
    body = fake.requests[0]
    assert body["tools"] == [{"type": "function", "function": {"name": "x"}}] and body["tool_choice"] == "auto"


def test_llama_cpp_streamed_tool_calls_are_assembled():
    """llama-cpp-python repeats the id and name in every delta and sends "tool_calls": null around them."""
    with FakeOpenAI("replay", recording=RECORDINGS / "llama_cpp_tool_call.sse") as fake:
        text, made = read_calls(fake)
    assert text == ""
    assert made == [ToolCall("call__0_iot_hue_lightdim_cmpl-905006d6-d30d-473c-9b64-6784942f0058", "iot_hue_lightdim",
                             "{ } ")]
    assert made[0].args() == {}


def test_malformed_tool_calls_are_refused():
    from edge.llm.errors import LlmProtocolError

    calls = ToolCalls(max_calls=1)
    with pytest.raises(LlmProtocolError, match="more than 1 tool calls"):
        calls.feed([{"index": 0, "function": {"name": "a"}}, {"index": 1, "function": {"name": "b"}}])
    with pytest.raises(LlmProtocolError, match="not a JSON object"):
        ToolCall("1", "a", "[1, 2]").args()
    nameless = ToolCalls()
    nameless.feed([{"index": 0, "function": {"arguments": "{}"}}])
    with pytest.raises(LlmProtocolError, match="no function name"):
        nameless.complete()


@pytest.fixture(scope="module")
def broker():
    with MosquittoBroker() as port:
        yield port


def speaker(tmp_path, fake: FakeOpenAI, broker_port: int) -> Turn:
    settings = load_settings(environ={}, overrides={
        "skills.database_path": str(tmp_path / "edge.sqlite3"), "skills.entry_points": "false",
        "skills.timezone": "Europe/London", "llm.base_url": fake.base_url, "llm.retries": "0",
        "home.backend": "mqtt", "home.mqtt_port": str(broker_port), "cast.enabled": "false",
        "router.log_training_data": "false",
    })
    return Turn.load(settings, with_asr=False, with_tts=False, clock=lambda: NOW)


def test_a_request_the_model_sends_to_the_cloud_is_carried_out_by_the_skill(tmp_path, broker):
    arguments = '{"room":"living room","level":40}'
    with FakeOpenAI("tool_calls", answer="", tool_calls=[("iot_hue_lightdim", arguments)]) as fake, \
            MqttListener(broker) as messages:
        turn = speaker(tmp_path, fake, broker)
        try:
            trace = turn.run_text(COSY, session="lounge").trace.to_dict()
            (entry,) = turn.cascade.escalator.ledger.entries()
        finally:
            turn.close()
        sent = fake.requests[0]
    assert trace["route"] == "cloud" and trace["route_rule"] != "dialogue"  # the intent model sent it up
    assert trace["reply"] == "Dimming the living room lights to 40 percent." and trace["skill"] == "home"
    assert trace["escalation"]["tool_calls"] == [{"name": "iot_hue_lightdim", "arguments": arguments}]
    assert trace["dialogue"]["action"] == "tool" and not trace.get("expects_follow_up")
    assert messages.get(timeout=5) == ("edge/home/living_room/light/set", {"state": "ON", "brightness": 102})
    offered = {tool["function"]["name"] for tool in sent["tools"]}
    assert {"iot_hue_lightdim", "hotel_book", "alarm_set", "lists_createoradd"} <= offered
    assert sent["tool_choice"] == "auto" and "call that tool" in sent["messages"][0]["content"]
    assert entry.sent[-1] == {"role": "user", "content": COSY} and entry.outcome == "answered"
    assert entry.tool_calls == [{"id": "call_q7Yd2nVfR3kLm9XcT4bWs000", "name": "iot_hue_lightdim", "arguments": arguments,
                                 "skill": "home", "said": "Dimming the living room lights to 40 percent.",
                                 "outcome": "done"}]


def test_a_tool_call_that_costs_money_waits_for_the_users_yes(tmp_path, broker):
    arguments = json.dumps({"place": "London", "date": "Friday", "budget": "150 pounds", "nights": 2})
    with FakeOpenAI("tool_calls", answer="Let me look.", tool_calls=[("hotel_book", arguments)]) as fake:
        turn = speaker(tmp_path, fake, broker)
        try:
            offer = turn.run_text("we are going to london on friday, can you handle where we sleep",
                                  session="hall").trace.to_dict()
            booked_before_yes = turn.skill_context.store.execute("SELECT COUNT(*) FROM hotel_bookings")[0][0]
            yes = turn.run_text("yes please", session="hall").trace.to_dict()
            rows = [tuple(row) for row in turn.skill_context.store.execute(
                "SELECT hotel, night, nights FROM hotel_bookings")]
            entries = turn.cascade.escalator.ledger.entries()
        finally:
            turn.close()
    if offer["route"] == "local":
        pytest.skip("the intent model answered this request on the device; the test needs it escalated")
    assert offer["reply"] == ("Let me look. Paddington Rooms near Paddington has a room on Friday for 2 nights at "
                              "95 pounds a night, 190 pounds in all. Shall I book it?")
    assert offer["expects_follow_up"] and offer["dialogue"]["confirming"] and booked_before_yes == 0
    assert yes["route"] == "local" and yes["route_rule"] == "dialogue"
    assert yes["reply"] == "Booked Paddington Rooms for 2 nights from Friday, 190 pounds in all. Your reference is H0001."
    assert rows == [("Paddington Rooms", "2026-11-27", 2)]
    assert len(entries) == 1  # the yes stayed on the device
    assert entries[0].tool_calls[0]["name"] == "hotel_book" and entries[0].tool_calls[0]["outcome"] == "asked"


def test_a_call_to_an_intent_no_skill_declares_is_refused_and_recorded(tmp_path, broker):
    with FakeOpenAI("tool_calls", answer="", tool_calls=[("launch_rocket", "{}")]) as fake:
        turn = speaker(tmp_path, fake, broker)
        try:
            trace = turn.run_text("please launch the rocket to the moon", session="x").trace.to_dict()
            (entry,) = turn.cascade.escalator.ledger.entries()
        finally:
            turn.close()
    assert trace["reply"] == "Sorry, I can't do launch rocket on this speaker."
    assert entry.tool_calls[0]["outcome"] == "error" and "no installed skill" in entry.tool_calls[0]["error"]
