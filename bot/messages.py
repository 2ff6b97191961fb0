"""Neutral message types: what adapters hand to the pipeline and what comes back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Conversation:
    """Whose history this is. The adapter decides the key (openid, chat+user, API user)."""

    platform: str
    key: str
    account: str = "default"  # the platform's account (app); other accounts' ids never meet

    @property
    def id(self) -> str:
        """Storage-safe identifier, unique across platforms and their accounts (`default`
        keeps the form it had before several accounts existed)."""
        if self.account == "default":
            return f"{self.platform}:{self.key}"
        return f"{self.platform}@{self.account}:{self.key}"


@dataclass(frozen=True, slots=True)
class Attachment:
    """Media that came with a message, already downloaded or addressable by URL."""

    kind: Literal["image", "audio", "file"]
    mime: str = "application/octet-stream"
    data: bytes | None = None
    url: str | None = None
    name: str = ""


@dataclass(frozen=True, slots=True)
class Incoming:
    """One message from a person, normalised by an adapter."""

    platform: str
    conversation: Conversation
    user_id: str
    text: str
    message_id: str = ""  # the platform's id of the message (the audit trail records it)
    attachments: tuple[Attachment, ...] = ()
    user_name: str = ""
    account: str = "default"  # which of the platform's accounts (apps) it came to
    chat: str = ""  # the platform's chat (group) id; empty = the direct chat of `conversation`
    voice_reply: bool = False  # the sender spoke (or asked for a spoken answer)

    @property
    def chat_key(self) -> str:
        """The chat for routing, quotas and usage: the group, or the direct conversation."""
        return self.chat or self.conversation.key


@dataclass(frozen=True, slots=True)
class Image:
    """A picture in a reply: bytes or a URL."""

    data: bytes | None = None
    url: str | None = None
    mime: str = "image/png"


@dataclass(frozen=True, slots=True)
class Audio:
    """Speech in a reply (mp3 from the speech endpoint); adapters convert what they need."""

    data: bytes
    mime: str = "audio/mpeg"


@dataclass(frozen=True, slots=True)
class Source:
    """A passage an answer drew on, numbered as the answer cites it (`[n]`); each platform
    renders the list its own way (footnotes, a card section, a JSON field)."""

    number: int
    document: str  # the file's path inside the knowledge folder
    section: str = ""  # heading path ("Install › Linux") or page ("p. 3")
    url: str = ""  # a link to the document, when the operator published them

    @property
    def label(self) -> str:
        """`document › section`, or the document alone."""
        return f"{self.document} › {self.section}" if self.section else self.document


ReplyKind = Literal["answer", "command", "notice", "refused", "error"]
"""`refused`: a content-policy refusal (moderation, or the chat or image endpoint declining), said
in friendly words; not a failure."""


@dataclass(frozen=True, slots=True)
class Reply:
    """What the bot says back. `text` is markdown; adapters render it for their platform."""

    text: str
    kind: ReplyKind = "answer"
    images: tuple[Image, ...] = ()
    sources: tuple[Source, ...] = ()
    audio: Audio | None = None  # the answer spoken, when a voice answer was wanted

    @property
    def ok(self) -> bool:
        """True unless this reply reports a failure."""
        return self.kind != "error"
