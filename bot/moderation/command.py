"""`python -m bot moderation add|remove|list|test`: change or try the shared term list."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from bot.moderation.policy import Moderation, Verdict
from bot.moderation.termlist import describe

ACTIONS = ("add", "remove", "list", "test")


async def run(moderation: Moderation, storage_kind: str, action: str, words: Sequence[str]) -> int:
    """Exit status: 0 done (for `test`: nothing flagged), 1 `test` flagged something, 2 misuse."""
    terms = moderation.terms
    if action == "list":
        for term, origin in terms.listing():
            print(f"{term}\t{origin}")
        print(f"{terms.matcher.size} term(s) in force", file=sys.stderr)
        return 0
    if action == "test":
        return await _test(moderation, " ".join(words))
    if storage_kind != "redis":
        print("moderation: REDIS_URL is not set, so there is no shared list to change: a running "
              "service keeps its terms in its own memory. Set REDIS_URL (or edit "
              "moderation.words_file and restart).", file=sys.stderr)
        return 2
    changed = await (terms.add(words) if action == "add" else terms.remove(words))
    if not changed:
        print("moderation: no term given (blank terms are ignored)", file=sys.stderr)
        return 2
    verb = "added" if action == "add" else "removed"
    print(f"{verb}: {describe(changed)}; running instances apply it within "
          f"{moderation.settings.refresh_seconds:g} s")
    return 0


async def _test(moderation: Moderation, text: str) -> int:
    if not text.strip():
        print("moderation test: give the text to try", file=sys.stderr)
        return 2
    flagged = False
    for direction, mode in (("input", moderation.settings.input),
                            ("output", moderation.settings.output)):
        if mode == "off":
            print(f"{direction}: off (not checked)")
            continue
        verdict = await moderation.check(text, direction)
        flagged = flagged or verdict.flagged
        print(f"{direction}: {_outcome(verdict)}")
    return 1 if flagged else 0


def _outcome(verdict: Verdict) -> str:
    if not verdict.flagged:
        failed = f" ({', '.join(verdict.failed)} failed; on_error: open)" if verdict.failed else ""
        return f"passes{failed}"
    who = ", ".join(verdict.flagged_by) or f"{', '.join(verdict.failed)} failed (on_error: closed)"
    terms = f"; terms: {describe(verdict.terms)}" if verdict.terms else ""
    if verdict.refuse:
        return f"refused (flagged by {who}{terms})"
    return f"masked (flagged by {who}{terms}): {verdict.text}"
