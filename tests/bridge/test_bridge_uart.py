"""The UART link: COBS, CRC-16/CCITT-FALSE, frames, and the reliable link over real pseudo-terminals."""

import asyncio
import os

import pytest
from helpers.bridge_uart_relay import Faults, Relay, open_pty
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge.uart.frames import (
    MAX_ENCODED_BYTES,
    CrcMismatchError,
    FrameLengthError,
    FrameParser,
    UartFrame,
    UartFrameError,
    cobs_decode,
    cobs_encode,
    crc16_ccitt_false,
    decode_frame,
    encode_frame,
)
from firmware_bridge.uart.link import LinkState, UartLink, UartSettings
from firmware_bridge.uart.messages import (
    Audio,
    AudioStart,
    AudioStop,
    Button,
    ButtonAction,
    Hello,
    LedRing,
    LedState,
    UartMessageError,
    Volume,
    from_frame,
    to_frame,
)
from firmware_bridge.uart.transport import LinkDownError, SerialTransport

COBS_VECTORS = [  # from Cheshire & Baker's paper / the Wikipedia article
    (b"\x00", b"\x01\x01"),
    (b"\x00\x00", b"\x01\x01\x01"),
    (b"\x00\x11\x00", b"\x01\x02\x11\x01"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
    (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"),
    (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255))),
    (bytes(range(0, 255)), b"\x01\xff" + bytes(range(1, 255))),
    (bytes(range(1, 256)), b"\xff" + bytes(range(1, 255)) + b"\x02\xff"),
    (bytes(range(2, 256)) + b"\x00", b"\xff" + bytes(range(2, 256)) + b"\x01\x01"),
    (bytes(range(3, 256)) + b"\x00\x01", b"\xfe" + bytes(range(3, 256)) + b"\x02\x01"),
]


