"""Old module paths of the flat layout, kept importable for one release (with a DeprecationWarning).

    import edge.settings          # works, warns: "edge.settings moved to edge.core.settings"

Each old name is the new module itself (one object, so isinstance checks and settings are shared).
Names whose new home is a package of the same name (edge.asr, edge.tts, edge.llm, edge.escalation,
edge.cli) and modules that were removed (edge.streaming_tts, edge.live_models) are not aliased.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

MOVED = {
    "edge.settings": "edge.core.settings", "edge.events": "edge.core.events", "edge.numbers": "edge.core.text.numbers",
    "edge.nlu.text": "edge.core.text.normalize", "edge.asr_onnx": "edge.asr.onnx",
    "edge.asr_onnx.artifacts": "edge.asr.onnx.artifacts", "edge.asr_onnx.engine": "edge.asr.onnx.engine",
    "edge.asr_onnx.features": "edge.asr.onnx.features", "edge.asr_onnx.greedy": "edge.asr.onnx.greedy",
    "edge.asr_onnx.tokens": "edge.asr.onnx.tokens", "edge.asr_onnx.vocabulary": "edge.asr.onnx.vocabulary",
    "edge.asr_openai": "edge.asr.openai_whisper", "edge.speech": "edge.tts.speech", "edge.wake": "edge.listen.wake",
    "edge.vad": "edge.listen.vad", "edge.llm_stream": "edge.llm.stream", "edge.sse": "edge.llm.sse",
    "edge.breaker": "edge.llm.breaker", "edge.offline_llm": "edge.llm.offline", "edge.router": "edge.escalation.router",
    "edge.redact": "edge.escalation.redaction", "edge.ledger": "edge.escalation.ledger",
    "edge.flywheel": "edge.escalation.flywheel", "edge.conversation": "edge.dialogue",
    "edge.conversation.chat": "edge.runtime.chat", "edge.conversation.manager": "edge.dialogue.manager",
    "edge.conversation.interpret": "edge.dialogue.interpret", "edge.conversation.state": "edge.dialogue.state",
    "edge.conversation.answers": "edge.dialogue.answers", "edge.cascade": "edge.runtime.cascade",
    "edge.pipeline": "edge.runtime.turn", "edge.live": "edge.runtime.live", "edge.demo": "edge.runtime.demo",
    "edge.skills.alerts": "edge.runtime.alerts",
    **{f"edge.skills.{name}": f"edge.skills.builtin.{name}" for name in (
        "alarms", "arithmetic", "calculator", "clock", "facts", "home", "home_backends", "hotels", "lists",
        "reminders", "units", "volume")},
}


class _MovedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name not in MOVED:
            return None
        return importlib.util.spec_from_loader(name, self)

    def create_module(self, spec):
        new = MOVED[spec.name]
        warnings.warn(f"{spec.name} moved to {new}; the old name goes in the next release", DeprecationWarning,
                      stacklevel=3)
        module = importlib.import_module(new)
        sys.modules[spec.name] = module
        return module

    def exec_module(self, module):
        """The new module ran already when it was imported."""


def install() -> None:
    if not any(isinstance(finder, _MovedFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _MovedFinder())  # before the path finder, which would load a second copy
