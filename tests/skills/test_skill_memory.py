"""Memory in SQLite: facts, lists, reminders survive a restart and a crash; a corrupt file is backed up."""

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from helpers.processes import STARTUP_SECONDS

from edge.skills.memory import Memory, fact_key
from edge.skills.store import SkillStore, StoreError

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_facts_lists_reminders_and_state(tmp_path):
    with SkillStore(tmp_path / "edge.sqlite3") as store:
        memory = Memory(store)
        memory.remember("ann", "My Home-City", "shanghai", NOW)
        memory.remember("ann", "home city", "beijing", NOW)  # an update, not a second fact
        memory.remember("bob", "home city", "london", NOW)
        assert memory.fact("ann", "home city") == "beijing" and memory.facts("bob") == {"home city": "london"}
        assert memory.knows("home city") and not memory.knows("dentist")
        assert memory.forget("ann", "home city") and not memory.forget("ann", "home city")
        assert memory.add_item("ann", "shopping", "milk") and not memory.add_item("ann", "shopping", "Milk")
        memory.add_item("ann", "shopping", "eggs")
        assert memory.items("ann", "shopping") == ["milk", "eggs"] and memory.items("bob", "shopping") == []
        assert memory.remove_item("ann", "shopping", "MILK") and memory.items("ann", "shopping") == ["eggs"]
        later = memory.add_reminder("ann", "call mom", NOW + timedelta(hours=2), NOW)
        sooner = memory.add_reminder("bob", "bins", NOW + timedelta(hours=1), NOW)
        assert [item.id for item in memory.reminders()] == [sooner.id, later.id]
        assert [item.text for item in memory.reminders("ann")] == ["call mom"]
        memory.set_state("volume", "7")
        assert memory.state("volume") == "7" and memory.state("missing", "5") == "5"
        assert store.journal_mode() == "wal"
    assert fact_key("the Wifi  Password") == "wifi password"


def test_memory_survives_a_killed_process(tmp_path):
    """A process killed with SIGKILL right after answering keeps what it wrote (one commit per change)."""
    database = tmp_path / "edge.sqlite3"
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {ROOT!r})
        from edge.skills.store import SkillStore
        from edge.skills.memory import Memory
        memory = Memory(SkillStore({str(database)!r}))
        memory.remember("default", "home city", "shanghai")
        memory.add_item("default", "shopping", "milk")
        print("written", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=STARTUP_SECONDS)
    assert result.returncode == -signal.SIGKILL and result.stdout == "written\n"
    assert (tmp_path / "edge.sqlite3-wal").exists()  # the WAL was never checkpointed by a clean close
    with SkillStore(database) as store:
        memory = Memory(store)
        assert memory.fact("default", "home city") == "shanghai"
        assert memory.items("default", "shopping") == ["milk"]


def test_a_corrupt_database_is_backed_up_never_overwritten(tmp_path, caplog):
    database = tmp_path / "edge.sqlite3"
    garbage = b"this is not a database, but it may be somebody's only copy of something\n" * 100
    database.write_bytes(garbage)
    with caplog.at_level(logging.ERROR, logger="edge.core.storage"):
        store = SkillStore(database)
    try:
        backup = store.recovered_from
        assert backup is not None and backup.startswith(str(database) + ".corrupt-")
        assert open(backup, "rb").read() == garbage  # kept byte for byte
        assert "is corrupt" in caplog.text and backup in caplog.text
        Memory(store).remember("default", "home city", "shanghai")
    finally:
        store.close()
    with SkillStore(database) as reopened:
        assert reopened.recovered_from is None
        assert Memory(reopened).fact("default", "home city") == "shanghai"


def test_a_damaged_page_is_detected(tmp_path):
    database = tmp_path / "edge.sqlite3"
    with SkillStore(database) as store:
        memory = Memory(store)
        for number in range(300):
            memory.add_item("default", "shopping", f"item number {number} " + "x" * 100)
    connection = sqlite3.connect(database)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    data = bytearray(database.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    data[page_size * 2 : page_size * 2 + 64] = b"\xff" * 64  # scribble over an interior page
    database.write_bytes(bytes(data))
    store = SkillStore(database)
    try:
        assert store.recovered_from is not None
    finally:
        store.close()


def test_refusing_to_replace_a_corrupt_database(tmp_path):
    database = tmp_path / "edge.sqlite3"
    database.write_bytes(b"garbage" * 1000)
    with pytest.raises(StoreError, match="is corrupt .*move it away"):
        SkillStore(database, back_up_corrupt=False)
    assert database.read_bytes() == b"garbage" * 1000
