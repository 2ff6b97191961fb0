"""The picture a user just sent, kept for `/image` edits, and vision `auto`: pictures go to the
model until the endpoint says it takes none, which is then remembered for that model."""

from __future__ import annotations

import base64
import logging

from bot.errors import ErrorKind, StorageUnavailable, UpstreamError
from bot.messages import Attachment, Image, Reply
from bot.pipeline.context import Context, Next, deliver
from bot.pipeline.route import choose_model
from bot.settings import LLMSettings
from bot.storage import Storage
from bot.texts import Texts

log = logging.getLogger(__name__)

MAX_KEPT_BYTES = 4 * 1024 * 1024  # larger pictures are not kept (nor sent to images/edits)
BLIND_TTL = 7 * 24 * 3600.0  # an operator may switch the endpoint's model behind the same name
EDITABLE = ("image/png", "image/jpeg", "image/webp")  # what images/edits accepts


def _picture_key(conversation: str) -> str:
    return f"picture:{{{conversation}}}"  # hash-tagged per conversation


def editable(picture: Attachment | Image) -> Image | None:
    """The picture as images/edits takes it (PNG, JPEG or WebP within the size cap), or None."""
    mime = picture.mime.split(";")[0].strip().lower().replace("image/jpg", "image/jpeg")
    data = picture.data
    if data is None or mime not in EDITABLE or len(data) > MAX_KEPT_BYTES:
        return None
    return Image(data=data, mime=mime)


class PictureMemory:
    """One picture per conversation, for `image_edit_window` seconds, within a size cap."""

    def __init__(self, storage: Storage, window: float) -> None:
        self._storage = storage
        self._window = window

    async def keep(self, conversation: str, picture: Attachment | Image) -> None:
        """Keep the newest picture (one the model cannot edit, or too large, is not kept)."""
        image = editable(picture)
        if not self._window or image is None or image.data is None:
            return
        try:
            await self._storage.set(_picture_key(conversation),
                                    f"{image.mime};{base64.b64encode(image.data).decode()}",
                                    self._window)
        except StorageUnavailable as exc:  # edits are a convenience: the message goes on
            log.warning("could not keep the picture for /image edits: %s", exc)

    async def recall(self, conversation: str) -> Image | None:
        """The picture sent within the window, if any."""
        if not self._window:
            return None
        value = await self._storage.get(_picture_key(conversation))
        if not value:
            return None
        mime, _, data = value.partition(";")
        return Image(data=base64.b64decode(data), mime=mime)


def _has_pictures(ctx: Context) -> bool:
    content = ctx.messages[-1].get("content") if ctx.messages else None
    return isinstance(content, list) and any(p.get("type") == "image_url" for p in content)


class Vision:
    """With `llm.vision: auto`, a model the endpoint said takes no pictures gets none again:
    the user is told once, when that is found out, and later pictures get the polite text."""

    def __init__(self, storage: Storage, settings: LLMSettings, texts: Texts) -> None:
        self._storage = storage
        self._auto = settings.vision == "auto"
        self._default = settings.model
        self._models = settings.models
        self._texts = texts

    async def __call__(self, ctx: Context, call_next: Next) -> None:
        """Check what is known about the model, ask, and remember a refusal."""
        if not (self._auto and _has_pictures(ctx)):
            await call_next(ctx)
            return
        model = choose_model(ctx, self._models) or self._default
        key = f"vision:blind:{model}"
        if await self._blind(key):
            ctx.outcome = "rejected:image"
            await deliver(ctx, Reply(self._texts.get("image_unsupported"), kind="notice"))
            return
        try:
            await call_next(ctx)
        except UpstreamError as exc:
            if exc.kind is not ErrorKind.LLM_NO_VISION or ctx.delivered:
                raise
            log.info("vision: model %s takes no pictures (%s); not sending it any more", model, exc)
            try:
                await self._storage.set(key, "1", BLIND_TTL)
            except StorageUnavailable as exc:
                log.warning("vision: could not remember it: %s", exc)
            ctx.outcome = "rejected:image"
            await deliver(ctx, Reply(self._texts.get("image_blind"), kind="notice"))

    async def _blind(self, key: str) -> bool:
        try:
            return bool(await self._storage.get(key))
        except StorageUnavailable:
            return False  # unknown: send the picture, the endpoint will say
