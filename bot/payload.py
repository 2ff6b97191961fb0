"""Request bodies as JSON objects, for every adapter: one parse, one set of 400 answers."""

from __future__ import annotations

import json
from typing import Any

from bot.errors import BadRequest


def json_object(raw: bytes | str, what: str = "body") -> dict[str, Any]:
    """`raw` as a JSON object, or BadRequest saying what is wrong with `what`."""
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"{what} is not valid JSON: {exc}") from None
    except RecursionError:  # the parser recurses per level: deep nesting exhausts the stack
        raise BadRequest(f"{what} is nested too deeply") from None
    if not isinstance(value, dict):
        raise BadRequest(f"{what} must be a JSON object")
    return value
