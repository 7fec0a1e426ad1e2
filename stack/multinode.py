"""A second Ray node for a local stack, in a network namespace of its own.

Nothing in the service may assume one machine. To show it on one machine, the second node
runs in its own network namespace (``ip netns``, root needed): its own loopback, its own
ports, and its own address on a veth pair to the host namespace (``10.200.<n>.2/24``; the
host side is ``10.200.<n>.1``). It shares only the file system with the first node (the media
store is a local folder; production points it at S3/GCS). So:

- the head advertises ``10.200.<n>.1`` (``ray start --head --node-ip-address``) instead of
  127.0.0.1, which the second node could not reach;
- Serve listens on ``0.0.0.0`` (``http_options.host``): each node's HAProxy forwards to
  replicas on every node, at the replica's node address;
- MongoDB, Redis and the media origin keep listening on 127.0.0.1 only; the second node
  reaches them through a relay on ``10.200.<n>.1`` (in production they are services with
  their own addresses: set ``MONGODB_URL``/``REDIS_URL``).

The second node joins with ``ray start --address=<head> --block`` (``stack.ray_cluster.
RayWorker``) and a custom resource ``{"node2": 1}``. Before Serve is deployed, the shard
actors are created by a driver with a *soft* node affinity, alternating between the nodes
(``place-shards`` below): replicas later find them by name. Soft, so that Ray restarts a
shard of a dead node on a live one.

    python -m stack.multinode place-shards --address IP:PORT --count N --node ID --node ID
    python -m stack.multinode endpoints --address IP:PORT --count N
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stack.local import PROJECT_ROOT, LocalStack
from stack.ray_cluster import RayHead, RayWorker, serve_env

Say = Callable[[str], None]
WORKER_RESOURCE = "node2"


def _ip(*args: str, check: bool = True) -> None:
    subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


@dataclass
class Netns:
    """A network namespace joined to the host's by a veth pair, a /24 of our own between."""

    name: str
    host_if: str
    ns_if: str
    host_ip: str
    ns_ip: str

    @classmethod
    def pick(cls) -> Netns:
        """Names and a subnet from our pid: two runs at once do not collide."""
        n = os.getpid() % 250
        return cls(
            name=f"streaming-node2-{os.getpid()}",
            host_if=f"vsh{os.getpid()}"[:15],
            ns_if=f"vsn{os.getpid()}"[:15],
            host_ip=f"10.200.{n}.1",
            ns_ip=f"10.200.{n}.2",
        )

    def create(self) -> None:
        if shutil.which("ip") is None:
            raise RuntimeError("`ip` (iproute2) is needed for a second node in a namespace")
        self.delete()  # a leftover of a crashed run with our pid
        _ip("netns", "add", self.name)
        try:
            _ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
            _ip("link", "set", self.ns_if, "netns", self.name)
            _ip("addr", "add", f"{self.host_ip}/24", "dev", self.host_if)
            _ip("link", "set", self.host_if, "up")
            for args in (
                ("addr", "add", f"{self.ns_ip}/24", "dev", self.ns_if),
                ("link", "set", self.ns_if, "up"),
                ("link", "set", "lo", "up"),
            ):
                _ip("netns", "exec", self.name, "ip", *args)
        except subprocess.CalledProcessError as exc:
            self.delete()
            raise RuntimeError(f"could not set up the namespace: {exc.stderr or exc}") from exc

    def delete(self) -> None:
        _ip("netns", "del", self.name, check=False)  # takes its end of the veth pair along
        _ip("link", "del", self.host_if, check=False)

    def run(self, *argv: str) -> str:
        """A command's output, run inside the namespace."""
        return subprocess.run(
            ["ip", "netns", "exec", self.name, *argv],
            capture_output=True,
            text=True,
            check=False,
        ).stdout


