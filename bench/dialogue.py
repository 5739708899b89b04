"""How safe the skills' sentence matching is, what the dialogue layer costs per turn, and how many turns
of the scripted conversations (tests/integration/conversations.yaml) the speaker answers right.

    python -m bench.dialogue [--data ../shared/data] [--no-spoken] [--only NAME]

1. Precision of the declared-sentence path: every HWU64 test utterance and every CLINC150
   out-of-scope test utterance goes through the `SentenceMatcher` of the built-in skills. A
   match overrides the intent model, so a match whose intent differs from the gold label is a
   wrong override (intents the skills added, such as `reminder_set`, have no HWU64 label: their
   matches are listed by gold label for inspection instead of scored).
2. Latency: loading the skills, sentence matching per utterance, and a whole scripted hotel
   conversation through intent model + dialogue + skills (p50/p95 of each turn).
3. The scripted conversations, each on a fresh database through `Turn` (what `edge chat` and `edge
   run` call): typed (`Turn.run_text`) and spoken (the user's lines in the bundled Piper voice through
   `Turn.run_audio`: Whisper, then the same turn). Turn accuracy is the share of turns whose reply is
   the one expected (exact, or the conversation's regular expression); a conversation passes when all
   its turns and its final database state do. Latency per turn from the turn trace: the NLU stage
   (`stages_ms.nlu`) beside the dialogue layer (`stages_ms.skill`: reading the turn against the
   session, routing it, and the skill's answer), over the turns answered on the device.
   Conversations that need a broker (`home: mqtt`) run on a local mosquitto when it is installed;
   `cloud` ones against tests/helpers/fake_openai.py.

Writes bench/results/dialogue.json.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.provenance import write_result
from bench.scripted import Conversation, load_conversations
from edge.core.settings import NluSettings, Settings, SkillSettings
from edge.core.text.normalize import normalize_utterance
from edge.dialogue import DialogueManager
from edge.nlu.runtime import IntentModel
from edge.skills.loader import load_skills
from edge.skills.matcher import SentenceMatcher

PACKAGES = ("edge-voice", "onnxruntime", "tokenizers", "pyyaml", "faster-whisper", "piper-tts")
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
HOTEL = ["book a hotel near beijing west station", "friday", "about 200 yuan", "no, make it saturday", "yes"]


def default_data_dir() -> Path:
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def utterances(data_dir: Path) -> list[tuple[str, str]]:
    with (data_dir / "hwu64" / "split_dialoglue" / "test.tsv").open(encoding="utf-8", newline="") as handle:
        rows = [(row["text"], row["label"]) for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)]
    clinc = json.loads((data_dir / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
    return rows + [(text, "out_of_scope") for text, _ in clinc["oos_test"]]


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50": round(statistics.median(ordered), 3), "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 3),
            "n": len(ordered)}


def matcher_precision(matcher: SentenceMatcher, rows: list[tuple[str, str]], known: set[str]) -> dict:
    scored = {"matched": 0, "right": 0, "wrong": 0}
    wrong, new_intents, timings = collections.Counter(), collections.Counter(), []
    for text, gold in rows:
        start = time.perf_counter()
        found = matcher.match(normalize_utterance(text), NOW)
        timings.append((time.perf_counter() - start) * 1000)
        if found is None:
            continue
        scored["matched"] += 1
        if found.intent not in known:
            new_intents[f"{found.intent} <- {gold}"] += 1
        elif found.intent == gold:
            scored["right"] += 1
        else:
            scored["wrong"] += 1
            wrong[f"{found.intent} <- {gold}: {text}"] += 1
    judged = scored["right"] + scored["wrong"]
    return {
        "utterances": len(rows), **scored,
        "precision_on_known_intents": round(scored["right"] / judged, 4) if judged else None,
        "coverage": round(scored["matched"] / len(rows), 4),
        "wrong_overrides": sorted(wrong), "matches_of_skill_only_intents": dict(new_intents.most_common()),
        "match_ms": percentiles(timings),
    }


def conversation_latency(model: IntentModel, settings: Settings, rounds: int) -> dict:
    per_turn: dict[int, list[float]] = collections.defaultdict(list)
    for _ in range(rounds):
        loaded = load_skills(settings, clock=lambda: NOW)
        dialogue = DialogueManager(settings.dialogue, loaded.registry, loaded.context.memory, lambda: NOW)
        for index, line in enumerate(HOTEL):
            start = time.perf_counter()
            dialogue.respond(dialogue.interpret(model.predict(line), line))
            per_turn[index].append((time.perf_counter() - start) * 1000)
        loaded.close()
    return {line: percentiles(per_turn[index]) for index, line in enumerate(HOTEL)}


class _Fixtures:
    """A mosquitto broker and a fake OpenAI-compatible cloud for the conversations that need them."""

    def __init__(self) -> None:
        import sys

        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from helpers.mqtt_broker import MOSQUITTO

        self.broker = None
        self.port = None
        if MOSQUITTO is not None:
            from helpers.mqtt_broker import MosquittoBroker

            self.broker = MosquittoBroker()
            self.port = self.broker.__enter__()

    def cloud(self, conversation: Conversation):
        from helpers.fake_openai import FakeOpenAI

        calls = [tuple(call) for call in conversation.cloud.get("tool_calls", [])]
        return FakeOpenAI("tool_calls", answer=conversation.cloud.get("answer", ""), tool_calls=calls)

    def close(self) -> None:
        if self.broker is not None:
            self.broker.__exit__(None, None, None)


def run_conversation(conversation: Conversation, fixtures: _Fixtures, spoken, folder: Path) -> dict:
    """One conversation on a fresh database; each turn's verdict and timings."""
    from contextlib import nullcontext

    from edge.core.settings import load_settings
    from edge.runtime.turn import Turn
    from edge.tts.piper import bundled_voice_paths  # noqa: F401 (the voice must be installed for spoken)

    if conversation.home == "mqtt" and fixtures.port is None:
        return {"name": conversation.name, "skipped": "mosquitto is not installed"}
    with (fixtures.cloud(conversation) if conversation.cloud else nullcontext()) as cloud:
        overrides = {"skills.database_path": str(folder / "edge.sqlite3"), "skills.entry_points": "false",
                     "cast.enabled": "false", "router.log_training_data": "false"}
        if conversation.home == "mqtt":
            overrides.update({"home.backend": "mqtt", "home.mqtt_port": str(fixtures.port)})
        if cloud is not None:
            overrides.update({"llm.base_url": cloud.base_url, "llm.retries": "0"})
        settings = load_settings(environ={}, overrides=overrides)
        turns = []
        with Turn.load(settings, with_asr=spoken is not None, with_tts=False) as turn:
            for scripted in conversation.turns:
                if spoken is None:
                    trace = turn.run_text(scripted.say, session="bench", area=conversation.area).trace.to_dict()
                else:
                    trace = turn.run_audio(spoken(scripted.say), session="bench", area=conversation.area).trace.to_dict()
                stages = trace.get("stages_ms", {})
                turns.append({"say": scripted.say, "heard": trace.get("transcript"), "reply": trace["reply"],
                              "expected": scripted.expected, "ok": scripted.expects(trace["reply"]),
                              "route": trace["route"], "nlu_ms": stages.get("nlu"), "dialogue_ms": stages.get("skill")})
    problems = conversation.state_problems(folder / "edge.sqlite3") if conversation.state else []
    passed = all(item["ok"] for item in turns) and not problems
    return {"name": conversation.name, "passed": passed, "state_problems": problems, "turns": turns}


