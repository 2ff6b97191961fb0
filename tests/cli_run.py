"""`python -m bot ...` as a real subprocess: a clean environment for it, and one run with its output.

`run` forks the command from a server that has imported the bot already (tests/cli_fork.py): its
own process, environment and streams, without the ~2 s start-up. `spawn` starts a fresh
interpreter, for the tests that prove a documented command works exactly as typed.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

from tests.conftest import ROOT
from tests.fakes.openai import FakeOpenAI
from tests.procs import clean_environ

TIMEOUT = 60.0  # a command still running after this is a hang


def environment(fake_openai: FakeOpenAI | None = None, **extra: str) -> dict[str, str]:
    """This process's environment without any bot setting, pointed at the fake LLM when given."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "BOT_", "REDIS_", "WECHAT_", "FEISHU_"))}
    env["OPENAI_API_KEY"] = "sk-cli-test"
    if fake_openai is not None:
        env["OPENAI_BASE_URL"] = fake_openai.url
    env.update(extra)
    return env


async def spawn(*args: str, env: dict[str, str], stdin: bytes = b"") -> tuple[int, str, str]:
    """Run `python -m bot *args` in a fresh interpreter: its exit code, stdout and stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=ROOT, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), TIMEOUT)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def run(*args: str, env: dict[str, str], stdin: bytes = b"") -> tuple[int, str, str]:
    """Run `python -m bot *args` in a child of the fork server: its exit code, stdout and stderr."""
    path = await asyncio.to_thread(_FORK_SERVER.socket_path)
    reader, writer = await asyncio.open_unix_connection(path)
    pid = 0
    try:
        request = {"argv": list(args), "env": env, "cwd": str(ROOT), "stdin": stdin.decode("latin-1")}
        writer.write(json.dumps(request).encode() + b"\n")
        pid = int(await asyncio.wait_for(reader.readline(), TIMEOUT))
        line = await asyncio.wait_for(reader.readline(), TIMEOUT)
    except TimeoutError:
        if pid:
            os.kill(pid, signal.SIGKILL)
        raise
    finally:
        writer.close()
        await writer.wait_closed()
    assert line, f"the forked `python -m bot {' '.join(args)}` (pid {pid}) died without a result"
    result = json.loads(line)
    return int(result["code"]), str(result["out"]), str(result["err"])


class _ForkServer:
    """One `python -m tests.cli_fork` for the test run, started on first use, ended at exit."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.workdir = ""

    def socket_path(self) -> str:
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        return os.path.join(self.workdir, "fork.sock")

    def _start(self) -> None:
        self.workdir = tempfile.mkdtemp(prefix="cli-fork-server-")
        # One BLAS thread: the server must be single-threaded when it forks.
        env = {**clean_environ(), "OPENBLAS_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.cli_fork", os.path.join(self.workdir, "fork.sock")],
            cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # stdin: our lifeline
        assert self.proc.stdout is not None
        ready = self.proc.stdout.readline()
        self.proc.stdout.close()
        if ready.strip() != b"ready":
            self.stop()
            raise RuntimeError("the CLI fork server did not start (tests/cli_fork.py)")

    def stop(self) -> None:
        if self.proc is not None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()  # the server's signal to end
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            self.proc = None
        shutil.rmtree(self.workdir, ignore_errors=True)


_FORK_SERVER = _ForkServer()
atexit.register(_FORK_SERVER.stop)
