"""Dockerfile, docker-compose.yml and .env.example agree with the code (no Docker engine runs in CI)."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from adapters import ENABLED
from bot.app import make_adapters
from bot.cli import _parser
from bot.core import close_core, create_core
from bot.settings import load
from tests.conftest import ROOT
from tests.deploy_facts import SERVE, healthcheck_url, variables_the_code_reads

# design.md section 3, "Environment variables": the contract deployments rely on.
DESIGN_VARIABLES = (
    "BOT_HOST", "BOT_PORT", "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL", "REDIS_URL",
    "BOT_API_KEYS", "WECHAT_TOKEN", "WECHAT_APP_ID", "WECHAT_APP_SECRET", "WECHAT_ENCODING_AES_KEY",
    "WECHAT_CUSTOMER_SERVICE", "WECHAT_API_BASE", "FEISHU_APP_ID", "FEISHU_APP_SECRET",
    "FEISHU_VERIFICATION_TOKEN", "FEISHU_ENCRYPT_KEY", "FEISHU_BASE_URL",
)
_ENV_LINE = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$")


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    result = []
    for line in joined.splitlines():
        if line.strip():
            instruction, _, arguments = line.strip().partition(" ")
            result.append((instruction.upper(), " ".join(arguments.split())))
    return result


def instructions(name: str) -> list[str]:
    return [arguments for instruction, arguments in dockerfile() if instruction == name]


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    return data


def env_example() -> dict[str, str]:
    """Every variable of .env.example, set (`NAME=value`) or shown commented out (`# NAME=value`)."""
    found = {}
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        match = _ENV_LINE.match(line.strip())
        if match:
            found[match.group(1)] = "" if line.startswith("#") else match.group(2)
    return found


def compose_interpolations() -> set[str]:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", text))


def container_port() -> int:
    """The port the service listens on inside the container: config.yaml as compose configures it."""
    bot = compose()["services"]["bot"]
    env = {**{k: v for k, v in env_example().items() if v}, **bot.get("environment", {})}
    return load(ROOT / "config.yaml", {k: str(v) for k, v in env.items()}).server.port


# ---- Dockerfile ----

def test_dockerfile_runs_python_m_bot_serve() -> None:
    assert [json.loads(cmd) for cmd in instructions("CMD")] == [SERVE]


def test_python_m_bot_serve_is_a_real_command() -> None:
    assert _parser().parse_args(SERVE[3:]).command == "serve"


def test_dockerfile_uses_a_small_python_base_matching_the_project() -> None:
    (base,) = instructions("FROM")
    assert re.fullmatch(r"python:3\.1[1-9]-(slim|alpine)\S*", base), base


def test_dockerfile_installs_dependencies_from_pyproject() -> None:
    copied = " ".join(instructions("COPY"))
    assert "pyproject.toml" in copied
    assert any(re.search(r"pip install (--\S+ )*\.(\s|$)", run) for run in instructions("RUN"))


@pytest.mark.parametrize("needed", ["bot", "adapters", "prompts", "config.yaml"])
def test_dockerfile_copies_what_the_service_needs_at_run_time(needed: str) -> None:
    assert any(shlex.split(args)[:1] == [needed] for args in instructions("COPY")), needed


def test_dockerfile_runs_as_a_non_root_user() -> None:
    steps = dockerfile()
    users = [i for i, (instruction, _) in enumerate(steps) if instruction == "USER"]
    assert users, "no USER instruction"
    assert steps[users[-1]][1].split(":")[0] not in {"root", "0"}
    assert all(instruction != "RUN" for instruction, _ in steps[users[-1]:])


def test_dockerfile_healthcheck_asks_healthz_on_the_service_port() -> None:
    (check,) = instructions("HEALTHCHECK")
    url = urlsplit(healthcheck_url(check))
    assert (url.path, url.port) == ("/healthz", container_port())


def test_dockerfile_exposes_the_service_port() -> None:
    assert instructions("EXPOSE") == [str(container_port())]


# ---- docker-compose.yml ----

def test_compose_has_the_bot_and_redis_services() -> None:
    assert set(compose()["services"]) == {"bot", "redis"}


def test_compose_bot_publishes_the_container_port() -> None:
    (mapping,) = compose()["services"]["bot"]["ports"]
    assert str(mapping).rsplit(":", 1)[1] == str(container_port())


def test_compose_bot_builds_this_repo_and_keeps_the_image_command() -> None:
    bot = compose()["services"]["bot"]
    assert bot["build"] == "."
    assert bot.get("command", SERVE) in (SERVE, " ".join(SERVE))


def test_compose_bot_reads_dot_env() -> None:
    env_file = compose()["services"]["bot"]["env_file"]
    assert env_file == ".env" or env_file == [".env"]


def test_compose_bot_uses_the_redis_service() -> None:
    url = urlsplit(compose()["services"]["bot"]["environment"]["REDIS_URL"])
    assert (url.scheme, url.hostname, url.port) == ("redis", "redis", 6379)


def test_compose_bot_waits_for_a_healthy_redis() -> None:
    assert compose()["services"]["bot"]["depends_on"] == {"redis": {"condition": "service_healthy"}}


def test_compose_bot_healthcheck_asks_healthz_on_the_service_port() -> None:
    test = compose()["services"]["bot"]["healthcheck"]["test"]
    url = urlsplit(healthcheck_url(" ".join(test) if isinstance(test, list) else test))
    assert (url.path, url.port) == ("/healthz", container_port())


def test_compose_redis_persists_with_aof_on_a_named_volume() -> None:
    data = compose()
    redis = data["services"]["redis"]
    assert "--appendonly yes" in " ".join(redis["command"])
    volume, _, target = redis["volumes"][0].partition(":")
    assert target == "/data"
    assert volume in data["volumes"]


def test_compose_redis_has_a_ping_healthcheck() -> None:
    assert "ping" in compose()["services"]["redis"]["healthcheck"]["test"]


@pytest.mark.parametrize("service", ["bot", "redis"])
def test_compose_services_restart_by_themselves(service: str) -> None:
    assert compose()["services"][service]["restart"] in {"always", "unless-stopped", "on-failure"}


def test_compose_sets_only_variables_the_code_reads() -> None:
    assert set(compose()["services"]["bot"]["environment"]) <= variables_the_code_reads()


# ---- .env.example ----

@pytest.mark.parametrize("name", DESIGN_VARIABLES)
def test_env_example_lists_every_design_variable(name: str) -> None:
    assert name in env_example()


def test_env_example_lists_every_variable_the_code_reads() -> None:
    assert variables_the_code_reads() - set(env_example()) == set()


def test_env_example_lists_every_variable_compose_interpolates() -> None:
    assert compose_interpolations() - set(env_example()) == set()


def test_env_example_lists_nothing_unused() -> None:
    unused = set(env_example()) - variables_the_code_reads() - compose_interpolations()
    assert unused == set()


def test_env_example_as_shipped_is_a_valid_configuration() -> None:
    env = {k: v for k, v in env_example().items() if v}
    settings = load(ROOT / "config.yaml", env)
    assert settings.server.port == container_port()


async def test_env_example_as_shipped_turns_on_only_the_http_api() -> None:
    # docker compose passes the blank lines as empty variables: they must mean "off", not "broken".
    core = await create_core(load(ROOT / "config.yaml", env_example()))
    try:
        assert [adapter.name for adapter in make_adapters(core.services, ENABLED)] == ["webhook"]
    finally:
        await close_core(core, 1)


def test_env_example_is_not_ignored_but_dot_env_is() -> None:
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert ".env" in ignored
    assert ".env.example" not in ignored


def test_no_secret_in_env_example() -> None:
    values = env_example()
    secrets = [n for n in values if re.search(r"KEY|SECRET|TOKEN", n)]
    assert {n: values[n] for n in secrets if values[n]} == {}
