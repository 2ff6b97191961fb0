"""Prompt presets: `prompts/*.md`, YAML front matter (name, description, model, temperature) + body."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

log = logging.getLogger(__name__)

_FRONT = re.compile(r"\A---\s*\n(.*?)\n---\s*(?:\n|\Z)(.*)\Z", re.S)
_VAR = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass(frozen=True, slots=True)
class Preset:
    """One selectable system prompt."""

    name: str
    description: str
    system: str
    model: str | None = None
    temperature: float | None = None
    knowledge: str = "on"  # on: use the documents | strict: only them | off: never

    def render(self, values: Mapping[str, str]) -> str:
        """The system prompt with `{{date}}`-style variables filled; unknown ones stay as written."""
        return _VAR.sub(lambda m: values.get(m.group(1), m.group(0)), self.system).strip()


class PresetError(ValueError):
    """A preset file that cannot be used."""


def parse_preset(path: Path, text: str) -> Preset:
    """Parse one preset file; raises PresetError saying what is wrong."""
    match = _FRONT.match(text)
    if not match:
        raise PresetError("missing front matter (a '---' block at the top)")
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError:
        raise PresetError("front matter is not valid YAML") from None
    if not isinstance(meta, dict):
        raise PresetError("front matter must be a mapping")
    name = str(meta.get("name") or path.stem).strip()
    if not re.fullmatch(r"[\w-]{1,40}", name):
        raise PresetError(f"name {name!r} must be 1-40 letters, digits, '-' or '_'")
    body = match.group(2).strip()
    if not body:
        raise PresetError("the system prompt (the text after the front matter) is empty")
    temperature = meta.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool) or not isinstance(temperature, (int, float))
        or not 0 <= temperature <= 2
    ):
        raise PresetError(f"temperature must be a number from 0 to 2, got {temperature!r}")
    model = meta.get("model")
    knowledge = str(meta.get("knowledge", "on")).lower()
    if isinstance(meta.get("knowledge"), bool):
        knowledge = "on" if meta["knowledge"] else "off"
    if knowledge not in {"on", "off", "strict"}:
        raise PresetError(f"knowledge must be on, off or strict, got {meta.get('knowledge')!r}")
    return Preset(
        name=name,
        description=str(meta.get("description") or "").strip(),
        system=body,
        model=str(model) if model else None,
        temperature=None if temperature is None else float(temperature),
        knowledge=knowledge,
    )


class Presets:
    """The loaded presets and the default one."""

    FALLBACK = Preset("assistant", "General assistant", "You are a helpful assistant.")

    def __init__(self, presets: Mapping[str, Preset], default: str) -> None:
        self._presets = dict(presets) or {self.FALLBACK.name: self.FALLBACK}
        if default not in self._presets:
            log.warning("prompts: default preset %r not found; using %r", default,
                        next(iter(self._presets)))
            default = next(iter(self._presets))
        self.default = default
        self._source: tuple[Path, str] | None = None  # where `reload` reads from

    @classmethod
    def load(cls, directory: Path, default: str) -> Presets:
        """Load every `*.md` file; a bad file is logged with its path and skipped."""
        found: dict[str, Preset] = {}
        for path in sorted(directory.glob("*.md")) if directory.is_dir() else []:
            try:
                preset = parse_preset(path, path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, PresetError) as exc:
                log.warning("prompts: skipping %s: %s", path, exc)
                continue
            if preset.name in found:
                log.warning("prompts: skipping %s: name %r is already used", path, preset.name)
                continue
            found[preset.name] = preset
        if not directory.is_dir():
            log.warning("prompts: directory %s not found; using a built-in assistant", directory)
        presets = cls(found, default)
        presets._source = (directory, default)
        return presets

    def reload(self) -> list[str]:
        """Read the directory again and swap the presets in (one assignment: a message being
        answered keeps the preset it already has); the names now offered."""
        if self._source is not None:
            fresh = Presets.load(*self._source)
            self._presets, self.default = fresh._presets, fresh.default
        return self.names()

    def get(self, name: str | None) -> Preset:
        """The named preset, or the default when the name is unknown or None."""
        return self._presets.get(name or "", self._presets[self.default])

    def names(self) -> list[str]:
        """Preset names, sorted."""
        return sorted(self._presets)

    def __contains__(self, name: object) -> bool:
        return name in self._presets


def template_values(platform: str, user_name: str, now: float | None = None) -> dict[str, str]:
    """Variables a preset may use."""
    return {
        "date": time.strftime("%Y-%m-%d", time.localtime(now)),
        "platform": platform,
        "user_name": user_name or "the user",
    }
