"""Texts: one table of defaults (the core's and each adapter's), overridden under the root
`texts:`, a platform section's and an account's, the most specific winning; every override is
checked at start-up."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from adapters.feishu import settings as feishu_settings
from adapters.feishu import texts as feishu_texts
from adapters.wechat import settings as wechat_settings
from adapters.wechat import texts as wechat_texts
from bot.errors import ConfigError
from bot.messages import Conversation, Incoming
from bot.pipeline import Pipeline
from bot.pipeline.context import Context, Next
from bot.replier import CollectingReplier
from bot.settings import load
from bot.texts import DEFAULTS, Texts, placeholders
from tests.conftest import StartService, base_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def root_texts(tmp_path: Path, text: str) -> Texts:
    """The root `texts:` with every adapter's defaults registered, checked as at start-up."""
    texts = Texts(load(write(tmp_path, text), env={}).texts)
    feishu_texts.registered(wechat_texts.registered(texts))
    texts.check()
    return texts


def wechat_accounts(tmp_path: Path, text: str) -> list[wechat_settings.WeChatSettings]:
    settings = load(write(tmp_path, text), env={})
    base = wechat_texts.registered(Texts(settings.texts))
    return wechat_settings.read_all(settings.section.section("wechat"), base)


def feishu_apps(tmp_path: Path, text: str) -> list[feishu_settings.FeishuSettings]:
    settings = load(write(tmp_path, text), env={})
    return feishu_settings.read_all(settings.section.section("feishu"),
                                    feishu_texts.registered(Texts(settings.texts)))


SHOP = "wechat:\n  token: t\n  accounts:\n    - {id: shop, token: s}\n"


def test_a_text_nobody_overrides_is_its_default(tmp_path: Path) -> None:
    (default,) = wechat_accounts(tmp_path, "wechat:\n  token: t\n")
    assert default.texts.get("wechat_welcome") == wechat_texts.DEFAULTS["wechat_welcome"]


def test_the_root_texts_override_a_core_text(tmp_path: Path) -> None:
    texts = root_texts(tmp_path, "texts:\n  reset_done: Forgotten.\n")
    assert texts.get("reset_done") == "Forgotten."


def test_the_root_texts_override_an_adapters_text(tmp_path: Path) -> None:
    (default,) = wechat_accounts(tmp_path, "texts: {wechat_welcome: From the root}\n"
                                           "wechat:\n  token: t\n")
    assert default.texts.get("wechat_welcome") == "From the root"


def test_a_platform_section_overrides_the_root(tmp_path: Path) -> None:
    (default,) = wechat_accounts(tmp_path, "texts: {wechat_welcome: From the root}\n"
                                           "wechat:\n  token: t\n  texts: {welcome: From wechat}\n")
    assert default.texts.get("wechat_welcome") == "From wechat"


def test_a_section_key_may_also_carry_the_platform_prefix(tmp_path: Path) -> None:
    (default,) = wechat_accounts(tmp_path, "wechat:\n  token: t\n"
                                           "  texts: {wechat_welcome: Prefixed}\n")
    assert default.texts.get("wechat_welcome") == "Prefixed"


def test_an_accounts_own_text_beats_its_section(tmp_path: Path) -> None:
    default, shop = wechat_accounts(tmp_path, "wechat:\n  token: t\n  texts: {welcome: Section}\n"
                                              "  accounts:\n    - id: shop\n      token: s\n"
                                              "      texts: {welcome: Shop}\n")
    assert (default.texts.get("wechat_welcome"), shop.texts.get("wechat_welcome")) == (
        "Section", "Shop")


def test_an_account_without_texts_of_its_own_says_the_sections(tmp_path: Path) -> None:
    _, shop = wechat_accounts(tmp_path, SHOP.replace("  accounts", "  welcome: Section\n  accounts"))
    assert shop.texts.get("wechat_welcome") == "Section"


def test_an_accounts_texts_welcome_beats_the_sections_older_welcome_key(tmp_path: Path) -> None:
    _, shop = wechat_accounts(tmp_path, "wechat:\n  token: t\n  welcome: Section\n  accounts:\n"
                                        "    - {id: shop, token: s, texts: {welcome: Shop}}\n")
    assert shop.texts.get("wechat_welcome") == "Shop"


def test_a_feishu_apps_own_text_beats_the_feishu_section(tmp_path: Path) -> None:
    default, sales = feishu_apps(tmp_path, "feishu:\n  app_id: cli_a\n  texts: {thinking: Hmm}\n"
                                           "  apps:\n    - {id: sales, app_id: cli_s, "
                                           "texts: {thinking: One moment}}\n")
    assert (default.texts.get("feishu_thinking"), sales.texts.get("feishu_thinking")) == (
        "Hmm", "One moment")


def adopted(tmp_path: Path, text: str) -> Texts:
    """The process's texts with every WeChat account's adopted, as the adapter's `create` does."""
    settings = load(write(tmp_path, text), env={})
    base = wechat_texts.registered(Texts(settings.texts))
    for account in wechat_settings.read_all(settings.section.section("wechat"), base):
        base.adopt("wechat", account.account, account.texts)
    return base


