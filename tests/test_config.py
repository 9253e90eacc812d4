"""The config schema fills defaults and rejects bad configs naming the key."""

from __future__ import annotations

import dataclasses
import json
import subprocess

import pytest
import yaml

from rwsr.config import ConfigError, load_config, load_schema, stage_settings, validate_config


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
        ({"scale": "four"}, "scale"),
        ({"scale": "4.5"}, "scale"),
        ({"sr": {"min_lr": "nan"}}, "sr.min_lr"),
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


def test_numbers_given_as_strings_become_numbers_where_the_schema_asks_for_one():
    """YAML 1.1 reads 1e-4 (no dot) as a string, and snakemake --config 'sr={batch: 4}' passes nested
    values as strings: both are numbers wherever the schema wants a number."""
    config = validate_config({"scale": "4", "seed": " 7 ", "sr": {"batch": "4", "psnr_lr": "1e-4", "min_lr": "1e-07",
                              "psnr_milestones": ["10", 20]}, "degrader": {"lr": "2E-4"}, "data": {"hr": "123"}})  # fmt: skip
    assert config["scale"] == 4 and config["seed"] == 7 and config["sr"]["batch"] == 4
    assert config["sr"]["psnr_lr"] == 1e-4 and config["sr"]["min_lr"] == 1e-7 and config["degrader"]["lr"] == 2e-4
    assert config["sr"]["psnr_milestones"] == [10, 20]
    assert config["data"]["hr"] == "123"  # a folder name stays a string


def test_a_yaml_1_1_file_and_a_json_file_with_exponents_load(tmp_path):
    (tmp_path / "c.yaml").write_text("sr:\n  psnr_lr: 1e-4\n  min_lr: 1e-07\n")
    (tmp_path / "c.json").write_text('{"sr": {"psnr_lr": 1e-4, "min_lr": 1e-07}}')
    for name in ("c.yaml", "c.json"):
        config = load_config(tmp_path / name)
        assert config["sr"]["psnr_lr"] == 1e-4 and config["sr"]["min_lr"] == 1e-7


def test_bad_inline_json_is_a_config_error_showing_the_text():
    with pytest.raises(ConfigError, match=r"inline config is not valid JSON .*\{sr: \{batch: 4\}\}"):
        load_config("{sr: {batch: 4}}")


def test_snakemake_overrides_with_nested_numbers_and_exponents(tmp_path):
    """The README's override example, nested numbers and a JSON config file with 1e-07, in a dry run."""
    from conftest import REPO, workflow_env

    (tmp_path / "c.json").write_text('{"sr": {"min_lr": 1e-07, "psnr_lr": 1e-4}}')
    command = ["snakemake", "-s", str(REPO / "Snakefile"), "-n", "results/fid.csv", "--configfile",
               str(REPO / "config.yaml"), str(tmp_path / "c.json"), "--config", "sr={batch: 4, pixel_weight: 1e-2}",
               "pairs={noise: patches}"]  # fmt: skip
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300, env=workflow_env())
    assert result.returncode == 0, result.stderr[-3000:]
    assert "sr_train" in result.stdout


def test_degrader_source_must_match_the_pairs_blur():
    with pytest.raises(ConfigError, match=r"'pairs.kernel' \(bicubic\) and 'degrader.source' \(kernel\)"):
        load_config({"pairs": {"kernel": "bicubic"}})
    assert load_config({"pairs": {"kernel": "bicubic"}, "degrader": {"source": "bicubic"}})["degrader"]["source"] == "bicubic"
    assert load_config({"pairs": {"kernel": "bicubic", "noise": "none"}})  # no degrader, nothing to agree on



# --- stage settings: the schema holds the only defaults ---


def stage_settings_classes() -> list[type]:
    from rwsr.degrader.train import DegraderSettings
    from rwsr.kernels.train import KernelGANSettings
    from rwsr.sr.train import SRSettings

    return [KernelGANSettings, DegraderSettings, SRSettings]


def schema_section(section: str) -> dict:
    return load_schema()["properties"][section]["properties"]


@pytest.mark.parametrize("settings_class", stage_settings_classes(), ids=lambda cls: cls.__name__)
def test_each_stage_settings_field_is_a_schema_key_without_a_default_of_its_own(settings_class):
    """Every key of the stage's schema section (and each top-level key it names) is a field, every
    field is one of those keys, and no field carries a default: the schema's are the only ones."""
    fields = {field.name: field for field in dataclasses.fields(settings_class)}
    assert set(settings_class.TOP_LEVEL_KEYS) <= set(load_schema()["properties"]), settings_class.TOP_LEVEL_KEYS
    assert set(fields) == set(schema_section(settings_class.SECTION)) | set(settings_class.TOP_LEVEL_KEYS)
    with_defaults = [name for name, field in fields.items()
                     if field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING]  # fmt: skip
    assert with_defaults == []


@pytest.mark.parametrize("settings_class", stage_settings_classes(), ids=lambda cls: cls.__name__)
def test_stage_settings_take_the_schema_defaults_and_validated_overrides(settings_class):
    config, settings = load_config(None), settings_class.from_config()
    for key, value in config[settings_class.SECTION].items():
        assert getattr(settings, key) == (tuple(value) if isinstance(value, list) else value), key
    for key in settings_class.TOP_LEVEL_KEYS:
        assert getattr(settings, key) == config[key]
    key = next(name for name, spec in schema_section(settings_class.SECTION).items() if spec.get("type") == "integer")
    assert getattr(settings_class.from_config(config, **{key: 1000}), key) == 1000
    with pytest.raises(ConfigError, match=f"{settings_class.SECTION}.{key}"):
        settings_class.from_config(config, **{key: "many"})


def test_the_losses_read_only_sr_settings_fields():
    from rwsr.sr import LOSS_KEYS
    from rwsr.sr.train import SRSettings

    fields = {field.name for field in dataclasses.fields(SRSettings)}
    assert {key for keys in LOSS_KEYS.values() for key in keys} <= fields
