"""docker/compose.yaml as Compose reads it: YAML with merge keys, `${VAR}`, `${VAR:-default}` and
`${VAR:?message}` interpolated from a given environment."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

DOCKER = Path(__file__).resolve().parents[2] / "docker"
_VARIABLE = re.compile(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}")


class MissingVariable(KeyError):
    pass


def interpolate(value: object, environment: dict[str, str]) -> object:
    if isinstance(value, str):

        def replace(found: re.Match[str]) -> str:
            name, kind, argument = found.group(1), found.group(2), found.group(3)
            if environment.get(name):
                return environment[name]
            if kind == ":-":
                return argument or ""
            if kind == ":?":
                raise MissingVariable(f"{name}: {argument}")
            return ""

        return _VARIABLE.sub(replace, value)
    if isinstance(value, dict):
        return {key: interpolate(item, environment) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, environment) for item in value]
    return value


def load_compose(environment: dict[str, str]) -> dict[str, object]:
    raw = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    loaded = interpolate(raw, environment)
    assert isinstance(loaded, dict)
    return loaded
