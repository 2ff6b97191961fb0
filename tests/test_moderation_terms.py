"""The term matcher and its streaming filter: folding, masks of the original length, deltas."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.moderation.terms import StreamFilter, TermMatcher, fold_term


def streamed(matcher: TermMatcher, pieces: list[str]) -> list[str]:
    """What a client would be shown, delta by delta, ending with the flush."""
    stream = StreamFilter(matcher)
    return [stream.feed(piece) for piece in pieces] + [stream.flush()]


def test_a_term_is_masked_with_one_star_per_character() -> None:
    assert TermMatcher(["secret"]).find("the secret plan").masked == "the ****** plan"


def test_matching_ignores_case() -> None:
    assert TermMatcher(["Secret"]).find("SECRET and secret").masked == "****** and ******"


def test_full_width_and_half_width_forms_are_the_same_character() -> None:
    matcher = TermMatcher(["abc123", "ガ"])
    assert matcher.find("ＡＢＣ１２３ ｶﾞ").masked == "****** **"


def test_a_mask_keeps_the_original_length_when_folding_changes_it() -> None:
    # "ﬁ" folds to two characters and "ｶﾞ" to a composed pair: masks still cover the originals
    text = "a ﬁx, ｶﾞ and ß"
    assert TermMatcher(["fix", "ガ", "ss"]).find(text).masked == "a **, ** and *"


def test_chinese_terms_are_found_inside_text_without_spaces() -> None:
    found = TermMatcher(["敏感词"]).find("这是一个敏感词的例子")
    assert (found.terms, found.masked) == (("敏感词",), "这是一个***的例子")


def test_overlapping_terms_are_all_masked() -> None:
    assert TermMatcher(["abc", "cde"]).find("xabcdex").masked == "x*****x"


def test_text_without_a_term_is_unchanged_and_not_found() -> None:
    found = TermMatcher(["secret"]).find("nothing to see")
    assert (bool(found), found.masked) == (False, "nothing to see")


def test_found_terms_are_reported_in_their_folded_form() -> None:
    assert TermMatcher(["ＳＥＣＲＥＴ"]).find("a Secret").terms == ("secret",)


def test_blank_terms_are_ignored() -> None:
    assert TermMatcher(["", "   ", "x"]).size == 1


def test_fold_term_trims_and_folds() -> None:
    assert fold_term("  Ｈｅｌｌｏ ") == "hello"


def test_a_term_split_across_deltas_is_never_shown() -> None:
    shown = streamed(TermMatcher(["secret"]), ["the sec", "r", "et plan"])
    assert "".join(shown) == "the ****** plan"
    assert not any("sec" in piece for piece in shown)


def test_the_stream_holds_back_only_what_could_begin_a_term() -> None:
    shown = streamed(TermMatcher(["secret"]), ["hello se", "nd it"])
    assert shown == ["hello ", "send it", ""]


def test_text_that_cannot_begin_a_term_passes_at_once() -> None:
    assert streamed(TermMatcher(["secret"]), ["hello", " world"]) == ["hello", " world", ""]


def test_the_end_of_the_stream_releases_a_held_back_prefix() -> None:
    assert streamed(TermMatcher(["secret"]), ["ends with sec"]) == ["ends with ", "sec"]


def test_a_term_ending_inside_the_held_back_part_is_masked_when_released() -> None:
    # "abc" is found while "c" is still held back as the start of "cde"
    assert "".join(streamed(TermMatcher(["abc", "cde"]), ["ab", "c", "x"])) == "***x"


def test_a_split_full_width_term_is_masked_in_the_stream() -> None:
    assert "".join(streamed(TermMatcher(["secret"]), ["ＳＥＣ", "ＲＥＴ!"])) == "******!"


def test_with_no_terms_the_stream_passes_everything_unchanged() -> None:
    assert streamed(TermMatcher(()), ["a", "b"]) == ["a", "b", ""]


ALPHABET = "abc敏感ＡＢﬁ "
pieces = st.lists(st.text(alphabet=ALPHABET, max_size=4), max_size=12)
term_lists = st.lists(st.text(alphabet="abc敏感", min_size=1, max_size=4), min_size=1, max_size=5)


@settings(max_examples=500, deadline=None)
@given(terms=term_lists, deltas=pieces)
def test_any_split_shows_exactly_the_masked_whole_text(terms: list[str], deltas: list[str]) -> None:
    matcher = TermMatcher(terms)
    assert "".join(streamed(matcher, deltas)) == matcher.find("".join(deltas)).masked


@settings(max_examples=500, deadline=None)
@given(terms=term_lists, deltas=pieces)
def test_no_prefix_shown_so_far_ever_contains_a_term(terms: list[str], deltas: list[str]) -> None:
    matcher = TermMatcher(terms)
    shown = ""
    for piece in streamed(matcher, deltas):
        shown += piece
        assert not matcher.find(shown)
