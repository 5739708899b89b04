import dataclasses

import pytest

from edge.core.settings import Settings, SettingsError, load_settings


def test_defaults_without_any_source():
    settings = load_settings(environ={})
    assert settings == Settings()
    assert settings.audio.sample_rate == 16000


def test_precedence_file_then_environment_then_overrides(tmp_path):
    config = tmp_path / "edge.toml"
    config.write_text('[asr]\nbeam_size = 3\ncompute_type = "int8_float32"\n[nlu]\noos_threshold = 0.4\n')
    settings = load_settings(config, environ={"EDGE_ASR__BEAM_SIZE": "4"}, overrides={"nlu.oos_threshold": "0.6"})
    assert settings.asr.beam_size == 4
    assert settings.asr.compute_type == "int8_float32"
    assert settings.nlu.oos_threshold == 0.6


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        load_settings(environ={}).asr.beam_size = 2


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"overrides": {"asr.beem_size": 2}}, "unknown setting asr.beem_size"),
        ({"overrides": {"sound.rate": 2}}, r"unknown settings section \[sound\]"),
        ({"overrides": {"asr.beam_size": "many"}}, "asr.beam_size must be of type int"),
        ({"overrides": {"beam_size": 2}}, "section.field"),
        ({"environ": {"EDGE_AUDIO__SAMPLE_RATE": "fast"}}, "audio.sample_rate"),
    ],
)
def test_bad_values_name_the_setting(kwargs, message):
    kwargs.setdefault("environ", {})
    with pytest.raises(SettingsError, match=message):
        load_settings(**kwargs)


def test_bad_toml_names_the_file(tmp_path):
    config = tmp_path / "edge.toml"
    config.write_text("[asr\n")
    with pytest.raises(SettingsError, match="edge.toml is not valid TOML"):
        load_settings(config, environ={})
