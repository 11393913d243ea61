"""Settings come from config files; the command line overrides them explicitly.

``knbc train``, ``knbc train-generator`` and ``knbc evaluate`` each read a config file (models/configs/)
and take overrides as dotted keys of it (``--set training.max_epochs=3``, or a flag such as
``--max-epochs 3`` that names one key). Values are parsed as spaCy parses its own config overrides
(JSON: ``-0.5`` is a float, ``true`` a bool, anything else text). A key that names no setting is a
:class:`~pipeline.errors.UsageError` naming it. What was resolved, and which keys the command line set,
is what a trainer records in ``metrics.json`` (:func:`provenance`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from confection import Config, ConfigValidationError
from spacy.cli._util import parse_config_overrides

from pipeline.errors import UsageError


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``{dotted key: typed value}`` of ``--set KEY=VALUE`` items (spaCy's override parsing)."""
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise UsageError(f"--set takes SECTION.KEY=VALUE (e.g. training.max_epochs=3), not {item!r}")
        overrides.update(parse_config_overrides([f"--{key}={value}"], env_var=None))
    return overrides


def flag_overrides(flags: Mapping[str, Any], keys: Mapping[str, str]) -> dict[str, Any]:
    """``{keys[flag]: value}`` of the flags the user passed (those that are not None)."""
    return {keys[name]: value for name, value in flags.items() if value is not None}


def lookup(config: Mapping, key: str) -> Any:
    """The value at dotted ``key`` of ``config``; ``KeyError`` naming ``key`` when there is none."""
    value: Any = config
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise KeyError(key)
        value = value[part]
    return value


def read_config(path: str | Path, overrides: Mapping[str, Any] | None = None,
                known: Callable[[Config, str], bool] | None = None) -> Config:
    """The config at ``path`` (variables interpolated) with ``overrides`` applied.

    ``known(config, key)`` says whether an override names a setting (default: a key the file has).
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no such config file: {path}")
    try:
        config = Config().from_disk(path)
    except ConfigValidationError as err:
        raise UsageError(f"{path}: not a valid config file: {err.title or err}") from None
    known = known or has_key
    unknown = [key for key in overrides or {} if not known(config, key)]
    if unknown:
        raise UsageError(f"unknown setting {unknown[0]!r}: {path} has no such key")
    for key, value in (overrides or {}).items():
        *sections, name = key.split(".")
        lookup(config, ".".join(sections))[name] = value
    return config


def has_key(config: Config, key: str) -> bool:
    try:
        lookup(config, key)
    except KeyError:
        return False
    return True


def checked_dataclass(cls: type, values: Mapping[str, Any], section: str, keys: Mapping[str, str] | None = None):
    """``cls(**values)``, a :class:`UsageError` naming the setting (``keys[name]``, else ``section.name``)
    for a name ``cls`` has no field for or a value of another type than the field's default (an int is
    a float too)."""
    defaults = {f.name: f.default for f in fields(cls)}
    for name, value in values.items():
        key = (keys or {}).get(name, f"{section}.{name}")
        if name not in defaults:
            raise UsageError(f"unknown setting {key!r}; {section} takes {sorted(defaults)}")
        default = defaults[name]
        if isinstance(default, bool) or isinstance(value, bool):
            ok = isinstance(value, bool) and isinstance(default, bool)
        elif isinstance(default, (int, float)):
            ok = isinstance(value, (int, float)) and (isinstance(default, float) or isinstance(value, int))
        else:
            ok = isinstance(value, type(default))
        if not ok:
            kind = "a number" if isinstance(default, (int, float)) and not isinstance(default, bool) else (
                f"a {type(default).__name__}")
            raise UsageError(f"{key}: {value!r} is not {kind}")
    try:
        return cls(**values)
    except ValueError as err:
        raise UsageError(f"{section}: {err}") from None


def provenance(path: str | Path, config: Config, overrides: Mapping[str, Any], keys: Mapping[str, str]) -> dict:
    """What ``metrics.json`` records of a run's settings: the config file, the command line's
    overrides, and where each setting (``keys``: setting -> dotted key) came from: "command line",
    "config", or "default" (a key the file leaves out)."""
    def source(key: str) -> str:
        return "command line" if key in overrides else "config" if has_key(config, key) else "default"

    return {
        "config": str(path),
        "overrides": dict(overrides),
        "settings_from": {name: source(key) for name, key in keys.items()},
    }
