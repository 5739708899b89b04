"""The base of every typed Wyoming event: frame conversion with wyoming's key order and omissions."""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar

from firmware_bridge.wyoming.framing import Frame, WyomingProtocolError


class EventFormatError(WyomingProtocolError):
    """A known event type arrived with missing or mistyped fields."""


@dataclass(frozen=True)
class WyomingEvent:
    type: ClassVar[str] = ""
    keep_none: ClassVar[frozenset[str]] = frozenset()  # fields written even when None
    drop_empty: ClassVar[frozenset[str]] = frozenset()  # fields left out when empty
    payload_field: ClassVar[str] = ""  # the bytes field carried as the binary payload

    def to_frame(self) -> Frame:
        data: dict[str, Any] = {}
        payload = None
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if item.name == self.payload_field:
                payload = value
            elif (value is not None or item.name in self.keep_none) and not (item.name in self.drop_empty and not value):
                data[item.name] = value
        return Frame(self.type, data, payload)

    @classmethod
    def from_frame(cls, frame: Frame) -> WyomingEvent:
        values: dict[str, Any] = {}
        for item in dataclasses.fields(cls):
            if item.name == cls.payload_field:
                values[item.name] = frame.payload or b""
                continue
            if item.name not in frame.data or (frame.data[item.name] is None and _optional(_hints(cls)[item.name])):
                if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING:
                    raise EventFormatError(f"{cls.type} event needs '{item.name}'")
                continue
            value = frame.data[item.name]
            if not _matches(value, _hints(cls)[item.name]):
                raise EventFormatError(f"{cls.type}.{item.name} has the wrong type: {value!r:.60}")
            values[item.name] = value
        return cls(**values)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _optional(hint: Any) -> bool:
    return type(None) in typing.get_args(hint)


def _matches(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, option) for option in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is Any:
        return True
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is list:
        (item_hint,) = typing.get_args(hint)
        return isinstance(value, list) and all(_matches(item, item_hint) for item in value)
    if origin is dict:
        return isinstance(value, dict)
    return isinstance(value, hint)
