"""The `feishu:` config section, read once into a frozen value."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.config import Secret, Section

FEISHU = "https://open.feishu.cn"


@dataclass(frozen=True, slots=True)
class FeishuSettings:
    """Credentials, endpoint and behaviour of the Feishu/Lark adapter."""

    app_id: str
    app_secret: Secret = field(default_factory=Secret)
    verification_token: Secret = field(default_factory=Secret)
    encrypt_key: Secret = field(default_factory=Secret)
    base_url: str = FEISHU
    mode: str = "webhook"
    group_shared_history: bool = False
    card_updates_per_second: float = 2.0
    cardkit: bool = True
    replay_window: float = 300.0
    retry_attempts: int = 3
    retry_backoff: float = 0.5
    max_card_bytes: int = 28000


def read(root: Section) -> FeishuSettings | None:
    """None when `FEISHU_APP_ID` (or `feishu.app_id`) is unset: the adapter is off."""
    s = root.section("feishu")
    app_id = s.text("app_id", env="FEISHU_APP_ID")
    if not app_id:
        return None
    return FeishuSettings(
        app_id=app_id,
        app_secret=s.secret("app_secret", env="FEISHU_APP_SECRET"),
        verification_token=s.secret("verification_token", env="FEISHU_VERIFICATION_TOKEN"),
        encrypt_key=s.secret("encrypt_key", env="FEISHU_ENCRYPT_KEY"),
        base_url=s.url("base_url", FEISHU, env="FEISHU_BASE_URL"),
        mode=s.choice("mode", "webhook", ("webhook", "websocket"), env="FEISHU_MODE"),
        group_shared_history=s.flag("group_shared_history", False),
        # Feishu allows 5 PATCH/s per message and 10 CardKit operations/s per card.
        card_updates_per_second=min(s.number("card_updates_per_second", 2.0, minimum=0.1), 5.0),
        cardkit=s.flag("cardkit", True),
        replay_window=s.number("replay_window", 300.0),
        retry_attempts=s.integer("retry_attempts", 3, minimum=0),
        retry_backoff=s.number("retry_backoff", 0.5),
        max_card_bytes=s.integer("max_card_bytes", 28000, minimum=1000),
    )
