"""Jokes on the speaker itself (`general_joke`): a bundled list, told in turn, none repeated until
all were told (the next one's number survives a restart in the skills' database).

A joke needs no cloud: the speaker answers it offline, at once, and the same way every time.
"""

from __future__ import annotations

from typing import ClassVar

from edge.skills.base import Skill, SkillReply, SkillRequest
from edge.skills.memory import Memory

JOKES = (
    "Why did the scarecrow win an award? Because he was outstanding in his field.",
    "I told my computer I needed a break, and it said: no problem, I'll go to sleep.",
    "Why don't skeletons fight each other? They don't have the guts.",
    "What do you call a fake noodle? An impasta.",
    "Why did the bicycle fall over? It was two tired.",
    "I'm reading a book about anti-gravity. It's impossible to put down.",
    "What do you call a bear with no teeth? A gummy bear.",
    "Why can't a nose be twelve inches long? Because then it would be a foot.",
    "Why did the tomato blush? Because it saw the salad dressing.",
    "What do you call cheese that isn't yours? Nacho cheese.",
    "Why did the math book look sad? It had too many problems.",
    "How do you organise a space party? You planet.",
    "Why don't eggs tell jokes? They'd crack each other up.",
    "What's orange and sounds like a parrot? A carrot.",
    "Why was the broom late? It overswept.",
    "I used to play piano by ear, but now I use my hands.",
    "Why did the coffee file a police report? It got mugged.",
    "What do you call a sleeping dinosaur? A dino-snore.",
    "Why do bees have sticky hair? Because they use honeycombs.",
    "What did the ocean say to the beach? Nothing, it just waved.",
)
_NEXT = "jokes.next"


class JokeSkill(Skill):
    name: ClassVar[str] = "jokes"
    intents: ClassVar[tuple[str, ...]] = ("general_joke",)

    def __init__(self, memory: Memory) -> None:
        self._memory = memory

    def handle(self, request: SkillRequest) -> SkillReply:
        index = int(self._memory.state(_NEXT, "0") or 0) % len(JOKES)
        self._memory.set_state(_NEXT, str(index + 1))
        return SkillReply(text=JOKES[index])
