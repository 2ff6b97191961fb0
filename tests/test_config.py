"""Configuration: file, ${VAR} interpolation, environment overrides, and one clear line per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.webhook import settings as webhook_settings
from bot.config import Secret
from bot.errors import ConfigError
from bot.settings import load


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_apply_when_the_file_is_empty(tmp_path: Path) -> None:
    settings = load(write(tmp_path, ""), env={})
    assert (settings.server.host, settings.server.port) == ("0.0.0.0", 8080)
    assert settings.llm.model == "gpt-4o-mini"
    assert settings.llm.timeout == 60.0
    assert not settings.storage.redis_url


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "llm:\n  model: from-file\nserver:\n  port: 9000\n")
    settings = load(path, env={"OPENAI_MODEL": "from-env", "BOT_PORT": "9100"})
    assert settings.llm.model == "from-env"
    assert settings.server.port == 9100


def test_variables_are_interpolated_inside_strings(tmp_path: Path) -> None:
    path = write(tmp_path, 'llm:\n  base_url: "http://${LLM_HOST}:${LLM_PORT:-8000}/v1"\n')
    settings = load(path, env={"LLM_HOST": "gpu-box"})
    assert settings.llm.base_url == "http://gpu-box:8000/v1"


def test_api_keys_come_comma_separated_from_the_environment(tmp_path: Path) -> None:
    config = load(write(tmp_path, ""), env={"BOT_API_KEYS": "a, b,,c"}).section
    webhook = webhook_settings.read(config.section("api"), config.section("relay"))
    assert [k.reveal() for k in webhook.keys] == ["a", "b", "c"]


def test_secrets_are_masked_in_reprs(tmp_path: Path) -> None:
    settings = load(write(tmp_path, ""), env={"OPENAI_API_KEY": "sk-very-secret",
                                              "REDIS_URL": "redis://:pw-secret@h:6379/0"})
    text = repr(settings)
    assert "sk-very-secret" not in text
    assert "pw-secret" not in text
    assert repr(Secret("x")) == "Secret('***')"


@pytest.mark.parametrize(("text", "env", "message"), [
    ("server:\n  port: eighty\n", {}, "server.port: expected an integer, got 'eighty'"),
    ("", {"BOT_PORT": "http"}, "BOT_PORT (server.port): expected an integer, got 'http'"),
    ("llm:\n  timeout: -1\n", {}, "llm.timeout: must be at least 0.1, got -1.0"),
    ("llm:\n  temperature: hot\n", {}, "llm.temperature: expected a number, got 'hot'"),
    ("llm:\n  vision: maybe\n", {}, "llm.vision: expected auto, true or false, got 'maybe'"),
    ("", {"OPENAI_BASE_URL": "api.openai.com"}, "OPENAI_BASE_URL (llm.base_url): expected an http(s) URL"),
    ("llm: [1, 2]\n", {}, "llm: expected a mapping, got list"),
    ("log:\n  level: LOUD\n", {}, "log.level: expected one of DEBUG, INFO, WARNING, ERROR, got 'LOUD'"),
    ('llm:\n  model: "${MISSING_VAR}"\n', {}, "llm.model: ${MISSING_VAR} is not set in the environment"),
    ("llm: {model: [unclosed\n", {}, "not valid YAML at line"),
    ("- just\n- a list\n", {}, "the top level must be a mapping"),
])
def test_each_bad_value_fails_with_a_line_naming_the_key(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(write(tmp_path, text), env=env)
    assert message in str(caught.value)


def test_an_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load(tmp_path / "nope.yaml", env={})


def test_the_shipped_config_file_loads(tmp_path: Path) -> None:
    settings = load(Path(__file__).resolve().parent.parent / "config.yaml", env={})
    assert settings.default_prompt == "assistant"