class Relay:
    """TCP relays ``listen_ip:port`` → ``127.0.0.1:port`` on a thread of their own: how the
    second node reaches stores that listen on the host's loopback only."""

    def __init__(self, listen_ip: str, ports: Iterable[int]) -> None:
        self.listen_ip = listen_ip
        self.ports = tuple(ports)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="relay", daemon=True)
        self.servers: list[asyncio.Server] = []

    def start(self) -> None:
        self.thread.start()
        for port in self.ports:
            server = asyncio.run_coroutine_threadsafe(
                asyncio.start_server(self._handler(port), self.listen_ip, port), self.loop
            ).result(10)
            self.servers.append(server)

    def _handler(
        self, port: int
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._pipe(reader, writer, port)

        return handle

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int
    ) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            writer.close()
            return

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(OSError):
                dst.close()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))

    def stop(self) -> None:
        if not self.thread.is_alive():
            return

        async def close() -> None:
            for server in self.servers:
                server.close()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def shard_count(config: Path = PROJECT_ROOT / "ray_config.yaml") -> int:
    for app in yaml.safe_load(config.read_text())["applications"]:
        if "shard_count" in app.get("args", {}):
            return int(app["args"]["shard_count"])
    raise KeyError(f"no shard_count in {config}")


@dataclass
class SecondNode:
    """Adds a second Ray node, in its own namespace, to a :class:`LocalStack` that has not been
    started yet: :meth:`attach`, then ``stack.start()`` (the node joins before the deploy)."""

    stack: LocalStack
    num_cpus: int = 2
    say: Say = print
    net: Netns = field(default_factory=Netns.pick)
    worker: RayWorker | None = None
    relay: Relay | None = None
    head_node_id: str = ""
    node_id: str = ""
    shards: int = field(default_factory=shard_count)
    scratch: list[Path] = field(default_factory=list)

    def attach(self) -> None:
        self.net.create()
        self.stack.node_ip = self.net.host_ip
        self.stack.http_host = "0.0.0.0"
        self.stack.before_deploy = self.join

    def worker_env(self, head: RayHead) -> dict[str, str]:
        """The head's environment, with the stores at the relay's address and HAProxy's files in
        a directory of this node's own (the file system is shared)."""
        env = dict(head.env)
        for name in ("MONGODB_URL", "REDIS_URL", "MEDIA_BASE_URL"):
            env[name] = env[name].replace("127.0.0.1", self.net.host_ip)
        # SecantusDB announces itself as a one-member replica set at 127.0.0.1: talk to the
        # address given, not to the member list it announces.
        env["MONGODB_URL"] += ("&" if "?" in env["MONGODB_URL"] else "?") + "directConnection=true"
        haproxy_dir = Path(tempfile.mkdtemp(prefix="hap", dir="/tmp"))
        self.scratch.append(haproxy_dir)
        return {**env, **serve_env(head.ports, haproxy_dir)}

    def join(self, head: RayHead) -> None:
        stack = self.stack
        self.relay = Relay(self.net.host_ip, (stack.mongo_port, stack.redis_port, stack.media_port))
        self.relay.start()
        temp_dir = Path(tempfile.mkdtemp(prefix="ray2-", dir="/tmp"))
        self.scratch.append(temp_dir)
        self.worker = RayWorker(
            name="node2",
            head_address=head.gcs_address,
            temp_dir=temp_dir,
            env=self.worker_env(head),
            num_cpus=self.num_cpus,
            log_dir=stack.log_dir,
            node_ip=self.net.ns_ip,
            netns=self.net.name,
            resources={WORKER_RESOURCE: 1},
        )
        self.say(f"adding a second Ray node at {self.net.ns_ip} (namespace {self.net.name})")
        self.node_id = head.add_worker(self.worker)
        self.head_node_id = next(
            n["node_id"] for n in head.nodes() if n.get("node_ip") == head.node_ip
        )
        self.say(f"placing {self.shards} shard actors on both nodes (soft node affinity)")
        placed = self.driver(
            head,
            "place-shards",
            "--count",
            str(self.shards),
            "--node",
            f"{self.head_node_id}={head.node_ip}",
            "--node",
            f"{self.node_id}={self.net.ns_ip}",
        )
        self.say(f"shards on {placed}")

    def driver(self, head: RayHead, *args: str) -> Any:
        """Run one of this module's commands as a Ray driver (a subprocess: never ray.init in
        the caller); returns its JSON output."""
        out = subprocess.run(
            [sys.executable, "-m", "stack.multinode", *args, "--address", head.gcs_address],
            env={**os.environ, **head.env},
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        return json.loads(out.strip().splitlines()[-1])

    def endpoints(self) -> list[tuple[str, int]]:
        assert self.stack.head is not None
        found = self.driver(self.stack.head, "endpoints", "--count", str(self.shards))
        return [(host, int(port)) for host, port in found]

    def kill(self) -> int:
        """SIGKILL every process of the node at once; returns how many."""
        return 0 if self.worker is None else self.worker.kill()

    def leave(self) -> None:
        """Stop the node and the relay (before the stack stops: the relay holds the stores'
        port numbers on the namespace's address)."""
        if self.worker is not None:
            self.worker.stop()
        if self.relay is not None:
            self.relay.stop()

    def close(self) -> None:
        """After the stack stopped: the namespace, its address and the scratch dirs go."""
        self.leave()
        self.net.delete()
        for path in self.scratch:
            shutil.rmtree(path, ignore_errors=True)


def established(output: str) -> list[tuple[str, str]]:
    """(local, peer) ``ip:port`` pairs from ``ss -tnH state established``."""
    pairs = []
    for line in output.splitlines():
        cells = line.split()
        if len(cells) >= 4:
            pairs.append((cells[-2], cells[-1]))
    return pairs


def crossing(node: SecondNode, endpoints: list[tuple[str, int]]) -> dict[str, int]:
    """Open TCP connections from a replica on one node to a shard's socket on the other: as
    seen from each side's network namespace."""
    here = subprocess.run(
        ["ss", "-tnH", "state", "established"], capture_output=True, text=True, check=False
    ).stdout
    there = node.net.run("ss", "-tnH", "state", "established")
    remote_shards = {f"{h}:{p}" for h, p in endpoints if h == node.net.ns_ip}
    local_shards = {f"{h}:{p}" for h, p in endpoints if h != node.net.ns_ip}
    return {
        "node1 -> node2 shard": sum(
            1
            for local, peer in established(here)
            if peer in remote_shards and local.startswith(node.net.host_ip)
        ),
        "node2 -> node1 shard": sum(1 for _, peer in established(there) if peer in local_shards),
    }


# -- drivers (run as subprocesses by SecondNode.driver) ------------------------------------------


def _place_shards(count: int, nodes: list[str], attempts: int = 5) -> list[str]:
    """Shard ``i`` on ``nodes[i % len(nodes)]`` (``node_id=ip``), by a soft node affinity.

    Soft, so that Ray can restart a shard of a dead node elsewhere; but soft also means Ray
    may pick another node at creation when it deems the asked one busy. Nothing holds these
    handles yet (Serve is not deployed), so a shard that landed elsewhere is removed and
    created again."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from actors.pool import shard_actor

    placed: list[str] = []
    for index in range(count):
        node_id, _, ip = nodes[index % len(nodes)].partition("=")
        for attempt in range(attempts):
            shard = shard_actor(
                index, scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=True)
            )
            host = ray.get(shard.endpoint.remote(), timeout=90).host
            if host == ip or attempt == attempts - 1:
                placed.append(host)
                break
            ray.kill(shard, no_restart=True)
            time.sleep(1)
    return placed


def _endpoints(count: int) -> list[tuple[str, int]]:
    import ray

    from actors.pool import NAMESPACE, shard_name

    found: list[tuple[str, int]] = []
    for index in range(count):
        shard = ray.get_actor(shard_name(index), namespace=NAMESPACE)
        endpoint: Any = ray.get(shard.endpoint.remote(), timeout=30)
        found.append((endpoint.host, endpoint.port))  # never the secret
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.multinode", description=__doc__)
    parser.add_argument("command", choices=("place-shards", "endpoints"))
    parser.add_argument("--address", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--node", action="append", default=[])
    args = parser.parse_args(argv)
    import ray

    ray.init(address=args.address, logging_level=logging.WARNING, log_to_driver=False)
    try:
        if args.command == "place-shards":
            result: Any = _place_shards(args.count, args.node)
        else:
            result = _endpoints(args.count)
    finally:
        ray.shutdown()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
