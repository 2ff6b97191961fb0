"""Configuration: `config.yaml` with `${VAR}` interpolation, environment overrides, typed and frozen.

The core reads its own sections here; each adapter reads its section through the same `Section`
reader (`config.section("wechat")`), so every bad value fails start-up with one line naming the key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.errors import ConfigError

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True, slots=True)
class Secret:
    """A value that must never be printed: its repr and str are masked."""

    _value: str = field(default="", repr=False)

    def reveal(self) -> str:
        """The real value, for the one place that sends it."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__


def _interpolate(value: Any, env: Mapping[str, str], where: str) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, env, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigError(f"{where}: ${{{name}}} is not set in the environment (use ${{{name}:-}})")

    return _VAR.sub(substitute, value)


class Section:
    """Typed reader over one mapping of the config; errors name the dotted key (or env var)."""

    def __init__(self, data: Mapping[str, Any], path: str, env: Mapping[str, str]) -> None:
        self._data = data
        self._path = path
        self._env = env

    def _key(self, key: str) -> str:
        return f"{self._path}.{key}" if self._path else key

    def section(self, name: str) -> Section:
        """A nested section; a missing one reads as empty."""
        value = self._data.get(name) or {}
        if not isinstance(value, Mapping):
            raise ConfigError(f"{self._key(name)}: expected a mapping, got {type(value).__name__}")
        return Section(value, self._key(name), self._env)

    def items(self, key: str) -> list[Section]:
        """A list of mappings, each as a Section named `key[i]`; a missing list reads as []."""
        value = self._data.get(key) or []
        if not isinstance(value, list):
            raise ConfigError(f"{self._key(key)}: expected a list, got {type(value).__name__}")
        found = []
        for index, item in enumerate(value):
            if not isinstance(item, Mapping):
                raise ConfigError(f"{self._key(key)}[{index}]: expected a mapping, got "
                                  f"{type(item).__name__}")
            found.append(Section(item, f"{self._key(key)}[{index}]", self._env))
        return found

    def only(self, *allowed: str) -> None:
        """Refuse keys outside `allowed` (a typo must not silently do nothing)."""
        unknown = sorted(set(self.names()) - set(allowed))
        if unknown:
            raise ConfigError(f"{self._key(unknown[0])}: unknown key (expected one of "
                              f"{', '.join(allowed)})")

    def names(self) -> list[str]:
        """The keys present in this section."""
        return [str(k) for k in self._data]

    def raw(self, key: str, env: str | None = None) -> tuple[Any, str]:
        """The value and where it came from, the environment winning over the file."""
        if env and self._env.get(env, "") != "":
            return self._env[env], f"{env} ({self._key(key)})"
        return self._data.get(key), self._key(key)

    def text(self, key: str, default: str = "", env: str | None = None) -> str:
        """A string; None or missing gives the default."""
        value, where = self.raw(key, env)
        if value is None:
            return default
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{where}: expected a string, got {type(value).__name__}")
        return str(value)

    def secret(self, key: str, env: str | None = None) -> Secret:
        """A string that is masked in every repr."""
        return Secret(self.text(key, "", env))

    def integer(self, key: str, default: int, env: str | None = None, minimum: int | None = None) -> int:
        """An integer, optionally with a lower bound."""
        value, where = self.raw(key, env)
        if value is None or value == "":
            return default
        try:
            number = int(str(value), 10) if not isinstance(value, bool) else None
        except ValueError:
            number = None
        if number is None:
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        if minimum is not None and number < minimum:
            raise ConfigError(f"{where}: must be at least {minimum}, got {number}")
        return number

    def number(self, key: str, default: float, env: str | None = None, minimum: float = 0.0) -> float:
        """A number that must not be below `minimum`."""
        value, where = self.raw(key, env)
        if value is None or value == "":
            return default
        try:
            number = float(value) if not isinstance(value, bool) else None
        except ValueError:
            number = None
        if number is None or number != number:  # NaN is not a usable setting
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if number < minimum:
            raise ConfigError(f"{where}: must be at least {minimum}, got {number}")
        return number

    def flag(self, key: str, default: bool, env: str | None = None) -> bool:
        """true/false, yes/no, on/off, 1/0."""
        value, where = self.raw(key, env)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"true", "yes", "on", "1"}:
            return True
        if text in {"false", "no", "off", "0"}:
            return False
        raise ConfigError(f"{where}: expected true or false, got {value!r}")

    def strings(self, key: str, env: str | None = None) -> tuple[str, ...]:
        """A list of strings, from a YAML list or a comma-separated string."""
        value, where = self.raw(key, env)
        if value is None or value == "":
            return ()
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        if isinstance(value, list) and all(isinstance(v, (str, int)) for v in value):
            return tuple(str(v).strip() for v in value if str(v).strip())
        raise ConfigError(f"{where}: expected a list of strings, got {value!r}")

    def choice(self, key: str, default: str, choices: tuple[str, ...], env: str | None = None) -> str:
        """One of a fixed set of strings."""
        value = self.text(key, default, env)
        if value not in choices:
            where = self.raw(key, env)[1]
            raise ConfigError(f"{where}: expected one of {', '.join(choices)}, got {value!r}")
        return value

    def url(self, key: str, default: str, env: str | None = None) -> str:
        """An http(s) URL without its trailing slash."""
        value = self.text(key, default, env).rstrip("/")
        if value and not re.match(r"^https?://[^\s/]+", value):
            where = self.raw(key, env)[1]
            raise ConfigError(f"{where}: expected an http(s) URL, got {value!r}")
        return value

    def mapping(self, key: str) -> dict[str, str]:
        """A flat mapping of strings (used for text overrides)."""
        value = self._data.get(key) or {}
        if not isinstance(value, Mapping):
            raise ConfigError(f"{self._key(key)}: expected a mapping, got {type(value).__name__}")
        return {str(k): str(v) for k, v in value.items()}


def read_file(path: Path | None, env: Mapping[str, str]) -> dict[str, Any]:
    """Parse and interpolate the YAML file; no file at the default path means all defaults."""
    target = path or Path("config.yaml")
    if not target.exists():
        if path is not None:
            raise ConfigError(f"config file {target} does not exist")
        return {}
    try:
        data = yaml.safe_load(target.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{target}: not valid YAML{at}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{target}: the top level must be a mapping")
    result: dict[str, Any] = _interpolate(data, env, "")
    return result


def root_section(path: Path | None = None, env: Mapping[str, str] | None = None) -> Section:
    """The whole configuration as a `Section`, environment included."""
    environ = dict(os.environ if env is None else env)
    return Section(read_file(path, environ), "", environ)
