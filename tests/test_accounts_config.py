"""`wechat.accounts` and `feishu.apps`: what each entry inherits, what it must have of its own,
`${VAR}` secrets, one clear line per mistake, and each account's default preset and model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from adapters import wechat
from adapters.feishu import settings as feishu_settings
from adapters.wechat import settings as wechat_settings
from bot.errors import ConfigError
from bot.settings import load
from tests.conftest import StartService, base_config
from tests.fakes.openai import FakeOpenAI
from tests.fakes.wechat import TOKEN, WeChatPusher, start_wechat, text_xml

TWO_ACCOUNTS = """
wechat:
  token: default-token
  deadline: 2.0
  hold: 3.0
  welcome: Hello from the default account
  accounts:
    - id: shop
      token: ${SHOP_TOKEN}
      app_id: wxshop
      app_secret: ${SHOP_SECRET}
      welcome: Hello from the shop
    - id: news
      token: news-token
feishu:
  app_id: cli_default
  app_secret: default-secret
  thread_history: false
  apps:
    - id: sales
      app_id: cli_sales
      app_secret: ${SALES_SECRET}
      mode: websocket
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def wechat_accounts(tmp_path: Path, text: str, env: dict[str, str] | None = None
                    ) -> list[wechat_settings.WeChatSettings]:
    settings = load(write(tmp_path, text), env=env or {})
    return wechat_settings.read_all(settings.section.section("wechat"))


ENV = {"SHOP_TOKEN": "shop-token", "SHOP_SECRET": "shop-secret", "SALES_SECRET": "sales-secret"}


def test_listed_accounts_come_after_default_with_their_own_paths(tmp_path: Path) -> None:
    accounts = wechat_accounts(tmp_path, TWO_ACCOUNTS, ENV)
    assert [(a.account, a.path) for a in accounts] == [
        ("default", "/wechat"), ("shop", "/wechat/shop"), ("news", "/wechat/news")]


def test_secrets_in_an_account_come_from_variables_in_the_file(tmp_path: Path) -> None:
    shop = wechat_accounts(tmp_path, TWO_ACCOUNTS, ENV)[1]
    assert (shop.token, shop.app_secret.reveal()) == ("shop-token", "shop-secret")
    assert "shop-secret" not in repr(shop)


def test_an_account_inherits_settings_but_never_credentials(tmp_path: Path) -> None:
    _, shop, news = wechat_accounts(tmp_path, TWO_ACCOUNTS, ENV)
    assert (news.deadline, news.hold) == (2.0, 3.0)  # inherited from `wechat:`
    assert news.texts.get("wechat_welcome") == "Hello from the default account"
    assert shop.texts.get("wechat_welcome") == "Hello from the shop"  # its own
    assert (news.app_id, news.app_secret.reveal()) == ("", "")  # never the default's


def test_environment_variables_only_define_the_default_account(tmp_path: Path) -> None:
    env = {**ENV, "WECHAT_TOKEN": "from-env", "WECHAT_APP_ID": "wxenv"}
    default, shop, _ = wechat_accounts(tmp_path, TWO_ACCOUNTS, env)
    assert (default.token, default.app_id) == ("from-env", "wxenv")
    assert (shop.token, shop.app_id) == ("shop-token", "wxshop")


def test_only_listed_accounts_are_enough_to_turn_the_adapter_on(tmp_path: Path) -> None:
    accounts = wechat_accounts(tmp_path, "wechat:\n  accounts:\n    - {id: a, token: t}\n")
    assert [a.account for a in accounts] == ["a"]


def test_feishu_apps_have_their_own_mode_and_inherit_the_rest(tmp_path: Path) -> None:
    settings = load(write(tmp_path, TWO_ACCOUNTS), env=ENV)
    default, sales = feishu_settings.read_all(settings.section.section("feishu"))
    assert (default.path, sales.path) == ("/feishu/events", "/feishu/sales/events")
    assert (default.mode, sales.mode) == ("webhook", "websocket")
    assert sales.thread_history is False  # inherited
    assert (sales.app_secret.reveal(), sales.thread_needs_mention) == ("sales-secret", False)


@pytest.mark.parametrize(("entry", "says"), [
    ("{id: 'bad id!', token: t}", "wechat.accounts[0].id: an account id is 1-32 letters"),
    ("{id: default, token: t}", "wechat.accounts[0].id: 'default' is taken"),
    ("{id: a}", "wechat.accounts[0].token: every account in wechat.accounts needs a token"),
    ("{id: a, token: t, keywords: {'re:(': x}}", "not a valid regular expression"),
    ("{id: a, token: t, menu_layout: {button: 1}}", "menu_layout: expected a list"),
])
def test_a_bad_account_is_one_line_naming_the_key(tmp_path: Path, entry: str, says: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(says)):
        wechat_accounts(tmp_path, f"wechat:\n  accounts:\n    - {entry}\n")


def test_two_accounts_with_the_same_id_are_refused(tmp_path: Path) -> None:
    text = "wechat:\n  accounts:\n    - {id: a, token: t}\n    - {id: a, token: u}\n"
    with pytest.raises(ConfigError, match=r"wechat.accounts\[1\].id: 'a' is taken"):
        wechat_accounts(tmp_path, text)


async def test_an_accounts_default_preset_and_model_apply_to_its_messages(
    start_service: StartService, fake_openai: FakeOpenAI,
) -> None:
    pusher = await start_wechat(start_service, deadline=2.0, hold=3.0,
                                preset="translator", model="account-model")
    await pusher.push(text_xml("你好"))
    [call] = fake_openai.chat_calls
    assert call["model"] == "account-model"
    assert call["messages"][0]["content"].startswith("You are a professional translator.")


async def test_a_route_still_overrides_the_accounts_defaults(
    start_service: StartService, fake_openai: FakeOpenAI,
) -> None:
    routes = [{"match": {"platform": "wechat", "account": "default"}, "model": "route-model"}]
    config = {**base_config(wechat={"deadline": 2.0, "hold": 3.0, "model": "account-model"}),
              "routes": routes}
    service = await start_service(config=config, env={"WECHAT_TOKEN": TOKEN},
                                  adapters=[wechat.create])
    await WeChatPusher(service.url, http=service.http, service=service).push(text_xml("x"))
    assert fake_openai.chat_calls[0]["model"] == "route-model"