def reference_crc(data: bytes) -> int:
    """Bit-by-bit CRC-16/CCITT-FALSE, to check the table-driven one."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def test_crc_is_ccitt_false():
    assert crc16_ccitt_false(b"123456789") == 0x29B1
    for data in (b"", b"\x00", bytes(range(256)), b"edge" * 100):
        assert crc16_ccitt_false(data) == reference_crc(data)


@pytest.mark.parametrize("raw, encoded", COBS_VECTORS, ids=range(len(COBS_VECTORS)))
def test_cobs_vectors(raw, encoded):
    assert cobs_encode(raw) == encoded
    assert cobs_decode(encoded) == raw


def test_button_frame_bytes_match_the_spec():
    assert encode_frame(to_frame(Button(0, ButtonAction.PRESSED), 1)) == bytes.fromhex("04 20 01 02 01 02 01 02 6c 00")


MESSAGES = [
    Hello(0x1A2B3C4D, True, 1024, "kitchen-board"),
    AudioStart(16000, 2, 1),
    Audio(bytes(range(256)) * 4),
    AudioStop(),
    Button(0, ButtonAction.LONG_PRESS),
    LedRing(LedState.THINKING, (255, 128, 0), 200),
    Volume(65, True),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips_through_the_wire(message):
    wire = encode_frame(to_frame(message, 42))
    assert wire.count(0) == 1 and wire.endswith(b"\x00")
    (frame,) = FrameParser().feed(wire)
    assert frame.seq == 42
    assert from_frame(frame) == message


def test_bad_frames_raise_specific_errors():
    body = b"\x11\x03\x03\x00abc"
    good_crc = crc16_ccitt_false(body).to_bytes(2, "little")
    assert decode_frame(cobs_encode(body + good_crc)) == UartFrame(0x11, 3, b"abc")
    with pytest.raises(CrcMismatchError):
        decode_frame(cobs_encode(body[:-1] + b"b" + good_crc))  # one payload byte changed on the line
    with pytest.raises(FrameLengthError):
        decode_frame(cobs_encode(b"\x11\x03"))
    with pytest.raises(FrameLengthError):
        encode_frame(UartFrame(0x11, 1, bytes(2000)))
    with pytest.raises(UartMessageError):
        from_frame(UartFrame(0x20, 1, b"\x00"))  # a button needs two bytes
    with pytest.raises(UartMessageError):
        from_frame(UartFrame(0x7E, 1, b""))


def test_parser_drops_garbage_and_resynchronises():
    parser = FrameParser()
    good = encode_frame(to_frame(Volume(10), 5))
    frames = parser.feed(b"\x07garbage\x00" + bytes([0xFF] * (MAX_ENCODED_BYTES + 10)) + b"\x00" + good[:4])
    assert frames == []
    assert parser.feed(good[4:]) == [to_frame(Volume(10), 5)]
    assert parser.stats.oversized == 1 and parser.stats.cobs_errors + parser.stats.length_errors == 1
    assert parser.buffered_bytes == 0


@settings(max_examples=2000, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2 * MAX_ENCODED_BYTES), st.integers(1, 64))
def test_fuzz_decoder_raises_only_frame_errors(data, split):
    try:
        decode_frame(data.replace(b"\x00", b""))
    except UartFrameError:
        pass
    parser = FrameParser()
    for start in range(0, len(data), split):
        for frame in parser.feed(data[start : start + split]):
            assert len(frame.payload) <= 1024
        assert parser.buffered_bytes <= MAX_ENCODED_BYTES


# --- the link over pseudo-terminals --------------------------------------------------------------

FAST = UartSettings(ack_timeout_seconds=0.03, window_frames=8, max_retransmits=40)


async def linked_pair(faults: Faults, link_settings: UartSettings = FAST):
    left, right = open_pty(), open_pty()
    relay = Relay(left, right, faults)
    host = UartLink(SerialTransport(left.path), link_settings, "host")
    board = UartLink(SerialTransport(right.path), link_settings, "board")
    relay.start()
    await host.open()
    await board.open()
    await asyncio.wait_for(asyncio.gather(host.wait_up(), board.wait_up()), 10)
    return host, board, relay, (left, right)


async def close_pair(host, board, relay, ptys):
    await host.close()
    await board.close()
    relay.stop()
    for pty in ptys:
        pty.close()


async def exchange(sender: UartLink, receiver: UartLink, count: int) -> tuple[list[int], int]:
    """Send numbered audio frames; return what arrived (in order) and how many were acknowledged."""
    acked = 0

    async def send():
        nonlocal acked
        futures = [await sender.send(Audio(number.to_bytes(4, "little") * 128)) for number in range(count)]
        for future in futures:
            await future
            acked += 1

    async def receive():
        numbers = []
        while len(numbers) < count:
            message = await receiver.receive()
            numbers.append(int.from_bytes(message.pcm[:4], "little"))
        return numbers

    _, received = await asyncio.wait_for(asyncio.gather(send(), receive()), 60)
    return received, acked


def test_link_over_pseudo_terminals_delivers_in_order_and_both_ways():
    async def scenario():
        # A clean line: a generous ACK wait, so that a busy machine's scheduling never looks like a lost frame.
        host, board, relay, ptys = await linked_pair(Faults(), UartSettings(ack_timeout_seconds=5.0))
        try:
            assert host.peer.name == "board" and board.peer.name == "host"
            received, acked = await exchange(board, host, 300)
            assert received == list(range(300)) and acked == 300
            await host.send_reliably(LedRing(LedState.LISTENING))
            await host.send_reliably(Volume(30))
            assert await board.receive() == LedRing(LedState.LISTENING)
            assert await board.receive() == Volume(30)
            assert board.stats.retransmits <= 3  # a clean line needs (almost) none
        finally:
            await close_pair(host, board, relay, ptys)

    asyncio.run(scenario())


def test_link_survives_corruption_and_drops_without_losing_an_acknowledged_frame():
    async def scenario():
        faults = Faults(corrupt_rate=0.15, drop_rate=0.15, seed=11)
        host, board, relay, ptys = await linked_pair(faults)
        try:
            received, acked = await exchange(board, host, 600)
            assert received == list(range(600))  # nothing lost, duplicated or reordered
            assert acked == 600
            assert faults.corrupted > 50 and faults.dropped > 50
            assert board.stats.retransmits > 50
            assert host.parser_stats.crc_errors + host.parser_stats.cobs_errors + host.parser_stats.length_errors > 20
            assert host.stats.duplicates > 0  # lost ACKs were answered again, not delivered twice
            assert host.state is LinkState.UP and board.state is LinkState.UP
        finally:
            await close_pair(host, board, relay, ptys)

    asyncio.run(scenario())


def test_peer_restart_resynchronises_and_keeps_what_was_acknowledged():
    async def scenario():
        host, board, relay, ptys = await linked_pair(Faults())
        try:
            for number in range(5):
                await board.send_reliably(Button(number, ButtonAction.PRESSED))
            # The board reboots: a new link object on the same port, its sequence numbers from 1 again.
            await board.close()
            reborn = UartLink(SerialTransport(ptys[1].path), FAST, "board")
            await reborn.open()
            await asyncio.wait_for(reborn.wait_up(), 5)
            await reborn.send_reliably(Button(9, ButtonAction.RELEASED))
            got = [await asyncio.wait_for(host.receive(), 5) for _ in range(6)]
            assert [message.button for message in got] == [0, 1, 2, 3, 4, 9]
            await asyncio.wait_for(host.wait_up(), 5)
            await host.send_reliably(LedRing(LedState.IDLE))  # the host re-said HELLO: the board hears it
            assert await asyncio.wait_for(reborn.receive(), 5) == LedRing(LedState.IDLE)
            board = reborn
        finally:
            await close_pair(host, board, relay, ptys)

    asyncio.run(scenario())


def test_a_silent_peer_takes_the_link_down_and_fails_unacknowledged_frames():
    async def scenario():
        left = open_pty()
        host = UartLink(SerialTransport(left.path), UartSettings(ack_timeout_seconds=0.01, max_retransmits=3), "host")
        await host.open()
        try:
            await asyncio.sleep(0.1)
            assert host.state is LinkState.OPENING  # nobody acknowledges the HELLO
            assert host.stats.retransmits >= 2  # the HELLO is retried, with backoff
            os.read(left.master, 65536)  # what a board would have seen: HELLOs
        finally:
            await host.close()
            left.close()
        with pytest.raises(LinkDownError):
            SerialTransport("/dev/no-such-port")

    asyncio.run(scenario())


def test_an_alert_sent_while_a_reply_goes_out_is_not_spliced_into_it():
    """Found building the soak (bench/soak): `link.send` waits for window space, so an alert sent
    to a board while its reply was going out slipped its frames in between the reply's audio."""
    from firmware_bridge.uart.messages import Audio
    from firmware_bridge.uart.satellite import UartSatellite
    from firmware_bridge.wyoming import events as wy

    class WindowOfOne:  # every frame waits for the one before it to be acknowledged
        def __init__(self):
            self.sent = []

        async def send(self, message):
            self.sent.append(message)
            await asyncio.sleep(0)

    def speech(byte: bytes) -> list:
        return [wy.AudioStart(rate=22050, width=2, channels=1),
                wy.AudioChunk(rate=22050, width=2, channels=1, audio=byte * 4096), wy.AudioStop()]

    link = WindowOfOne()
    board = UartSatellite(link, hub=None, name="kitchen")

    async def both():
        await asyncio.gather(board.send(speech(b"\x01")), board.send(speech(b"\x02")))

    asyncio.run(both())
    audio = [message.pcm[0] for message in link.sent if isinstance(message, Audio)]
    assert audio == [1, 1, 1, 1, 2, 2, 2, 2]
