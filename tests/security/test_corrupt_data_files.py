"""A corrupt privacy ledger or training log never stops the speaker: it is moved aside (never written
over) and a fresh one is started; every data file is created readable by its owner only."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from helpers.processes import STARTUP_SECONDS

from edge.escalation.flywheel import Flywheel
from edge.escalation.ledger import PrivacyLedger
from edge.skills.store import SkillStore

ROOT = Path(__file__).resolve().parents[2]
GARBAGE = b"this is not a database, it is a file a power cut left half written" * 100


def test_corrupt_ledger_moved_aside_and_runtime_starts(tmp_path):
    for name in ("privacy.sqlite3", "flywheel.sqlite3"):
        (tmp_path / name).write_bytes(GARBAGE)
    env = {**os.environ, "HOME": str(tmp_path), "EDGE_SKILLS__DATABASE_PATH": str(tmp_path / "edge.sqlite3"),
           "EDGE_SKILLS__ENTRY_POINTS": "false", "EDGE_CAST__ENABLED": "false"}
    result = subprocess.run([sys.executable, "-m", "edge", "ask", "what is two plus two"], capture_output=True,
                            text=True, timeout=STARTUP_SECONDS, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "4" in result.stdout
    for name in ("privacy.sqlite3", "flywheel.sqlite3"):
        (backup,) = tmp_path.glob(f"{name}.corrupt-*")
        assert backup.read_bytes() == GARBAGE  # kept as it was, byte for byte
        assert (tmp_path / name).read_bytes()[:16] == b"SQLite format 3\x00"  # a fresh one in its place


def test_a_corrupt_ledger_opened_in_process_says_where_it_went(tmp_path):
    path = tmp_path / "privacy.sqlite3"
    path.write_bytes(GARBAGE)
    ledger = PrivacyLedger(path)
    try:
        assert ledger.recovered_from is not None and Path(ledger.recovered_from).read_bytes() == GARBAGE
        assert ledger.count() == 0
    finally:
        ledger.close()


def test_data_files_are_private(tmp_path):
    stores = [SkillStore(tmp_path / "edge.sqlite3"), PrivacyLedger(tmp_path / "privacy.sqlite3"),
              Flywheel(tmp_path / "flywheel.sqlite3")]
    try:
        for name in ("edge.sqlite3", "privacy.sqlite3", "flywheel.sqlite3"):
            mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
            assert mode & 0o077 == 0, f"{name} is {oct(mode)}: others can read what people said"
    finally:
        for store in stores:
            store.close()
