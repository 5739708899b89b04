"""What the speaker keeps on disk (low-severity list): training turns expire and can be purged, and
every data file is readable by its owner only."""

import os
import sqlite3
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from helpers.processes import STARTUP_SECONDS

ROOT = Path(__file__).resolve().parents[2]


def _age_rows(path: Path, days: float) -> None:
    old = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="milliseconds")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE examples SET created = ?", (old,))


def test_training_turns_expire_after_the_retention_time(tmp_path):
    from edge.escalation.flywheel import Flywheel

    path = tmp_path / "flywheel.sqlite3"
    log = Flywheel(path)
    log.record_turn("escalated", "why is the sky blue", "qa_factoid", 0.2, "cloud", "low confidence", "Rayleigh")
    log.close()
    _age_rows(path, 100)
    log = Flywheel(path, retention_days=200)
    log.record_turn("low-confidence", "play jazz", "play_music", 0.5, "local", "unsure")
    assert len(log.examples()) == 2
    log.close()
    log = Flywheel(path, retention_days=90)  # the 100-day-old turn goes, the new one stays
    assert [example.text for example in log.examples()] == ["play jazz"]
    log.close()


def test_edge_flywheel_purge_deletes_every_turn(tmp_path):
    from edge.escalation.flywheel import Flywheel

    path = tmp_path / "flywheel.sqlite3"
    log = Flywheel(path)
    for text in ("one", "two", "three"):
        log.record_turn("escalated", text, "qa_factoid", 0.2, "cloud", "low confidence")
    log.close()
    purged = subprocess.run(
        [sys.executable, "-m", "edge", "data", "flywheel", "--purge", "--set", f"router.flywheel_path={path}"],
        capture_output=True, text=True, timeout=STARTUP_SECONDS, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert purged.returncode == 0, purged.stderr
    assert "3" in purged.stdout
    log = Flywheel(path)
    assert log.examples() == []
    log.close()


def test_data_files_are_private(tmp_path):
    from edge.escalation.flywheel import Flywheel
    from edge.escalation.ledger import PrivacyLedger
    from edge.skills.store import SkillStore

    old_umask = os.umask(0o022)  # the usual default: files readable by everyone
    try:
        folder = tmp_path / "data"
        flywheel = Flywheel(folder / "flywheel.sqlite3")
        flywheel.record_turn("escalated", "my phone number is 555 0100", "qa_factoid", 0.2, "cloud", "x")
        ledger = PrivacyLedger(folder / "privacy.sqlite3")
        store = SkillStore(str(folder / "edge.sqlite3"))
        files = sorted(folder.iterdir())
        modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in files}
        folder_mode = stat.S_IMODE(folder.stat().st_mode)
        flywheel.close()
        ledger.close()
        store.close()
    finally:
        os.umask(old_umask)
    assert {"flywheel.sqlite3", "privacy.sqlite3", "edge.sqlite3"} <= set(modes)
    assert all(mode == 0o600 for mode in modes.values()), {name: oct(mode) for name, mode in modes.items()}
    assert folder_mode == 0o700, oct(folder_mode)
