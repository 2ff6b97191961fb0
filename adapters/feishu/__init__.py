"""Feishu / Lark: direct and group chats, encrypted callbacks, streaming cards, long connection."""

from __future__ import annotations

from adapters.feishu import settings as feishu_settings
from adapters.feishu.texts import PLATFORM, registered
from bot.platform import Adapter, Services


def create(services: Services) -> Adapter | None:
    """Factory for `adapters.ENABLED`; None when no app is configured (FEISHU_APP_ID unset
    and no `feishu.apps`). Its texts are registered either way, so the root `texts:` may
    override them."""
    registered(services.texts)
    apps = feishu_settings.read_all(services.config.section("feishu"), services.texts)
    if not apps:
        return None
    for app in apps:  # its messages hear its texts, the core's included
        services.texts.adopt(PLATFORM, app.account, app.texts)
    # lark-oapi takes ~3.5 s to import: only deployments that use Feishu pay for it.
    from adapters.feishu.adapter import FeishuAdapter

    return FeishuAdapter(services, apps)
