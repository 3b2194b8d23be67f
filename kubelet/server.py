"""The kubelet process's life cycle (kubelab.serving drives it; kubelet/main.py is the CLI).

Life cycle of the Docker kubelet (`Kubelet`):

    start:    reach Docker (fail fast, with the reason) → open the streaming
              server (kubelet.streaming; its port goes into the Node) →
              register the Node (kubelet.node) → start the pod manager
              (kubelet.manager: informer of pods bound here, workers, docker
              events, housekeeping) → heartbeat
    stop:     (SIGTERM) stop syncing and serving; pods keep running (a
              restarted kubelet adopts them; stopping a node is simulated by
              stopping its container, not by the kubelet killing its pods)

`HollowNodes` runs kubelet/hollow.py's simulated nodes under the same life
cycle (`--runtime hollow`).
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
from dataclasses import dataclass, field
from typing import Any

from kubelab.client import Client
from kubelab.events import EventRecorder
from kubelab.quantity import cpu_millis, format_bytes, to_bytes
from kubelab.serving import Fatal, until_a_task_ends
from kubelab.v1 import objects_pb2 as pb

from .node import NodeAgent, NodeConfig

log = logging.getLogger(__name__)


@dataclass
class Config:
    server: str
    token: str
    kubelet_token: str
    node_name: str
    runtime: str = "docker"
    listen: str = "0.0.0.0:10250"
    node_ip: str = ""
    network: str = "kubelab"
    pause_image: str = "kubelab/pause:latest"
    docker_host: str = ""
    cpu: str = ""
    memory: str = ""
    max_pods: int = 110
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[pb.Taint] = field(default_factory=list)    # --register-with-taints: on the Node it registers
    heartbeat: float = 10.0
    backoff_base: float = 10.0
    backoff_max: float = 300.0
    resync: float = 10.0
    cluster_dns: list[str] = field(default_factory=list)
    cluster_domain: str = "cluster.local"
    service_cidr_route: str = ""
    metrics_address: str = ""      # HTTP /metrics and /healthz ("" = off)
    root_ca_file: str = ""         # the cluster CA pods get as ca.crt beside their ServiceAccount token
    node_container: str = ""       # hostNetwork pods join this container's network ("" = detect)
    endpoint_lock: str = ""        # a file every kubelet of the engine locks to remove a pod-network endpoint
    shutdown_grace: float = 2.0


def own_container_id(mountinfo: str = "/proc/self/mountinfo") -> str:
    """The id of the Docker container this process runs in ("" outside one): Docker bind-mounts
    /etc/hostname from /var/lib/docker/containers/<id>/hostname."""
    try:
        with open(mountinfo) as f:
            m = re.search(r"/containers/([0-9a-f]{64})/hostname ", f.read())
    except OSError:
        return ""
    return m.group(1) if m else ""


def host_network_mode(node_container: str = "") -> str:
    """Docker's network mode for hostNetwork pods: the node's own network namespace. In the lab the
    node is a container (pods join it); a kubelet running on the host gives them the host's."""
    node = node_container or own_container_id()
    return f"container:{node}" if node else "host"


def host_cpu() -> str:
    return str(os.cpu_count() or 1)


def host_memory() -> str:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return format_bytes(int(line.split()[1]) * 1024)
    except OSError:
        pass
    return "4Gi"


def detect_node_ip(network_hint: str = "") -> str:
    """The address the apiserver reaches this kubelet on: in a container, its bridge address."""
    try:
        addrs = {str(ai[4][0]) for ai in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
        addrs = {a for a in addrs if not a.startswith("127.")}
        if addrs:
            return sorted(addrs)[0]
    except OSError:
        pass
    # A host process: the address of the route to the outside (no packet is sent).
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))
            return str(s.getsockname()[0])
    except OSError:
        return "127.0.0.1"


