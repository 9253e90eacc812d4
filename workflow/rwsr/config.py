"""Load and validate the pipeline config against workflow/schemas/config.schema.yaml.

The Snakefile and every `rwsr` subcommand go through `load_config`, so a job run by
Snakemake and the same command typed by hand see the same effective settings.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import jsonschema
import yaml

from rwsr.errors import InputError

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"
Settings = TypeVar("Settings", bound="StageSettings")


class ConfigError(InputError):
    """An invalid config; the message names the offending key."""


@cache
def load_schema() -> dict[str, Any]:
    if not SCHEMA_PATH.is_file():
        raise ConfigError(
            f"config schema not found at {SCHEMA_PATH}; install rwsr from its checkout with `pip install -e .`"
        )
    return yaml.safe_load(SCHEMA_PATH.read_text())


def _fill_defaults(validator_class: type) -> type:
    """A validator that writes each property's default into the instance before checking it,
    so nested sections with `default: {}` get their own defaults filled too."""
    check_properties = validator_class.VALIDATORS["properties"]

    def properties(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from check_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": properties})


_Validator = _fill_defaults(jsonschema.Draft202012Validator)


def key_path(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(part) for part in error.absolute_path)
    return path or "<top level>"


def coerce_numbers(instance: Any, schema: Mapping[str, Any]) -> Any:
    """`instance` with the strings that spell a number turned into numbers where the schema asks
    for one: YAML 1.1 (PyYAML, Snakemake's --configfile) reads `1e-4` (no dot) as a string, and
    Snakemake's `--config sr='{batch: 4}'` leaves nested values as strings. Other values, and
    strings that are not numbers, pass unchanged (validation then names them)."""
    if isinstance(instance, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        return {key: coerce_numbers(value, properties.get(key, extra if isinstance(extra, dict) else {}))
                for key, value in instance.items()}  # fmt: skip
    if isinstance(instance, list):
        return [coerce_numbers(value, schema.get("items", {})) for value in instance]
    if isinstance(instance, str):
        types = schema.get("type", [])
        types = {types} if isinstance(types, str) else set(types)
        if types & {"number", "integer"}:
            number = _number(instance.strip(), integer="number" not in types)
            return instance if number is None else number
    return instance


def _number(text: str, integer: bool) -> int | float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value) or text.lower().lstrip("+-").startswith(("nan", "inf")):
        return None
    if value.is_integer() and (integer or not any(c in text for c in ".eE")):
        return int(value)
    return None if integer else value


def validate_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Return a validated deep copy of `config` with every default filled in (and numbers given as
    strings converted where the schema asks for a number, see `coerce_numbers`)."""
    instance = coerce_numbers(copy.deepcopy(dict(config)), load_schema())
    errors = sorted(_Validator(load_schema()).iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for error in errors:
            if error.validator == "additionalProperties":
                unknown = sorted(set(error.instance) - set(error.schema.get("properties", {})))
                where = key_path(error)
                prefix = "" if where == "<top level>" else where + "."
                lines.append(f"unknown config key(s): {', '.join(prefix + k for k in unknown)}")
            else:
                lines.append(f"config key '{key_path(error)}': {error.message}")
        raise ConfigError("invalid config:\n  " + "\n  ".join(lines))
    check_consistency(instance)
    return instance


# pairs.kernel -> the degrader.source whose input domain it produces.
DEGRADER_SOURCE_FOR_KERNEL = {"pool": "kernel", "bicubic": "bicubic"}


def check_consistency(config: Mapping[str, Any]) -> None:
    """Rules across sections that the schema cannot express."""
    pairs, degrader = config.get("pairs", {}), config.get("degrader", {})
    if pairs.get("noise") == "dsgan" and "kernel" in pairs and "source" in degrader:
        expected = DEGRADER_SOURCE_FOR_KERNEL[pairs["kernel"]]
        if degrader["source"] != expected:
            raise ConfigError(
                f"invalid config:\n  config keys 'pairs.kernel' ({pairs['kernel']}) and 'degrader.source' "
                f"({degrader['source']}) disagree: the degrader must learn on the kind of LR it will degrade; "
                f"set degrader.source to {expected}, or pairs.kernel to "
                f"{'bicubic' if pairs['kernel'] == 'pool' else 'pool'}"
            )
    if degrader.get("generator_residual") == "noise" and degrader.get("generator_skip") is False:
        raise ConfigError(
            "invalid config:\n  config key 'degrader.generator_residual' is noise, which adds noise to the input, "
            "but 'degrader.generator_skip' is false (the output is then the network's alone); set generator_skip "
            "to true, or generator_residual to full"
        )


def load_config(source: str | Path | Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Validate a config given as a mapping, a YAML/JSON file path or inline JSON text
    (the form Snakemake rules pass through `params:`); None gives the defaults."""
    if source is None:
        raw: Any = {}
    elif isinstance(source, Mapping):
        raw = source
    else:
        text = str(source)
        if text.lstrip().startswith("{"):
            try:
                raw = json.loads(text)
            except json.JSONDecodeError as exc:
                shown = text if len(text) <= 200 else text[:200] + "..."
                raise ConfigError(f"inline config is not valid JSON ({exc.msg} at character {exc.pos + 1}): {shown}") from exc
        else:
            path = Path(text)
            if not path.is_file():
                raise ConfigError(f"config file not found: {path}")
            try:
                raw = yaml.safe_load(path.read_text()) or {}
            except yaml.YAMLError as exc:
                raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, Mapping):
        raise ConfigError(f"config must be a mapping of keys, got {type(raw).__name__}")
    return validate_config(raw)


def stage_settings(config: Mapping[str, Any], *sections: str) -> str:
    """The part of the config a stage reads, as canonical JSON for a rule's `params:`.

    Seed, device and scale shape every stage's output, so they always travel along;
    a change to any other section leaves the stage's params, and so its outputs, alone.
    """
    keys = ("seed", "device", "scale", *sections)
    return json.dumps({key: config[key] for key in keys}, sort_keys=True)


# The kernels-section keys the spectral estimator reads, and those only it reads: KernelGAN reads
# every key but SPECTRAL_ONLY_KEYS.
SPECTRAL_KERNEL_KEYS = ("estimator", "spectral_tile")
SPECTRAL_ONLY_KEYS = ("spectral_tile",)


def kernel_stage_settings(config: Mapping[str, Any]) -> str:
    """stage_settings for the kernels stage, holding only the configured estimator's keys: a
    KernelGAN key changed while the spectral estimator runs (or spectral_tile under KernelGAN)
    re-runs no kernels, and so no pairs or trainings downstream."""
    section = config["kernels"]
    if section["estimator"] == "spectral":
        kept = {key: section[key] for key in SPECTRAL_KERNEL_KEYS}
    else:
        kept = {key: value for key, value in section.items() if key not in SPECTRAL_ONLY_KEYS}
    return stage_settings({**config, "kernels": kept}, "kernels")


class StageSettings:
    """Base of a training stage's frozen settings dataclass: one field per key of the config
    section `SECTION`, plus the top-level keys named in `TOP_LEVEL_KEYS`, and no defaults.

    The schema holds the only defaults (and documents them); a second copy in the dataclass would
    drift. A new setting is a schema entry and a field, nothing else: `from_config` passes every
    key, so a key without a field, or a field without a key, fails at once (tests/test_config.py
    checks all three stages).
    """

    SECTION: ClassVar[str]
    TOP_LEVEL_KEYS: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_config(cls: type[Settings], config: Mapping[str, Any] | None = None, **overrides: Any) -> Settings:
        """The settings of a validated config (None: the schema defaults), with `overrides` (keys of
        the section, in config form: lists, not tuples) validated like the config. This is how the
        CLI, tests and benches all get settings: `SRSettings.from_config(load_config(path), model=m)`.
        Lists become tuples, the fields' types (a frozen dataclass should not hold lists)."""
        config = load_config(None) if config is None else config
        if overrides:
            config = validate_config({**config, cls.SECTION: {**config[cls.SECTION], **overrides}})
        values = {key: tuple(value) if isinstance(value, list) else value for key, value in config[cls.SECTION].items()}
        return cls(**values, **{key: config[key] for key in cls.TOP_LEVEL_KEYS})
