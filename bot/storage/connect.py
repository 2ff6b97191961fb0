"""Redis clients from `REDIS_URL`, with redis-py's own standalone, Sentinel and Cluster clients.

- `redis://` and `rediss://`: one server, plain or TLS;
- `redis+sentinel://[:password@]host:port[,host:port…]/service_name[/db]`: the master that the
  sentinels name, followed across failovers (the password is the data nodes'; add
  `?sentinel_password=…` when the sentinels require one);
- `redis+cluster://[:password@]host:port[,host:port…]`: a Redis Cluster from its seed nodes,
  following MOVED and ASK. Keys used together carry a common `{hash tag}`.

Every client is bounded: `max_connections` per pool (per node on a cluster), waiting for a free
connection instead of failing when they are all busy.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterNode, ClusterPipeline, RedisCluster
from redis.asyncio.connection import BlockingConnectionPool
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff
from redis.driver_info import DriverInfo

from bot.errors import ConfigError

Client = aioredis.Redis | RedisCluster
Pipe = Pipeline | ClusterPipeline
Kind = Literal["standalone", "sentinel", "cluster"]


@dataclass(frozen=True, slots=True)
class Target:
    """Where Redis is, parsed from the URL."""

    kind: Kind
    url: str = ""  # standalone: the URL as given
    nodes: tuple[tuple[str, int], ...] = ()
    service: str = ""
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never in a log line
    sentinel_password: str | None = field(default=None, repr=False)
    tls: bool = False


class Gate:
    """At most `limit` commands at once (a cluster's per-node pools fail past their size rather
    than wait); no limit when None. Also makes sure a cluster client has its slot map before the
    first command: redis-py's lazy start-up breaks when many commands race into it."""

    def __init__(self, limit: int | None, client: Client | None = None) -> None:
        self._slots = asyncio.Semaphore(limit) if limit else None
        self._client = client if isinstance(client, RedisCluster) else None
        self._starting: asyncio.Future[None] | None = None

    async def ready(self) -> None:
        """Initialise the cluster client once (every caller waits for the same start)."""
        if self._client is None:
            return
        if self._starting is None or (self._starting.done() and self._starting.exception()):
            self._starting = asyncio.ensure_future(self._client.initialize())  # type: ignore[arg-type]
        await asyncio.shield(self._starting)
        self._client = None

    async def __aenter__(self) -> None:
        await self.ready()
        if self._slots is not None:
            await self._slots.acquire()

    async def __aexit__(self, *exc: object) -> None:
        if self._slots is not None:
            self._slots.release()


def gate_for(client: Client, max_connections: int) -> Gate:
    """The gate a client's callers share: bounded on a cluster, open otherwise (standalone and
    Sentinel pools wait for a free connection by themselves)."""
    return Gate(max_connections if isinstance(client, RedisCluster) else None, client)


def _nodes(netloc: str) -> tuple[tuple[str, int], ...]:
    hosts = netloc.rpartition("@")[2]
    nodes = []
    for item in filter(None, hosts.split(",")):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"REDIS_URL: '{item}' is not host:port")
        nodes.append((host.strip("[]"), int(port)))
    if not nodes:
        raise ConfigError("REDIS_URL: no host:port given")
    return tuple(nodes)


def _credentials(netloc: str) -> tuple[str | None, str | None]:
    if "@" not in netloc:
        return None, None
    user, _, password = netloc.rpartition("@")[0].partition(":")
    return (unquote(user) or None), (unquote(password) or None)


def parse(url: str) -> Target:
    """The target of `REDIS_URL`; ConfigError naming what is wrong (never echoing the password)."""
    scheme = url.partition("://")[0].lower()
    if scheme in ("redis", "rediss", "unix"):
        return Target("standalone", url=url)
    if scheme not in ("redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster"):
        raise ConfigError(f"REDIS_URL: unknown scheme '{scheme}://' (redis, rediss, "
                          "redis+sentinel, redis+cluster)")
    parts = urlsplit(url)
    username, password = _credentials(parts.netloc)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    common: dict[str, Any] = {"nodes": _nodes(parts.netloc), "username": username,
                              "password": password, "tls": scheme.startswith("rediss")}
    if scheme.endswith("cluster"):
        return Target("cluster", **common)
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise ConfigError("REDIS_URL: redis+sentinel:// needs /service_name[/db] after the hosts")
    return Target("sentinel", service=path[0], db=int(path[1]) if len(path) == 2 else 0,
                  sentinel_password=query.get("sentinel_password"), **common)


class _BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """Sentinel's master pool that waits for a free connection past its size, like the others."""


def connect(target: Target, *, max_connections: int, socket_timeout: float | None,
            wait_timeout: float | None = 3.0, name: str = "",
            keepalive: bool = False, retries: int = 1) -> Client:
    """A client for `target`; nothing connects until the first command. `retries`: commands
    retried once on a fresh connection by default (0 where the caller must see every error)."""
    options: dict[str, Any] = {
        "decode_responses": True, "socket_connect_timeout": 1.0, "socket_timeout": socket_timeout,
        "socket_keepalive": keepalive,
        # resolved once: by default every new connection looks up redis-py's version through
        # importlib.metadata (13% of the CPU while 1024 connections opened)
        "driver_info": DriverInfo(),
        "retry": Retry(NoBackoff(), retries),  # a quick reconnect, then report unavailable
    }
    if name:
        options["client_name"] = name
    if target.kind == "standalone":
        return aioredis.Redis.from_pool(BlockingConnectionPool.from_url(
            target.url, max_connections=max_connections, timeout=wait_timeout, **options))
    options.update(username=target.username, password=target.password)
    if target.kind == "cluster":
        cluster = RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in target.nodes],
                               max_connections=max_connections, ssl=target.tls, **options)
        _drop_routing_keys(cluster)
        return cluster
    sentinel_kwargs: dict[str, Any] = {"socket_connect_timeout": 1.0, "socket_timeout": 1.0,
                                       "password": target.sentinel_password}
    sentinel = Sentinel(list(target.nodes), sentinel_kwargs=sentinel_kwargs,  # type: ignore[no-untyped-call]
                        ssl=target.tls, **options)
    master: aioredis.Redis = sentinel.master_for(
        target.service, connection_pool_class=_BlockingSentinelPool, db=target.db,
        max_connections=max_connections, timeout=wait_timeout)
    return master


def _drop_routing_keys(cluster: RedisCluster) -> None:
    """redis-py 8's cluster MULTI hands each reply's callback the `keys=` routing hint that read
    commands (GET, SMEMBERS, ...) carry, and most callbacks refuse it (TypeError); the plain path
    drops it first. Do the same for this client's callbacks."""
    callbacks = cluster.response_callbacks
    for name, callback in list(callbacks.items()):
        callbacks[name] = functools.partial(_without_keys, callback)


def _without_keys(callback: Callable[..., Any], response: Any, **options: Any) -> Any:
    options.pop("keys", None)
    return callback(response, **options)


async def close(client: Client) -> None:
    """Close a client and, for Sentinel, its connections to the sentinels too."""
    manager = getattr(getattr(client, "connection_pool", None), "sentinel_manager", None)
    await client.aclose()
    for sentinel in getattr(manager, "sentinels", ()):
        await sentinel.aclose()
