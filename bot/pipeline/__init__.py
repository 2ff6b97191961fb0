"""The processing pipeline: one ordered list of steps, each `async (ctx, call_next)`.

A platform's retry of a message never reaches it: each adapter claims its messages first (the
WeChat record, the Feishu claim, the webhook's idempotency key), where its retry rules live.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.accounts import Accounts
from bot.audit import Auditor
from bot.llm import LLMClient
from bot.messages import Incoming
from bot.metrics import Metrics
from bot.moderation import Moderation
from bot.pipeline.account import Account
from bot.pipeline.answer import CallLLM, Respond
from bot.pipeline.clean import CleanInput
from bot.pipeline.commands import Commands
from bot.pipeline.context import Context, Next, Step
from bot.pipeline.guard import Guard
from bot.pipeline.keywords import Keywords
from bot.pipeline.limits import Limits
from bot.pipeline.media import Media
from bot.pipeline.moderate import ModerateInput, ModerateOutput
from bot.pipeline.observe import Observe
from bot.pipeline.pictures import PictureMemory, Vision
from bot.pipeline.prompt import BuildPrompt, SaveHistory
from bot.pipeline.quota import Quota
from bot.pipeline.record import AuditTrail
from bot.pipeline.route import Routing
from bot.pipeline.speech import Speak
from bot.platform import Replier
from bot.prompts import Presets
from bot.settings import Settings
from bot.storage import Storage
from bot.texts import Texts
from bot.usage import UsageLedger

if TYPE_CHECKING:
    from bot.knowledge.base import KnowledgeBase
    from bot.tools.loop import ToolLoop

__all__ = ["Context", "Pipeline", "Step", "build_steps"]


def build_steps(
    settings: Settings, storage: Storage, llm: LLMClient, presets: Presets, texts: Texts,
    metrics: Metrics, moderation: Moderation, ledger: UsageLedger | None = None,
    auditor: Auditor | None = None, knowledge: KnowledgeBase | None = None,
    tools: ToolLoop | None = None, accounts: Accounts | None = None,
) -> list[Step]:
    """The steps, outermost first. Order matters; each comment says why a step sits where it does."""
    operator = settings.operator
    ledger = ledger or UsageLedger(storage, operator.usage_retention_days)
    quota = Quota(settings.limits, ledger, texts)
    accounts = accounts or Accounts()
    memory = PictureMemory(storage, settings.image_edit_window)
    retrieve: list[Step] = []
    if knowledge is not None and settings.knowledge.mode == "auto":
        from bot.pipeline.knowledge import Retrieve

        retrieve.append(Retrieve(knowledge, texts))
    return [
        # Outermost: one log line and one metric per message, whatever happens further in.
        Observe(metrics),
        # The single catch point, so every failure below still becomes a reply the user reads.
        Guard(texts, metrics),
        # Pure and cheap; before every step that reads a per-chat setting (limits, preset, model).
        Routing(operator.routes, accounts),
        # Around everything else so refusals, failures and the reply are all recorded.
        AuditTrail(auditor or Auditor(storage, operator.audit)),
        # Before any work the limits protect (a platform's retry was dropped by its adapter).
        Limits(settings.limits, storage, texts),
        # Around every step that may call a model (transcription, /image, the answer): what they
        # cost is counted once the message is done; refused messages are not counted.
        Account(ledger),
        # Voice becomes text before anything reads the text (a spoken command still works); a
        # picture is kept for `/image` edits before any step may answer without the model.
        Media(llm, texts, settings.llm.pictures, memory),
        # Normalise first, so "  /reset " is still a command and empty input never costs a call.
        CleanInput(settings.max_input_chars, texts),
        # On the cleaned, length-capped text (a spoken message is text by now); before commands,
        # so a flagged `/image` prompt is refused too, and before anything reaches the model.
        ModerateInput(moderation, texts),
        # Like a command (no LLM, not history, free of quota), but the operator's own words: on
        # the cleaned text, after moderation of the input has seen it, before commands and quota.
        Keywords(accounts),
        # Commands are answered without the LLM and are not part of the conversation's history.
        Commands(storage, presets, texts, llm, settings.llm, memory, help_footer=quota.footer),
        # After commands (/help and /reset must work with the quota used up), before the call.
        quota,
        # Preset + history + new message; degrades to no history when storage is down.
        BuildPrompt(storage, presets, settings.history, settings.llm.pictures),
        # Right after the prompt names the model (preset, route, /model) and holds the pictures;
        # around the call, whose refusal of pictures it remembers for that model.
        Vision(storage, settings.llm, texts),
        # Wraps the answer: history is written only once a successful reply has gone out.
        SaveHistory(storage, settings.history),
        # Outside ModerateOutput, so what is spoken is the text as moderated (masked or refused);
        # inside the commands and the guard: command answers and errors are not spoken.
        Speak(llm, settings.voice_reply, texts),
        # Inside SaveHistory, so a flagged answer is known before history is written; around the
        # LLM call and the reply, the one place every delta and the final text pass.
        ModerateOutput(moderation, texts),
        # Right before the model: it needs the built prompt and preset, and its passages must
        # not reach history (they are context of this answer, and may change with the documents).
        *retrieve,
        # The model call (with the tool loop when tools are on), streamed to repliers that show
        # deltas, reasoning stripped.
        CallLLM(llm, settings.llm.models, tools),
        # Last: the platform's formatter hook and delivery.
        Respond(texts),
    ]


async def _end(ctx: Context) -> None:
    return None


class Pipeline:
    """Runs an `Incoming` through the steps with the adapter's replier."""

    def __init__(self, steps: Sequence[Step], texts: Texts | None = None) -> None:
        self._steps = tuple(steps)
        self._texts = texts  # the steps' texts: each message hears its account's
        chain: Next = _end
        for step in reversed(self._steps):
            chain = _link(step, chain)
        self._chain = chain

    async def handle(self, incoming: Incoming, replier: Replier) -> Context:
        """Process one message; returns the final context (for adapters and tests)."""
        ctx = Context(incoming=incoming, replier=replier)
        if self._texts is None:
            await self._chain(ctx)
            return ctx
        with self._texts.speaking_for(incoming.platform, incoming.account):
            await self._chain(ctx)
        return ctx


def _link(step: Step, call_next: Next) -> Next:
    async def run(ctx: Context) -> None:
        await step(ctx, call_next)

    return run
