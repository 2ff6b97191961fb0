"""`python -m bot serve` as a real subprocess: start on a free loopback port, kill, read its logs and RSS.

The fakes (OpenAI, WeChat, Feishu) run in the test's event loop on loopback; the subprocess is
pointed at them through the environment, exactly as an operator points it at the real services.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.redis_proc import free_port

ROOT = Path(__file__).resolve().parent.parent
# Never inherit the developer's or CI's real configuration into a service under test.
_OWN_PREFIXES = ("OPENAI_", "REDIS_", "WECHAT_", "FEISHU_", "BOT_")


def clean_environ() -> dict[str, str]:
    """This process's environment without any of the service's own variables."""
    return {k: v for k, v in os.environ.items() if not k.startswith(_OWN_PREFIXES)}


class ServeProcess:
    """One `python -m bot serve` child on 127.0.0.1; stdout and stderr go to a file."""

    def __init__(self, workdir: Path, name: str, config: dict[str, Any], env: dict[str, str]) -> None:
        self.name = name
        self.port = free_port()
        self.config_path = workdir / f"{name}.yaml"
        self.config_path.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
        self.log_path = workdir / f"{name}.log"
        self.env = env
        self.root = ROOT  # the checkout whose `bot` runs (bench/connections.py compares two)
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    async def start(self, http: aiohttp.ClientSession, within: float = 90.0) -> ServeProcess:
        """Spawn and wait (bounded) until `/healthz` answers."""
        self._spawn()
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited: {self.log()[-2000:]}")
            try:
                async with http.get(f"{self.url}/healthz",
                                    timeout=aiohttp.ClientTimeout(total=1)) as response:
                    if response.status == 200:
                        return self
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.05)
        self.kill()
        raise RuntimeError(f"{self.name} did not answer /healthz within {within} s")

    def _spawn(self) -> None:
        argv = [sys.executable, "-m", "bot", "serve", "--config", str(self.config_path),
                "--host", "127.0.0.1", "--port", str(self.port)]
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(argv, cwd=self.root, env={**clean_environ(), **self.env},
                                          stdout=log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        """SIGKILL: no drain, no cleanup - a crash."""
        if self.alive():
            assert self.popen is not None
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(timeout=10)

    async def terminate(self, within: float = 15.0) -> int | None:
        """SIGTERM, wait without blocking the event loop (the fakes keep answering), then SIGKILL."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                await asyncio.to_thread(self.popen.wait, within)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.popen.returncode

    def rss_kib(self) -> int:
        """Resident memory now (VmRSS from /proc), in KiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS line")

    def log(self) -> str:
        """Everything the process wrote to stdout and stderr so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")
