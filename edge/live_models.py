"""Loading the models the live loop shares: the pipeline with the chosen ASR engine and a
streaming voice. Kept apart from edge/live.py so tests can build a loop from parts."""

from __future__ import annotations

import logging
from pathlib import Path

from edge.asr import create_asr
from edge.asr_onnx.vocabulary import label_words, skill_words
from edge.settings import Settings
from edge.streaming_tts import StreamingTts

logger = logging.getLogger(__name__)


def load_live_pipeline(settings: Settings, clock=None):
    """(Pipeline, StreamingTts): the pipeline speaks through the returned StreamingTts, and its
    ASR engine is the one `asr.engine` names, biased toward the loaded skills' words."""
    from edge.nlu.runtime import IntentModel
    from edge.pipeline import Pipeline
    from edge.skills.loader import load_skills
    from edge.tts import PiperTts

    nlu = IntentModel.load(settings.nlu)
    loaded = load_skills(settings, clock=clock)
    vocabulary = skill_words(loaded.registry.skills) | label_words(Path(nlu.bundle_dir) / "labels.json")
    asr = create_asr(settings.asr, sorted(vocabulary))
    tts = StreamingTts(PiperTts(settings.tts))
    pipeline = Pipeline(settings, asr, nlu, loaded.registry, tts, skill_context=loaded.context)
    return pipeline, tts