def conversations_pass(spoken: bool, only: str = "") -> dict:
    """Every scripted conversation, typed or spoken: accuracy, failures, latency."""
    voice = _spoken_voice() if spoken else None
    fixtures = _Fixtures()
    results = []
    try:
        for conversation in load_conversations():
            if only and only not in conversation.name:
                continue
            with tempfile.TemporaryDirectory() as folder:
                results.append(run_conversation(conversation, fixtures, voice, Path(folder)))
    finally:
        fixtures.close()
    ran = [result for result in results if "skipped" not in result]
    turns = [turn for result in ran for turn in result["turns"]]
    local = [turn for turn in turns if turn["route"] == "local" and turn["dialogue_ms"] is not None]
    return {
        "conversations": len(ran), "conversations_passed": sum(result["passed"] for result in ran),
        "turns": len(turns), "turns_right": sum(turn["ok"] for turn in turns),
        "turn_accuracy": round(sum(turn["ok"] for turn in turns) / len(turns), 4) if turns else None,
        "dialogue_ms": percentiles([turn["dialogue_ms"] for turn in local]) if local else None,
        "nlu_ms": percentiles([turn["nlu_ms"] for turn in local if turn["nlu_ms"] is not None]) if local else None,
        "skipped": [f"{result['name']}: {result['skipped']}" for result in results if "skipped" in result],
        "failures": [{"name": result["name"], "state_problems": result["state_problems"],
                      "turns": [turn for turn in result["turns"] if not turn["ok"]]} for result in ran if not result["passed"]],
    }


