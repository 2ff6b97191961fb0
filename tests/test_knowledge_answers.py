"""Answers from the operator's documents: the right passage in the prompt, and its citation in
each platform's form (API field, NDJSON done line, WeChat footnotes, Feishu card list)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from adapters import feishu, webhook, wechat
from bot.knowledge.sync import Syncer
from tests.conftest import RunningService, StartService, base_config
from tests.documents import write_library
from tests.fakes.feishu import FakeFeishu, encrypted_request, feishu_env, message_event, post_event, settle
from tests.fakes.openai import FakeOpenAI, call_once, last_tool_result
from tests.fakes.wechat import TOKEN, WeChatPusher, text_xml

QUESTION = "When are refunds paid to my card?"
REFUNDS = "[1] handbook.md › Handbook › Refunds\nRefunds are paid within 30 days"


async def start(start_service: StartService, tmp_path: Path, knowledge: dict[str, Any] | None = None,
                adapters: Any = (webhook.create,), env: dict[str, str] | None = None,
                **sections: Any) -> RunningService:
    """A service whose knowledge folder holds the sample library, already synced."""
    folder = tmp_path / "docs"
    if not folder.exists():
        write_library(folder)
    config = base_config(knowledge={"dir": str(folder), **(knowledge or {})}, **sections)
    service = await start_service(config=config, adapters=list(adapters), env=env)
    kb = service.core.knowledge
    assert kb is not None
    await Syncer(kb.settings, kb.store, service.core.llm).run(folder)
    return service


async def ask(service: RunningService, text: str, stream: bool = False, user: str = "u1"
              ) -> dict[str, Any]:
    async with service.http.post(f"{service.url}/api/chat", headers=service.auth(),
                                 json={"user": user, "text": text, "stream": stream}) as response:
        assert response.status == 200, await response.text()
        if stream:
            return {"lines": [json.loads(line) for line in (await response.text()).splitlines()]}
        answer: dict[str, Any] = await response.json()
        return answer


def system_notes(body: dict[str, Any]) -> list[str]:
    return [m["content"] for m in body["messages"][1:] if m["role"] == "system"]


async def test_the_prompt_carries_the_matching_passage_just_before_the_question(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    service = await start(start_service, tmp_path)
    await ask(service, QUESTION)
    messages = fake_openai.chat_calls[0]["messages"]
    assert messages[-1] == {"role": "user", "content": QUESTION}
    assert messages[-2]["role"] == "system"
    assert REFUNDS in messages[-2]["content"]
    assert "cite each one you use by its number" in messages[-2]["content"]


async def test_passages_do_not_enter_history(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.reply = lambda body: "Within 30 days [1]."
    service = await start(start_service, tmp_path)
    await ask(service, QUESTION)
    assert (await service.services.storage.conversation("webhook:u1"))[1] == [
        {"role": "user", "content": QUESTION}, {"role": "assistant", "content": "Within 30 days [1]."}]


async def test_the_api_answer_lists_the_sources_it_cites_with_links(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.reply = lambda body: "Within 30 days, to the original card [1]."
    service = await start(start_service, tmp_path, {"links": "https://docs.example.com/kb"})
    answer = await ask(service, QUESTION)
    assert answer == {"reply": "Within 30 days, to the original card [1].", "sources": [
        {"n": 1, "document": "handbook.md", "section": "Handbook › Refunds",
         "url": "https://docs.example.com/kb/handbook.md"}]}


async def test_the_stream_done_line_carries_the_sources(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.reply = lambda body: "Within 30 days [1]."
    service = await start(start_service, tmp_path)
    lines = (await ask(service, QUESTION, stream=True))["lines"]
    assert lines[-1] == {"done": True, "error": False, "content": "[DONE]", "sources": [
        {"n": 1, "document": "handbook.md", "section": "Handbook › Refunds", "url": ""}]}


async def test_a_wechat_answer_ends_with_plain_text_footnotes(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.reply = lambda body: "**Within 30 days** [1]."
    service = await start(start_service, tmp_path, adapters=[wechat.create],
                          env={"WECHAT_TOKEN": TOKEN}, wechat={"deadline": 2.0, "hold": 3.0})
    pusher = WeChatPusher(service.url, http=service.http, service=service)
    reply, _ = await pusher.push(text_xml(QUESTION))
    assert reply is not None
    assert reply.content == "Within 30 days [1].\n\n——————\n[1] handbook.md › Handbook › Refunds"


async def test_a_feishu_card_ends_with_its_source_list_as_links(
    start_service: StartService, fake_openai: FakeOpenAI, fake_feishu: FakeFeishu, tmp_path: Path
) -> None:
    fake_openai.reply = lambda body: "Within 30 days [1]."
    service = await start(start_service, tmp_path, {"links": "https://docs.example.com"},
                          adapters=[feishu.create], env=feishu_env(fake_feishu),
                          feishu={"retry_backoff": 0.01, "card_updates_per_second": 5})
    body, headers = encrypted_request(message_event(QUESTION))
    assert (await post_event(service.http, service.url, body, headers))[0] == 200
    await settle(service.services.tasks)
    final = str(fake_feishu.ops("card_content")[-1].body["content"])
    assert final == ("Within 30 days [1].\n\n---\n<font color='grey'>[1] [handbook.md › Handbook › "
                     "Refunds](https://docs.example.com/handbook.md)</font>")


async def test_a_strict_preset_says_it_does_not_know_without_calling_the_model(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    service = await start(start_service, tmp_path, {"min_score": 0.5})
    await ask(service, "/prompt docs")
    answer = await ask(service, "football scores yesterday")
    assert answer["reply"].startswith("I could not find anything about that in the documents")
    assert fake_openai.chat_calls == []


async def test_a_strict_preset_answers_only_from_the_passages_it_is_given(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    service = await start(start_service, tmp_path)
    await ask(service, "/prompt docs")
    await ask(service, QUESTION)
    assert "If they do not contain the answer, say that you do not know" in system_notes(
        fake_openai.chat_calls[0])[0]


async def test_a_preset_that_does_not_use_the_documents_does_not_search_them(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    service = await start(start_service, tmp_path)
    fake_openai.embedded.clear()
    await ask(service, "/prompt translator")
    await ask(service, QUESTION)
    assert fake_openai.embedded == []
    assert system_notes(fake_openai.chat_calls[0]) == []


async def test_an_embeddings_failure_still_gets_an_answer_without_the_documents(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    service = await start(start_service, tmp_path)
    fake_openai.embedding_fail_next = [500]
    answer = await ask(service, QUESTION)
    assert answer == {"reply": f"You said: {QUESTION}"}


async def test_tool_mode_offers_search_knowledge_and_cites_what_it_found(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.tools = call_once("search_knowledge", {"query": "refunds paid card"})
    fake_openai.reply = last_tool_result
    service = await start(start_service, tmp_path, {"mode": "tool"})
    answer = await ask(service, QUESTION)
    first, second = fake_openai.chat_calls
    assert [t["function"]["name"] for t in first["tools"]] == ["search_knowledge"]
    assert system_notes(first) == []  # no retrieval in the prompt: the model searches
    assert REFUNDS in second["messages"][-1]["content"]
    assert answer["sources"][0]["section"] == "Handbook › Refunds"


async def test_an_instance_answers_from_a_sync_another_instance_made(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path, redis_url: str
) -> None:
    other = tmp_path / "later"
    write_library(other)
    env = {"REDIS_URL": redis_url}
    first = await start_service(config=base_config(knowledge={"dir": str(other)}), env=env,
                                adapters=[webhook.create])
    await ask(first, "warm up")  # its index is loaded, and empty
    second = await start(start_service, tmp_path, env=env)  # syncs the shared index
    assert second.core.knowledge is not None
    await ask(first, QUESTION)
    assert REFUNDS in system_notes(fake_openai.chat_calls[-1])[0]
