"""Loading the models the live loop shares: the pipeline with the chosen ASR engine and a
streaming voice. Kept apart from edge/live.py so tests can build a loop from parts."""

from __future__ import annotations

import logging

from edge.settings import Settings
from edge.streaming_tts import StreamingTts

logger = logging.getLogger(__name__)


def load_live_pipeline(settings: Settings, clock=None, caster=None):
    """(Pipeline, StreamingTts): the pipeline speaks through the returned StreamingTts, and its
    ASR engine is the one `asr.engine` names, biased toward the loaded skills' words."""
    from edge.pipeline import Pipeline

    pipeline = Pipeline.load(settings, clock=clock, caster=caster)
    tts = StreamingTts(pipeline.tts)
    pipeline.tts = tts  # every reply, local or streamed from the LLM, now plays sentence by sentence
    return pipeline, tts
