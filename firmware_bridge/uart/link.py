"""A reliable UART link: sequence numbers, acknowledgements and retransmission over COBS frames.

Each side starts a sending session with a HELLO (seq 0, a random 32-bit session id) and then
numbers its data frames 1..255, wrapping to 1; it sends nothing past its oldest unacknowledged
frame + `window_frames`.
The receiver acknowledges every frame it accepts with an ACK that echoes the sender's session
id (so a late ACK from an earlier session is never mistaken for a new one), holds out-of-order
frames (at most a window) and delivers in order, exactly once. A frame not acknowledged within
`ack_timeout_seconds` is sent again; after `max_retransmits` the link is DOWN and says HELLO
again, with doubling waits, until the peer answers. An acknowledged frame is never lost: the
receiver acknowledges only what it has stored for delivery, and a peer's new session first
delivers what was acknowledged of the old one.

Transport: `SerialTransport` (pyserial; a pseudo-terminal in tests), or anything with its three methods.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import struct
import time
from collections import deque
from dataclasses import dataclass

from firmware_bridge.uart.frames import FrameParser, MessageType, UartFrame, UartMessageError, encode_frame
from firmware_bridge.uart.messages import Hello, Message, from_frame, to_frame
from firmware_bridge.uart.transport import LinkDownError, Transport

logger = logging.getLogger(__name__)

SEQ_CYCLE = 255  # data frames are numbered 1..255; 0 is the HELLO


def next_seq(seq: int) -> int:
    return seq % SEQ_CYCLE + 1


def seq_distance(later: int, earlier: int) -> int:
    """How many data frames `later` is ahead of `earlier` (modulo the cycle)."""
    return (later - earlier) % SEQ_CYCLE


@dataclass(frozen=True)
class UartSettings:
    baud_rate: int = 921600  # bits per second (ignored by pseudo-terminals)
    window_frames: int = 8  # unacknowledged frames in flight, at most 127
    ack_timeout_seconds: float = 0.2  # resend a frame not acknowledged this long after it was written
    max_retransmits: int = 20  # then the link is DOWN
    receive_queue_frames: int = 64  # delivered messages waiting for the application
    reconnect_max_seconds: float = 5.0  # HELLO retries while DOWN back off up to this


class LinkState(enum.Enum):
    OPENING = "opening"  # our HELLO is not acknowledged yet
    UP = "up"
    DOWN = "down"  # the peer stopped answering; HELLO is retried with backoff


@dataclass
class LinkStats:
    sent: int = 0
    retransmits: int = 0
    acked: int = 0
    stale_acks: int = 0  # ACKs for an earlier session or an unknown frame, ignored
    received: int = 0  # frames accepted and acknowledged
    delivered: int = 0
    duplicates: int = 0  # frames received again (our ACK was lost), acknowledged again
    dropped_out_of_window: int = 0
    dropped_no_session: int = 0
    restarts: int = 0


@dataclass
class _Pending:
    wire: bytes
    sent_at: float | None  # None while waiting in the outbox
    done: asyncio.Future
    tries: int = 0


class UartLink:
    def __init__(self, transport: Transport, settings: UartSettings | None = None, name: str = "edge") -> None:
        self.settings = settings or UartSettings()
        if not 1 <= self.settings.window_frames <= 127:
            raise ValueError("window_frames must be between 1 and 127 (sequence numbers wrap at 255)")
        self.name = name
        self.state = LinkState.OPENING
        self.stats = LinkStats()
        self.peer: Hello | None = None
        self._transport = transport
        self._parser = FrameParser()
        self._session = 0
        self._hello: _Pending | None = None
        self._unacked: dict[int, _Pending] = {}
        self._tx_next = 1
        self._room = asyncio.Event()  # set when an ACK (or a restart) may have opened the window
        self._up = asyncio.Event()
        self._rx_session: int | None = None
        self._seen_sessions: deque[int] = deque(maxlen=8)
        self._rx_next = 1
        self._held: dict[int, UartFrame] = {}
        self._ready: deque[UartFrame] = deque()  # accepted, in order, waiting for receive()
        self._readable = asyncio.Event()
        self._outbox: asyncio.Queue[tuple[bytes, _Pending | None]] = asyncio.Queue(4 * self.settings.window_frames + 64)
        self._tasks: list[asyncio.Task] = []
        self.lost: LinkDownError | None = None  # the port failed (unplugged): every wait raises this
        self._lost = asyncio.Event()

    @property
    def parser_stats(self):
        return self._parser.stats

    async def open(self) -> None:
        self._transport.start(self._on_bytes, self._on_lost)
        self._tasks = [
            asyncio.create_task(self._write_loop(), name=f"uart {self.name} writer"),
            asyncio.create_task(self._retransmit_loop(), name=f"uart {self.name} retransmit"),
        ]
        self._queue_write(b"\x00")  # end any partial frame the peer holds
        self._say_hello(reply_requested=True)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._fail_pending(LinkDownError("link closed"))
        self._transport.close()

    async def wait_up(self) -> None:
        await self._until(self._up)

    def _on_lost(self, error: Exception) -> None:
        """The port failed: fail what waits for an ACK, and wake every waiter with LinkDownError."""
        self.lost = error if isinstance(error, LinkDownError) else LinkDownError(str(error))
        self.state = LinkState.DOWN
        self._fail_pending(self.lost)
        self._lost.set()

    async def _until(self, event: asyncio.Event) -> None:
        """Wait for `event`; LinkDownError if the port is lost first."""
        if self.lost is not None:
            raise self.lost
        if event.is_set():
            return
        waiters = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(self._lost.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        if self.lost is not None:
            raise self.lost

    async def send(self, message: Message) -> asyncio.Future:
        """Queue a message (waiting for the link and window space); the future completes on its ACK."""
        while not (self._up.is_set() and self._window_has_room()):
            self._room.clear()
            await self._until(self._room if self._up.is_set() else self._up)
        seq, self._tx_next = self._tx_next, next_seq(self._tx_next)
        done = asyncio.get_running_loop().create_future()
        done.add_done_callback(lambda _: self._room.set())
        pending = _Pending(encode_frame(to_frame(message, seq)), None, done)
        self._unacked[seq] = pending
        self.stats.sent += 1
        await self._outbox.put((pending.wire, pending))
        return done

    def _window_has_room(self) -> bool:
        """The sender's window is a range: nothing past the oldest unacknowledged frame + window."""
        oldest = next(iter(self._unacked), None)
        return oldest is None or seq_distance(self._tx_next, oldest) < self.settings.window_frames

    async def send_reliably(self, message: Message) -> None:
        """Send and wait for the acknowledgement; raises LinkDownError if it never comes."""
        await (await self.send(message))

    async def receive(self) -> Message | UartFrame:
        """The next message in order (a raw UartFrame for types this host does not know)."""
        while not self._ready:
            self._readable.clear()
            await self._until(self._readable)
        frame = self._ready.popleft()
        self.stats.delivered += 1
        try:
            return from_frame(frame)
        except UartMessageError:
            return frame

    # --- receiving -------------------------------------------------------------------------

    def _on_bytes(self, data: bytes) -> None:
        for frame in self._parser.feed(data):
            if frame.type == MessageType.ACK:
                self._on_ack(frame)
            elif frame.type == MessageType.HELLO:
                self._on_hello(frame)
            else:
                self._on_data(frame)

    def _on_data(self, frame: UartFrame) -> None:
        if self._rx_session is None or frame.seq == 0:
            self.stats.dropped_no_session += 1  # the peer's HELLO comes first; it will resend
            return
        window = self.settings.window_frames
        offset = seq_distance(frame.seq, self._rx_next)
        if offset >= SEQ_CYCLE - window:  # delivered already: our ACK was lost
            self.stats.duplicates += 1
            self._ack(frame.seq, self._rx_session)
        elif offset >= window or (frame.seq not in self._held and len(self._ready) >= self.settings.receive_queue_frames):
            self.stats.dropped_out_of_window += 1  # not acknowledged: the peer resends it later
        else:
            if frame.seq in self._held:
                self.stats.duplicates += 1
            else:
                self._held[frame.seq] = frame
                self.stats.received += 1
            self._ack(frame.seq, self._rx_session)
            while self._rx_next in self._held:
                self._ready.append(self._held.pop(self._rx_next))
                self._rx_next = next_seq(self._rx_next)
            self._readable.set()

    def _on_hello(self, frame: UartFrame) -> None:
        try:
            hello = from_frame(frame)
        except UartMessageError:
            logger.warning("uart %s: unreadable HELLO from the peer; ignored", self.name)
            return
        self._ack(0, hello.session)
        if hello.session in self._seen_sessions:
            self.stats.duplicates += 1  # a resent HELLO (our ACK was lost), or a late one from before
            return
        self._seen_sessions.append(hello.session)
        # A new peer session: what we acknowledged of the old one is still delivered, gaps and all.
        for seq in sorted(self._held, key=lambda seq: seq_distance(seq, self._rx_next)):
            self._ready.append(self._held.pop(seq))
        self._readable.set()
        self._rx_session, self._rx_next, self.peer = hello.session, 1, hello
        logger.info("uart %s: peer %r started session %08x", self.name, hello.name, hello.session)
        if hello.reply_requested:
            self._say_hello(reply_requested=False)

    def _on_ack(self, frame: UartFrame) -> None:
        if len(frame.payload) != 4 or struct.unpack("<I", frame.payload)[0] != self._session:
            self.stats.stale_acks += 1
            return
        if frame.seq == 0:
            pending, self._hello = self._hello, None
        else:
            pending = self._unacked.pop(frame.seq, None)
        if pending is None or pending.done.done():
            self.stats.stale_acks += 1
            return
        self.stats.acked += frame.seq != 0
        pending.done.set_result(None)

    def _ack(self, seq: int, session: int) -> None:
        self._queue_write(encode_frame(UartFrame(MessageType.ACK, seq, struct.pack("<I", session))))

    # --- sending ---------------------------------------------------------------------------

    def _say_hello(self, reply_requested: bool) -> None:
        """Start a new sending session: drop what was not acknowledged, number from 1 again."""
        self._fail_pending(LinkDownError("the link restarted; this frame was not acknowledged and was dropped"))
        self.stats.restarts += 1
        self._session = random.getrandbits(32) or 1
        self._tx_next = 1
        self._up.clear()
        if self.state is not LinkState.DOWN:
            self.state = LinkState.OPENING
        done = asyncio.get_running_loop().create_future()
        done.add_done_callback(self._hello_acked)
        wire = encode_frame(to_frame(Hello(self._session, reply_requested, name=self.name), 0))
        self._hello = _Pending(wire, None, done)
        self._queue_write(wire, self._hello)

    def _hello_acked(self, done: asyncio.Future) -> None:
        if not done.cancelled() and done.exception() is None:
            self.state = LinkState.UP
            self._up.set()

    def _fail_pending(self, error: Exception) -> None:
        pending = list(self._unacked.values()) + ([self._hello] if self._hello is not None else [])
        self._unacked, self._hello = {}, None
        for item in pending:
            if not item.done.done():
                item.done.set_exception(error)
                item.done.exception()  # a sender that did not wait for this ACK is not warned about it

    def _queue_write(self, wire: bytes, pending: _Pending | None = None) -> bool:
        try:
            self._outbox.put_nowait((wire, pending))
        except asyncio.QueueFull:
            logger.debug("uart %s: outbox full; the retransmit timer will resend", self.name)
            return False
        return True

    async def _write_loop(self) -> None:
        while True:
            wire, pending = await self._outbox.get()
            try:
                await self._transport.write(wire)
            except LinkDownError as error:
                self._on_lost(error)
                return
            if pending is not None:
                pending.sent_at = time.monotonic()

    async def _retransmit_loop(self) -> None:
        settings = self.settings
        while True:
            await asyncio.sleep(max(0.002, settings.ack_timeout_seconds / 4))
            now = time.monotonic()
            hello = self._hello
            if hello is not None and hello.sent_at is not None:  # retried for ever, backing off
                if now - hello.sent_at >= min(settings.ack_timeout_seconds * 2 ** min(hello.tries, 16), settings.reconnect_max_seconds):
                    self._resend(hello)
            for pending in list(self._unacked.values()):
                if pending.sent_at is None or now - pending.sent_at < settings.ack_timeout_seconds:
                    continue
                if pending.tries >= settings.max_retransmits:
                    logger.warning("uart %s: no ACK after %d tries; link down, saying HELLO again", self.name, pending.tries)
                    self.state = LinkState.DOWN
                    self._say_hello(reply_requested=True)
                    break
                self._resend(pending)

    def _resend(self, pending: _Pending) -> None:
        if self._queue_write(pending.wire, pending):
            pending.tries += 1
            pending.sent_at = None
            self.stats.retransmits += 1
