"""The one place an onnxruntime session is made: every stage (ASR, VAD, TTS, NLU) gets the board's
providers and the same thread settings from here.

    sessions = SessionFactory.for_device(profile="", providers="")   # detect the board once
    encoder = sessions.create(path, threads=2, label="Whisper encoder")

Threads sleep when idle instead of spinning: on a speaker's two or four shared cores, spinning
threads slowed the first reply audio by 1.5-2x (the ASR, the voice and the intent model take
turns). A provider that is installed but fails to start for a model (an accelerator that cannot
take one of its operators) costs one warning and the CPU provider, never the turn.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from devices.detect import CPU_PROVIDER, resolve

logger = logging.getLogger(__name__)

Provider = str | tuple[str, dict[str, str]]  # what InferenceSession(providers=...) takes


class SessionError(RuntimeError):
    """A model file could not be loaded by onnxruntime on any provider; the message names the file."""


def provider_name(item: Provider) -> str:
    return item if isinstance(item, str) else item[0]


@dataclass(frozen=True)
class SessionFactory:
    providers: tuple[Provider, ...] = (CPU_PROVIDER,)  # in order of preference, CPU last
    max_threads: int = 0  # the board's cores: no session gets more intra-op threads; 0: no cap
    reason: str = "CPU only"  # why these providers (for logs and `edge devices show`)
    _warned: set[str] = field(default_factory=set, compare=False, repr=False)

    @classmethod
    def for_device(cls, profile: str = "", providers: str = "", root: Path = Path("/")) -> SessionFactory:
        """The board's profile (detected when `profile` is empty) and its installed providers, or the
        comma-separated `providers` overriding them."""
        detection, choice = resolve(profile, providers, root=root)
        logger.info("device profile %s (%s); %s", detection.profile.name, detection.reason, choice.reason)
        return cls(choice.providers, detection.profile.cpu.cores, f"profile {detection.profile.name}: {choice.reason}")

    def threads(self, wanted: int) -> int:
        return max(1, min(wanted, self.max_threads) if self.max_threads else wanted)

    def create(self, model: Path | bytes, threads: int = 1, label: str = "", cpu_only: bool = False,
               memory_arena: bool = True):
        """An InferenceSession for `model` (a path or serialized bytes) with `threads` intra-op threads.
        `memory_arena=False`: CPU tensors are allocated and freed per run, for a model whose inputs vary
        so much in size that the arena would keep the largest run's memory for good (a voice)."""
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.enable_cpu_mem_arena = memory_arena
        options.intra_op_num_threads = self.threads(threads)
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # shared cores: sleep, don't spin
        source = model if isinstance(model, bytes) else str(model)
        name = label or (Path(model).name if not isinstance(model, bytes) else "model")
        providers = [CPU_PROVIDER] if cpu_only else list(self.providers)
        try:
            return onnxruntime.InferenceSession(source, options, providers=providers)
        except Exception as error:  # onnxruntime raises its own untyped errors
            accelerated = [provider_name(item) for item in providers if provider_name(item) != CPU_PROVIDER]
            missing_file = not isinstance(model, bytes) and not Path(model).is_file()
            if not accelerated or missing_file:
                raise SessionError(f"{model if not isinstance(model, bytes) else name} is not a loadable ONNX "
                                   f"model: {error}") from error
            try:
                session = onnxruntime.InferenceSession(source, options, providers=[CPU_PROVIDER])
            except Exception as cpu_error:
                raise SessionError(f"{model} is not a loadable ONNX model: {cpu_error}") from cpu_error
            if name not in self._warned:
                self._warned.add(name)
                first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
                logger.warning("%s could not start for %s (%s); running it on %s instead",
                               ", ".join(accelerated), name, first_line, CPU_PROVIDER)
            return session
