"""Who may use the Wyoming port (finding 2): loopback by default, an allow-list, satellite keys, names kept.

`edge bridge serve` listens on 127.0.0.1 unless an interface is configured. With `bridge.allowed_peers`
or a secret (`bridge.secret_env`) set, a peer that is neither on the list nor proves a satellite
key is refused before any event is served. A satellite's name (and its session and undelivered
reply) cannot be taken by another peer without that satellite's key.
"""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.processes import SHUTDOWN_SECONDS, LineReader

from edge.core.settings import BridgeSettings
from edge.runtime.demo import demo_turns
from firmware_bridge.simulator import TurnReport, collect_reply, hello, stream_request, wav_request_pcm
from firmware_bridge.wyoming.events import Describe, Error, Transcript

from .bridge_helpers import BridgeUnderTest, connect, events_until_closed

ROOT = Path(__file__).resolve().parents[2]
WHAT_TIME = demo_turns()[0]
SECRET = "correct horse battery staple"


def _listening_address(port: int) -> str | None:
    """The local address of the socket listening on `port`, from /proc/net/tcp (IPv4, Linux)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        address, hex_port = fields[1].split(":")
        if int(hex_port, 16) == port and fields[3] == "0A":  # 0A: LISTEN
            return ".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0))
    return None


def test_serve_binds_loopback_unless_told(tmp_path):
    from firmware_bridge.access import listen_uri

    assert listen_uri(BridgeSettings()) == "tcp://127.0.0.1:10700"
    assert listen_uri(BridgeSettings(interface="192.168.1.20")) == "tcp://192.168.1.20:10700"
    assert listen_uri(BridgeSettings(uri="tcp://0.0.0.0:10700")) == "tcp://0.0.0.0:10700"  # the operator's choice
    if not Path("/proc/net/tcp").exists():
        pytest.skip("reading listening sockets needs Linux's /proc/net/tcp")
    serve = subprocess.Popen(
        [sys.executable, "-m", "edge", "bridge", "serve", "--no-zeroconf", "--set", "bridge.port=0",
         "--set", f"skills.database_path={tmp_path / 'edge.sqlite3'}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        line = LineReader(serve).wait_for("Wyoming on port")
        port = int(line.split("port ")[1].split()[0])
        assert _listening_address(port) == "127.0.0.1", line
    finally:
        serve.terminate()
        serve.wait(SHUTDOWN_SECONDS)


@pytest.mark.parametrize("restriction", ["allow-list", "secret"])
def test_unknown_peer_is_refused_when_an_allowlist_or_secret_is_set(restriction, bridge_engine):
    wyoming = pytest.importorskip("wyoming", reason="Home Assistant's client library: pip install -e '.[test]'")
    from wyoming.asr import Transcript as HaTranscript
    from wyoming.client import AsyncTcpClient

    options = {"allowed_peers": "192.0.2.0/24"} if restriction == "allow-list" else {"secret_env": "EDGE_TEST_WYOMING_SECRET"}
    bridge = BridgeUnderTest(bridge_engine, environ={"EDGE_TEST_WYOMING_SECRET": SECRET}, **options)

    async def as_home_assistant():
        events = []
        try:
            async with AsyncTcpClient("127.0.0.1", bridge.port) as client:
                try:
                    await client.write_event(HaTranscript(text="what time is it").event())  # would run a skill
                except ConnectionError:
                    pass  # refused before it could even ask (no secret to prove: nothing to wait for)
                while (event := await asyncio.wait_for(client.read_event(), 10)) is not None:
                    events.append(event)
        except ConnectionError:
            pass  # the server closed first
        return events

    try:
        events = asyncio.run(as_home_assistant())
    finally:
        bridge.close()
    assert wyoming is not None
    assert [event.type for event in events if event.type != "edge-challenge"] == ["error"], [e.type for e in events]
    assert events[-1].data["code"] == "unauthorized"
    assert "bridge.allowed_peers" in events[-1].data["text"]


def test_home_assistant_works_when_the_operator_allows_it(bridge_engine):
    pytest.importorskip("wyoming", reason="Home Assistant's client library: pip install -e '.[test]'")
    from wyoming.client import AsyncTcpClient
    from wyoming.info import Describe as HaDescribe
    from wyoming.info import Info as HaInfo

    bridge = BridgeUnderTest(bridge_engine, allowed_peers="127.0.0.1, 192.0.2.0/24", secret_env="EDGE_TEST_WYOMING_SECRET",
                             environ={"EDGE_TEST_WYOMING_SECRET": SECRET})

    async def describe():
        async with AsyncTcpClient("127.0.0.1", bridge.port) as client:
            await client.write_event(HaDescribe().event())
            return await asyncio.wait_for(client.read_event(), 10)

    try:
        info = HaInfo.from_event(asyncio.run(describe()))
    finally:
        bridge.close()
    assert [program.name for program in info.asr] == ["edge-asr"]


def test_a_satellite_with_its_key_is_served(bridge_engine):
    from firmware_bridge.access import satellite_key

    bridge = BridgeUnderTest(bridge_engine, secret_env="EDGE_TEST_WYOMING_SECRET", environ={"EDGE_TEST_WYOMING_SECRET": SECRET})

    async def turn():
        client = await connect(bridge.port)
        try:
            await hello(client, "hall", None, 10, key=satellite_key(SECRET, "hall"))
            stopped = await stream_request(client, wav_request_pcm(WHAT_TIME.wav), speed=0)
            return await collect_reply(client, TurnReport(), stopped, 60)
        finally:
            await client.close()

    try:
        report = asyncio.run(turn())
    finally:
        bridge.close()
    assert report.answered and report.transcript == "What time is it?"


def test_satellite_name_cannot_be_taken_over(bridge_engine):
    """Without keys a name stays with the address that holds it; with keys, with the key's owner."""
    bridge = BridgeUnderTest(bridge_engine, resume_seconds=60.0)
    pcm = wav_request_pcm(WHAT_TIME.wav)

    async def scenario():
        kitchen = await connect(bridge.port, "127.0.0.1")
        await hello(kitchen, "kitchen", "kitchen", 10)
        await stream_request(kitchen, pcm, speed=0)
        kitchen.abort()  # asked, then gone before the answer: the reply waits for "kitchen"
        for _ in range(600):
            if bridge.inspect(lambda: bridge.server.hub.sessions["kitchen"].undelivered):
                break
            await asyncio.sleep(0.05)
        intruder = await connect(bridge.port, "127.0.0.2")
        await intruder.send(*_satellite_hello("kitchen"))
        stolen = await events_until_closed(intruder)
        back = await connect(bridge.port, "127.0.0.1")
        await hello(back, "kitchen", "kitchen", 10)
        report = await collect_reply(back, TurnReport(), 0.0, 30)
        await back.close()
        return stolen, report

    try:
        stolen, report = asyncio.run(scenario())
    finally:
        bridge.close()
    assert [event.type for event in stolen] == ["error"] and stolen[0].code == "name-taken", stolen
    assert not any(isinstance(event, Transcript) for event in stolen)
    assert report.transcript == "What time is it?" and report.reply  # the owner still got its reply


