"""The operator plane over HTTP: `/admin` (a page) and `/admin/api/*`, behind `BOT_ADMIN_KEYS`."""

from __future__ import annotations

from bot.admin.api import AdminAPI, admin_routes

__all__ = ["AdminAPI", "admin_routes"]
