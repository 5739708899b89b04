"""The fuzz targets: every parser that takes bytes from outside, with the inputs to try and the property.

    TARGETS["sse"].strategy        # a hypothesis strategy of inputs
    TARGETS["sse"].check(data)     # parse one input; raise AssertionError when a property fails

Each `check` lets the parser's own documented errors through (they are the expected refusals)
and returns their class name, or None when the input was accepted; any other exception is a
crash. Bounds are checked on the spot (what a decoder holds, what a card renders to, how long
the request audio is). `bench.fuzz` runs them with a count and records the run.

    wyoming   framing + typed events + the access gate + request audio (firmware_bridge)
    uart      COBS/CRC frames + typed messages, and what the board's satellite makes of them
    audio     the WAV/FLAC request reader (edge.audio.wavio), through libsndfile
    card      the card sanitiser and the markdown renderer (edge.cast.card, edge.cast.render)
    sse       the server-sent-events decoder and the LLM chunk parser (edge.llm.sse, edge.llm.client)
    pairing   pairing requests, pairing files, the proof handshake, speaker/page messages (edge.cast)
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from bench.fuzz_bridge import LIMITS, mutate, uart_inputs, wyoming_inputs

SEEDS = st.integers(0, 2**64 - 1)


@dataclass(frozen=True)
class Target:
    name: str
    strategy: Callable[[], st.SearchStrategy]  # built when the target runs (no work at import)
    check: Callable[[Any], str | None]
    description: str


# --- wyoming ---------------------------------------------------------------------------------------


def _wyoming_with_auth():
    from firmware_bridge.access import Auth
    from firmware_bridge.wyoming.framing import encode_frame

    auth = encode_frame(Auth(name="kitchen", proof="ab" * 32).to_frame())
    return st.one_of(wyoming_inputs(), st.builds(lambda seed: mutate(bytearray(auth), seed), SEEDS))


def check_wyoming(data: bytes) -> str | None:
    from firmware_bridge.access import AccessDenied, AccessPolicy
    from firmware_bridge.wyoming import events as wy
    from firmware_bridge.wyoming.framing import FrameDecoder, WyomingProtocolError, encode_frame

    decoder = FrameDecoder(LIMITS)
    gate = AccessPolicy(secret=b"fuzz").gate("192.0.2.7")
    audio = _AudioSink()
    try:
        for start in range(0, len(data), 997):
            for frame in decoder.feed(data[start : start + 997]):
                if frame.type == "edge-auth":
                    gate.take(frame)
                event = wy.decode_event(frame)
                if isinstance(event, wy.AudioChunk):
                    audio.add(event)
                if isinstance(event, wy.WyomingEvent):
                    encode_frame(event.to_frame())
            if decoder.buffered_bytes > LIMITS.max_buffered_bytes:
                raise AssertionError(f"decoder holds {decoder.buffered_bytes} bytes")
        decoder.close()
        audio.finish()
    except (WyomingProtocolError, AccessDenied) as error:
        return type(error).__name__
    return None


class _AudioSink:
    """Request audio as a connection keeps it: bounded in 16 kHz seconds whatever the declared format."""

    def __init__(self) -> None:
        self.buffer = None

    def add(self, event) -> None:
        from firmware_bridge.limits import RequestBuffer
        from firmware_bridge.pcm import PcmFormat

        fmt = PcmFormat(event.rate, event.width, event.channels)
        self.buffer = self.buffer or RequestBuffer(fmt, max_seconds=1.0)
        if fmt == self.buffer.fmt:
            self.buffer.add(event.audio)
            if len(self.buffer) > 32000:
                raise AssertionError(f"request buffer holds {len(self.buffer)} bytes for a 1 s cap")

    def finish(self) -> None:
        if self.buffer is not None:
            self.buffer.samples()


# --- uart ------------------------------------------------------------------------------------------


def check_uart(data: bytes) -> str | None:
    from firmware_bridge.uart.frames import MAX_ENCODED_BYTES, FrameParser, UartFrameError, decode_frame
    from firmware_bridge.uart.messages import AudioStart, UartMessageError, from_frame
    from firmware_bridge.wyoming import events as wy

    refused = None
    try:
        decode_frame(data.split(b"\x00")[0])
    except UartFrameError as error:
        refused = type(error).__name__
    parser = FrameParser()
    for start in range(0, len(data), 61):
        for frame in parser.feed(data[start : start + 61]):
            try:
                message = from_frame(frame)
            except UartMessageError:
                refused = refused or "UartMessageError"
                continue
            if isinstance(message, AudioStart):  # what the board's satellite makes of it must never fail
                wy.AudioStart(rate=message.rate, width=message.width, channels=message.channels)
        if parser.buffered_bytes > MAX_ENCODED_BYTES:
            raise AssertionError(f"parser holds {parser.buffered_bytes} bytes")
    return refused


# --- audio -----------------------------------------------------------------------------------------


def _audio_seeds() -> list[bytes]:
    import numpy as np
    import soundfile

    rng = np.random.default_rng(1)
    seeds = []
    # Not Ogg Vorbis: libsndfile 1.2.2 leaks about 5 KB per corrupt Ogg file it opens (found here; see
    # docs/security.md). The speaker reads Ogg only from local files its user names.
    for rate, channels, fmt, subtype in [
        (16000, 1, "WAV", "PCM_16"), (8000, 2, "WAV", "PCM_U8"), (44100, 2, "WAV", "FLOAT"), (22050, 1, "WAV", "PCM_24"),
        (48000, 2, "FLAC", "PCM_16"), (96000, 8, "FLAC", "PCM_24"), (16000, 1, "FLAC", "PCM_S8"),
    ]:
        samples = (rng.standard_normal((rate // 10, channels)) * 0.1).astype(np.float32)
        buffer = io.BytesIO()
        soundfile.write(buffer, samples, rate, format=fmt, subtype=subtype)
        seeds.append(buffer.getvalue())
    return seeds


@st.composite
def audio_inputs(draw):
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=2048))
    seed_file = draw(st.sampled_from(_AUDIO_SEEDS()))
    return mutate(bytearray(seed_file), draw(SEEDS))


def _cached(function):
    cache: list = []

    def cached():
        if not cache:
            cache.append(function())
        return cache[0]

    return cached


_AUDIO_SEEDS = _cached(_audio_seeds)
_SCRATCH = _cached(lambda: Path(tempfile.mkdtemp(prefix="edge-fuzz-audio-")))


def check_audio(data: bytes) -> str | None:
    import numpy as np

    from edge.audio.wavio import AudioInputError, read_request_audio

    path = _SCRATCH() / "input"
    path.write_bytes(data)
    try:
        audio = read_request_audio(path, 16000, max_seconds=2.0, min_seconds=0.0)
    except AudioInputError as error:
        return type(error).__name__
    if len(audio.samples) > 2 * 16000 + 64 or not np.all(np.isfinite(audio.samples)):
        raise AssertionError(f"{len(audio.samples)} samples (or non-finite ones) for a 2 s cap")
    return None


# --- card ------------------------------------------------------------------------------------------

HOSTILE_MARKDOWN = [
    "<script>alert(1)</script>", "[x](javascript:alert(1))", "[x](https://evil.example/)", "![i](https://x/y.png)",
    "<img src=x onerror=alert(1)>", "```\ncode\n```", "> quote", "| a | b |\n|---|---|\n| 1 | 2 |", "**b** _i_ ~~s~~",
    "[" * 40 + "x" + "]" * 40, "*" * 60, "\u202etxt.exe", "# h\n## h\n### h", "- a\n  - b\n    - c", "&lt;&#x3c;",
]


@st.composite
def card_inputs(draw):
    text = st.text(max_size=80)
    odd = draw(st.integers(0, 4)) == 0  # one card in five has fields of the wrong kind
    body = draw(st.lists(st.one_of(st.sampled_from(HOSTILE_MARKDOWN), st.text(max_size=120)), max_size=12))
    fields = {
        "title": draw(st.one_of(st.integers(), st.none(), st.lists(text, max_size=2)) if odd else text),
        "body": "\n".join(body),
        "items": draw(text if odd else st.lists(text, max_size=8)),
        "table": draw(st.integers() if odd else st.lists(st.lists(text, max_size=5), max_size=5)),
        "chart": draw(st.lists(st.integers(), max_size=2) if odd else st.one_of(st.just({}), st.fixed_dictionaries({
            "kind": st.sampled_from(["bar", "line", "pie", 1]),
            "values": st.lists(st.one_of(st.floats(allow_nan=True), st.integers(), text), max_size=6),
            "labels": st.lists(text, max_size=6)}))),
        "image_url": draw(st.one_of(st.none(), st.sampled_from(["data:image/png;base64,iVBORw0KGgo=", "javascript:x",
                                                                  "https://x/y.png", "data:image/svg+xml;base64,PHN2Zz4="]))),
    }
    raw = json.dumps({"type": "card", "data": fields})
    if draw(st.integers(0, 3)) == 0:
        raw = mutate(bytearray(raw.encode()), draw(SEEDS)).decode("utf-8", "replace")
    return raw


def check_card(raw: str) -> str | None:
    from edge.cast.card import CardLimits, CardRejected, sanitize_card
    from edge.cast.render import ALLOWED_TAGS, card_view
    from edge.core.events import Card, EventDecodeError, decode_event

    try:
        card = decode_event(raw)
        if not isinstance(card, Card):
            return "NotACard"
        safe = sanitize_card(card, CardLimits())
        view = card_view(safe, "id", 0.0, frozenset({"example.org"}))
    except (CardRejected, EventDecodeError) as error:
        return type(error).__name__
    _check_tree(view["body"], 0)
    for item in view["items"]:
        if len(item) > 500:
            raise AssertionError("a list item over the limit was kept")
    if view["image"] is not None and not view["image"].startswith("data:image/"):
        raise AssertionError(f"image {view['image'][:40]!r} kept without allow_remote_images")
    if not ALLOWED_TAGS >= {"a"}:
        raise AssertionError("the renderer's allow-list changed")
    return None


def _check_tree(nodes: list, depth: int) -> None:
    from edge.cast.render import ALLOWED_TAGS, link_allowed

    for node in nodes:
        if isinstance(node, str):
            continue
        if node["t"] not in ALLOWED_TAGS or set(node) - {"t", "c", "href"}:
            raise AssertionError(f"node {node['t']!r} with {sorted(node)} in a rendered card")
        if "href" in node and not link_allowed(node["href"], frozenset({"example.org"})):
            raise AssertionError(f"link {node['href']!r} kept")
        _check_tree(node["c"], depth + 1)


# --- sse -------------------------------------------------------------------------------------------


@st.composite
def sse_inputs(draw):
    lines = draw(st.lists(st.one_of(
        st.sampled_from([b"data: {\"choices\": [{\"delta\": {\"content\": \"hi\"}}]}", b"data: [DONE]", b": ping",
                         b"event: x", b"data: {\"error\": {\"message\": \"boom\"}}", b"data: {\"choices\": 5}",
                         b"data: [1]", b"", b"\r", b"data:" + b"x" * 300]),
        st.binary(max_size=64)), max_size=30))
    stream = b"\n".join(lines)
    if draw(st.booleans()):
        stream = mutate(bytearray(stream), draw(SEEDS))
    return stream, draw(st.integers(1, 512))


def check_sse(data: tuple[bytes, int]) -> str | None:
    from edge.llm.client import _delta_text, _parse_chunk
    from edge.llm.sse import SseDecoder, SseError
    from edge.llm.stream import LlmError

    stream, step = data
    decoder = SseDecoder(max_line_bytes=256, max_event_bytes=1024)
    try:
        for start in range(0, len(stream), step):
            for event in decoder.feed(stream[start : start + step]):
                if len(event.encode("utf-8", "surrogatepass")) > 1024:
                    raise AssertionError(f"an event of {len(event)} characters passed a 1024-byte bound")
                if event.strip() != "[DONE]":
                    _delta_text(_parse_chunk(event, "fuzz"))
    except (SseError, LlmError) as error:
        return type(error).__name__
    return None


# --- pairing ---------------------------------------------------------------------------------------

_PAIRING_SAMPLES = [
    b'{"code": "123456", "speaker_id": "ab12", "speaker_name": "Kitchen"}',
    b'{"companion_id": "c1", "view_key": "kkkkkkkkkkkkkkkkkkkk", "speakers": {"s1": {"name": "x", "token_sha256": "00"}}}',
    b'{"speaker_id": "s1", "screens": {"c1": {"name": "TV", "token": "t"}, "c2": {"kind": "chromecast", "confirmed_at": 1}}}',
    b'{"type": "challenge", "id": "c1", "nonce": "00112233445566778899aabbccddeeff", "proof": "00"}',
    b'{"seq": 1, "body": "{\\"type\\": \\"card\\", \\"id\\": \\"m\\", \\"card\\": {\\"title\\": \\"t\\"}}", "mac": "00"}',
    b'{"type": "ack", "id": "m", "status": "shown"}', b'{"type": "proof", "proof": "ff"}',
    b'{"speaker_id": "s1", "screens": [{"c1": 1}]}', b'{"companion_id": "c1", "speakers": {"s1": ["x"]}, "view_key": 7}',
]


@st.composite
def pairing_inputs(draw):
    if draw(st.integers(0, 4)) == 0:
        return draw(st.binary(max_size=512))
    return mutate(bytearray(draw(st.sampled_from(_PAIRING_SAMPLES))), draw(SEEDS))


def check_pairing(data: bytes) -> str | None:
    from edge.cast.client import DeliveryRefused, parse_reply
    from edge.cast.pairing import PairingError, parse_pair_request
    from edge.cast.proof import Handshake, ProofError, check_challenge, check_speaker_proof
    from edge.cast.protocol import ProtocolError, parse_message

    refused = []
    text = data.decode("utf-8", "replace")
    key = bytes(32)
    handshake = Handshake("c1", "s1", "00" * 16, "11" * 16)
    for attempt, errors in [
        (lambda: parse_pair_request(data), PairingError),
        (lambda: check_challenge(text, key, "c1", "s1", "00" * 16), ProofError),
        (lambda: check_speaker_proof(text, handshake, key), ProofError),
        (lambda: handshake.channel(key, "companion").open(text), ProofError),
        (lambda: parse_message(text, frozenset({"card", "ping", "ack"})), ProtocolError),
        (lambda: parse_reply(text, "screen"), DeliveryRefused),
    ]:
        try:
            attempt()
        except errors as error:
            refused.append(type(error).__name__)
    refused.extend(_check_pairing_files(data))
    return ",".join(sorted(set(refused))) or None


def _check_pairing_files(data: bytes) -> list[str]:
    from edge.cast.pairing import COMPANION_FILE, SPEAKER_FILE, PairedSpeakers, PairingError, ScreenTokens

    folder = _SCRATCH() / "pairing"
    folder.mkdir(exist_ok=True)
    refused = []
    for name, reader in ((COMPANION_FILE, PairedSpeakers), (SPEAKER_FILE, ScreenTokens)):
        (folder / name).write_bytes(data)
        try:
            state = reader(str(folder))
            if isinstance(state, PairedSpeakers):
                state.key_for("s1"), state.speakers(), state.name_of("s1")
            else:
                state.key_for("c1"), state.confirmed("c2"), state.paired_ids()
        except PairingError as error:
            refused.append(type(error).__name__)
    return refused


TARGETS: dict[str, Target] = {
    target.name: target for target in [
        Target("wyoming", _wyoming_with_auth, check_wyoming, "Wyoming framing, events, access gate, request audio"),
        Target("uart", uart_inputs, check_uart, "UART COBS/CRC frames and typed messages"),
        Target("audio", audio_inputs, check_audio, "WAV/FLAC request reader (libsndfile)"),
        Target("card", card_inputs, check_card, "card sanitiser and markdown renderer"),
        Target("sse", sse_inputs, check_sse, "server-sent events decoder and LLM chunk parser"),
        Target("pairing", pairing_inputs, check_pairing, "pairing request, pairing files, proof handshake, messages"),
    ]
}
