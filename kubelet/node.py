"""Node registration and heartbeats: the part of a kubelet every runtime shares.

Used by the Docker kubelet (one node per process) and by the hollow runner
(kubelet/hollow.py, many simulated nodes per process):

    agent = NodeAgent(client, NodeConfig(name="node-1", cpu="4", memory="8Gi", internal_ip="172.18.0.5"))
    await agent.register()                 # create the Node, or adopt the existing one
    await agent.run_heartbeats(10.0)       # forever: Ready's lastHeartbeatTime every 10 s

    # many nodes, one task, staggered and bounded:
    await HeartbeatGroup(agents, interval=10.0).run()

What `register` writes (Kubernetes' shape): labels `kubernetes.io/hostname`,
`kubernetes.io/os`, `kubernetes.io/arch` (plus the caller's); status
capacity and allocatable (cpu, memory, pods; allocatable = capacity minus
the reserved amounts); addresses InternalIP and Hostname; nodeInfo with the
kubelet and runtime versions; daemonEndpoints.kubeletEndpoint.Port; the
conditions MemoryPressure, DiskPressure, PIDPressure (False) and Ready. If
the Node already exists (a restarted kubelet) its spec (cordon, taints an
admin added) is kept, missing labels are added and the status is replaced.

A heartbeat is one status update (`update_status`) of the node the agent
last wrote or read. Given `detect_ip` (the Docker kubelet's, unless --node-ip
fixed the address), the agent asks it for the node's address before every
registration and heartbeat: a node container put back on its network under
a new address reports that one (and `on_new_ip` tells the pod side) instead
of the address it started with. An empty or loopback answer (the node is
off its network) keeps the last address. On Conflict (someone changed the Node, e.g. a cordon)
it re-reads and retries; on NotFound (the Node was deleted) it registers
again. `set_ready(False, reason, message)` lets a runtime report trouble;
the next heartbeat carries it.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import platform
import random
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import kubelab
from kubelab import conditions, errors, timeutil
from kubelab.backoff import RetryDelay
from kubelab.client import Client
from kubelab.quantity import cpu_millis, format_bytes, format_cpu_millis, to_bytes
from kubelab.retry import cached_first, retry_on_conflict
from kubelab.v1 import objects_pb2 as pb

log = logging.getLogger(__name__)

KUBELET_VERSION = f"v{kubelab.__version__}"
HOSTNAME_LABEL = "kubernetes.io/hostname"

Now = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def rfc3339(t: dt.datetime) -> str:
    return timeutil.fmt(t.timestamp())


@dataclass
class NodeConfig:
    """What a kubelet says about its node."""
    name: str
    cpu: str = "4"
    memory: str = "16Gi"
    pods: int = 110
    reserved_cpu: str = "0"
    reserved_memory: str = "0"
    internal_ip: str = "127.0.0.1"
    hostname: str = ""                       # default: the node name
    kubelet_port: int = 10250
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[pb.Taint] = field(default_factory=list)   # registered with the node (register-with-taints)
    pod_cidr: str = ""
    container_runtime_version: str = "docker://unknown"
    kubelet_version: str = KUBELET_VERSION
    os_image: str = ""
    kernel_version: str = field(default_factory=platform.release)
    operating_system: str = "linux"
    architecture: str = field(default_factory=lambda: {"x86_64": "amd64", "aarch64": "arm64"}.get(
        platform.machine(), platform.machine()))
    machine_id: str = ""
    boot_id: str = field(default_factory=lambda: str(uuid.uuid4()))


_PRESSURE = (
    ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
)


def _allocatable(cfg: NodeConfig) -> dict[str, str]:
    cpu = max(0, cpu_millis(cfg.cpu) - cpu_millis(cfg.reserved_cpu))
    mem = max(0, to_bytes(cfg.memory) - to_bytes(cfg.reserved_memory))
    return {"cpu": format_cpu_millis(cpu), "memory": format_bytes(mem), "pods": str(cfg.pods)}


def node_labels(cfg: NodeConfig) -> dict[str, str]:
    return {HOSTNAME_LABEL: cfg.hostname or cfg.name, "kubernetes.io/os": cfg.operating_system,
            "kubernetes.io/arch": cfg.architecture, **cfg.labels}


def fill_status(status: Any, cfg: NodeConfig, ready: tuple[str, str, str], now: str) -> None:
    """Write everything the kubelet owns in a NodeStatus, keeping transition times that did not change."""
    previous = {c.type: c for c in status.conditions}
    status.capacity.clear()
    status.capacity.update({"cpu": cfg.cpu, "memory": cfg.memory, "pods": str(cfg.pods)})
    status.allocatable.clear()
    status.allocatable.update(_allocatable(cfg))
    del status.addresses[:]
    status.addresses.add(type="InternalIP", address=cfg.internal_ip)
    status.addresses.add(type="Hostname", address=cfg.hostname or cfg.name)
    status.daemon_endpoints.kubelet_endpoint.port = cfg.kubelet_port
    info = status.node_info
    info.kubelet_version = info.kube_proxy_version = cfg.kubelet_version
    info.container_runtime_version = cfg.container_runtime_version
    info.os_image, info.kernel_version = cfg.os_image or f"kubelab ({cfg.operating_system})", cfg.kernel_version
    info.operating_system, info.architecture = cfg.operating_system, cfg.architecture
    info.machine_id = info.system_uuid = cfg.machine_id or cfg.name
    info.boot_id = cfg.boot_id
    status.phase = ""
    wanted = [(t, "False", r, m) for t, r, m in _PRESSURE] + [("Ready", *ready)]
    del status.conditions[:]
    for type_, st, reason, message in wanted:
        status.conditions.add(type=type_, status=st, reason=reason, message=message, last_heartbeat_time=now,
                              last_transition_time=conditions.transition_time(previous.get(type_), st, now))


def build_node(cfg: NodeConfig, ready: tuple[str, str, str], now: str) -> pb.Node:
    node = pb.Node(api_version="v1", kind="Node")
    node.metadata.name = cfg.name
    node.metadata.labels.update(node_labels(cfg))
    if cfg.pod_cidr:
        node.spec.pod_cidr = cfg.pod_cidr
        node.spec.pod_cidrs.append(cfg.pod_cidr)
    for t in cfg.taints:
        node.spec.taints.add().CopyFrom(t)
    fill_status(node.status, cfg, ready, now)
    return node


READY = ("True", "KubeletReady", "kubelet is posting ready status")
HEARTBEAT_TRIES = 3     # a heartbeat that keeps meeting other writes gives way to the next one


class NodeAgent:
    """Registers one Node and keeps its status fresh."""

    def __init__(self, client: Client, config: NodeConfig, now: Now = utc_now,
                 detect_ip: Callable[[], str] | None = None, on_new_ip: Callable[[str], None] | None = None) -> None:
        self.client = client
        self.config = config
        self.now = now
        self.detect_ip = detect_ip
        self.on_new_ip = on_new_ip
        self.node: pb.Node | None = None        # the latest Node we wrote or read
        self.ready: tuple[str, str, str] = READY
        self.registrations = 0
        self.heartbeats = 0

    @property
    def name(self) -> str:
        return self.config.name

    def set_ready(self, ready: bool, reason: str = "", message: str = "") -> None:
        self.ready = READY if ready else ("False", reason or "KubeletNotReady", message or "kubelet is not ready")

    async def refresh_address(self) -> None:
        """Take the node's address as `detect_ip` finds it now (see the module's doc)."""
        if self.detect_ip is None:
            return
        try:
            ip = await asyncio.to_thread(self.detect_ip)
        except Exception as e:  # noqa: BLE001 - the last address stands
            log.warning("node %s: detecting its address failed: %s", self.name, e)
            return
        if not ip or ip.startswith("127.") or ip == self.config.internal_ip:
            return
        log.info("node %s: its address is now %s (was %s)", self.name, ip, self.config.internal_ip)
        self.config.internal_ip = ip
        if self.on_new_ip is not None:
            self.on_new_ip(ip)

    async def register(self) -> pb.Node:
        """Create the Node, or adopt an existing one (its spec kept, our labels ensured, status replaced)."""
        await self.refresh_address()
        now = rfc3339(self.now())
        try:
            self.node = await self.client.create(build_node(self.config, self.ready, now))
            self.registrations += 1
            log.info("registered node %s", self.name)
            return self.node
        except errors.AlreadyExists:
            pass

        async def adopt() -> pb.Node:
            node = await self.client.get("Node", self.name)
            missing = {k: v for k, v in node_labels(self.config).items() if node.metadata.labels.get(k) != v}
            if missing:
                node.metadata.labels.update(missing)
                node = await self.client.update(node)
            fill_status(node.status, self.config, self.ready, now)
            return await self.client.update_status(node)
        self.node = await retry_on_conflict(adopt)
        self.registrations += 1
        log.info("node %s already registered; adopted it", self.name)
        return self.node

    async def heartbeat(self) -> None:
        """One status update; conflict-safe; registers again if the Node is gone."""
        if self.node is None:
            await self.register()
            return
        await self.refresh_address()
        read = cached_first(self.node, lambda: self.client.get("Node", self.name))

        async def beat() -> pb.Node:
            self.node = await read()      # our copy first; after a Conflict, the apiserver's (a cordon, say)
            node = pb.Node()
            node.CopyFrom(self.node)
            fill_status(node.status, self.config, self.ready, rfc3339(self.now()))
            return await self.client.update_status(node)
        try:
            self.node = await retry_on_conflict(beat, steps=HEARTBEAT_TRIES)
            self.heartbeats += 1
            return
        except errors.Conflict:
            return    # still conflicting: the next heartbeat tries again
        except errors.NotFound:
            pass
        log.warning("node %s was deleted; registering it again", self.name)
        self.node = None
        await self.register()

    async def run_heartbeats(self, interval: float) -> None:
        """Register (retrying) and heartbeat every `interval` seconds until cancelled."""
        retry = RetryDelay(0.5, interval)      # the first wait is 0.5 s even when the interval is shorter
        while self.node is None:
            try:
                await self.register()
                continue
            except errors.ApiError as e:
                log.warning("registering node %s failed: %s; retrying in %.1fs", self.name, e, retry.delay)
            except Exception:  # noqa: BLE001 - a node that stops trying is NotReady for good
                log.exception("registering node %s failed; retrying in %.1fs", self.name, retry.delay)
            await asyncio.sleep(retry.step())
        while True:
            await asyncio.sleep(interval * (0.9 + 0.2 * random.random()))
            try:
                await self.heartbeat()
            except errors.ApiError as e:
                log.warning("heartbeat of node %s failed: %s", self.name, e)
            except Exception:  # noqa: BLE001 - as HeartbeatGroup._beat: the next heartbeat tries again
                log.exception("heartbeat of node %s failed", self.name)


class HeartbeatGroup:
    """Heartbeats for many agents from one task: staggered over the interval, bounded in flight.

    Agent i beats at offset i/n of each interval, so 1,000 nodes at 10 s make
    a steady 100 updates a second rather than a burst; an agent whose last
    heartbeat is still in flight skips its turn.
    """

    def __init__(self, agents: Sequence[NodeAgent], interval: float = 10.0, concurrency: int = 32,
                 tick: float = 0.1) -> None:
        self.agents = list(agents)
        self.interval = interval
        self.tick = tick
        self._slots = asyncio.Semaphore(concurrency)
        self._busy: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def register_all(self) -> None:
        """Register every agent (bounded concurrency), retrying failures until all are in."""
        pending = [a for a in self.agents if a.node is None]
        retry = RetryDelay(0.5, 5.0)
        while pending:
            results = await asyncio.gather(*(self._bounded(a.register()) for a in pending), return_exceptions=True)
            failed = [a for a, r in zip(pending, results) if isinstance(r, BaseException)]
            for a, r in zip(pending, results):
                if isinstance(r, BaseException) and not isinstance(r, errors.ApiError):
                    raise r
            if failed:
                log.warning("%d nodes failed to register; retrying in %.1fs", len(failed), retry.delay)
                await asyncio.sleep(retry.step())
            pending = failed

    async def _bounded(self, coro: Any) -> Any:
        async with self._slots:
            return await coro

    async def _beat(self, agent: NodeAgent) -> None:
        try:
            await self._bounded(agent.heartbeat())
        except errors.ApiError as e:
            log.warning("heartbeat of node %s failed: %s", agent.name, e)
        except Exception:  # noqa: BLE001 - one node's trouble must not stop the others
            log.exception("heartbeat of node %s failed", agent.name)
        finally:
            self._busy.discard(agent.name)

    async def run(self) -> None:
        """Beat forever (until cancelled)."""
        n = len(self.agents)
        if n == 0:
            return
        loop = asyncio.get_running_loop()
        start = loop.time()
        beats = 0     # heartbeats started so far, over all agents
        try:
            while True:
                await asyncio.sleep(self.tick)
                due = int((loop.time() - start) / self.interval * n)
                for k in range(beats, due):
                    agent = self.agents[k % n]
                    if agent.name in self._busy:
                        continue
                    self._busy.add(agent.name)
                    task = asyncio.create_task(self._beat(agent))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                beats = max(beats, due)
        finally:
            for t in list(self._tasks):
                t.cancel()
