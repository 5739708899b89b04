"""A tiny, deterministic intent model bundle built in the test suite itself.

Each vocabulary word votes for one intent and carries one slot tag, so the expected output
of any sentence is known exactly. The graph is two embedding look-ups (Gather) and a sum.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

INTENTS = ["alarm_set", "weather_query", "out_of_scope"]
# A regression set the tiny bundle is gated on (promote, sign, update tests)
SET_CSV = """text,intent,slots
set an alarm for seven thirty am,alarm_set,"{""time"": ""seven thirty am""}"
What's the weather in New York?,weather_query,"{""place_name"": ""new york""}"
set alarm weather,alarm_set,{}
the,out_of_scope,
"""
SLOT_TAGS = ["O", "B-time", "I-time", "B-place_name", "I-place_name"]
# word -> (intent index it votes for, slot tag index)
VOCABULARY = {
    "[PAD]": (2, 0), "[UNK]": (2, 0), "[CLS]": (2, 0), "[SEP]": (2, 0),
    "set": (0, 0), "an": (0, 0), "alarm": (0, 0), "for": (0, 0), "seven": (0, 1), "thirty": (0, 2), "am": (0, 2),
    "weather": (1, 0), "in": (1, 0), "new": (1, 3), "york": (1, 4), "what's": (1, 0), "the": (2, 0),
}


def build_tiny_bundle(
    folder: Path, format_version: int = 1, oos_threshold: float = 0.5, oos_score: str | None = None,
    votes: dict[str, str] | None = None,
) -> Path:
    """`votes`: words that vote for another intent than VOCABULARY says (a candidate that got worse)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    folder.mkdir(parents=True, exist_ok=True)
    words = list(VOCABULARY)
    tokenizer = Tokenizer(models.WordLevel({word: index for index, word in enumerate(words)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    tokenizer.save(str(folder / "tokenizer.json"))

    intent_table = np.zeros((len(words), len(INTENTS)), dtype=np.float32)
    slot_table = np.zeros((len(words), len(SLOT_TAGS)), dtype=np.float32)
    moved = {words.index(word): INTENTS.index(intent) for word, intent in (votes or {}).items()}
    for index, (intent, tag) in enumerate(VOCABULARY.values()):
        intent = moved.get(index, intent)
        intent_table[index, intent] = 0.0 if index < 4 else 3.0
        slot_table[index, tag] = 5.0
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["intent_table", "input_ids"], ["votes"]),
            helper.make_node("ReduceSum", ["votes", "axis_tokens"], ["intent_logits"], keepdims=0),
            helper.make_node("Gather", ["slot_table", "input_ids"], ["slot_logits"]),
            helper.make_node("Identity", ["attention_mask"], ["unused_mask"]),
        ],
        "tiny_intent_model",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "tokens"]),
        ],
        [
            helper.make_tensor_value_info("intent_logits", TensorProto.FLOAT, ["batch", len(INTENTS)]),
            helper.make_tensor_value_info("slot_logits", TensorProto.FLOAT, ["batch", "tokens", len(SLOT_TAGS)]),
            helper.make_tensor_value_info("unused_mask", TensorProto.INT64, ["batch", "tokens"]),
        ],
        initializer=[
            numpy_helper.from_array(intent_table, "intent_table"),
            numpy_helper.from_array(slot_table, "slot_table"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "axis_tokens"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(folder / "model.onnx"))
    (folder / "labels.json").write_text(json.dumps({"intents": INTENTS, "slot_tags": SLOT_TAGS}))
    (folder / "bundle.json").write_text(
        json.dumps(
            {
                "format_version": format_version,
                "max_length": 16,
                "temperature": 1.0,
                "oos_label": "out_of_scope",
                "oos_threshold": oos_threshold,
                "command": "tests/tiny_bundle.py",
                **({"oos_score": oos_score} if oos_score else {}),
            }
        )
    )
    return folder