class Kubelet:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.client: Client | None = None
        self.runtime: Any = None
        self.pods: Any = None
        self.agent: NodeAgent | None = None
        self.server: Any = None
        self.health: Any = None
        self.port = 0
        self._tasks: list[asyncio.Task[Any]] = []
        self._events_stop: Any = None
        self.metrics_server: Any = None

    async def start(self) -> None:
        from .docker_runtime import DockerRuntime, RuntimeError_
        from .config import PodConfig
        from .manager import PodManager
        from .streaming import create_server
        import threading

        cfg = self.config
        self.client = Client(cfg.server, cfg.token, namespace="default", pipeline=True)
        try:       # docker's client asks the engine its API version as it is made
            self.runtime = DockerRuntime(cfg.node_name, network=cfg.network, base_url=cfg.docker_host or None,
                                         endpoint_lock=cfg.endpoint_lock)
            version = await self.runtime.version()
        except Exception as e:  # noqa: BLE001
            where = cfg.docker_host or "$DOCKER_HOST or /var/run/docker.sock"
            raise Fatal(f"kubelet: cannot reach the Docker engine ({where}): {e}") from None
        node_ip = cfg.node_ip or detect_node_ip()
        cpu, memory = cfg.cpu or host_cpu(), cfg.memory or host_memory()
        recorder = EventRecorder(self.client, "kubelet", cfg.node_name)
        pod_cfg = PodConfig(node_name=cfg.node_name, node_ip=node_ip, network=cfg.network, pause_image=cfg.pause_image,
                            backoff_base=cfg.backoff_base, backoff_max=cfg.backoff_max, resync_period=cfg.resync,
                            cluster_dns=cfg.cluster_dns, cluster_domain=cfg.cluster_domain,
                            service_cidr_route=cfg.service_cidr_route, node_cpu_millis=cpu_millis(cpu),
                            node_memory_bytes=to_bytes(memory),
                            host_network_mode=host_network_mode(cfg.node_container), root_ca_file=cfg.root_ca_file)
        self.pods = PodManager(self.client, self.runtime, recorder, pod_cfg)
        self.server, self.port, self.health = await create_server(self.pods, cfg.listen, cfg.kubelet_token)
        log.info("streaming server on port %d", self.port)
        self.agent = NodeAgent(self.client, NodeConfig(
            name=cfg.node_name, cpu=cpu, memory=memory, pods=cfg.max_pods, internal_ip=node_ip,
            kubelet_port=self.port, labels=cfg.labels, taints=list(cfg.taints),
            container_runtime_version=f"docker://{version.get('Version', 'unknown')}",
            os_image=f"kubelab node ({version.get('OperatingSystem') or 'docker'})"),
            # Detected, the address is detected again before each status write: a node container put back on
            # its network under a new one (`docker network connect`) reports it, and its pods follow.
            detect_ip=None if cfg.node_ip else detect_node_ip, on_new_ip=self.pods.node_ip_changed)
        self._tasks.append(asyncio.create_task(self.agent.run_heartbeats(cfg.heartbeat), name="heartbeats"))
        try:
            await self.pods.start()
        except RuntimeError_ as e:
            raise Fatal(f"kubelet: {e.message}") from None
        self._events_stop = threading.Event()
        threading.Thread(target=self.runtime.watch_events, args=(self.pods.wake_threadsafe, self._events_stop),
                         name="docker-events", daemon=True).start()
        self._tasks.append(asyncio.create_task(self._runtime_health(), name="runtime-health"))
        if cfg.metrics_address:
            from kubelab.serving import MetricsServer
            from .metrics import KubeletMetrics
            metrics = KubeletMetrics(cfg.node_name, self.pods.informer.list, self.runtime)
            self.metrics_server = MetricsServer(cfg.metrics_address, metrics.render)
            await self.metrics_server.start()
        log.info("kubelet %s ready (node ip %s, pod network %s, docker %s)", cfg.node_name, node_ip, cfg.network,
                 version.get("Version"))

    async def _runtime_health(self) -> None:
        """Ready only while Docker answers (the next heartbeat carries it)."""
        assert self.agent is not None
        while True:
            await asyncio.sleep(self.config.heartbeat)
            try:
                await asyncio.wait_for(self.runtime.version(), 10)
                self.agent.set_ready(True)
            except Exception as e:  # noqa: BLE001
                log.warning("container runtime is down: %s", e)
                self.agent.set_ready(False, "KubeletNotReady", f"container runtime is down: {e}")

    async def stop(self) -> None:
        if self._events_stop is not None:
            self._events_stop.set()
            self.runtime.stop_events()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.pods is not None:
            await self.pods.stop()
            await self.pods.recorder.flush()
        if self.server is not None:
            await self.server.stop(self.config.shutdown_grace)
        if self.metrics_server is not None:
            await self.metrics_server.stop()
        if self.client is not None:
            await self.client.close()
        if self.runtime is not None:
            self.runtime.close()

    async def run(self) -> None:
        # The heartbeats and the runtime health check run until shutdown: one that ends ends the kubelet.
        await until_a_task_ends(list(self._tasks))


class HollowNodes:
    """kubelet/hollow.py's simulated nodes as a process: start (a client) → run (the nodes) → stop."""

    def __init__(self, server: str, token: str, n: int, config: Any) -> None:
        self.n, self.config = n, config
        # Pipelined: a thousand nodes' status writes and Events.
        self.client = Client(server, token, pipeline=True)

    async def start(self) -> None:
        pass

    async def run(self) -> None:
        from .hollow import run_hollow_nodes
        await run_hollow_nodes(self.client, self.n, self.config)

    async def stop(self) -> None:
        await self.client.close()
        log.info("hollow nodes stopped")
