"""Multi-turn conversations: slot filling, confirmation, corrections, context (see manager.py).

`edge/dialogue.py` keeps the turn history the cloud cascade sends along with escalated requests;
this package decides what a turn means for the skills.
"""

from edge.conversation.interpret import Interpretation
from edge.conversation.manager import DialogueManager, DialogueReply

__all__ = ["DialogueManager", "DialogueReply", "Interpretation"]
