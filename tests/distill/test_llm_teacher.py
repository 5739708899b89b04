"""The LLM teacher (distill.llm_teacher) against a real HTTP server on 127.0.0.1 that speaks the
non-streaming chat.completion protocol and computes each answer from the request: paraphrases
keep slot values and get exact spans, bad answers are dropped and counted, failures never
crash or reach the cache, and a rerun is answered from the cache alone."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from distill.data.records import Example, SlotSpan
from distill.llm_teacher import TeacherSettings, augment, parse_json_answer, read_unlabelled, summary

pytest.importorskip("httpx", reason="the LLM teacher needs httpx (pip install -e '.[llm]')")

ALARM = Example("wake me up at seven thirty am", "alarm_set", (SlotSpan("time", 14, 29),))
WEATHER = Example("what is the weather in new york", "weather_query", (SlotSpan("place", 23, 31),))
JOKE = Example("tell me a joke", "general_joke")  # no slot annotation
HELD_OUT = Example("please tell me a joke", "general_joke")  # in test: a paraphrase may not copy it

# A reply is (HTTP status, message content); None hangs until the client gives up.
Reply = tuple[int, str]


class ChatServer:
    """ThreadingHTTPServer answering POST /v1/chat/completions with `answer(request JSON)`."""

    def __init__(self, answer: Callable[[dict], Reply | None]) -> None:
        self.answer = answer
        self.requests: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.release = threading.Event()  # ends "hang" replies
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.chat = self
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> ChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        chat: ChatServer = self.server.chat
        request = json.loads(self.rfile.read(int(self.headers["content-length"])))
        chat.requests.append(request)
        chat.headers.append({k.lower(): v for k, v in self.headers.items()})
        if self.path != "/v1/chat/completions":
            return self._send(404, b'{"error": {"message": "not found"}}')
        reply = chat.answer(request)
        if reply is None:  # hang until the client gives up
            chat.release.wait(10)
            return None
        status, content = reply
        if status != 200:
            return self._send(status, json.dumps({"error": {"message": content, "type": "server_error"}}).encode())
        message = {"role": "assistant", "content": content}
        body = {
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1795938134, "model": request.get("model", ""),
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70},
        }  # fmt: skip
        return self._send(200, json.dumps(body).encode())

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def request_text(request: dict) -> str:
    return re.search(r"^Request: (.*)$", request["messages"][-1]["content"], re.MULTILINE).group(1)


def paraphraser(request: dict) -> Reply:
    """A well-behaved model: 'please …', 'could you …', and one that keeps the meaning in other words."""
    text = request_text(request)
    return 200, json.dumps([f"Please {text}!", f"could you {text}", "do it now"])


def settings(server: ChatServer, cache: Path, **overrides) -> TeacherSettings:
    values = dict(model="fake-teacher", paraphrases=3, temperature=0.5, timeout_seconds=2.0, progress=False)
    return TeacherSettings(server.base_url, cache_dir=cache, **{**values, **overrides})


def splits_of(*train: Example) -> dict[str, list[Example]]:
    return {"train": list(train), "valid": [], "test": [HELD_OUT]}


def test_paraphrases_keep_slot_values_and_relocate_spans(tmp_path: Path) -> None:
    with ChatServer(paraphraser) as server:
        new, stats = augment(splits_of(ALARM, WEATHER, JOKE), settings(server, tmp_path, api_key="sk-test"))
    added = new["train"][3:]
    assert [(e.text, e.intent, e.slot_values()) for e in added] == [
        ("please wake me up at seven thirty am", "alarm_set", {"time": "seven thirty am"}),
        ("could you wake me up at seven thirty am", "alarm_set", {"time": "seven thirty am"}),
        ("please what is the weather in new york", "weather_query", {"place": "new york"}),
        ("could you what is the weather in new york", "weather_query", {"place": "new york"}),
        ("could you tell me a joke", "general_joke", {}),
        ("do it now", "general_joke", {}),
    ]
    assert added[0].slots == (SlotSpan("time", 21, 36),)
    assert added[0].word_tags() == ("O", "O", "O", "O", "O", "B-time", "I-time", "I-time")
    assert added[3].slots == (SlotSpan("place", 33, 41),)
    assert added[4].slots is None  # the source had no annotation: neither has its paraphrase
    assert new["valid"] == [] and new["test"] == [HELD_OUT] and new["train"][:3] == [ALARM, WEATHER, JOKE]
    # "do it now" loses the slot twice, then is a duplicate; "please tell me a joke" is in test
    assert stats["dropped"] == {"duplicate": 1, "missing_slot": 2}
    assert stats["failed"] == {} and stats["requests"] == 3 and stats["cache_hits"] == 0
    assert stats["kept_paraphrases"] == stats["kept"] == 6
    request = next(r for r in server.requests if request_text(r) == ALARM.text)  # requests run concurrently
    assert request["model"] == "fake-teacher" and request["temperature"] == 0.5 and request["stream"] is False
    assert 'exactly as written in every rewrite: "seven thirty am".' in request["messages"][-1]["content"]
    assert server.headers[0]["authorization"] == "Bearer sk-test"
    assert summary(stats) == (
        "llm teacher: 3 requests, 0 cache hits; kept 6 paraphrases + 0 soft labels; "
        "failed: none; dropped: duplicate 1, missing_slot 2"
    )


def test_a_rerun_with_the_same_cache_sends_no_request(tmp_path: Path) -> None:
    with ChatServer(paraphraser) as server:
        first, first_stats = augment(splits_of(ALARM, WEATHER, JOKE), settings(server, tmp_path))
    with ChatServer(lambda request: (500, "must not be asked")) as server:
        again, stats = augment(splits_of(ALARM, WEATHER, JOKE), settings(server, tmp_path))
        assert server.requests == []
    assert again == first and stats["cache_hits"] == 3 and stats["requests"] == 0
    assert {**stats, "cache_hits": 0, "requests": 3} == first_stats
    assert len(list(tmp_path.rglob("*.json"))) == 3
    with ChatServer(paraphraser) as server:  # another temperature is another question
        augment(splits_of(ALARM), settings(server, tmp_path, temperature=0.9))
        assert len(server.requests) == 1


def labeller(request: dict) -> Reply:
    """Soft labels: good, fenced, percentage, unknown label, low confidence, prose, wrong shape."""
    answers = {
        "turn on the lights": '{"intent": "lights_on", "confidence": 0.93}',
        "what is love": 'Sure!\n```json\n{"intent": "Out of scope", "confidence": 0.8}\n```',
        "switch the lamp on": 'I pick {"intent": "lights_on", "confidence": 88} for this one.',
        "sing me a song": '{"intent": "play_music", "confidence": 0.9}',
        "lights maybe": '{"intent": "lights_on", "confidence": 0.2}',
        "hmm": "I think this is about the lights.",
        "dim it": '["lights_on"]',
    }
    return 200, answers[request_text(request)]


def test_soft_labels_keep_known_intents_only(tmp_path: Path) -> None:
    lights = Example("turn the lights on please", "lights_on")
    unlabelled = tmp_path / "unlabelled.txt"
    unlabelled.write_text(
        "Turn on the lights.\n\nwhat is love\nswitch the lamp on\nsing me a song\nlights maybe\nhmm\n"
        "dim it\nturn on the lights\nTell me a joke\n"
    )
    utterances = read_unlabelled(unlabelled)
    assert len(utterances) == 9
    cache = tmp_path / "cache"
    with ChatServer(labeller) as server:
        new, stats = augment(splits_of(lights, JOKE), settings(server, cache, paraphrases=0), utterances)
    assert [(e.text, e.intent, e.slots) for e in new["train"][2:]] == [
        ("turn on the lights", "lights_on", None),
        ("what is love", "out_of_scope", None),
        ("switch the lamp on", "lights_on", None),
    ]
    prompt = server.requests[0]["messages"][-1]["content"]
    assert "Intents: general_joke, lights_on, out_of_scope\n" in prompt
    # the repeated "turn on the lights" and the known "tell me a joke" are never asked
    assert stats["requests"] == 7 and stats["failed"] == {"not_json": 2}
    assert stats["dropped"] == {"duplicate": 2, "low_confidence": 1, "unknown_label": 1}
    assert stats["kept_soft_labels"] == 3 and stats["soft_label_intents"] == {"lights_on": 2, "out_of_scope": 1}
    assert stats["soft_label_mean_confidence"] == pytest.approx((0.93 + 0.8 + 0.88) / 3, abs=1e-4)
    # well-formed answers are cached (filters run after the cache); prose and wrong shapes are not
    with ChatServer(labeller) as server:
        again, stats = augment(
            splits_of(lights, JOKE), settings(server, cache, paraphrases=0, min_confidence=0.1), utterances
        )
        assert sorted(request_text(r) for r in server.requests) == ["dim it", "hmm"]
    assert stats["cache_hits"] == 5 and stats["kept_soft_labels"] == 4 and "low_confidence" not in stats["dropped"]


def test_http_500_timeout_and_garbage_are_counted_and_not_cached(tmp_path: Path) -> None:
    def flaky(request: dict) -> Reply | None:
        text = request_text(request)
        if text.startswith("wake"):
            return 500, "Internal Server Error"
        if text.startswith("what"):
            return None  # hangs past the client's timeout
        return 200, "Here are some paraphrases: tell me something funny, make me laugh"

    good = Example("play some jazz", "play_music")
    with ChatServer(flaky) as server:
        new, stats = augment(splits_of(ALARM, WEATHER, JOKE), settings(server, tmp_path, timeout_seconds=0.3))
    assert new["train"] == [ALARM, WEATHER, JOKE]
    assert stats["failed"] == {"http_error": 1, "not_json": 1, "timeout": 1} and stats["requests"] == 3
    assert summary(stats).endswith("failed: http_error 1, not_json 1, timeout 1; dropped: none")
    assert list(tmp_path.rglob("*.json")) == []
    with ChatServer(lambda request: (200, json.dumps([f"put on {request_text(request)}"]))) as server:
        new, stats = augment(splits_of(good), settings(server, tmp_path, timeout_seconds=0.3))
    assert [e.text for e in new["train"]] == ["play some jazz", "put on play some jazz"]


def test_an_endpoint_that_is_not_there_is_counted(tmp_path: Path) -> None:
    with ChatServer(paraphraser) as server:
        url = server.base_url
    dead = TeacherSettings(url, cache_dir=tmp_path, timeout_seconds=1.0, progress=False)
    new, stats = augment(splits_of(ALARM), dead)
    assert new["train"] == [ALARM] and stats["failed"] == {"connection_error": 1} and stats["requests"] == 1


def test_per_intent_sampling_is_seeded(tmp_path: Path) -> None:
    alarms = [Example(f"wake me up at {n}", "alarm_set") for n in ("one", "two", "three", "four", "five")]
    with ChatServer(paraphraser) as server:
        augment(splits_of(*alarms, JOKE), settings(server, tmp_path, per_intent=2, paraphrases=1))
        asked = sorted(request_text(r) for r in server.requests)
    with ChatServer(paraphraser) as server:
        augment(splits_of(*alarms, JOKE), settings(server, tmp_path / "other", per_intent=2, paraphrases=1))
        assert sorted(request_text(r) for r in server.requests) == asked
    assert len(asked) == 3 and "tell me a joke" in asked


@pytest.mark.parametrize(
    ("content", "value"),
    [
        ('["a", "b"]', ["a", "b"]),
        ('```json\n{"paraphrases": ["a"]}\n```', {"paraphrases": ["a"]}),
        ('Sure, here: ["a", "b"] hope that helps', ["a", "b"]),
        ('[oops] then {"intent": "x", "confidence": 1}', {"intent": "x", "confidence": 1}),
    ],
)
def test_json_is_found_in_chatty_answers(content: str, value: object) -> None:
    assert parse_json_answer(content) == value


def test_train_help_lists_the_llm_teacher_options(capsys) -> None:
    from distill.cli import main, parser

    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--llm-teacher URL", "--llm-model NAME", "--paraphrases N", "--unlabelled FILE", "--llm-cache DIR"):
        assert option in out
    args = parser().parse_args(["train", "hwu64", "--out", "x", "--llm-teacher", "http://h/v1", "--paraphrases", "2"])
    assert (args.llm_teacher, args.paraphrases, args.min_confidence, args.llm_cache) == ("http://h/v1", 2, 0.7, None)
    assert main(["train", "hwu64", "--out", "x", "--unlabelled", "u.txt"]) == 2
    assert "--unlabelled needs --llm-teacher" in capsys.readouterr().err


def test_train_command_augments_before_training(tmp_path: Path, monkeypatch, capsys) -> None:
    """`distill train --llm-teacher`: the augmented splits reach the training chain (stubbed: no training here)."""
    import distill.chain
    from distill.cli import main

    trained: list[dict] = []
    monkeypatch.setattr(distill.chain, "build_bundle", lambda splits, *rest: trained.append(splits))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    data = tmp_path / "tiny.csv"
    data.write_text('text,intent,slots\nwake me up at seven,alarm_set,"{""time"": ""seven""}"\n')
    unlabelled = tmp_path / "unlabelled.txt"
    unlabelled.write_text("turn on the lights\n")

    def teacher(request: dict) -> Reply:
        if "Intents:" in request["messages"][-1]["content"]:
            return 200, '{"intent": "alarm_set", "confidence": 0.75}'
        return paraphraser(request)

    with ChatServer(teacher) as server:
        argv = ["train", str(data), "--out", str(tmp_path / "bundle"), "--llm-teacher", server.base_url + "/"]
        argv += ["--llm-cache", str(tmp_path / "cache"), "--paraphrases", "2", "--unlabelled", str(unlabelled)]
        assert main(argv) == 0
    assert [(e.text, e.intent, e.slot_values()) for e in trained[0]["train"]] == [
        ("wake me up at seven", "alarm_set", {"time": "seven"}),
        ("please wake me up at seven", "alarm_set", {"time": "seven"}),
        ("could you wake me up at seven", "alarm_set", {"time": "seven"}),
        ("turn on the lights", "alarm_set", {}),
    ]
    assert {h["authorization"] for h in server.headers} == {"Bearer sk-from-env"}
    assert "llm teacher: 2 requests, 0 cache hits; kept 2 paraphrases + 1 soft labels; failed: none; " in (
        capsys.readouterr().out
    )


def test_a_model_that_echoes_the_prompt_gives_no_data(tmp_path: Path) -> None:
    """A weak base model often repeats the question: the prompts hold no JSON it could pass off as an answer."""
    with ChatServer(lambda request: (200, request["messages"][-1]["content"])) as server:
        new, stats = augment(splits_of(ALARM, WEATHER), settings(server, tmp_path), ["turn on the lights"])
    assert new["train"] == [ALARM, WEATHER] and stats["failed"] == {"not_json": 3}
