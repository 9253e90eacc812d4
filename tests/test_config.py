"""The config schema fills defaults and rejects bad configs naming the key."""

from __future__ import annotations

import json

import pytest
import yaml

from rwsr.config import ConfigError, load_config, stage_settings, validate_config


def test_default_config_file_is_valid_and_complete(repo):
    config = load_config(repo / "config.yaml")
    assert config["scale"] in (2, 4)
    assert config["data"]["hr"] == "demo"
    assert config["data"]["demo"]["jpeg_quality"] == [70, 90]


def test_defaults_are_filled_for_missing_sections():
    config = validate_config({})
    assert config["seed"] == 0 and config["device"] == "auto" and config["scale"] == 4
    assert config["data"]["demo"]["noise_sigma"] == pytest.approx(0.03)


def test_every_config_yaml_key_is_commented(repo):
    """Each key has an inline comment or sits in a run of sibling keys headed by a comment."""
    lines = (repo / "config.yaml").read_text().splitlines()

    def indent(line: str) -> int:
        return len(line) - len(line.lstrip())

    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped.endswith(":") or "#" in line:
            continue  # comments, blank lines, section headers and inline-commented keys
        above = index - 1
        while above >= 0 and lines[above].strip() and not lines[above].strip().startswith("#") \
                and indent(lines[above]) == indent(line) and not lines[above].strip().endswith(":"):
            above -= 1  # climb over sibling keys of the same group
        assert above >= 0 and lines[above].strip().startswith("#"), f"config.yaml line {index + 1} has no comment: {line!r}"


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"scale": 3}, "scale"),
        ({"scale": "4"}, "scale"),
        ({"seed": -1}, "seed"),
        ({"device": "tpu"}, "device"),
        ({"data": {"min_lr_side": 2}}, "data.min_lr_side"),
        ({"data": {"demo": {"noise_sigma": 2.0}}}, "data.demo.noise_sigma"),
        ({"data": {"demo": {"jpeg_quality": [70]}}}, "data.demo.jpeg_quality"),
        ({"data": {"hr": 5}}, "data.hr"),
    ],
)
def test_bad_values_are_rejected_naming_the_key(config, key):
    with pytest.raises(ConfigError, match=f"'{key}'"):
        validate_config(config)


def test_unknown_keys_are_rejected_with_their_full_path():
    with pytest.raises(ConfigError, match=r"data\.demo\.nosie_sigma"):
        validate_config({"data": {"demo": {"nosie_sigma": 0.1}}})
    with pytest.raises(ConfigError, match="unknown config key.*epochs"):
        validate_config({"epochs": 3})


def test_validation_does_not_change_the_input():
    raw = {"data": {}}
    validate_config(raw)
    assert raw == {"data": {}}


def test_inline_json_and_file_give_the_same_config(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"scale": 2, "data": {"hr": "/x"}}))
    assert load_config(path) == load_config(json.dumps({"scale": 2, "data": {"hr": "/x"}}))


def test_missing_config_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_stage_settings_carry_only_the_named_sections():
    config = validate_config({})
    settings = json.loads(stage_settings(config, "data"))
    assert set(settings) == {"seed", "device", "scale", "data"}
    assert load_config(stage_settings(config, "data")) == config


def test_degrader_source_must_match_the_pairs_blur():
    with pytest.raises(ConfigError, match=r"'pairs.kernel' \(bicubic\) and 'degrader.source' \(kernel\)"):
        load_config({"pairs": {"kernel": "bicubic"}})
    assert load_config({"pairs": {"kernel": "bicubic"}, "degrader": {"source": "bicubic"}})["degrader"]["source"] == "bicubic"
    assert load_config({"pairs": {"kernel": "bicubic", "noise": "none"}})  # no degrader, nothing to agree on
