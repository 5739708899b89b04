"""Wake-word arbitration between satellites in one room (no models needed)."""

import asyncio
import time

from firmware_bridge.arbitration import RoomArbiter


def run(coroutine):
    return asyncio.run(coroutine)


def test_a_satellite_alone_in_its_room_is_never_delayed():
    async def scenario():
        arbiter = RoomArbiter(window_seconds=5.0)
        arbiter.start("hall", "hall")
        arbiter.start("nowhere", None)
        started = time.perf_counter()
        assert await arbiter.claim("hall", -30.0) is True
        assert await arbiter.claim("nowhere", -30.0) is True
        return time.perf_counter() - started

    assert run(scenario()) < 1.0  # at once, not after the 5 s window


def test_the_loudest_of_one_room_answers_once_all_have_claimed():
    async def scenario():
        arbiter = RoomArbiter(window_seconds=5.0)
        for name in ("near", "far", "middle"):
            arbiter.start(name, "kitchen")
        arbiter.start("bedroom", "bedroom")  # another room is not involved
        verdicts = await asyncio.gather(arbiter.claim("far", -40.0), arbiter.claim("near", -20.0),
                                        arbiter.claim("middle", -30.0), arbiter.claim("bedroom", -50.0))
        return verdicts, arbiter

    verdicts, arbiter = run(scenario())
    assert verdicts == [False, True, False, True]
    assert arbiter.decisions[0] == ("kitchen", "near", {"far": -40.0, "near": -20.0, "middle": -30.0})
    assert arbiter.pending == 0


def test_a_rival_that_never_finishes_is_left_behind_after_the_window():
    async def scenario():
        arbiter = RoomArbiter(window_seconds=0.2)
        arbiter.start("a", "lounge")
        arbiter.start("b", "lounge")
        started = time.perf_counter()
        first = await arbiter.claim("a", -35.0)
        waited = time.perf_counter() - started
        late = await arbiter.claim("b", -10.0)  # louder, but the room already decided
        return first, waited, late

    first, waited, late = run(scenario())
    assert first is True and late is False
    assert 0.15 < waited < 3.0  # the 0.2 s window, not forever


def test_a_satellite_that_leaves_does_not_hold_up_the_room():
    async def scenario():
        arbiter = RoomArbiter(window_seconds=5.0)
        arbiter.start("a", "office")
        arbiter.start("b", "office")
        waiting = asyncio.create_task(arbiter.claim("a", -30.0))
        await asyncio.sleep(0.01)
        arbiter.cancel("b")  # disconnected mid-request
        return await asyncio.wait_for(waiting, 1.0)

    assert run(scenario()) is True


def test_requests_further_apart_than_the_window_are_different_requests():
    async def scenario():
        now = [100.0]
        arbiter = RoomArbiter(window_seconds=0.5, clock=lambda: now[0])
        arbiter.start("a", "study")
        now[0] += 2.0
        arbiter.start("b", "study")
        return await arbiter.claim("b", -50.0), await arbiter.claim("a", -10.0)

    assert run(scenario()) == (True, True)
