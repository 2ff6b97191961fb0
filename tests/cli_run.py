"""`python -m bot ...` as a real subprocess: a clean environment for it, and one run with its output."""

from __future__ import annotations

import asyncio
import os
import sys

from tests.conftest import ROOT
from tests.fakes.openai import FakeOpenAI


def environment(fake_openai: FakeOpenAI | None = None, **extra: str) -> dict[str, str]:
    """This process's environment without any bot setting, pointed at the fake LLM when given."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "BOT_", "REDIS_", "WECHAT_", "FEISHU_"))}
    env["OPENAI_API_KEY"] = "sk-cli-test"
    if fake_openai is not None:
        env["OPENAI_BASE_URL"] = fake_openai.url
    env.update(extra)
    return env


async def run(*args: str, env: dict[str, str], stdin: bytes = b"") -> tuple[int, str, str]:
    """Run `python -m bot *args` to completion: its exit code, stdout and stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=ROOT, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
