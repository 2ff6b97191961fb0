"""Real Redis topologies on loopback, started by the tests from Debian's redis-server:
a 3-master Cluster, and a master with a replica watched by 3 sentinels (`redis-server --sentinel`).
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from tests.redis_proc import free_port, redis_binary


def command(port: int, *args: str, timeout: float = 5.0) -> str:
    """One command through redis-cli (the tests' side channel, never the service's)."""
    done = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True,
                          timeout=timeout, check=False)
    return done.stdout.strip()


def _wait_ping(port: int, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"redis on port {port} did not start")


def _bus_free_port() -> int:
    """A port whose cluster bus port (+10000) is free too."""
    for _ in range(100):
        port = free_port()
        if port + 10000 < 65536:
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port pair for a cluster node")


class Cluster:
    """Three masters, no replicas, all 16384 slots assigned."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.ports = [_bus_free_port() for _ in range(3)]
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def start(self) -> None:
        for port in self.ports:
            folder = self.workdir / str(port)
            folder.mkdir(parents=True, exist_ok=True)
            self.procs.append(subprocess.Popen(
                [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                 "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000",
                 "--save", "", "--appendonly", "no", "--dir", str(folder)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for port in self.ports:
            _wait_ping(port)
        subprocess.run(["redis-cli", "--cluster", "create",
                        *(f"127.0.0.1:{p}" for p in self.ports), "--cluster-replicas", "0",
                        "--cluster-yes"], capture_output=True, timeout=30, check=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if all("cluster_state:ok" in command(p, "CLUSTER", "INFO") for p in self.ports):
                return
            time.sleep(0.1)
        raise RuntimeError("the cluster did not reach cluster_state:ok")

    def node_id(self, port: int) -> str:
        return command(port, "CLUSTER", "MYID")

    def owner(self, slot: int) -> int:
        """The port of the master serving `slot`."""
        for line in command(self.ports[0], "CLUSTER", "NODES").splitlines():
            fields = line.split()
            for part in fields[8:]:
                low, _, high = part.partition("-")
                if low.isdigit() and int(low) <= slot <= int(high or low):
                    return int(fields[1].split(":")[1].split("@")[0])
        raise RuntimeError(f"slot {slot} has no owner")

    def flush(self) -> None:
        for port in self.ports:
            command(port, "FLUSHALL")

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(timeout=10)


class SentinelGroup:
    """A master and a replica, watched by three sentinels (quorum 2) under the name `mymaster`."""

    SERVICE = "mymaster"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.data_ports = [free_port(), free_port()]
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{self.SERVICE}/0"

    def _data(self, port: int, replica_of: int | None) -> None:
        folder = self.workdir / str(port)
        folder.mkdir(parents=True, exist_ok=True)
        argv = [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(folder),
                "--repl-diskless-sync-delay", "0"]  # a replica syncs at once, not after 5 s
        if replica_of is not None:
            argv += ["--replicaof", "127.0.0.1", str(replica_of)]
        self.procs[port] = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)

    def start(self) -> None:
        master, replica = self.data_ports
        self._data(master, None)
        _wait_ping(master)
        self._data(replica, master)
        _wait_ping(replica)
        for port in self.sentinel_ports:
            conf = self.workdir / f"sentinel-{port}.conf"
            conf.write_text(f"port {port}\nbind 127.0.0.1\ndir {self.workdir}\n"
                            f"sentinel monitor {self.SERVICE} 127.0.0.1 {master} 2\n"
                            f"sentinel down-after-milliseconds {self.SERVICE} 1000\n"
                            f"sentinel failover-timeout {self.SERVICE} 5000\n", encoding="utf-8")
            self.procs[port] = subprocess.Popen([redis_binary(), str(conf), "--sentinel"],
                                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for port in self.sentinel_ports:
            _wait_ping(port)
        self.wait_replicating(master)

    def master_port(self) -> int:
        """The master the sentinels name now."""
        reply = command(self.sentinel_ports[0], "SENTINEL", "get-master-addr-by-name", self.SERVICE)
        return int(reply.splitlines()[1])

    def wait_replicating(self, master: int, seconds: float = 20.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            # synced, streaming, and acknowledging: right after a sync the first acknowledgement
            # can take a second, which writes waiting for the replica must not see as an outage
            if ("state=online" in command(master, "INFO", "replication")
                    and command(master, "SET", "replication-probe", "1") == "OK"
                    and command(master, "WAIT", "1", "200") == "1"):
                command(master, "DEL", "replication-probe")
                return
            time.sleep(0.1)
        raise RuntimeError("the replica did not connect")

    def failover(self) -> None:
        """SENTINEL FAILOVER: promote the replica (the old master becomes its replica)."""
        command(self.sentinel_ports[0], "SENTINEL", "FAILOVER", self.SERVICE)

    def kill_master(self) -> int:
        """SIGKILL the current master; returns its port."""
        port = self.master_port()
        self.procs[port].kill()
        self.procs[port].wait(timeout=10)
        return port

    def restart_as_replica(self, port: int, master: int) -> None:
        """Bring a killed data node back (as its supervisor would), following the new master."""
        self._data(port, master)
        _wait_ping(port)
        self.wait_replicating(master)

    def wait_new_master(self, old: int, seconds: float = 30.0) -> int:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                port = self.master_port()
            except (ValueError, IndexError):
                port = old
            if port != old and "role:master" in command(port, "INFO", "replication"):
                return port
            time.sleep(0.1)
        raise RuntimeError("no new master was elected")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            proc.wait(timeout=10)
