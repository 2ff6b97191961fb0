"""Error kinds: each has its user text and its HTTP status, so none falls back silently."""

from __future__ import annotations

import pytest

from bot.errors import ErrorKind
from bot.texts import DEFAULTS


@pytest.mark.parametrize("kind", list(ErrorKind), ids=lambda k: k.value)
def test_every_error_kind_has_a_default_user_text(kind: ErrorKind) -> None:
    assert DEFAULTS.get(kind.text_key)


def test_a_content_policy_refusal_is_an_answer() -> None:
    assert ErrorKind.LLM_CONTENT_FILTER.refusal
    assert ErrorKind.LLM_CONTENT_FILTER.status == 200


@pytest.mark.parametrize(("kind", "status"), [
    (ErrorKind.LLM_TIMEOUT, 502), (ErrorKind.LLM_SERVER, 502), (ErrorKind.UPSTREAM, 502),
    (ErrorKind.STORAGE, 503), (ErrorKind.INTERNAL, 500),
])
def test_failures_answer_the_status_of_their_cause(kind: ErrorKind, status: int) -> None:
    assert (kind.status, kind.refusal) == (status, False)
