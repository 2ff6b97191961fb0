"""Feishu Open API errors: the code, what it means, and which ones are worth a retry."""

from __future__ import annotations

from bot.errors import UpstreamError

TOKEN_INVALID = frozenset({99991663, 99991664, 99991665, 99991666, 99991668})
RATE_LIMITED = frozenset({99991400, 99991402, 11020, 11021, 11232, 230020})

MEANINGS: dict[int, str] = {
    99991400: "request rate limit exceeded",
    99991402: "request rate limit exceeded",
    11020: "rate limited",
    11021: "rate limited",
    11232: "too many messages sent at once (rate limited)",
    230020: "message rate limit for this chat exceeded",
    99991401: "IP not allowed (check the app's IP allow-list)",
    99991663: "tenant_access_token invalid",
    99991664: "tenant_access_token invalid",
    99991665: "tenant_access_token invalid",
    99991666: "tenant_access_token invalid",
    99991668: "tenant_access_token invalid or expired",
    99991672: "the app lacks a required scope (grant it in the developer console)",
    99991679: "the app lacks a required permission",
    99991661: "missing access token",
    10003: "invalid app_id or app_secret",
    10014: "invalid app_secret",
    230001: "malformed message content",
    230002: "the bot is not in this chat",
    230005: "the message was recalled or does not exist",
    230013: "the user is outside the app's availability range (the bot cannot message them)",
    99992361: "the open_id belongs to another app (open_ids are per app)",
    99992402: "a request field failed validation (check the receive id)",
    230003: "the bot cannot reach this user (permission)",
    230010: "operation not permitted",
    230017: "the message target no longer exists",
    230021: "message content too long",
    230022: "message content too long",
    230025: "card content too long",
    230099: "card content failed validation (too large, too many tables, or bad card JSON)",
    200850: "card entity expired or not found",
    300317: "card sequence out of order",
    234003: "the file does not belong to this message",
}


def meaning(code: int) -> str:
    """A short explanation of a Feishu error code for the log."""
    return MEANINGS.get(code, "see https://open.feishu.cn/document/server-docs/api-call-guide/generic-error-code")


class FeishuError(UpstreamError):
    """A failed Open API call; `code` is Feishu's (or -1 for transport failures, HTTP status else)."""

    def __init__(self, operation: str, code: int, msg: str) -> None:
        super().__init__(f"feishu {operation} failed: code={code} ({meaning(code)}): {msg}")
        self.operation = operation
        self.code = code

    @property
    def rate_limited(self) -> bool:
        """Worth retrying after a pause."""
        return self.code in RATE_LIMITED or self.code == 429

    @property
    def token_invalid(self) -> bool:
        """Worth retrying once with a fresh tenant token."""
        return self.code in TOKEN_INVALID
