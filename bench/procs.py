"""Processes of a run (service, bare handlers, fake LLM, Redis) and what /proc says about them."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cores() -> list[int]:
    """The CPUs this process may run on."""
    return sorted(os.sched_getaffinity(0))


def pin(pid: int, cpus: set[int]) -> None:
    """Restrict `pid` (and threads it starts later) to `cpus`; a no-op on a one-core machine."""
    if len(cores()) > 1:
        os.sched_setaffinity(pid, cpus)


class Proc:
    """A child process on a port; `stop` ends it by its own pid."""

    def __init__(self, name: str, argv: list[str], port: int, env: dict[str, str] | None = None,
                 log: Path | None = None) -> None:
        self.name, self.port = name, port
        out = log.open("ab") if log else subprocess.DEVNULL
        self.popen = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **(env or {})},
                                      stdout=out, stderr=out)
        if log and not isinstance(out, int):
            out.close()

    @property
    def pid(self) -> int:
        """The child's pid."""
        return self.popen.pid

    def wait_port(self, seconds: float = 30.0) -> None:
        """Until the port accepts connections; RuntimeError if the child died or took too long."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.popen.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not listen on {self.port} within {seconds} s")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a bound."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=25)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the process (all its threads)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def memory_kb(self, field: str = "VmRSS") -> int:
        """A /proc/<pid>/status figure in KiB (VmRSS now, VmHWM the peak since the last reset)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        return 0

    def reset_peak(self) -> None:
        """Reset VmHWM to the current RSS (Linux: write 5 to clear_refs)."""
        with contextlib.suppress(OSError):
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")


def python(module: str, *args: str) -> list[str]:
    """argv for `python -m module args`."""
    return [sys.executable, "-m", module, *args]


def redis(workdir: Path) -> Proc:
    """A private redis-server on a free loopback port, nothing persisted."""
    port = free_port()
    proc = Proc("redis", ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", "--dir", str(workdir), "--maxclients", "10000"],
                port)
    proc.wait_port()
    return proc
