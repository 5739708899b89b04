"""The turn trace is one schema (edge/core/trace.py), documented field by field in docs/architecture.md."""

from __future__ import annotations

import json
import re
from pathlib import Path

from edge.core.trace import CORE_FIELDS, TurnTrace, field_names

DOCS = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def test_every_trace_field_is_documented():
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", DOCS.read_text(encoding="utf-8"), re.MULTILINE))
    assert set(field_names()) - documented == set(), "document these fields in docs/architecture.md"


def test_the_core_fields_are_always_there_and_the_rest_only_when_set():
    trace = TurnTrace(session="kitchen", transcript="what time is it", reply="It's 7:05 AM.")
    assert list(trace.to_dict()) == list(CORE_FIELDS)
    trace.warnings.append("input cut to 30 s")
    trace.fail("asr-failed", "speech recognition failed: boom")
    trace.fail("tts-failed", "the second failure does not replace the first")
    as_json = json.loads(json.dumps(trace.to_dict()))
    assert as_json["error"] == {"code": "asr-failed", "text": "speech recognition failed: boom"}
    assert as_json["warnings"] == ["input cut to 30 s"] and "card" not in as_json and "area" not in as_json


def test_a_follow_up_is_traced_with_its_window():
    trace = TurnTrace(reply="Which day?", expects_follow_up=True, follow_up_seconds=8.0)
    assert trace.to_dict()["expects_follow_up"] is True and trace.to_dict()["follow_up_seconds"] == 8.0
    assert "follow_up_seconds" not in TurnTrace(reply="Done.", follow_up_seconds=8.0).to_dict()
