"""Where smart-home commands go: an MQTT broker, or Home Assistant's REST API.

    backend = make_backend(settings.home)            # None when home.backend = "none"
    backend.send(HomeCommand("light", "kitchen", "on", brightness=128))

MQTT: one JSON message per command to `<prefix>/<room>/<device>/set` (room with underscores,
device `light` or `plug`), in Home Assistant's MQTT JSON light schema: {"state": "ON",
"brightness": 128, "color": {"r": 255, "g": 0, "b": 0}}; QoS 1, and `send` returns once the
broker has acknowledged it. Home Assistant: POST /api/services/<light|switch>/<turn_on|turn_off>
with entity `light.<room>` or `switch.<room>_plug` and a long-lived token from `home.ha_token_env`.
"""

from __future__ import annotations

import abc
import ipaddress
import json
import logging
import os
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from edge.core.errors import PeerError
from edge.core.settings import HomeSettings

logger = logging.getLogger(__name__)


class HomeError(PeerError):
    """A command could not be delivered; the message says what to check."""


@dataclass(frozen=True)
class HomeCommand:
    device: str  # light | plug
    room: str  # "living room"
    action: str  # on | off
    brightness: int | None = None  # 0-255
    color: tuple[int, int, int] | None = None  # RGB

    @property
    def room_id(self) -> str:
        return "_".join(self.room.lower().replace("'", "").split())


class HomeBackend(abc.ABC):
    name = ""

    @abc.abstractmethod
    def send(self, command: HomeCommand) -> None:
        """Deliver one command; raises HomeError."""

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release connections."""


class MqttBackend(HomeBackend):
    name = "mqtt"

    def __init__(self, settings: HomeSettings, environ: dict[str, str] | None = None) -> None:
        self.settings = settings
        self._environ = dict(os.environ if environ is None else environ)
        self._client = None
        self._lock = threading.Lock()

    def topic(self, command: HomeCommand) -> str:
        return f"{self.settings.mqtt_topic_prefix.rstrip('/')}/{command.room_id}/{command.device}/set"

    @staticmethod
    def payload(command: HomeCommand) -> dict:
        payload: dict = {"state": "ON" if command.action == "on" else "OFF"}
        if command.brightness is not None:
            payload["brightness"] = command.brightness
        if command.color is not None:
            payload["color"] = dict(zip("rgb", command.color, strict=True))
        return payload

    def send(self, command: HomeCommand) -> None:
        with self._lock:
            client = self._connected()
            try:
                info = client.publish(self.topic(command), json.dumps(self.payload(command)), qos=1)
                info.wait_for_publish(timeout=self.settings.timeout_seconds)
                delivered = info.is_published()
            except (RuntimeError, ValueError, OSError) as error:
                delivered, reason = False, str(error)
            else:
                reason = f"no acknowledgement within {self.settings.timeout_seconds:g} s"
            if not delivered:
                self._drop()
                raise HomeError(f"the MQTT broker at {self._address()} did not take the command ({reason}); "
                                "check home.mqtt_host and home.mqtt_port")
        logger.info("mqtt %s <- %s", self.topic(command), self.payload(command))

    def _connected(self):
        if self._client is not None:
            return self._client
        try:
            import paho.mqtt.client as mqtt
        except ImportError as error:
            raise HomeError("home.backend = mqtt needs paho-mqtt: pip install 'edge-voice[skills]'") from error
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="", protocol=mqtt.MQTTv311)
        if self.settings.mqtt_username:
            client.username_pw_set(self.settings.mqtt_username, self._environ.get(self.settings.mqtt_password_env))
        connected = threading.Event()
        client.on_connect = lambda *args: connected.set()
        try:
            client.connect(self.settings.mqtt_host, self.settings.mqtt_port, keepalive=30)
        except OSError as error:
            raise HomeError(f"cannot reach the MQTT broker at {self._address()}: {error}; check home.mqtt_host, "
                            "home.mqtt_port and that the broker runs") from error
        client.loop_start()
        if not connected.wait(self.settings.timeout_seconds):
            client.loop_stop()
            raise HomeError(f"the MQTT broker at {self._address()} did not accept the connection; check the "
                            "user name and password (home.mqtt_username, home.mqtt_password_env)")
        self._client = client
        return client

    def _drop(self) -> None:
        if self._client is not None:
            self._client.loop_stop()
            self._client.disconnect()
            self._client = None

    def _address(self) -> str:
        return f"{self.settings.mqtt_host}:{self.settings.mqtt_port}"

    def close(self) -> None:
        with self._lock:
            self._drop()


def check_ha_url(url: str, allow_plain_http: bool) -> None:
    """HomeError unless the token may go to `url`: https, or http to this machine, or http the operator allowed."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HomeError(f"home.ha_url {url!r} is not an http(s) URL, e.g. https://homeassistant.local:8123")
    if parts.scheme == "https" or allow_plain_http or _is_loopback(parts.hostname):
        return
    raise HomeError(
        f"home.ha_url {url} is plain http to another machine: the access token would cross the network "
        "readable by anyone on it. Use https://, or set home.ha_allow_plain_http = true to accept that"
    )


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would carry the Authorization header to wherever it points: refuse it."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise HomeError(f"Home Assistant answered {code} with a redirect to {newurl}; the token is not sent "
                        "there: set home.ha_url to the address Home Assistant really serves")


class HomeAssistantBackend(HomeBackend):
    name = "home-assistant"

    def __init__(self, settings: HomeSettings, environ: dict[str, str] | None = None) -> None:
        self.settings = settings
        self._token = (os.environ if environ is None else environ).get(settings.ha_token_env, "")
        self._opener = urllib.request.build_opener(_NoRedirects())

    @staticmethod
    def service_call(command: HomeCommand) -> tuple[str, dict]:
        """(path, body) of the REST call for a command."""
        domain = "light" if command.device == "light" else "switch"
        entity = f"light.{command.room_id}" if domain == "light" else f"switch.{command.room_id}_plug"
        body: dict = {"entity_id": entity}
        if command.brightness is not None and command.action == "on":
            body["brightness"] = command.brightness
        if command.color is not None and command.action == "on":
            body["rgb_color"] = list(command.color)
        return f"/api/services/{domain}/turn_{command.action}", body

    def send(self, command: HomeCommand) -> None:
        if not self._token:
            raise HomeError(f"no Home Assistant token: put a long-lived access token in ${self.settings.ha_token_env}")
        check_ha_url(self.settings.ha_url, self.settings.ha_allow_plain_http)
        path, body = self.service_call(command)
        request = urllib.request.Request(
            self.settings.ha_url.rstrip("/") + path, data=json.dumps(body).encode(), method="POST",
            headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"},
        )
        try:
            with self._opener.open(request, timeout=self.settings.timeout_seconds) as response:
                response.read()
        except urllib.error.HTTPError as error:
            hint = "the token is not accepted" if error.code in (401, 403) else f"entity {body['entity_id']} may not exist"
            raise HomeError(f"Home Assistant answered {error.code} to {path}: {hint}") from error
        except (urllib.error.URLError, OSError) as error:
            raise HomeError(f"cannot reach Home Assistant at {self.settings.ha_url}: {error}; check home.ha_url") from error
        logger.info("home assistant %s <- %s", path, body)


def make_backend(settings: HomeSettings) -> HomeBackend | None:
    if settings.backend == "none":
        return None
    if settings.backend == "mqtt":
        return MqttBackend(settings)
    if settings.backend == "home-assistant":
        return HomeAssistantBackend(settings)
    raise HomeError(f"unknown home.backend {settings.backend!r}; use none, mqtt or home-assistant")
