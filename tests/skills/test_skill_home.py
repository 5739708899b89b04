"""Lights and plugs through a real local mosquitto broker, and Home Assistant's REST API on loopback."""

import json
import os
import queue
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from edge.core.settings import HomeSettings, NluSettings, Settings, SkillSettings
from edge.dialogue import DialogueManager
from edge.nlu.runtime import IntentModel
from edge.skills.base import SkillRequest
from edge.skills.builtin.home_backends import HomeAssistantBackend, HomeCommand, HomeError, MqttBackend
from edge.skills.loader import load_skills

MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    if MOSQUITTO is None:
        pytest.skip("mosquitto is not installed (make test installs Debian's mosquitto; apt-get install mosquitto)")
    pytest.importorskip("paho.mqtt", reason="the MQTT backend needs paho-mqtt (pip install -e '.[skills]')")
    port = free_port()
    config = tmp_path_factory.mktemp("mosquitto") / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    process = subprocess.Popen([MOSQUITTO, "-c", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        process.kill()
        pytest.fail(f"mosquitto did not start: {process.stdout.read().decode()[-300:]}")
    yield port
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def listener(broker):
    """A subscriber on edge/home/# collecting (topic, payload) pairs."""
    import paho.mqtt.client as mqtt

    messages: queue.Queue = queue.Queue()
    subscribed = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_connect = lambda c, *args: c.subscribe("edge/home/#", qos=1)
    client.on_subscribe = lambda *args: subscribed.set()
    client.on_message = lambda c, userdata, message: messages.put((message.topic, json.loads(message.payload)))
    client.connect("127.0.0.1", broker)
    client.loop_start()
    assert subscribed.wait(5)
    yield messages
    client.loop_stop()
    client.disconnect()


@pytest.fixture(scope="module")
def model():
    return IntentModel.load(NluSettings())


def test_lights_and_plugs_over_mqtt(broker, listener, model, tmp_path):
    settings = Settings(skills=SkillSettings(database_path=str(tmp_path / "edge.sqlite3"), entry_points=False),
                        home=HomeSettings(backend="mqtt", mqtt_port=broker))
    loaded = load_skills(settings)
    dialogue = DialogueManager(settings.dialogue, loaded.registry, loaded.context.memory, loaded.context.clock)
    script = [
        ("turn on the kitchen lights", "Turning on the kitchen lights.", "edge/home/kitchen/light/set", {"state": "ON"}),
        ("dim the kitchen lights to 30 percent", "Dimming the kitchen lights to 30 percent.",
         "edge/home/kitchen/light/set", {"state": "ON", "brightness": 76}),
        ("make the bedroom lights red", "Making the bedroom lights red.", "edge/home/bedroom/light/set",
         {"state": "ON", "color": {"r": 255, "g": 0, "b": 0}}),
        ("turn off the plug", "Turning off the living room plug.", "edge/home/living_room/plug/set", {"state": "OFF"}),
    ]
    try:
        for said, reply, topic, payload in script:
            answer = dialogue.respond(dialogue.interpret(model.predict(said), said))
            assert answer.text == reply
            assert listener.get(timeout=5) == (topic, payload)
        assert listener.empty()
    finally:
        loaded.close()


def test_an_unreachable_broker_is_an_apology_with_the_reason(tmp_path):
    backend = MqttBackend(HomeSettings(backend="mqtt", mqtt_port=free_port(), timeout_seconds=1.0))
    with pytest.raises(HomeError, match=r"cannot reach the MQTT broker at 127.0.0.1:\d+: .*check home.mqtt_host"):
        backend.send(HomeCommand("light", "kitchen", "on"))


class _FakeHomeAssistant(BaseHTTPRequestHandler):
    calls: list = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.calls.append((self.path, self.headers["Authorization"], body))
        status = 200 if self.headers["Authorization"] == "Bearer secret-token" else 401
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"[]")

    def log_message(self, *args):
        pass


def test_home_assistant_rest_calls():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeHomeAssistant)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings = HomeSettings(backend="home-assistant", ha_url=f"http://127.0.0.1:{server.server_port}")
    try:
        backend = HomeAssistantBackend(settings, environ={"EDGE_HA_TOKEN": "secret-token"})
        backend.send(HomeCommand("light", "living room", "on", brightness=128, color=(255, 0, 0)))
        backend.send(HomeCommand("plug", "kitchen", "off"))
        assert _FakeHomeAssistant.calls == [
            ("/api/services/light/turn_on", "Bearer secret-token",
             {"entity_id": "light.living_room", "brightness": 128, "rgb_color": [255, 0, 0]}),
            ("/api/services/switch/turn_off", "Bearer secret-token", {"entity_id": "switch.kitchen_plug"}),
        ]
        wrong = HomeAssistantBackend(settings, environ={"EDGE_HA_TOKEN": "stale"})
        with pytest.raises(HomeError, match="answered 401 .*token is not accepted"):
            wrong.send(HomeCommand("light", "kitchen", "on"))
        with pytest.raises(HomeError, match=r"no Home Assistant token: .*\$EDGE_HA_TOKEN"):
            HomeAssistantBackend(settings, environ={}).send(HomeCommand("light", "kitchen", "on"))
    finally:
        server.shutdown()


