"""The moderation policy: every provider's judgement combined into one verdict per text.

Input: anything flagged is refused. Output in `mask` mode: term-list matches (and terms a hook
names) are masked; a flag that names no maskable term (the OpenAI endpoint's categories) refuses
the answer. Output in `refuse` mode: anything flagged is refused. A provider that fails counts
as "not flagged" with `on_error: open` and as "refuse" with `on_error: closed`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import NamedTuple

import aiohttp

from bot.errors import UpstreamError
from bot.llm import LLMClient
from bot.metrics import Metrics
from bot.moderation.providers import HTTPHook, Judgement, OpenAIModeration, Provider
from bot.moderation.termlist import SharedTerms
from bot.moderation.terms import StreamFilter, TermMatcher
from bot.platform import Check
from bot.settings import ModerationSettings
from bot.storage import Storage

log = logging.getLogger(__name__)


class Verdict(NamedTuple):
    """What may be shown of one text, and who flagged it (a tuple: one is made per message,
    and a frozen dataclass took 3.5 µs to build, as long as the term search itself)."""

    text: str  # the text, masked where terms matched
    flagged_by: tuple[str, ...] = ()
    refuse: bool = False  # replace the whole text with the refusal
    terms: tuple[str, ...] = ()  # term-list matches (folded forms)
    late_masks: bool = False  # masks only a remote provider knew of (a stream could not apply them)
    failed: tuple[str, ...] = ()  # providers that could not answer

    @property
    def flagged(self) -> bool:
        """True when the text is not shown as it is."""
        return bool(self.flagged_by) or self.refuse

    @property
    def unavailable(self) -> bool:
        """Refused only because a provider failed (`on_error: closed`)."""
        return self.refuse and not self.flagged_by


class Moderation:
    """The process's moderation: the shared term list and the configured remote providers."""

    def __init__(self, settings: ModerationSettings, storage: Storage, llm: LLMClient,
                 http: aiohttp.ClientSession, metrics: Metrics) -> None:
        self.settings = settings
        self._metrics = metrics
        self.terms = SharedTerms(storage, settings.words_file, settings.refresh_seconds)
        self.providers: list[Provider] = []
        if settings.openai:
            self.providers.append(OpenAIModeration(llm, settings.openai_model, settings.timeout))
        if settings.http_url:
            self.providers.append(HTTPHook(http, settings.http_url, settings.http_token,
                                           settings.timeout))

    @property
    def input_on(self) -> bool:
        """Whether incoming messages are checked."""
        return self.settings.input != "off"

    @property
    def output_on(self) -> bool:
        """Whether answers are checked."""
        return self.settings.output != "off"

    async def start(self, watch: bool = True) -> None:
        """Load the term list (and follow its changes unless both directions are off)."""
        await self.terms.start(watch=watch and (self.input_on or self.output_on))

    async def stop(self) -> None:
        """Stop following the term list."""
        await self.terms.stop()

    def stream_filter(self) -> StreamFilter:
        """A filter for one streamed answer, on the matcher in force now."""
        return StreamFilter(self.terms.matcher)

    async def check(self, text: str, direction: str) -> Verdict:
        """The verdict on `text` ("input" or "output") under the configured policy."""
        found = self.terms.matcher.find(text)
        masking = direction == "output" and self.settings.output == "mask"
        flagged_by: tuple[str, ...] = ("terms",) if found else ()
        if found and not masking:
            return self._counted(direction, Verdict(text, flagged_by, True, found.terms))
        shown, refuse, late = found.masked, False, False
        failed: list[str] = []
        for provider, judged in zip(self.providers, await self._judge(text, direction), strict=True):
            if isinstance(judged, UpstreamError):
                log.warning("moderation: provider %s failed (%s), on_error=%s",
                            provider.name, judged, self.settings.on_error)
                self._metrics.moderation_errors.labels(provider.name).inc()
                failed.append(provider.name)
                refuse = refuse or self.settings.on_error == "closed"
            elif judged.flagged:
                flagged_by += (provider.name,)
                named = TermMatcher(judged.terms) if masking else None
                if named is not None and named.find(text):
                    masked = named.find(shown).masked
                    shown, late = masked, late or masked != shown
                else:
                    refuse = True  # nothing to mask: the whole answer goes
        verdict = Verdict(shown, flagged_by, refuse, found.terms, late, tuple(failed))
        return self._counted(direction, verdict)

    async def _judge(self, text: str, direction: str) -> list[Judgement | UpstreamError]:
        """Every remote provider at once; a failure is returned, not raised."""
        if not self.providers:
            return []  # the common case: the term list alone, no task to gather

        async def one(provider: Provider) -> Judgement | UpstreamError:
            try:
                return await provider.judge(text, direction)
            except UpstreamError as exc:
                return exc

        return list(await asyncio.gather(*(one(p) for p in self.providers)))

    def _counted(self, direction: str, verdict: Verdict) -> Verdict:
        for name in verdict.flagged_by:
            self._metrics.moderation.labels(direction, name).inc()
        return verdict

    async def probe(self) -> list[Check]:
        """One `python -m bot check` line per provider."""
        terms = self.terms
        results = [Check("moderation terms", True,
                         f"{terms.matcher.size} term(s) in force (file {len(terms.file_terms)}, "
                         f"added {len(terms.added)}, removed {len(terms.removed)}); "
                         f"input {self.settings.input}, output {self.settings.output}")]
        for provider, judged in zip(self.providers, await self._judge("hello", "input"), strict=True):
            name = f"moderation {provider.name}"
            if isinstance(judged, UpstreamError):
                results.append(Check(name, False, f"{judged.kind}: {judged}"))
            else:
                results.append(Check(name, True, "answered"))
        return results
