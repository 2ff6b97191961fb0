"""Output for WeChat: markdown rendered down to plain text, byte-limited parts, reply XML."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence

from wechatpy.replies import ImageReply, TextReply, VoiceReply

from bot.messages import Source

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+(?:\[( |x|X)\]\s+)?")
_QUOTE = re.compile(r"^\s*>\s?")
_RULE = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)[^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)[^)]*\)")
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EMPHASIS = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_CODE = re.compile(r"`([^`\n]+)`")


def _link(match: re.Match[str]) -> str:
    text, url = match.group(1).strip(), match.group(2)
    return url if not text or text == url else f"{text} ({url})"


def _inline(line: str) -> str:
    line = _IMAGE.sub(lambda m: _link(m) if m.group(1) else m.group(2), line)
    line = _LINK.sub(_link, line)
    line = _STRONG.sub(r"\2", line)
    line = _EMPHASIS.sub(r"\1", line)
    line = _STRIKE.sub(r"\1", line)
    return _CODE.sub(r"\1", line)


def _line(line: str) -> str | None:
    if heading := _HEADING.match(line):
        return f"【{_inline(heading.group(1))}】"
    if _RULE.match(line):
        return "——————"
    if _TABLE_RULE.match(line) and "-" in line:
        return None  # a table's |---| row carries no text
    line = _QUOTE.sub("｜", line) if _QUOTE.match(line) else line
    line = _BULLET.sub(lambda m: f"{m.group(1)}• ", line)
    if line.lstrip().startswith("|") and line.rstrip().endswith("|"):
        line = " | ".join(cell.strip() for cell in line.strip().strip("|").split("|"))
    return _inline(line)


def footnotes(sources: Sequence[Source]) -> str:
    """The answer's sources as plain-text footnotes under a rule: `[1] file › heading url`."""
    lines = [f"[{s.number}] {s.label}" + (f" {s.url}" if s.url else "") for s in sources]
    return "\n\n——————\n" + "\n".join(lines) if lines else ""


def plain_text(markdown: str, sources: Sequence[Source] = ()) -> str:
    """Readable plain text: code kept verbatim, headings 【bracketed】, bullets •, links as text (url);
    the sources the answer cites as footnotes at the end."""
    out: list[str] = []
    in_code = False
    for line in markdown.replace("\r\n", "\n").split("\n"):
        if _FENCE.match(line):
            in_code = not in_code
            continue
        rendered = line if in_code else _line(line)
        if rendered is not None:
            out.append(rendered.rstrip())
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()
    return text + footnotes(sources)


_BOUNDARIES = ("\n\n", "\n", "。", "！", "？", ". ", "! ", "? ", "；", "; ", "，", ", ", " ")


def _fit(text: str, limit: int) -> int:
    """How many characters of `text` fit in `limit` UTF-8 bytes."""
    encoded = text.encode("utf-8")[:limit]
    return len(encoded.decode("utf-8", errors="ignore"))


def split_bytes(text: str, limit: int) -> list[str]:
    """Parts of at most `limit` UTF-8 bytes, cut at a paragraph, line, sentence or word if possible."""
    parts: list[str] = []
    rest = text.strip()
    while len(rest.encode("utf-8")) > limit:
        head = rest[: _fit(rest, limit)]
        cut = 0
        for boundary in _BOUNDARIES:
            index = head.rfind(boundary)
            if index >= len(head) // 4:  # a cut near the start would make a uselessly small part
                cut = index + len(boundary)
                break
        cut = cut or len(head)
        parts.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        parts.append(rest)
    return [part for part in parts if part]


def cdata_safe(text: str) -> str:
    """wechatpy does not escape `]]>` inside CDATA; split it so the XML stays well-formed."""
    return text.replace("]]>", "]]]]><![CDATA[>")


def text_reply(openid: str, account: str, content: str, now: float | None = None) -> str:
    """A passive text reply's XML, rendered by wechatpy."""
    reply = TextReply(source=account, target=openid, content=cdata_safe(content),
                      time=int(now if now is not None else time.time()))
    xml: str = reply.render()
    return xml


# An answer is stored as a list of parts (strings); a picture or a voice clip, uploaded as
# temporary media, is a part holding a marker and its media_id. Rendered text never contains a
# NUL character.
_IMAGE_PART = "\x00image:"
_VOICE_PART = "\x00voice:"


def image_part(media_id: str) -> str:
    """The part that stands for an uploaded picture."""
    return _IMAGE_PART + media_id


def image_id(part: str) -> str:
    """The media_id when `part` is a picture, else ""."""
    return part[len(_IMAGE_PART):] if part.startswith(_IMAGE_PART) else ""


def voice_part(media_id: str) -> str:
    """The part that stands for an uploaded voice clip."""
    return _VOICE_PART + media_id


def voice_id(part: str) -> str:
    """The media_id when `part` is a voice clip, else ""."""
    return part[len(_VOICE_PART):] if part.startswith(_VOICE_PART) else ""


def is_media(part: str) -> bool:
    """Whether `part` is an uploaded picture or voice clip (not text)."""
    return part.startswith(("\x00",))


def image_reply(openid: str, account: str, media_id: str, now: float | None = None) -> str:
    """A passive image reply's XML, rendered by wechatpy."""
    reply = ImageReply(source=account, target=openid, media_id=media_id,
                       time=int(now if now is not None else time.time()))
    xml: str = reply.render()
    return xml


def voice_reply(openid: str, account: str, media_id: str, now: float | None = None) -> str:
    """A passive voice reply's XML, rendered by wechatpy."""
    reply = VoiceReply(source=account, target=openid, media_id=media_id,
                       time=int(now if now is not None else time.time()))
    xml: str = reply.render()
    return xml


def part_reply(openid: str, account: str, part: str, now: float | None = None) -> str:
    """The passive reply's XML for one part: a picture, a voice clip or text."""
    if media_id := image_id(part):
        return image_reply(openid, account, media_id, now)
    if media_id := voice_id(part):
        return voice_reply(openid, account, media_id, now)
    return text_reply(openid, account, part, now)
