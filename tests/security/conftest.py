"""Shared pieces of the security tests: everything listens on loopback only."""

import pytest


@pytest.fixture(scope="session")
def bridge_engine(tmp_path_factory):
    """The real pipeline behind a TurnEngine, loaded once; each test starts its own WyomingServer on it."""
    from helpers.bridge_server import FIXED_NOW

    from edge.core.settings import load_settings
    from edge.runtime.turn import Turn
    from firmware_bridge.engine import TurnEngine

    database = tmp_path_factory.mktemp("skills") / "edge.sqlite3"
    settings = load_settings(environ={}, overrides={"skills.database_path": str(database), "skills.timezone": "UTC"})
    pipeline = Turn.load(settings, clock=lambda: FIXED_NOW)
    engine = TurnEngine(pipeline, workers=1, max_pending=32)
    yield settings, engine
    engine.close()
    pipeline.close()
