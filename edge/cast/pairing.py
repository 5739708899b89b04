"""Pairing: a short code shown on the screen, exchanged once for a token kept on both sides.

The companion shows a 6-digit code (on its page and in its log). The speaker sends that code
with its id and name to `POST /api/pair` and gets a random token back: the only time the
secret crosses the network. From then on both sides prove they hold the pairing key (the
token's SHA-256) without sending it (edge.cast.proof). The companion keeps only that key (in
`paired-speakers.json`), the speaker keeps the token (in `screens.json`), both under
`cast.state_dir`, written atomically with mode 0600. Five wrong codes in a row replace the code,
and so does a successful pairing, so a code is good for one speaker.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.cast.proof import pairing_key, valid_speaker_id
from edge.core.errors import PeerError

logger = logging.getLogger(__name__)

CODE_DIGITS = 6
MAX_FAILED_CODES = 5
COMPANION_FILE = "paired-speakers.json"
SPEAKER_FILE = "screens.json"


class PairingError(PeerError):
    """Pairing failed or a pairing file is unusable; the message says what to do."""


def state_path(state_dir: str) -> Path:
    return Path(state_dir).expanduser()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise PairingError(f"cannot read {path}: {error}; delete it and pair the screens again") from error
    if not isinstance(data, dict):
        raise PairingError(f"{path} is not a JSON object; delete it and pair the screens again")
    for key in ("speakers", "screens"):
        if key in data and not isinstance(data[key], dict):
            raise PairingError(f"{path}: '{key}' is not an object; delete the file and pair the screens again")
    return data


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(data, stream, indent=2)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size


def _digest(token: str) -> str:
    return pairing_key(token).hex()


@dataclass(frozen=True)
class PairRequest:
    code: str
    speaker_id: str
    speaker_name: str


def parse_pair_request(raw: bytes) -> PairRequest:
    """The body of `POST /api/pair` (untrusted bytes); PairingError says what a valid one looks like."""
    usage = 'send {"code": "123456", "speaker_id": "...", "speaker_name": "..."}'
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as error:  # not JSON, not UTF-8, too deep
        raise PairingError(f"the pairing request is not JSON: {usage}") from error
    if not isinstance(body, dict) or not isinstance(body.get("code"), str) or not valid_speaker_id(body.get("speaker_id")):
        raise PairingError(f"{usage} (speaker_id: 1 to 80 printable characters)")
    name = body.get("speaker_name")
    name = clean_name(name) if isinstance(name, str) else ""
    return PairRequest(body["code"][:32], body["speaker_id"], name or "speaker")


def clean_name(name: str) -> str:
    """A display name from the other side: printable characters only, at most 80."""
    return "".join(char for char in name if char.isprintable())[:80].strip()


class PairingCode:
    """The code a companion shows; replaced after `ttl_seconds`, after use, or after 5 wrong tries."""

    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic):
        self._ttl = ttl_seconds
        self._clock = clock
        self._failures = 0
        self.rotate()

    def rotate(self) -> str:
        self._code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
        self._issued = self._clock()
        self._failures = 0
        return self._code

    def current(self) -> str:
        if self._clock() - self._issued > self._ttl:
            self.rotate()
        return self._code

    def check(self, code: str) -> bool:
        """True for the shown code (which is then replaced); wrong codes count towards a new one."""
        typed = "".join(char for char in str(code) if char.isdigit())
        if hmac.compare_digest(typed.encode(), self.current().encode()):
            self.rotate()
            return True
        self._failures += 1
        if self._failures >= MAX_FAILED_CODES:
            logger.warning("%d wrong pairing codes: showing a new code", self._failures)
            self.rotate()
        return False


class PairedSpeakers:
    """The companion's side: its own stable id and the pairing keys of the speakers it trusts.

    The file is read again when it changes on disk, so `edge cast companion --unpair NAME` takes effect
    in a companion that is running."""

    def __init__(self, state_dir: str):
        self.path = state_path(state_dir) / COMPANION_FILE
        self._data = _read_json(self.path)
        if not isinstance(self._data.get("companion_id"), str) or not isinstance(self._data.get("speakers"), dict):
            self._data = {"companion_id": uuid.uuid4().hex, "speakers": self._data.get("speakers", {}) or {}}
            _write_json(self.path, self._data)
        if not isinstance(self._data.get("view_key"), str) or len(self._data["view_key"]) < 16:
            self._data["view_key"] = secrets.token_urlsafe(18)
            _write_json(self.path, self._data)
        self._stamp = _stamp(self.path)

    def _fresh(self) -> dict[str, Any]:
        stamp = _stamp(self.path)
        if stamp != self._stamp:
            try:
                data = _read_json(self.path)
            except PairingError as error:
                logger.warning("keeping the pairings in memory: %s", error)
                data = {}
            if isinstance(data.get("speakers"), dict):
                self._data["speakers"] = data["speakers"]
            self._stamp = stamp
        return self._data["speakers"]

    def speakers(self) -> dict[str, str]:
        """Paired speakers: id -> name."""
        return {speaker_id: str(entry.get("name", "")) for speaker_id, entry in self._fresh().items() if isinstance(entry, dict)}

    def remove(self, name_or_id: str) -> list[str]:
        """Forget the speakers with this name or id; their names (empty when none matched)."""
        wanted = name_or_id.strip().lower()
        gone = [speaker_id for speaker_id, name in self.speakers().items() if wanted in (speaker_id.lower(), name.lower())]
        names = [self.speakers()[speaker_id] or speaker_id for speaker_id in gone]
        for speaker_id in gone:
            del self._data["speakers"][speaker_id]
        if gone:
            _write_json(self.path, self._data)
            self._stamp = _stamp(self.path)
        return names

    @property
    def companion_id(self) -> str:
        return self._data["companion_id"]

    @property
    def view_key(self) -> str:
        """What a page on another machine shows to get cards (the `#key=` of the screen link)."""
        return self._data["view_key"]

    def add(self, speaker_id: str, speaker_name: str) -> str:
        token = secrets.token_urlsafe(32)
        self._fresh()  # a pairing removed on disk meanwhile stays removed
        self._data["speakers"][speaker_id] = {
            "name": speaker_name, "token_sha256": _digest(token), "paired_at": int(time.time()),
        }
        _write_json(self.path, self._data)
        self._stamp = _stamp(self.path)
        return token

    def key_for(self, speaker_id: str) -> bytes | None:
        """The pairing key shared with the speaker `speaker_id`, or None when it is not paired."""
        entry = self._fresh().get(speaker_id)
        digest = entry.get("token_sha256") if isinstance(entry, dict) else None
        if not isinstance(digest, str) or len(digest) != 64:
            return None
        try:
            return bytes.fromhex(digest)
        except ValueError:
            return None

    def name_of(self, speaker_id: str) -> str:
        entry = self._fresh().get(speaker_id)
        return str(entry.get("name", "")) if isinstance(entry, dict) else ""

    def speaker_for(self, token: str) -> str | None:
        """The name of the paired speaker holding `token`, or None."""
        digest = _digest(token).encode()
        for entry in self._data["speakers"].values():
            if hmac.compare_digest(digest, str(entry.get("token_sha256", "")).encode()):
                return str(entry.get("name", ""))
        return None

    def __len__(self) -> int:
        return len(self._fresh())


class ScreenTokens:
    """The speaker's side: its own stable id and one token per paired companion id."""

    def __init__(self, state_dir: str):
        self.path = state_path(state_dir) / SPEAKER_FILE
        self._data = _read_json(self.path)
        if not isinstance(self._data.get("speaker_id"), str) or not isinstance(self._data.get("screens"), dict):
            self._data = {"speaker_id": uuid.uuid4().hex, "screens": self._data.get("screens", {}) or {}}
            _write_json(self.path, self._data)

    @property
    def speaker_id(self) -> str:
        return self._data["speaker_id"]

    def token_for(self, companion_id: str) -> str | None:
        entry = self._data["screens"].get(companion_id)
        return entry.get("token") if isinstance(entry, dict) else None

    def key_for(self, companion_id: str) -> bytes:
        """The pairing key shared with the companion `companion_id`; b"" when not paired."""
        token = self.token_for(companion_id)
        return pairing_key(token) if isinstance(token, str) and token else b""

    def confirm(self, screen_id: str, name: str, kind: str) -> None:
        """The user allowed casting to a screen that has no pairing code (a Chromecast)."""
        self._data["screens"][screen_id] = {"name": name, "kind": kind, "confirmed_at": int(time.time())}
        _write_json(self.path, self._data)

    def confirmed(self, screen_id: str) -> bool:
        entry = self._data["screens"].get(screen_id)
        return isinstance(entry, dict) and "confirmed_at" in entry

    def save(self, companion_id: str, name: str, token: str) -> None:
        self._data["screens"][companion_id] = {"name": name, "token": token, "paired_at": int(time.time())}
        _write_json(self.path, self._data)

    def forget(self, name_or_id: str) -> list[str]:
        """Forget the screens with this name or id (their tokens and confirmations); their names."""
        wanted = name_or_id.strip().lower()
        gone = [screen_id for screen_id, entry in self._data["screens"].items()
                if wanted == screen_id.lower() or (isinstance(entry, dict) and wanted == str(entry.get("name", "")).lower())]
        names = [str(self._data["screens"][screen_id].get("name", screen_id)) for screen_id in gone]
        for screen_id in gone:
            del self._data["screens"][screen_id]
        if gone:
            _write_json(self.path, self._data)
        return names

    def paired_ids(self) -> set[str]:
        return set(self._data["screens"])