def _spoken_voice():
    """The user's lines in the bundled Piper voice (no random noise), as a microphone gives them at 16 kHz."""
    from piper import PiperVoice, SynthesisConfig

    from edge.audio.wavio import RequestAudio, resample
    from edge.tts.piper import bundled_voice_paths

    model, config = bundled_voice_paths()
    voice, quiet = PiperVoice.load(model, config_path=config), SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)

    def say(text: str) -> RequestAudio:
        import numpy as np

        samples = np.concatenate([chunk.audio_int16_array for chunk in voice.synthesize(text, syn_config=quiet)])
        audio = resample(samples.astype(np.float32) / 32768.0, voice.config.sample_rate, 16000)
        return RequestAudio(audio, 16000, voice.config.sample_rate, 1, False)

    return say


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--no-spoken", action="store_true", help="skip the spoken pass of the conversations (slow)")
    parser.add_argument("--only", default="", help="run only the conversations whose name contains this")
    args = parser.parse_args()
    model = IntentModel.load(NluSettings())
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(skills=SkillSettings(database_path=f"{folder}/edge.sqlite3", entry_points=False))
        start = time.perf_counter()
        loaded = load_skills(settings, clock=lambda: NOW)
        load_ms = (time.perf_counter() - start) * 1000
        matcher = SentenceMatcher(loaded.registry.skills)
        precision = matcher_precision(matcher, utterances(args.data), set(model.labels.intents))
        templates = len(matcher)
        loaded.close()
        latency = conversation_latency(model, settings, args.rounds)
    scripted = {"typed": conversations_pass(False, args.only)}
    if not args.no_spoken:
        scripted["spoken"] = conversations_pass(True, args.only)
    result = {"load_skills_ms": round(load_ms, 1), "templates": templates, "sentence_matching": precision,
              "hotel_conversation_turn_ms": latency, "conversations": scripted}
    path = write_result("dialogue", result, PACKAGES)
    print(json.dumps({key: value for key, value in result.items() if key not in ("sentence_matching", "conversations")},
                     indent=2))
    print(json.dumps({key: value for key, value in precision.items() if key != "matches_of_skill_only_intents"}, indent=2))
    for mode, outcome in scripted.items():
        summary = {key: value for key, value in outcome.items() if key != "failures"}
        print(mode, json.dumps(summary, indent=2))
        for failure in outcome["failures"]:
            print(f"  FAILED {failure['name']}: " + "; ".join(
                f"{turn['say']!r} heard {turn['heard']!r} -> {turn['reply']!r} (expected {turn['expected']!r})"
                for turn in failure["turns"]) + ("; " + "; ".join(failure["state_problems"]) if failure["state_problems"] else ""))
    print(f"written {path}")


if __name__ == "__main__":
    main()
