"""Safe XML parsing and normalisation of WeChat pushes into one small record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from xml.parsers.expat import ExpatError

import xmltodict
from wechatpy import parse_message
from wechatpy.messages import MESSAGE_TYPES, UnknownMessage

from bot.errors import BadRequest

_FORBIDDEN = ("<!DOCTYPE", "<!ENTITY")  # no DTDs at all: no XXE, no entity expansion


def as_text(data: bytes | str) -> str:
    """The body as text; BadRequest when it is not UTF-8."""
    if isinstance(data, bytes):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("body is not UTF-8") from None
    return data


def xml_fields(data: bytes | str) -> dict[str, Any]:
    """The children of `<xml>` as a dict; BadRequest for DTDs, entities or malformed XML."""
    text = as_text(data)
    upper = text.upper()
    if any(marker in upper for marker in _FORBIDDEN):
        raise BadRequest("XML with a DTD or entities is refused")
    try:
        tree = xmltodict.parse(text, disable_entities=True)
    except (ExpatError, ValueError):
        raise BadRequest("body is not well-formed XML") from None
    root = tree.get("xml") if isinstance(tree, dict) else None
    if not isinstance(root, dict):
        raise BadRequest("body is not a WeChat <xml> message")
    return root


@dataclass(frozen=True, slots=True)
class Inbound:
    """What the adapter needs from a push, whatever its type."""

    kind: str  # text, voice, image, ..., or "event"
    event: str  # lower-cased event name, "" for messages
    openid: str  # the subscriber (FromUserName)
    account: str  # the official account's original id (ToUserName)
    key: str  # retry identity: MsgId, or FromUserName+CreateTime for events
    text: str = ""
    media_id: str = ""
    pic_url: str = ""
    event_key: str = ""  # a menu button's key (CLICK), a QR scene (SCAN, subscribe), a URL (VIEW)


def message_key(fields: dict[str, Any]) -> str:
    """MsgId when there is one; events have none (wechatpy says 0), so sender + CreateTime."""
    msg_id = str(fields.get("MsgId") or "").strip()
    if msg_id and msg_id != "0":
        return msg_id
    return f"{fields.get('FromUserName', '')}-{fields.get('CreateTime', '')}"


def _message(xml: str, fields: dict[str, Any]) -> Any:
    """wechatpy's message for `xml`. For a message, its class built on the fields parsed above,
    as `parse_message` does after its own parse (one parse, not two); events go through
    `parse_message`, which also rewrites some of them (scan-to-subscribe and the like)."""
    kind = str(fields["MsgType"]).lower()
    if kind == "event" or kind.startswith("device_"):
        return parse_message(xml)
    return MESSAGE_TYPES.get(kind, UnknownMessage)(dict(fields))


def inbound(xml: str) -> Inbound:
    """Parse a decrypted (or plain) message with wechatpy; BadRequest when it is not one."""
    fields = xml_fields(xml)
    if not fields.get("MsgType") or not fields.get("FromUserName"):
        raise BadRequest("message lacks MsgType or FromUserName")
    try:
        message = _message(xml, fields)
    except (ExpatError, ValueError, KeyError, TypeError, AttributeError):
        raise BadRequest("message could not be parsed") from None
    kind = str(message.type or "unknown")
    text = ""
    if kind == "text":
        text = message.content or ""
    elif kind == "voice":
        text = message.recognition or ""
    return Inbound(
        kind=kind,
        event=str(getattr(message, "event", "") or "") if kind == "event" else "",
        openid=str(message.source),
        account=str(message.target or ""),
        key=message_key(fields),
        text=text,
        media_id=str(fields.get("MediaId") or ""),
        pic_url=str(fields.get("PicUrl") or ""),
        event_key=str(fields.get("EventKey") or "") if kind == "event" else "",
    )
