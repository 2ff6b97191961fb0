"""Usage accounting: what each message cost (tokens, tools, pictures, speech), counted per day."""

from __future__ import annotations

from bot.usage.ledger import UsageLedger, Who
from bot.usage.meter import Meter, metering, record_image, record_speech, record_tokens, record_tool_call

__all__ = ["Meter", "UsageLedger", "Who", "metering", "record_image", "record_speech",
           "record_tokens", "record_tool_call"]