def test_a_core_text_set_for_an_account_is_said_to_that_accounts_messages(tmp_path: Path) -> None:
    texts = adopted(tmp_path, SHOP.replace("s}", "s, texts: {help: Shop help}}"))
    with texts.speaking_for("wechat", "shop"):
        assert texts.get("help") == "Shop help"
    with texts.speaking_for("wechat", "default"):
        assert texts.get("help") == DEFAULTS["help"]
    assert texts.get("help") == DEFAULTS["help"]  # no message in hand: the process's texts


def test_a_core_text_under_a_platform_section_is_said_to_that_platform_only(tmp_path: Path) -> None:
    texts = adopted(tmp_path, "wechat:\n  token: t\n  texts: {reset_done: Forgotten on WeChat}\n")
    with texts.speaking_for("wechat", "default"):
        assert texts.get("reset_done") == "Forgotten on WeChat"
    with texts.speaking_for("feishu", "default"):
        assert texts.get("reset_done") == DEFAULTS["reset_done"]


def test_a_section_key_naming_both_a_platform_and_a_core_text_is_the_platforms(
        tmp_path: Path) -> None:
    (default,) = wechat_accounts(tmp_path, "wechat:\n  token: t\n"
                                           "  texts: {image_unsupported: No pictures}\n")
    assert default.texts.get("wechat_image_unsupported") == "No pictures"
    assert default.texts.get("image_unsupported") == DEFAULTS["image_unsupported"]


async def test_the_pipeline_says_the_texts_of_the_messages_account(tmp_path: Path) -> None:
    texts = adopted(tmp_path, SHOP.replace("s}", "s, texts: {help: Shop help}}"))
    said: list[str] = []

    async def say_help(ctx: Context, call_next: Next) -> None:
        said.append(texts.get("help"))

    pipeline = Pipeline([say_help], texts)
    for account in ("shop", "default"):
        incoming = Incoming(platform="wechat", conversation=Conversation("wechat", "o1", account),
                            user_id="o1", text="/help", account=account)
        await pipeline.handle(incoming, CollectingReplier())
    assert said == ["Shop help", DEFAULTS["help"]]


def test_a_language_variant_overrides_only_that_language(tmp_path: Path) -> None:
    texts = root_texts(tmp_path, "texts:\n  token_quota_user.zh: 明天再来\n")
    assert (texts.get("token_quota_user", lang="zh"), texts.get("token_quota_user", lang="en")) == (
        "明天再来", DEFAULTS["token_quota_user"])


@pytest.mark.parametrize(("config", "says"), [
    ("texts: {foo: x}", "texts.foo: unknown text"),
    ("texts: {welcome: x}", "texts.welcome: unknown text (did you mean wechat.texts.welcome?)"),
    ("texts: {help.zh: x}", "texts.help.zh: unknown text"),  # help is never looked up by language
])
def test_an_unknown_root_text_is_a_config_error(tmp_path: Path, config: str, says: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(says)}$"):
        root_texts(tmp_path, config)


@pytest.mark.parametrize(("config", "says"), [
    ("wechat:\n  token: t\n  texts: {foo: x}", "wechat.texts.foo: unknown wechat text"),
    (SHOP.replace("s}", "s, texts: {foo: x}}"), "wechat.accounts[0].texts.foo: unknown wechat text"),
])
def test_an_unknown_section_text_is_a_config_error(tmp_path: Path, config: str, says: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(says)}"):
        wechat_accounts(tmp_path, config)


@pytest.mark.parametrize(("config", "says"), [
    ("wechat:\n  token: t\n  texts: {welcome: 'Hi {name}'}",
     "wechat.texts.welcome: unknown placeholder {name} (this text takes: none)"),
    ("wechat:\n  token: t\n  welcome: 'Hi {0}'", "wechat.welcome: unknown placeholder {0}"),
])
def test_an_unknown_placeholder_is_a_config_error(tmp_path: Path, config: str, says: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(says)}"):
        wechat_accounts(tmp_path, config)


def test_a_root_placeholder_its_default_does_not_fill_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape(
            "texts.input_too_long: unknown placeholder {chars} (this text takes: {length}, {limit})")):
        root_texts(tmp_path, "texts: {input_too_long: 'Over {limit}: {chars}'}")


def test_a_template_that_does_not_parse_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^texts\.reset_done: not a valid template"):
        root_texts(tmp_path, "texts: {reset_done: 'Done :-}'}")


def test_the_defaults_own_placeholders_are_accepted(tmp_path: Path) -> None:
    texts = root_texts(tmp_path, "texts: {input_too_long: '{length} > {limit}'}")
    assert texts.get("input_too_long", length=5, limit=4) == "5 > 4"


def test_placeholders_name_the_fields_a_template_fills() -> None:
    assert placeholders("{a} {b.c} {d[0]} {e:>{f}} {{literal}}") == {"a", "b", "d", "e", "f"}


async def test_the_service_refuses_to_start_with_an_unknown_root_text(
    start_service: StartService,
) -> None:
    with pytest.raises(ConfigError, match=r"^texts\.foo: unknown text$"):
        await start_service(config={**base_config(), "texts": {"foo": "x"}})
