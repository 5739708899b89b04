"""`CardCaster`: the speaker's one object for screens, callable from the synchronous turn loop.

    caster = CardCaster(settings.cast, speaker_name="Kitchen speaker").start()
    ticket = caster.cast(card, hint="kitchen tv")      # returns at once; speech goes on
    ...                                                 # synthesise and play the reply
    trace["cast"] = ticket.outcome(timeout=0.0)         # or a short wait once audio is playing
    caster.close()

Everything else (discovery, choosing, delivery, fallback) runs on the caster's own thread and
event loop. `ticket.outcome()` is `{"screen": name | None, "status": ..., "ms": ...}` where
status is "delivered" (the chosen screen took it), "fallback:<name>" (another screen did: the
chosen one failed, or the hint named no screen), "speech-only" (no screen took it; "reason"
says why) or "pending" (not finished within the timeout). Delivered outcomes add "kind" and
"ack" ("shown": a page rendered it, "stored": kept in the companion's history, no page open).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from edge.cast.card import CardLimits, CardRejected, sanitize_card
from edge.cast.choose import NAME_WORDS, choose_screens, hint_score
from edge.cast.client import DeliveryError, PairingFailed, ScreenGone, ScreenLink, pair_with
from edge.cast.discovery import ScreenRegistry
from edge.cast.pairing import ScreenTokens
from edge.cast.relay import ChromecastRelay
from edge.cast.screens import EDGECAST_KIND, Screen
from edge.core.events import Card
from edge.core.settings import CastSettings

logger = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 10.0
# The caster's Python work waits this long, so the turn thread that called cast() gets back into
# speech synthesis (mostly GIL-free onnxruntime) before the two compete for the GIL. Measured with
# bench/cast_latency.py; a screen never notices 5 ms.
HANDOFF_DELAY_SECONDS = 0.005


@dataclass
class CastTicket:
    """The handle `cast()` returns; `outcome()` is what the turn trace records."""

    future: concurrent.futures.Future
    started: float = field(default_factory=time.perf_counter)

    def done(self) -> bool:
        return self.future.done()

    def outcome(self, timeout: float | None = None) -> dict[str, Any]:
        try:
            return self.future.result(timeout)
        except concurrent.futures.TimeoutError:
            return {"screen": None, "status": "pending", "ms": _ms_since(self.started)}
        except Exception as error:  # a casting bug must never raise out of the turn
            logger.exception("casting failed")
            return _speech_only(self.started, f"casting failed: {type(error).__name__}")


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _speech_only(started: float, reason: str, **extra: Any) -> dict[str, Any]:
    return {"screen": None, "status": "speech-only", "ms": _ms_since(started), "reason": reason, **extra}


class CardCaster:
    def __init__(self, settings: CastSettings, speaker_name: str | None = None):
        self.settings = settings
        self.speaker_name = speaker_name or settings.name or socket.gethostname()
        self.limits = CardLimits.from_settings(settings)
        self.tokens = ScreenTokens(settings.state_dir)
        self.registry = ScreenRegistry(settings)
        self.last_used: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._session = None
        self._links: dict[str, ScreenLink] = {}
        self._relay = ChromecastRelay(settings, self.registry)

    # -- called from the turn loop (any thread) ---------------------------------------------------

    def start(self) -> CardCaster:
        if self._thread is not None or not self.settings.enabled:
            return self
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="edge-cast", daemon=True)
        self._thread.start()
        try:
            self._call(self._start(), START_TIMEOUT_SECONDS)
        except BaseException:
            self.close()
            raise
        return self

    def cast(self, card: Card, hint: str | None = None) -> CastTicket:
        """Start delivering `card`; never blocks on the network."""
        started = time.perf_counter()
        if self._loop is None:
            future: concurrent.futures.Future = concurrent.futures.Future()
            reason = "casting is off (cast.enabled)" if not self.settings.enabled else "the caster is not started"
            future.set_result(_speech_only(started, reason))
            return CastTicket(future, started)
        return CastTicket(asyncio.run_coroutine_threadsafe(self._cast(card, hint, started), self._loop), started)

    def screens(self, include_unreachable: bool = False) -> list[Screen]:
        if self._loop is None:
            return []
        return self._call(self._list(include_unreachable), 5.0)

    def wait_for(self, predicate: Callable[[list[Screen]], bool], timeout: float) -> bool:
        """Wait until `predicate(online screens)` holds; False after `timeout` seconds."""
        if self._loop is None:
            return False
        return self._call(self.registry.wait_for(predicate, timeout), timeout + 5.0)

    def wait_for_screen(self, hint: str, timeout: float, min_score: int = 1) -> Screen | None:
        """The screen `hint` names (see choose.hint_score), waiting up to `timeout` seconds for it."""
        if not self.wait_for(lambda screens: any(hint_score(s, hint) >= min_score for s in screens), timeout):
            return None
        return choose_screens(self.screens(), hint).first

    def pair(self, hint: str, code: str = "", timeout: float = 10.0) -> dict[str, Any]:
        """Pair with the companion `hint` names, using the code its screen shows; for a Chromecast (which
        has no code) this is the user's confirmation that the speaker may cast to it."""
        screen = self.wait_for_screen(hint, timeout, min_score=NAME_WORDS)
        if screen is None:
            partial = [s for s in self.screens() if hint_score(s, hint)]
            if len(partial) != 1:
                known = ", ".join(sorted(s.name for s in self.screens())) or "none"
                raise PairingFailed(f"no screen is named {hint!r} (screens found: {known}); "
                                    "is `edge cast companion` running on this network?")
            screen = partial[0]
        if screen.kind != EDGECAST_KIND:
            self.tokens.confirm(screen.screen_id, screen.name, screen.kind)
            logger.info("casting to the %s %s confirmed", screen.kind, screen.name)
            return {"screen": screen.name, "room": screen.room, "id": screen.screen_id, "confirmed": True}
        if not code.strip():
            raise PairingFailed(f"{screen.name} is a companion: give the code its screen shows (edge cast pair NAME CODE)")
        return self._call(self._pair(screen, code), timeout)

    def is_paired(self, screen: Screen) -> bool:
        """A companion this speaker paired with, or another screen (a Chromecast) the user confirmed."""
        if screen.kind == EDGECAST_KIND:
            return self.tokens.token_for(screen.screen_id) is not None
        return self.tokens.confirmed(screen.screen_id)

    def close(self) -> None:
        if self._loop is None:
            return
        try:
            self._call(self._stop(), 10.0)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(5.0)
            self._loop.close()
            self._loop = None
            self._thread = None

    def __enter__(self) -> CardCaster:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _call(self, coroutine, timeout: float):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    # -- on the caster's loop -------------------------------------------------------------------

    async def _start(self) -> None:
        import aiohttp

        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.settings.deliver_timeout_seconds))
        await self.registry.start()

    async def _stop(self) -> None:
        for link in self._links.values():
            await link.close()
        await self._relay.stop()
        await self.registry.stop()
        if self._session is not None:
            await self._session.close()

    async def _list(self, include_unreachable: bool) -> list[Screen]:
        return self.registry.all_screens() if include_unreachable else self.registry.screens()

    async def _pair(self, screen: Screen, code: str) -> dict[str, Any]:
        answer = await pair_with(self._session, screen, code, self.tokens.speaker_id, self.speaker_name)
        self.tokens.save(screen.screen_id, screen.name, answer["token"])
        self._links.pop(screen.key, None)
        return {"screen": screen.name, "room": answer.get("room", ""), "id": screen.screen_id}

    async def _cast(self, card: Card, hint: str | None, started: float) -> dict[str, Any]:
        await asyncio.sleep(HANDOFF_DELAY_SECONDS)
        try:
            safe = sanitize_card(card, self.limits)
        except CardRejected as error:
            logger.warning("card not cast: %s", error)
            return _speech_only(started, f"card refused: {error}")
        # Choose among every screen, then skip unpaired ones: a hint naming an unpaired screen is a fallback.
        choice = choose_screens(self.registry.screens(), hint, self.settings.room, self.last_used)
        candidates = [screen for screen in choice.candidates if self.is_paired(screen)]
        if not candidates:
            return _speech_only(started, "no paired screen is online (edge cast screens; edge cast pair NAME CODE, "
                                         "or edge cast pair NAME to allow a Chromecast)")
        if not self.settings.fallback_to_other_screens:
            candidates = candidates[:1]
        failures = []
        for screen in candidates:
            try:
                ack = await self._deliver(screen, safe)
            except DeliveryError as error:
                logger.warning("cast to %s failed: %s", screen.name, error)
                failures.append({"screen": screen.name, "error": str(error)})
                if isinstance(error, ScreenGone):
                    await self.registry.mark_unreachable(screen)
                continue
            self.last_used = screen.key
            chosen = screen == choice.first and choice.matched_hint
            outcome = {
                "screen": screen.name, "status": "delivered" if chosen else f"fallback:{screen.name}",
                "ms": _ms_since(started), "kind": screen.kind, "ack": ack.get("status"),
            }
            return {**outcome, "failed": failures} if failures else outcome
        return _speech_only(started, "no screen took the card", failed=failures)

    async def _deliver(self, screen: Screen, card: Card) -> dict[str, Any]:
        if screen.kind != EDGECAST_KIND:
            return await self._relay.deliver(screen, card)
        link = self._links.get(screen.key)
        if link is None or (link.screen.host, link.screen.port) != (screen.host, screen.port):
            if link is not None:
                await link.close()
            link = ScreenLink(self._session, replace(screen), self.tokens.key_for(screen.screen_id), self.tokens.speaker_id)
            self._links[screen.key] = link
        return await link.deliver(card, self.settings.deliver_timeout_seconds)
