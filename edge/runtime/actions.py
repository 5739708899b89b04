"""The cloud LLM's tool calls, carried out on the device by the skills, through the dialogue's rules.

    acted = carry_out(dialogue, answered.tool_calls, text, session, area, max_calls=3)
    acted.text          # what the skills said they did ("Dimming the living room lights to 40 percent.")
    acted.reply         # the last DialogueReply: a question or an offer waiting for a yes, if any
    acted.records       # one dict per call, for the privacy ledger: name, arguments, skill, said, outcome

Each call runs as `DialogueManager.act(...)`: its arguments are read by the slots' own parsers, a
missing required slot is asked for, and an intent that costs money is offered and waits for the
user's "yes" (the turn then listens for it without the wake word). The calls run in order; the
first one that asks something stops the rest (they are recorded as not run). The model's words
are not sent back for a second answer: the skill's own sentence says what was done, with no second
round trip and nothing more leaving the device.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from edge.dialogue import DialogueManager, DialogueReply
from edge.llm.errors import LlmError
from edge.llm.tools import ToolCall

logger = logging.getLogger(__name__)

NOTHING_DONE = "Sorry, I couldn't work out how to do that."


@dataclass
class Acted:
    text: str
    reply: DialogueReply | None = None  # the last call's reply (its question or offer, if it asked one)
    skill: str = ""
    records: list[dict[str, Any]] = field(default_factory=list)


def carry_out(dialogue: DialogueManager, calls: list[ToolCall], text: str, session: str, area: str = "",
              max_calls: int = 3) -> Acted:
    """Run the tool calls in order; never raises (a bad call is recorded and skipped)."""
    acted = Acted(text="")
    said: list[str] = []
    for index, call in enumerate(calls):
        record: dict[str, Any] = {"id": call.id, "name": call.name, "arguments": call.arguments}
        acted.records.append(record)
        if index >= max_calls or (acted.reply is not None and acted.reply.expects_follow_up):
            record["outcome"] = "not run: " + ("llm.max_tool_calls reached" if index >= max_calls else "waiting for the user")
            continue
        try:
            arguments = call.args()
        except LlmError as error:
            record["outcome"] = f"not run: {error}"
            logger.warning("tool call dropped: %s", error)
            continue
        reply = dialogue.act(call.name, arguments, text, session, area)
        record.update(skill=reply.skill, said=reply.text, outcome="error" if reply.error else
                      "asked" if reply.expects_follow_up else "done")
        if reply.error:
            record["error"] = reply.error
        acted.reply, acted.skill = reply, reply.skill or acted.skill
        said.append(reply.text)
    acted.text = " ".join(said) if said else NOTHING_DONE
    return acted
