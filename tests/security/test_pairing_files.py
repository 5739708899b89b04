"""Pairing state on disk: a broken file is one clear line, and a pairing can be revoked (low-severity list)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from helpers.cast_helpers import LOOPBACK, CompanionThread, cast_deps, unique
from helpers.processes import STARTUP_SECONDS

from edge.core.events import Card
from edge.core.settings import CastSettings

cast_deps()

ROOT = Path(__file__).resolve().parents[2]


def edge(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True, cwd=cwd,
                          env=environment, timeout=STARTUP_SECONDS)


def test_a_broken_pairing_file_is_one_line_not_a_traceback(tmp_path):
    (tmp_path / "paired-speakers.json").write_text("{not json")
    (tmp_path / "screens.json").write_text("[]")
    companion = edge("cast", "companion", "--interface", LOOPBACK, "--port", "0", "--state-dir", str(tmp_path))
    pair = edge("cast", "pair", "kitchen tv", "123456", "--interface", LOOPBACK, "--state-dir", str(tmp_path), "--wait", "0.1")
    for result in (companion, pair):
        assert result.returncode == 1, result
        assert "Traceback" not in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and ".json" in result.stderr and "pair" in result.stderr


def test_unpair_revokes_a_companion_pairing(tmp_path):
    from edge.cast.caster import CardCaster

    name = unique("Office screen")
    screen_dir, speaker_dir = tmp_path / "screen", tmp_path / "speaker"
    companion = CompanionThread(CastSettings(interface=LOOPBACK, port=0, name=name, state_dir=str(screen_dir),
                                             ack_timeout_seconds=0.1), advertise=True)
    speaker = CastSettings(interface=LOOPBACK, state_dir=str(speaker_dir), browse_chromecast=False,
                           fallback_to_other_screens=False)
    try:
        with CardCaster(speaker, speaker_name="Office speaker") as caster:
            caster.pair(name, companion.code(), timeout=10)
            assert caster.cast(Card(title="one"), hint=name).outcome(timeout=10)["status"] == "delivered"
            listed = edge("cast", "companion", "--speakers", "--state-dir", str(screen_dir))
            assert listed.returncode == 0 and "Office speaker" in listed.stdout
            revoked = edge("cast", "companion", "--unpair", "Office speaker", "--state-dir", str(screen_dir))
            assert revoked.returncode == 0, revoked.stderr
            outcome = caster.cast(Card(title="two"), hint=name).outcome(timeout=10)
            assert outcome["status"] == "speech-only", outcome  # the running companion stopped trusting it
            assert [view["title"] for view in companion.companion.hub.history] == ["one"]
        forgotten = edge("cast", "unpair", name, "--state-dir", str(speaker_dir))
        assert forgotten.returncode == 0, forgotten.stderr
        assert json.loads((speaker_dir / "screens.json").read_text())["screens"] == {}
        unknown = edge("cast", "companion", "--unpair", "nobody", "--state-dir", str(screen_dir))
        assert unknown.returncode == 1 and "nobody" in unknown.stderr
    finally:
        companion.stop()


def test_pairing_files_of_the_wrong_shape_are_one_clear_error(tmp_path):
    """Found by `python -m bench.fuzz pairing`: a list where the pairings should be was an AttributeError."""
    import pytest

    from edge.cast.pairing import PairedSpeakers, PairingError, ScreenTokens

    for name, reader, content in [
        ("screens.json", ScreenTokens, '{"speaker_id": "s1", "screens": [1]}'),
        ("paired-speakers.json", PairedSpeakers, '{"companion_id": "c", "speakers": [1]}'),
    ]:
        folder = tmp_path / name
        folder.mkdir()
        (folder / name).write_text(content)
        with pytest.raises(PairingError, match="pair"):
            reader(str(folder))