def test_with_keys_a_satellite_cannot_claim_another_ones_name(bridge_engine):
    from firmware_bridge.access import satellite_key
    from firmware_bridge.simulator import SatelliteTurnError

    bridge = BridgeUnderTest(bridge_engine, secret_env="EDGE_TEST_WYOMING_SECRET", environ={"EDGE_TEST_WYOMING_SECRET": SECRET})

    async def claim(name, key_of):
        client = await connect(bridge.port)
        try:
            await hello(client, name, None, 10, key=satellite_key(SECRET, key_of))
            return "served"
        except SatelliteTurnError as error:
            return str(error)
        finally:
            await client.close()

    try:
        stolen = asyncio.run(claim("kitchen", "hall"))
        own = asyncio.run(claim("kitchen", "kitchen"))
    finally:
        bridge.close()
    assert "kitchen" in stolen and "key" in stolen
    assert own == "served"


def _satellite_hello(name):
    from firmware_bridge.info import satellite_info

    return [satellite_info(name, None), Describe()]


def test_refusals_are_errors_not_silence(bridge_engine):
    bridge = BridgeUnderTest(bridge_engine, allowed_peers="192.0.2.1")

    async def knock():
        client = await connect(bridge.port)
        return await events_until_closed(client)

    try:
        events = asyncio.run(knock())
    finally:
        bridge.close()
    assert len(events) == 1 and isinstance(events[0], Error) and events[0].code == "unauthorized"
