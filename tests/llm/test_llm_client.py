"""The OpenAI-compatible streaming client: protocol, bounds, retries, circuit breaker."""

import time

import pytest

pytest.importorskip("httpx", reason="the LLM client needs httpx: pip install -e '.[llm]'")

from helpers.fake_openai import FakeOpenAI  # noqa: E402

from edge.core.settings import LlmSettings  # noqa: E402
from edge.llm.client import (  # noqa: E402
    CircuitBreaker,
    CircuitOpen,
    LlmClient,
    LlmEndpoint,
    LlmProtocolError,
    LlmRequest,
    LlmServerError,
    LlmTimeout,
    LlmUnavailable,
)
from edge.llm.sse import SseDecoder, SseError  # noqa: E402

QUESTION = LlmRequest(messages=({"role": "user", "content": "What is the capital of France?"},))


def endpoint(base_url, **overrides):
    values = dict(connect_timeout_seconds=1.0, read_timeout_seconds=1.0, total_timeout_seconds=3.0, retries=1,
                  retry_backoff_seconds=0.05, max_answer_chars=2000)
    values.update(overrides)
    return LlmEndpoint(base_url=base_url, **values)


def ask(client, request=QUESTION):
    stream = client.stream(request)
    stream.wait_first()
    return stream, "".join(stream)


def test_sse_decoder_handles_crlf_comments_multiline_and_split_bytes():
    decoder = SseDecoder()
    data = b": ping\r\n\r\nevent: x\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\ndata: [DONE]\n\n"
    events = []
    for index in range(len(data)):  # one byte at a time: events never depend on how TCP splits them
        events += decoder.feed(data[index : index + 1])
    assert events == ['{"a":\n1}', "[DONE]"]


def test_sse_decoder_refuses_an_endless_line():
    with pytest.raises(SseError, match="longer than 100 bytes"):
        SseDecoder(max_line_bytes=100).feed(b"data: " + b"x" * 200)


def test_streams_the_answer_and_sends_the_api_key_from_the_named_variable():
    with FakeOpenAI() as fake:
        settings = LlmSettings(base_url=fake.base_url, model="m1", api_key_env="MY_KEY")
        client = LlmClient(LlmEndpoint.from_settings(settings, {"MY_KEY": "sk-secret"}))
        stream, text = ask(client)
        client.close()
    assert text == fake.answer
    assert stream.attempts == 1 and not stream.truncated and stream.first_token_at is not None
    assert fake.requests[0]["stream"] is True and fake.requests[0]["model"] == "m1"
    assert "sk-secret" not in repr(client.endpoint)


def test_a_server_that_does_not_stream_is_read_as_one_answer():
    with FakeOpenAI("json") as fake:
        _, text = ask(LlmClient(endpoint(fake.base_url)))
    assert text == fake.answer


def test_http_500_is_retried_then_answered():
    with FakeOpenAI("http500", failures=1) as fake:
        stream, text = ask(LlmClient(endpoint(fake.base_url)))
    assert text == fake.answer and stream.attempts == 2


def test_http_500_every_time_fails_after_the_retries_and_opens_the_breaker():
    breaker = CircuitBreaker(failures=2, reset_seconds=60)
    with FakeOpenAI("http500") as fake:
        client = LlmClient(endpoint(fake.base_url), breaker)
        for _ in range(2):
            with pytest.raises(LlmServerError, match="HTTP 500"):
                ask(client)
        assert len(fake.requests) == 4  # two turns, one retry each
        with pytest.raises(CircuitOpen):
            client.stream(QUESTION)
        assert len(fake.requests) == 4  # an open breaker sends nothing
    assert breaker.state == "open"


def test_breaker_lets_a_trial_through_after_the_reset_time():
    now = [0.0]
    breaker = CircuitBreaker(failures=1, reset_seconds=10, clock=lambda: now[0])
    breaker.record_failure()
    assert not breaker.allow()
    now[0] = 11
    assert breaker.allow() and not breaker.allow()  # one trial at a time
    breaker.record_success()
    assert breaker.state == "closed" and breaker.allow()


def test_a_hanging_server_is_bounded_by_the_total_timeout():
    with FakeOpenAI("hang") as fake:
        client = LlmClient(endpoint(fake.base_url, read_timeout_seconds=0.5, total_timeout_seconds=1.5))
        started = time.monotonic()
        with pytest.raises(LlmTimeout):
            ask(client)
        assert time.monotonic() - started < 2.0


def test_malformed_json_is_a_protocol_error_after_a_retry():
    with FakeOpenAI("malformed") as fake:
        with pytest.raises(LlmProtocolError, match="not JSON"):
            ask(LlmClient(endpoint(fake.base_url)))
    assert len(fake.requests) == 2


def test_an_endless_stream_ends_at_the_character_cap_or_the_deadline():
    with FakeOpenAI("endless") as fake:
        client = LlmClient(endpoint(fake.base_url, total_timeout_seconds=1.0, max_answer_chars=10**6))
        started = time.monotonic()
        stream, text = ask(client)
        assert time.monotonic() - started < 1.5
        assert stream.timed_out and text.startswith("la la")
        stream, text = ask(LlmClient(endpoint(fake.base_url, max_answer_chars=300)))
        assert stream.truncated and len(text) == 300


def test_a_50000_character_answer_is_cut_at_the_cap():
    with FakeOpenAI("huge") as fake:
        stream, text = ask(LlmClient(endpoint(fake.base_url, max_answer_chars=2000)))
    assert stream.truncated and len(text) == 2000 and text.startswith("word word")


def test_control_characters_in_the_answer_are_removed():
    with FakeOpenAI(answer="Hi\x1b[31m there\x00.\n") as fake:
        _, text = ask(LlmClient(endpoint(fake.base_url)))
    assert text == "Hi[31m there.\n"


def test_nothing_listening_is_unavailable_quickly():
    from edge.llm.offline import free_port

    client = LlmClient(endpoint(f"http://127.0.0.1:{free_port('127.0.0.1')}/v1", retry_backoff_seconds=0.05))
    started = time.monotonic()
    with pytest.raises(LlmUnavailable, match="cannot reach"):
        ask(client)
    assert time.monotonic() - started < 1.0


def test_a_bad_base_url_says_how_to_fix_it():
    with pytest.raises(LlmUnavailable, match="set llm.base_url"):
        LlmClient(LlmEndpoint(base_url="localhost:8080"))
