"""Fuzz the bridge's two parsers: the Wyoming frame decoder and the UART frame decoder.

    python -m bench.fuzz_bridge [--examples 100000]

Each parser gets `--examples` inputs from hypothesis (shrinking only if a property fails):
random bytes, valid streams with bytes flipped, inserted, deleted or numbers spliced in (at
places a hypothesis-drawn seed picks), and hand-shaped headers with hostile lengths. The property: every input gives
frames or the parser's own error class, never another exception; no input takes more than
`--max-seconds` of CPU; the decoder never holds more than its limit. Writes
bench/results/fuzz_bridge.json with counts, time, the slowest input and peak memory.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import time

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bench.provenance import write_result
from firmware_bridge.uart.frames import MAX_ENCODED_BYTES, FrameParser, UartFrameError, decode_frame, encode_frame
from firmware_bridge.uart.messages import Audio, Button, ButtonAction, Hello, LedRing, LedState, Volume, to_frame
from firmware_bridge.wyoming import events as wy
from firmware_bridge.wyoming.framing import FrameDecoder, FrameLimits, WyomingProtocolError
from firmware_bridge.wyoming.framing import encode_frame as wy_encode

LIMITS = FrameLimits(max_header_bytes=4096, max_data_bytes=65536, max_payload_bytes=65536)
WYOMING_SAMPLES = [
    wy.AudioStart(timestamp=0), wy.AudioChunk(audio=bytes(range(256)) * 8), wy.AudioStop(timestamp=5),
    wy.Describe(), wy.Transcript(text="What time is it?", language="en"), wy.Synthesize(text="Hello.", voice={"name": "x"}),
    wy.RunPipeline(start_stage="asr", end_stage="tts", wake_word_name="okay_nabu"),
    wy.Intent(name="alarm_set", entities=[{"name": "time", "value": "seven"}]), wy.Error(text="no", code="busy"),
]
UART_SAMPLES = [
    to_frame(Hello(0x1234, True, 1024, "board"), 0), to_frame(Audio(bytes(range(256)) * 4), 1),
    to_frame(Button(0, ButtonAction.PRESSED), 2), to_frame(LedRing(LedState.SPEAKING), 3), to_frame(Volume(40), 4),
]


def mutate(data: bytearray, seed: int) -> bytes:
    """Flip, insert, delete, zero bytes or splice in numbers, at places a seeded generator picks."""
    rng = random.Random(seed)
    for _ in range(rng.randint(1, 12)):
        if not data:
            break
        position = rng.randrange(len(data))
        action = rng.randrange(5)
        if action == 0:
            data[position] ^= 1 << rng.randrange(8)
        elif action == 1:
            data[position:position] = rng.randbytes(rng.randint(1, 16))
        elif action == 2:
            del data[position : position + rng.randint(1, 64)]
        elif action == 3:
            data[position:position] = str(rng.randint(-(10**20), 10**20)).encode()
        else:
            data[position] = 0
    return bytes(data)


SEEDS = st.integers(0, 2**64 - 1)


@st.composite
def wyoming_inputs(draw):
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.binary(max_size=4096))
    if kind == 1:
        header = {"type": draw(st.text(max_size=12)), "data_length": draw(st.integers(-5, 10**7)),
                  "payload_length": draw(st.integers(-5, 10**7))}
        return json.dumps(header).encode() + b"\n" + random.Random(draw(SEEDS)).randbytes(draw(st.integers(0, 2048)))
    events = draw(st.lists(st.sampled_from(WYOMING_SAMPLES), min_size=1, max_size=6))
    return mutate(bytearray(b"".join(wy_encode(event.to_frame()) for event in events)), draw(SEEDS))


@st.composite
def uart_inputs(draw):
    if draw(st.booleans()):
        return draw(st.binary(max_size=3 * MAX_ENCODED_BYTES))
    frames = draw(st.lists(st.sampled_from(UART_SAMPLES), min_size=1, max_size=6))
    return mutate(bytearray(b"".join(encode_frame(frame) for frame in frames)), draw(SEEDS))


class Tally:
    def __init__(self) -> None:
        self.inputs = 0
        self.frames = 0
        self.errors: dict[str, int] = {}
        self.slowest_seconds = 0.0
        self.max_buffered_bytes = 0
        self.input_bytes = 0

    def record(self, started: float, data: bytes, max_seconds: float) -> None:
        """Count one input; fail if it took more than `max_seconds` of CPU (wall time varies with load)."""
        spent = time.process_time() - started
        self.inputs += 1
        self.input_bytes += len(data)
        self.slowest_seconds = max(self.slowest_seconds, spent)
        if spent > max_seconds:
            raise AssertionError(f"one input of {len(data)} bytes took {spent:.2f} s of CPU")


def run_wyoming(count: int, split: st.SearchStrategy, tally: Tally, max_seconds: float) -> None:
    @settings(max_examples=count, deadline=None, database=None, phases=[Phase.generate, Phase.shrink],
              suppress_health_check=list(HealthCheck))
    @given(wyoming_inputs(), split)
    def property_(data: bytes, step: int) -> None:
        started = time.process_time()
        decoder = FrameDecoder(LIMITS)
        try:
            for start in range(0, len(data), step):
                for frame in decoder.feed(data[start : start + step]):
                    tally.frames += 1
                    event = wy.decode_event(frame)
                    if isinstance(event, wy.WyomingEvent):
                        wy_encode(event.to_frame())
                tally.max_buffered_bytes = max(tally.max_buffered_bytes, decoder.buffered_bytes)
                if decoder.buffered_bytes > LIMITS.max_buffered_bytes:
                    raise AssertionError(f"decoder holds {decoder.buffered_bytes} bytes")
            decoder.close()
        except WyomingProtocolError as error:
            tally.errors[type(error).__name__] = tally.errors.get(type(error).__name__, 0) + 1
        tally.record(started, data, max_seconds)

    property_()


def run_uart(count: int, split: st.SearchStrategy, tally: Tally, max_seconds: float) -> None:
    @settings(max_examples=count, deadline=None, database=None, phases=[Phase.generate, Phase.shrink],
              suppress_health_check=list(HealthCheck))
    @given(uart_inputs(), split)
    def property_(data: bytes, step: int) -> None:
        started = time.process_time()
        try:
            decode_frame(data.split(b"\x00")[0])
        except UartFrameError as error:
            tally.errors[type(error).__name__] = tally.errors.get(type(error).__name__, 0) + 1
        parser = FrameParser()
        for start in range(0, len(data), step):
            tally.frames += len(parser.feed(data[start : start + step]))
            tally.max_buffered_bytes = max(tally.max_buffered_bytes, parser.buffered_bytes)
            if parser.buffered_bytes > MAX_ENCODED_BYTES:
                raise AssertionError(f"parser holds {parser.buffered_bytes} bytes")
        tally.record(started, data, max_seconds)

    property_()


def summary(tally: Tally, seconds: float) -> dict:
    return {
        "inputs": tally.inputs, "input_megabytes": round(tally.input_bytes / 1e6, 1), "frames_decoded": tally.frames,
        "errors_by_class": dict(sorted(tally.errors.items())), "seconds": round(seconds, 1),
        "inputs_per_second": round(tally.inputs / seconds), "slowest_input_cpu_ms": round(tally.slowest_seconds * 1000, 2),
        "max_buffered_bytes": tally.max_buffered_bytes, "crashes": 0, "hangs": 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=100_000, help="inputs per parser")
    parser.add_argument("--max-seconds", type=float, default=1.0, help="an input taking more CPU seconds than this is a hang")
    args = parser.parse_args()
    split = st.integers(1, 4096)
    results = {}
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for name, runner in (("wyoming", run_wyoming), ("uart", run_uart)):
        tally = Tally()
        started = time.perf_counter()
        runner(args.examples, split, tally, args.max_seconds)
        results[name] = summary(tally, time.perf_counter() - started)
        results[name]["max_rss_mib_after"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        print(name, json.dumps(results[name]), flush=True)
    results["limits"] = {"wyoming": vars(LIMITS) | {"max_buffered_bytes": LIMITS.max_buffered_bytes}, "uart_max_encoded_bytes": MAX_ENCODED_BYTES}
    results["max_rss_mib_before"] = round(rss_before / 1024, 1)
    path = write_result("fuzz_bridge", results, ["edge-voice", "hypothesis", "wyoming"])
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
