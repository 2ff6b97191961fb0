"""deploy/ (Kubernetes manifests, compose with Sentinel) agrees with the code: the command, the
port, the probe paths the app serves, the variables it reads and REDIS_URLs it accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from bot.app import build_app
from bot.core import close_core, create_core
from bot.settings import load
from bot.storage.connect import parse
from tests.conftest import ROOT
from tests.deploy_facts import SERVE, healthcheck_url, variables_the_code_reads

MANIFEST = ROOT / "deploy" / "kubernetes" / "imbot.yaml"
SENTINEL_COMPOSE = ROOT / "deploy" / "compose-sentinel.yml"


def manifests() -> dict[str, dict[str, Any]]:
    """The Kubernetes objects, by kind."""
    docs = [d for d in yaml.safe_load_all(MANIFEST.read_text(encoding="utf-8")) if d]
    return {doc["kind"]: doc for doc in docs}


def container() -> dict[str, Any]:
    spec = manifests()["Deployment"]["spec"]["template"]["spec"]
    [bot] = spec["containers"]
    return dict(bot)


def http_port() -> int:
    return next(int(p["containerPort"]) for p in container()["ports"] if p["name"] == "http")


async def served_paths(tmp_path: Path) -> set[str]:
    """The GET routes the application serves (no adapter configured)."""
    settings = load(ROOT / "config.yaml", {"OPENAI_API_KEY": "x"})
    core = await create_core(settings)
    try:
        app = build_app(core, [])
        return {r.resource.canonical for r in app.router.routes()
                if r.method == "GET" and r.resource is not None}
    finally:
        await close_core(core, 0)


def test_the_deployment_runs_python_m_bot_serve() -> None:
    assert container()["args"] == SERVE


def test_the_container_port_is_the_one_the_service_listens_on() -> None:
    env = {e["name"]: e["value"] for e in container()["env"]}
    assert load(ROOT / "config.yaml", env).server.port == http_port() == 8080


@pytest.mark.parametrize(("probe", "path"), [("livenessProbe", "/livez"),
                                              ("readinessProbe", "/readyz"),
                                              ("startupProbe", "/livez")])
async def test_each_probe_asks_its_endpoint_on_the_service_port(probe: str, path: str,
                                                                tmp_path: Path) -> None:
    get = container()[probe]["httpGet"]
    assert (get["path"], get["port"]) == (path, "http")
    assert path in await served_paths(tmp_path)


def test_the_grace_period_outlasts_the_drain() -> None:
    from bot.app import DRAIN_SECONDS

    spec = manifests()["Deployment"]["spec"]["template"]["spec"]
    assert spec["terminationGracePeriodSeconds"] > DRAIN_SECONDS


def test_the_service_and_the_disruption_budget_select_the_deployment() -> None:
    objects = manifests()
    labels = objects["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert objects["Service"]["spec"]["selector"] == labels
    assert objects["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == labels
    assert objects["Service"]["spec"]["ports"][0]["targetPort"] == "http"


def test_the_budget_keeps_more_than_one_instance_serving() -> None:
    objects = manifests()
    assert 2 <= objects["PodDisruptionBudget"]["spec"]["minAvailable"] < \
        objects["Deployment"]["spec"]["replicas"]


def test_every_variable_set_is_one_the_code_reads() -> None:
    secret = manifests()["Secret"]["stringData"]
    names = {e["name"] for e in container()["env"]} | set(secret)
    assert names <= variables_the_code_reads()


def test_the_secret_references_the_deployment_uses() -> None:
    refs = [s["secretRef"]["name"] for s in container()["envFrom"]]
    assert refs == [manifests()["Secret"]["metadata"]["name"]]


def test_the_example_redis_url_is_a_sentinel_url_the_service_accepts() -> None:
    assert parse(manifests()["Secret"]["stringData"]["REDIS_URL"]).kind == "sentinel"


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(SENTINEL_COMPOSE.read_text(encoding="utf-8")))


def test_compose_bots_use_the_three_sentinels_it_runs() -> None:
    services = compose()["services"]
    for name in ("bot-1", "bot-2"):
        target = parse(services[name]["environment"]["REDIS_URL"])
        assert target.kind == "sentinel"
        assert {host for host, _ in target.nodes} == {"sentinel-1", "sentinel-2", "sentinel-3"}
        assert {host for host, _ in target.nodes} <= set(services)


def test_compose_sentinels_monitor_the_master_it_runs_under_the_name_the_bots_use() -> None:
    services = compose()["services"]
    monitor = services["sentinel-1"]["command"]
    target = parse(services["bot-1"]["environment"]["REDIS_URL"])
    assert f"sentinel monitor {target.service} redis-master 6379 2" in monitor
    assert "redis-master" in services
    assert "--replicaof redis-master 6379" in " ".join(services["redis-replica"]["command"])


async def test_compose_bots_check_readiness_on_the_service_port(tmp_path: Path) -> None:
    bot = compose()["services"]["bot-1"]
    url = urlsplit(healthcheck_url(" ".join(bot["healthcheck"]["test"])))
    assert (url.port, url.path) == (8080, "/readyz")
    assert url.path in await served_paths(tmp_path)


def test_compose_bots_build_this_repository_and_run_the_image_command() -> None:
    bot = compose()["services"]["bot-1"]
    assert bot["build"] == ".."
    assert "command" not in bot  # the image's CMD: python -m bot serve
