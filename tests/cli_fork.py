"""A fork server for CLI tests: `python -m tests.cli_fork SOCKET` imports the bot once, then forks
one child per `python -m bot ...` request.

Each command still runs in its own process, with its own environment, working directory,
stdin, stdout, stderr and exit status; only the ~2 s of interpreter start-up and imports is
shared. The protocol is one JSON line each way on a Unix socket: the request
{argv, env, cwd, stdin}, then the child's pid, then {code, out, err}.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import shutil
import socket
import sys
import tempfile
import traceback
from typing import Any

from bot.__main__ import run


def serve_forever(path: str) -> None:
    """Accept requests until stdin closes (the test run ended, even by a crash); a forked child
    answers each one."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    sys.stdout.write("ready\n")  # the parent waits for this line before the first request
    sys.stdout.flush()
    while True:
        readable, _, _ = select.select([listener, sys.stdin], [], [])
        if sys.stdin in readable:  # EOF: the parent is gone
            return
        conn, _ = listener.accept()
        if os.fork() == 0:
            listener.close()
            _child(conn)  # never returns
        conn.close()
        _reap()


def _reap() -> None:
    """Collect finished children so they do not linger as zombies."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def _child(conn: socket.socket) -> None:
    """Become the requested command: its cwd, environment and standard streams; then report."""
    try:
        with conn.makefile("rb") as reader:
            request: dict[str, Any] = json.loads(reader.readline())
        conn.sendall(f"{os.getpid()}\n".encode())
        workdir = tempfile.mkdtemp(prefix="cli-fork-")
        _redirect(request, workdir)
        code = _run_main(request["argv"])
        result = {"code": code, "out": _read(workdir, "stdout"), "err": _read(workdir, "stderr")}
        shutil.rmtree(workdir, ignore_errors=True)
        conn.sendall(json.dumps(result).encode() + b"\n")
    finally:
        os._exit(0)  # the exit status travels over the socket; skip the server's own clean-up


def _redirect(request: dict[str, Any], workdir: str) -> None:
    """chdir, replace the environment, point fds 0, 1 and 2 at files in `workdir`."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    paths = [os.path.join(workdir, name) for name in ("stdin", "stdout", "stderr")]
    with open(paths[0], "wb") as stdin:
        stdin.write(request["stdin"].encode("latin-1"))
    for fd, path, mode in ((0, paths[0], os.O_RDONLY),
                           (1, paths[1], os.O_WRONLY | os.O_CREAT),
                           (2, paths[2], os.O_WRONLY | os.O_CREAT)):
        opened = os.open(path, mode)
        os.dup2(opened, fd)
        os.close(opened)


def _run_main(argv: list[str]) -> int:
    """What `sys.exit(run(argv))` in `bot/__main__.py` makes the exit status."""
    try:
        code: object = run(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    except BaseException:  # as the interpreter would: the traceback on stderr, status 1
        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()  # logging.shutdown and friends, as at a normal interpreter exit
    if code is not None and not isinstance(code, int):
        sys.stderr.write(f"{code}\n")
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    return int(code or 0)


def _read(workdir: str, name: str) -> str:
    with open(os.path.join(workdir, name), encoding="utf-8", errors="replace") as file:
        return file.read()


if __name__ == "__main__":
    serve_forever(sys.argv[1])
