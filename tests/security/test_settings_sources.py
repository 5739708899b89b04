"""Where settings and secrets may come from (low-severity list): no settings file picked up from the
working directory unasked, and secrets only from variables named for them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.processes import STARTUP_SECONDS

from edge.core.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_a_settings_file_in_the_working_directory_is_not_read_unasked(tmp_path):
    planted = tmp_path / "planted-state"
    planted.mkdir()
    (planted / "paired-speakers.json").write_text(json.dumps(
        {"companion_id": "x" * 32, "view_key": "k" * 24, "speakers": {"evil": {"name": "Planted speaker"}}}))
    workdir = tmp_path / "downloaded-project"
    workdir.mkdir()
    (workdir / "edge.toml").write_text(f'[cast]\nstate_dir = "{planted}"\n')
    home = tmp_path / "home"
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(home)}
    environment.pop("EDGE_CONFIG", None)

    def speakers(*extra):
        return subprocess.run([sys.executable, "-m", "edge", "cast", "companion", "--speakers", *extra], cwd=workdir,
                              env=environment, capture_output=True, text=True, timeout=STARTUP_SECONDS)

    unasked = speakers()
    assert unasked.returncode == 0, unasked.stderr
    assert "Planted speaker" not in unasked.stdout
    assert "edge.toml" in unasked.stderr and "--config" in unasked.stderr  # said why, once
    asked = speakers("--config", "edge.toml")
    assert "Planted speaker" in asked.stdout  # named on purpose, it is read


@pytest.mark.parametrize("setting", ["llm.api_key_env", "home.ha_token_env", "home.mqtt_password_env", "bridge.secret_env"])
def test_secrets_come_only_from_variables_named_for_edge(setting):
    with pytest.raises(SettingsError, match="EDGE_"):
        load_settings(environ={}, overrides={setting: "AWS_SECRET_ACCESS_KEY"})
    assert load_settings(environ={}, overrides={setting: "EDGE_MY_KEY"})
    assert load_settings(environ={}, overrides={setting: ""})  # none at all is fine
