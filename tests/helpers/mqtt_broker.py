"""Test helper: a real mosquitto broker on a free loopback port, and a subscriber that collects messages.

    with MosquittoBroker() as port:          # pytest.skip (with the fix) when mosquitto is not installed
        with MqttListener(port, "edge/home/#") as messages:
            ...
            messages.get(timeout=5)           # (topic, payload as JSON)

Readiness is the broker accepting a TCP connection, and the subscriber's SUBACK: no sleeps.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MosquittoBroker:
    def __enter__(self) -> int:
        if MOSQUITTO is None:
            pytest.skip("mosquitto is not installed (make test installs Debian's mosquitto; apt-get install mosquitto)")
        pytest.importorskip("paho.mqtt", reason="the MQTT backend needs paho-mqtt (pip install -e '.[skills]')")
        self.port = free_port()
        self._folder = tempfile.TemporaryDirectory()
        config = Path(self._folder.name) / "mosquitto.conf"
        config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self.port
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.05)
        self.process.kill()
        pytest.fail(f"mosquitto did not start: {self.process.stdout.read().decode()[-300:]}")

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self._folder.cleanup()


class MqttListener:
    """A subscriber collecting (topic, JSON payload) pairs in a queue."""

    def __init__(self, port: int, topic: str = "edge/home/#") -> None:
        self.port, self.topic = port, topic

    def __enter__(self) -> queue.Queue:
        import paho.mqtt.client as mqtt

        self.messages: queue.Queue = queue.Queue()
        subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda client, *args: client.subscribe(self.topic, qos=1)
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.on_message = lambda c, userdata, message: self.messages.put((message.topic, json.loads(message.payload)))
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()
        if not subscribed.wait(10):
            raise RuntimeError("the MQTT listener did not get its subscription acknowledged")
        return self.messages

    def __exit__(self, *exc) -> None:
        self.client.loop_stop()
        self.client.disconnect()
