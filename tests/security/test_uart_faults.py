"""A UART board's serial task survives a malformed frame and an unplugged port (finding 10)."""

import asyncio
import os

import pytest

from firmware_bridge.uart.messages import AudioStart, Button, ButtonAction, LedRing, LedState

from .bridge_helpers import BridgeUnderTest

pytest.importorskip("serial", reason="the UART link needs pyserial: pip install -e '.[bridge]'")


class Board:
    """The board's end: a UartLink on one pseudo-terminal, relayed to the host's pseudo-terminal."""

    def __init__(self, host_pty):
        from helpers.bridge_uart_relay import Faults, Relay, open_pty

        from firmware_bridge.uart.link import UartLink, UartSettings
        from firmware_bridge.uart.transport import SerialTransport

        self.pty = open_pty()
        self.relay = Relay(host_pty, self.pty, Faults())
        self.relay.start()
        self.link = UartLink(SerialTransport(self.pty.path), UartSettings(ack_timeout_seconds=0.05), "board")

    async def start(self):
        await self.link.open()
        await asyncio.wait_for(self.link.wait_up(), 20)

    async def led(self, timeout: float = 20.0) -> LedState:
        while True:
            message = await asyncio.wait_for(self.link.receive(), timeout)
            if isinstance(message, LedRing):
                return message.state

    async def close(self):
        await self.link.close()
        self.relay.stop()
        self.pty.close()


def _bridge(bridge_engine):
    return BridgeUnderTest(bridge_engine, reconnect_min_seconds=0.1, reconnect_max_seconds=0.5)


def test_a_malformed_audio_start_is_refused_and_the_board_keeps_serving(bridge_engine, tmp_path):
    from helpers.bridge_uart_relay import open_pty

    bridge = _bridge(bridge_engine)
    host_pty = open_pty()

    async def scenario():
        serving = asyncio.run_coroutine_threadsafe(bridge.server.serve_uart_board(host_pty.path), bridge.loop.loop)
        board = Board(host_pty)
        try:
            await board.start()
            assert await board.led() is LedState.IDLE  # greeted
            await board.link.send_reliably(Button(0, ButtonAction.PRESSED))
            assert await board.led() is LedState.LISTENING
            for bad in (AudioStart(16000, 2, 0), AudioStart(4_000_000_000, 2, 1), AudioStart(16000, 9, 1)):
                await board.link.send_reliably(bad)
            await board.link.send_reliably(Button(0, ButtonAction.PRESSED))
            return await board.led(), serving.done()
        finally:
            serving.cancel()
            await board.close()

    try:
        led, ended = asyncio.run(scenario())
    finally:
        bridge.close()
        host_pty.close()
    assert not ended, "the board's serial task ended"
    assert led in (LedState.LISTENING, LedState.ERROR)  # it answers: the task is alive


def test_an_unplugged_port_is_reopened_with_backoff(bridge_engine, tmp_path):
    from helpers.bridge_uart_relay import open_pty

    bridge = _bridge(bridge_engine)
    device = tmp_path / "ttyUSB0"  # what udev would give: a stable name for whatever is plugged in
    first = open_pty()
    device.symlink_to(first.path)

    async def scenario():
        serving = asyncio.run_coroutine_threadsafe(bridge.server.serve_uart_board(str(device)), bridge.loop.loop)
        board = Board(first)
        try:
            await board.start()
            assert await board.led() is LedState.IDLE
            await board.close()
            first.close()  # unplugged: the host's side of the port now fails (EIO)
            device.unlink()
            await asyncio.sleep(0.5)  # a moment with no port at all: reopening fails and backs off
            second = open_pty()
            device.symlink_to(second.path)  # plugged in again
            board = Board(second)
            await board.start()
            led = await board.led()
            return led, serving.done(), second
        finally:
            serving.cancel()
            await board.close()

    try:
        led, ended, second = asyncio.run(scenario())
        second.close()
    finally:
        bridge.close()
    assert not ended
    assert led is LedState.IDLE  # the host reopened the port and greeted the board again
    assert os.path.islink(device)
