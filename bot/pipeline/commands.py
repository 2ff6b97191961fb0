"""Commands (`/help`, `/reset`, `/prompt`): answered here, never sent to the LLM or kept in history."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.errors import StorageUnavailable
from bot.llm import LLMClient
from bot.messages import Image, Reply
from bot.pipeline.context import Context, Next, deliver
from bot.pipeline.pictures import PictureMemory, editable
from bot.pipeline.route import allowed_models
from bot.prompts import Presets
from bot.settings import LLMSettings
from bot.storage import Storage
from bot.texts import Texts

PREFS_TTL = 180 * 24 * 3600.0  # a chosen preset or model outlives any idle history

Handler = Callable[[Context, str], Awaitable[str | Reply]]
Footer = Callable[[Context], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class Command:
    """A command: its slash names, the bare phrases that also trigger it, and its handler."""

    names: tuple[str, ...]
    phrases: tuple[str, ...]
    handler: Handler


class Commands:
    """Dispatches `/name argument` and bare phrases like 清除记忆; an unknown `/x` gets the help."""

    def __init__(
        self, storage: Storage, presets: Presets, texts: Texts, llm: LLMClient, settings: LLMSettings,
        memory: PictureMemory, help_footer: Footer | None = None,
    ) -> None:
        self._storage = storage
        self._presets = presets
        self._texts = texts
        self._llm = llm
        self._memory = memory
        self._default_model = settings.model
        self._models = settings.models
        self._help_footer = help_footer  # e.g. the tokens left today
        self._slash: dict[str, Handler] = {}
        self._phrases: dict[str, Handler] = {}
        for command in (
            Command(("help", "h", "帮助"), ("帮助", "菜单"), self._help),
            Command(("reset", "clear", "new", "清除记忆"), ("清除记忆", "清空记忆", "重置对话"),
                    self._reset),
            Command(("prompt", "preset", "角色"), ("角色列表",), self._prompt),
            Command(("model", "models", "模型"), ("模型列表",), self._model),
            Command(("image", "img", "draw", "画图", "画"), (), self._image),
        ):
            self._slash.update(dict.fromkeys(command.names, command.handler))
            self._phrases.update(dict.fromkeys(command.phrases, command.handler))

    def match(self, text: str) -> tuple[Handler, str] | None:
        """The handler and its argument when `text` is a command."""
        text = text.strip()
        if text in self._phrases:
            return self._phrases[text], ""
        if not text.startswith(("/", "／")):
            return None
        head, _, argument = text[1:].partition(" ")
        return self._slash.get(head.lower(), self._help), argument.strip()

    async def __call__(self, ctx: Context, call_next: Next) -> None:
        """Answer a command, or pass the message on."""
        matched = self.match(ctx.incoming.text)
        if matched is None:
            await call_next(ctx)
            return
        handler, argument = matched
        ctx.outcome = "command"
        answer = await handler(ctx, argument)
        await deliver(ctx, answer if isinstance(answer, Reply) else Reply(answer, kind="command"))

    async def _help(self, ctx: Context, argument: str) -> str:
        footer = await self._help_footer(ctx) if self._help_footer else ""
        return f"{self._texts.get('help')}\n\n{footer}" if footer else self._texts.get("help")

    async def _reset(self, ctx: Context, argument: str) -> str:
        await self._storage.clear_history(ctx.incoming.conversation.id)
        return self._texts.get("reset_done")

    async def _prompt(self, ctx: Context, argument: str) -> str:
        conversation = ctx.incoming.conversation.id
        if not argument:
            prefs, _ = await self._storage.conversation(conversation)
            current = self._presets.get(prefs.get("preset")).name
            lines = "\n".join(
                f"{'• ' if name == current else '  '}{name} — {self._presets.get(name).description}"
                for name in self._presets.names()
            )
            return self._texts.get("prompt_list", current=current, lines=lines)
        if argument not in self._presets:
            return self._texts.get("prompt_unknown", name=argument)
        await self._storage.set_pref(conversation, "preset", argument, PREFS_TTL)
        await self._storage.clear_history(conversation)  # the old persona's turns would confuse it
        return self._texts.get("prompt_switched", name=argument)

    async def _model(self, ctx: Context, argument: str) -> str:
        conversation = ctx.incoming.conversation.id
        prefs, _ = await self._storage.conversation(conversation)
        models = allowed_models(ctx.route, self._models)
        chosen = prefs.get("model")
        current = (chosen if chosen in models else None) or ctx.route.model or self._default_model
        if not models:
            return self._texts.get("model_fixed", current=current)
        if not argument:
            lines = "\n".join(f"{'• ' if m == current else '  '}{m}" for m in models)
            return self._texts.get("model_list", current=current, lines=lines)
        if argument not in models:
            return self._texts.get("model_unknown", name=argument)
        await self._storage.set_pref(conversation, "model", argument, PREFS_TTL)
        return self._texts.get("model_switched", name=argument)

    async def _image(self, ctx: Context, argument: str) -> str | Reply:
        if not argument:
            return self._texts.get("image_usage")
        await ctx.replier.started()
        conversation = ctx.incoming.conversation.id
        picture = await self._picture(ctx)
        if picture is None:
            image = await self._llm.generate_image(argument)
            return Reply(self._texts.get("image_done"), kind="command", images=(image,))
        image = await self._llm.edit_image(picture, argument)
        await self._memory.keep(conversation, image)  # a next /image refines this one
        return Reply(self._texts.get("image_edited"), kind="command", images=(image,))

    async def _picture(self, ctx: Context) -> Image | None:
        """The picture to edit: one sent with the command, else one sent just before."""
        for attachment in ctx.incoming.attachments:
            if attachment.kind == "image" and (picture := editable(attachment)):
                return picture
        try:
            return await self._memory.recall(ctx.incoming.conversation.id)
        except StorageUnavailable:
            return None  # without storage, no kept picture: draw a new one
