"""Lights and plugs: HWU64's `iot_hue_*` (lights) and `iot_wemo_*` (plugs) intents.

Commands go to the backend named by `home.backend` (edge/skills/builtin/home_backends.py): an MQTT
broker or Home Assistant's REST API. With no backend the skill says so (and does not take
sentence matches away from other routes). Brightness is remembered per room so that "dim the
lights" can send an absolute level, as MQTT JSON lights expect.

The room is the one said; else the room the request came from (`SkillRequest.area`: a satellite's
area, so "turn on the lights" from the kitchen satellite means the kitchen); else `home.default_room`.
Each reply names the lights or plug it switched (`SkillReply.mentions`), so "turn them off" or "make
it brighter" next acts on the same room.
"""

from __future__ import annotations

from typing import ClassVar

from edge.core.text.normalize import normalize_utterance
from edge.skills.base import Mention, SkillReply, SkillRequest
from edge.skills.builtin.home_backends import HomeBackend, HomeCommand, HomeError, make_backend
from edge.skills.declared import DeclaredSkill, SkillContext
from edge.skills.matcher import read_slot

COLORS = {
    "red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "white": (255, 255, 255),
    "warm white": (255, 197, 143), "yellow": (255, 255, 0), "orange": (255, 165, 0), "purple": (128, 0, 128),
    "pink": (255, 105, 180),
}
_STEP = 64  # brightness change for "dim" / "brighter" without a level (of 255)
_LIGHT_INTENTS = {"on": "iot_hue_lighton", "off": "iot_hue_lightoff", "cancel": "iot_hue_lightoff"}
_PLUG_INTENTS = {"on": "iot_wemo_on", "off": "iot_wemo_off", "cancel": "iot_wemo_off"}
NO_BACKEND = "No smart-home hub is set up on this speaker: set home.backend to mqtt or home-assistant."


class SmartHomeSkill(DeclaredSkill):
    spec_file: ClassVar[str] = "specs/home.yaml"

    def __init__(self, context: SkillContext, backend: HomeBackend | None = None) -> None:
        super().__init__(context)
        self.backend = backend if backend is not None else make_backend(context.settings.home)

    def available(self, intent: str) -> bool:
        return self.backend is not None

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()

    def on_iot_hue_lighton(self, request: SkillRequest) -> SkillReply:
        return self._send(request, "light", "on", "Turning on the {room} lights.")

    def on_iot_hue_lightoff(self, request: SkillRequest) -> SkillReply:
        return self._send(request, "light", "off", "Turning off the {room} lights.")

    def on_iot_hue_lightdim(self, request: SkillRequest) -> SkillReply:
        level = self._level(request, -_STEP)
        return self._send(request, "light", "on", f"Dimming the {{room}} lights to {round(level / 2.55)} percent.", level)

    def on_iot_hue_lightup(self, request: SkillRequest) -> SkillReply:
        level = self._level(request, _STEP)
        return self._send(request, "light", "on", f"Brightening the {{room}} lights to {round(level / 2.55)} percent.", level)

    def on_iot_hue_lightchange(self, request: SkillRequest) -> SkillReply:
        color = str(request.values["color"].value)
        return self._send(request, "light", "on", f"Making the {{room}} lights {color}.", color=COLORS[color])

    def on_iot_wemo_on(self, request: SkillRequest) -> SkillReply:
        return self._send(request, "plug", "on", "Turning on the {room} plug.")

    def on_iot_wemo_off(self, request: SkillRequest) -> SkillReply:
        return self._send(request, "plug", "off", "Turning off the {room} plug.")

    def _room(self, request: SkillRequest) -> str:
        """The room said, else the room the request came from, else `home.default_room`."""
        value = request.values.get("room")
        if value is not None:
            return str(value.value)
        if request.area:
            slot = self.spec.intents[request.intent].slots.get("room")
            known = read_slot(slot, normalize_utterance(request.area).split(), self.now(request)) if slot else None
            return str(known.value) if known is not None else normalize_utterance(request.area)
        return self.context.settings.home.default_room

    def _level(self, request: SkillRequest, step: int) -> int:
        """Brightness 0-255: a said percentage, else the remembered level moved by `step`."""
        said = request.values.get("level")
        if said is not None:
            return max(1, min(255, round(float(said.value) * 2.55)))
        current = int(self.memory.state(f"brightness:{self._room(request)}", "255"))
        return max(1, min(255, current + step))

    def _send(self, request: SkillRequest, device: str, action: str, said: str, brightness: int | None = None,
              color: tuple[int, int, int] | None = None) -> SkillReply:
        if self.backend is None:
            return SkillReply(NO_BACKEND)
        room = self._room(request)
        try:
            self.backend.send(HomeCommand(device, room, action, brightness, color))
        except HomeError as error:
            return SkillReply(f"Sorry, I couldn't reach the {room} {device}.", error=str(error))
        if brightness is not None:
            self.memory.set_state(f"brightness:{room}", str(brightness))
        intents = _PLUG_INTENTS if device == "plug" else _LIGHT_INTENTS
        thing = Mention("plug" if device == "plug" else "light", ref=room, name=f"{room} {device}",
                        actions=dict(intents), slots={"room": room})
        return SkillReply(said.format(room=room), mentions=(thing,))
