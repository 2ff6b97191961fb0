"""Content safety: a shared term list and remote providers judging what goes in and comes out.

`terms` matches (Aho-Corasick over case- and width-folded text, streaming included),
`termlist` keeps the list shared by every instance, `providers` asks remote services,
`policy` combines them into a verdict, `replier` applies it where answers leave the core.
"""

from bot.moderation.policy import Moderation, Verdict
from bot.moderation.replier import ModeratedReplier
from bot.moderation.terms import StreamFilter, TermMatcher

__all__ = ["ModeratedReplier", "Moderation", "StreamFilter", "TermMatcher", "Verdict"]
