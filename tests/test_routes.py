"""Per-chat routing: the first matching route picks the preset, model, models and limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.errors import ConfigError
from bot.messages import Conversation, Incoming
from bot.prompts import template_values
from bot.replier import CollectingReplier
from tests.conftest import RunningService, StartService, base_config, write_settings
from tests.fakes.openai import FakeOpenAI

ROUTES = [
    {"match": {"platform": "feishu", "chat": "oc_translate"}, "preset": "translator",
     "model": "gpt-4o", "models": ["gpt-4o", "o3-mini"]},
    {"match": {"platform": "feishu", "chat": ["oc_translate", "oc_review"]},
     "preset": "code-reviewer"},
    {"match": {"platform": "wechat", "account": "default"},
     "limits": {"per_user_per_minute": 1}},
]


def with_routes(routes: list[Any], **sections: Any) -> dict[str, Any]:
    return {**base_config(**sections), "routes": routes}


async def say(service: RunningService, text: str, chat: str = "", platform: str = "feishu",
              user: str = "ou_a") -> str:
    key = f"{chat}:{user}" if chat else user
    incoming = Incoming(platform=platform, conversation=Conversation(platform, key), user_id=user,
                        text=text, chat=chat)
    replier = CollectingReplier()
    await service.services.pipeline.handle(incoming, replier)
    return replier.reply.text if replier.reply else ""


@pytest.fixture
async def service(start_service: StartService) -> RunningService:
    return await start_service(config=with_routes(ROUTES, llm={"models": ["gpt-4o-mini"]}))


def system_and_model(call: dict[str, Any]) -> tuple[str, str]:
    return call["messages"][0]["content"], call["model"]


async def test_a_group_gets_its_routes_preset_and_model(
    service: RunningService, fake_openai: FakeOpenAI
) -> None:
    await say(service, "bonjour", chat="oc_translate")
    translator = service.services.presets.get("translator").render(template_values("feishu", ""))
    assert system_and_model(fake_openai.chat_calls[-1]) == (translator, "gpt-4o")


async def test_the_first_matching_route_wins(service: RunningService, fake_openai: FakeOpenAI) -> None:
    await say(service, "look at this", chat="oc_review")
    system, model = system_and_model(fake_openai.chat_calls[-1])
    assert system == service.services.presets.get("code-reviewer").render(template_values("feishu", ""))
    assert model == "gpt-4o-mini"


async def test_a_chat_no_route_matches_gets_the_defaults(
    service: RunningService, fake_openai: FakeOpenAI
) -> None:
    await say(service, "hello", chat="oc_elsewhere")
    system, model = system_and_model(fake_openai.chat_calls[-1])
    assert system == service.services.presets.get("assistant").render(template_values("feishu", ""))
    assert model == "gpt-4o-mini"


async def test_model_offers_the_routes_models(service: RunningService, fake_openai: FakeOpenAI) -> None:
    listing = await say(service, "/model", chat="oc_translate")
    assert "current: gpt-4o" in listing
    assert "o3-mini" in listing
    assert "Switched to model o3-mini" in await say(service, "/model o3-mini", chat="oc_translate")
    await say(service, "now", chat="oc_translate")
    assert fake_openai.chat_calls[-1]["model"] == "o3-mini"


async def test_a_users_own_preset_choice_wins_over_the_routes(
    service: RunningService, fake_openai: FakeOpenAI
) -> None:
    await say(service, "/prompt polisher", chat="oc_translate")
    await say(service, "fix this", chat="oc_translate")
    assert system_and_model(fake_openai.chat_calls[-1])[0] == \
        service.services.presets.get("polisher").render(template_values("feishu", ""))


async def test_an_account_gets_its_routes_limits(service: RunningService) -> None:
    await say(service, "one", platform="wechat", user="o1")
    assert "faster than I can answer" in await say(service, "two", platform="wechat", user="o1")
    await say(service, "one", chat="oc_elsewhere")
    assert await say(service, "two", chat="oc_elsewhere") == "You said: two"


@pytest.mark.parametrize(("route", "message"), [
    ({"match": {"platfrom": "feishu"}}, "routes[0].match.platfrom: unknown key"),
    ({"match": {}}, "a route needs at least one of platform"),
    ({"match": {"chat": "x"}, "modle": "gpt-4o"}, "routes[0].modle: unknown key"),
    ({"match": {"chat": "x"}, "limits": {"tokens_per_user_per_day": -1}}, "must be at least 0"),
    ({"match": {"chat": "x"}, "moderation": {"input": "maybe"}}, "expected one of refuse, off"),
    ({"match": {"chat": "x"}, "knowledge": {"mode": "always"}}, "expected one of auto, tool"),
    ("not a mapping", "routes[0]: expected a mapping"),
])
def test_a_bad_route_fails_start_up_naming_the_key(
    tmp_path: Path, route: Any, message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        write_settings(tmp_path, with_routes([route]), {})


def test_moderation_and_knowledge_keys_are_accepted_when_valid(tmp_path: Path) -> None:
    route = {"match": {"chat": "x"}, "moderation": {"input": "off", "output": "refuse"},
             "knowledge": False}
    parsed = write_settings(tmp_path, with_routes([route]), {}).operator.routes[0]
    assert (dict(parsed.moderation), dict(parsed.knowledge)) == (
        {"input": "off", "output": "refuse"}, {"enabled": False})