def test_without_a_backend_the_skill_says_so_and_claims_nothing(model, tmp_path):
    settings = Settings(skills=SkillSettings(database_path=str(tmp_path / "edge.sqlite3"), entry_points=False))
    loaded = load_skills(settings)
    try:
        dialogue = DialogueManager(settings.dialogue, loaded.registry, loaded.context.memory, loaded.context.clock)
        said = "turn on the kitchen lights"
        turn = dialogue.interpret(model.predict(said), said)
        assert not turn.claimed  # left to the router (the intent model, or the cloud tier)
        skill = loaded.registry.skill_for("iot_hue_lighton")
        assert not skill.available("iot_hue_lighton")
        reply = loaded.registry.handle(SkillRequest(intent="iot_hue_lighton", text=said, raw_text=said))
        assert reply.text.startswith("No smart-home hub is set up on this speaker: set home.backend")
    finally:
        loaded.close()


def test_the_room_a_request_came_from_is_the_room_meant(broker, listener, model, tmp_path):
    """A satellite's area reaches the skill: "turn on the lights" from the kitchen means the kitchen; a
    room said wins; "turn them off" acts on the lights just switched."""
    settings = Settings(skills=SkillSettings(database_path=str(tmp_path / "edge.sqlite3"), entry_points=False),
                        home=HomeSettings(backend="mqtt", mqtt_port=broker))
    loaded = load_skills(settings)
    dialogue = DialogueManager(settings.dialogue, loaded.registry, loaded.context.memory, loaded.context.clock)
    script = [
        ("kitchen-satellite", "Kitchen", "turn on the lights", "Turning on the kitchen lights.",
         "edge/home/kitchen/light/set", {"state": "ON"}),
        ("kitchen-satellite", "Kitchen", "turn on the bedroom light", "Turning on the bedroom lights.",
         "edge/home/bedroom/light/set", {"state": "ON"}),
        ("kitchen-satellite", "Kitchen", "turn it off", "Turning off the bedroom lights.",
         "edge/home/bedroom/light/set", {"state": "OFF"}),
        ("lounge-satellite", "lounge", "switch off the lights", "Turning off the living room lights.",
         "edge/home/living_room/light/set", {"state": "OFF"}),
        ("den-satellite", "Den", "lights on", "Turning on the den lights.", "edge/home/den/light/set", {"state": "ON"}),
    ]
    try:
        for session, area, said, reply, topic, payload in script:
            answer = dialogue.respond(dialogue.interpret(model.predict(said), said, session, area))
            assert answer.text == reply, said
            assert listener.get(timeout=5) == (topic, payload)
        assert listener.empty()
    finally:
        loaded.close()
