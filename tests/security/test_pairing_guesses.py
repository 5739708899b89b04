"""Pairing codes cannot be guessed by asking many times at once (finding 4)."""

import asyncio
import json

from helpers.cast_helpers import LOOPBACK, CompanionThread, LoopThread, cast_deps

from edge.core.settings import CastSettings

cast_deps()


async def _post(session, url, body, content_type="application/json"):
    async with session.post(url + "api/pair", data=json.dumps(body), headers={"Content-Type": content_type}) as response:
        return response.status, await response.text()


def _wrong(code: str, offset: int) -> str:
    return f"{(int(code) + offset) % 10**6:06d}"


def test_pairing_guesses_rate_limited_globally(tmp_path):
    import aiohttp

    companion = CompanionThread(CastSettings(interface=LOOPBACK, port=0, name="Guessed", state_dir=str(tmp_path)))
    client = LoopThread()

    async def attack():
        right = companion.code()
        async with aiohttp.ClientSession() as session:
            plain = await _post(session, companion.url, {"code": right, "speaker_id": "x"}, "text/plain")
            guesses = await asyncio.gather(*(
                _post(session, companion.url, {"code": _wrong(right, n), "speaker_id": f"attacker-{n}"})
                for n in range(1, 61)
            ))
            after = await _post(session, companion.url, {"code": companion.code(), "speaker_id": "late"})
            return plain, [status for status, _ in guesses], after

    try:
        plain, statuses, after = client.run(attack(), timeout=120)
    finally:
        client.close()
        companion.stop()
    assert plain[0] == 415 and "application/json" in plain[1]
    assert statuses.count(403) <= 5, f"{statuses.count(403)} guesses were checked; at most 5 may be before a pause"
    assert statuses.count(429) >= 55
    assert after[0] == 429 and "paused" in after[1]  # the pause holds for everyone, the right code too
    assert len(companion.companion.paired) == 0


def test_the_pause_doubles_and_a_right_code_ends_it():
    from edge.cast.throttle import PairingThrottle

    now = [0.0]
    throttle = PairingThrottle(max_failures=3, cooldown_seconds=10.0, clock=lambda: now[0])
    for expected_pause in (10.0, 20.0, 40.0):
        for _ in range(3):
            assert throttle.paused_for() == 0
            throttle.failed()
        assert throttle.paused_for() == expected_pause
        now[0] += expected_pause
    throttle.failed()
    throttle.succeeded()
    for _ in range(2):
        throttle.failed()
    assert throttle.paused_for() == 0  # counting started again after the right code
