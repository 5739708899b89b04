"""The SSE decoder is bounded per event, not only per line (low-severity list)."""

import pytest

from edge.llm.sse import SseDecoder, SseError


def test_many_data_lines_without_an_end_of_event_are_refused():
    decoder = SseDecoder(max_line_bytes=1024)
    with pytest.raises(SseError, match="event"):
        for _ in range(10_000):  # 10 000 lines of 1000 bytes: 10 MB held for one event
            decoder.feed(b"data: " + b"x" * 994 + b"\n")


def test_an_event_just_under_the_bound_is_decoded():
    decoder = SseDecoder(max_line_bytes=1024, max_event_bytes=4096)
    events = decoder.feed(b"data: " + b"a" * 1000 + b"\ndata: " + b"b" * 1000 + b"\n\n")
    assert events == ["a" * 1000 + "\n" + "b" * 1000]
    with pytest.raises(SseError, match="4096"):
        decoder.feed(b"data: " + b"c" * 1000 + b"\n" * 1 + (b"data: " + b"c" * 1000 + b"\n") * 4)
