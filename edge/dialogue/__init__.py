"""Multi-turn conversations: slot filling, confirmation, corrections, context (see manager.py).

`edge/escalation/history.py` keeps the turn history the cloud cascade sends along with escalated requests;
this package decides what a turn means for the skills.
"""

from edge.dialogue.interpret import Interpretation
from edge.dialogue.manager import DialogueManager, DialogueReply

__all__ = ["DialogueManager", "DialogueReply", "Interpretation"]
