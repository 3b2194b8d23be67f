"""The pod sandbox: the infra (pause) container holding a pod's network namespace, and its set-up.

Where it sits: the pod worker (`kubelet.worker`) asks `Sandboxes` for a new sandbox when the pod has
none running, and to `prepare` an adopted one; everything here goes through `kubelet.docker_runtime`.
A new sandbox gets the pod's hostname, the pod-level mounts (`kubelet.volumes`), the cluster DNS
(`kubelet.dnsconfig`) and a route for the service range via the node (design §4, way a). A hostNetwork
pod's sandbox joins the node's namespace instead: its routes and resolv.conf are the node's.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any, Callable

from .config import PodConfig
from .dnsconfig import docker_dns, resolv_conf
from .docker_runtime import SANDBOX, ContainerInfo, DockerRuntime, RuntimeError_, docker_name, pod_labels
from .volumes import VolumeManager

log = logging.getLogger(__name__)

Record = Callable[[str, str, str], None]       # (type, reason, message): an Event on the pod


def pod_name(pod: Any) -> str:
    return f"{pod.metadata.namespace}/{pod.metadata.name}"


class Sandboxes:
    """The node's sandboxes: creating them and setting up their network namespace (once per process)."""

    def __init__(self, config: PodConfig, runtime: DockerRuntime, volumes: VolumeManager) -> None:
        self.config = config
        self.runtime = runtime
        self.volumes = volumes
        self.prepared: set[str] = set()     # sandboxes whose route and resolv.conf are in place (this process)

    def forget(self, *container_ids: str) -> None:
        self.prepared.difference_update(container_ids)

    async def start(self, pod: Any, attempt: int, record: Record) -> ContainerInfo | None:
        """Create, start and prepare the pod's sandbox; None (with a Warning event) if Docker refused."""
        cfg = self.config
        if pod.spec.host_network:
            # The node's own network namespace: its addresses, ports, hostname and resolv.conf.
            hc = self.runtime.sandbox_host_config(cfg.host_network_mode, cfg.log_max_size,
                                                  self.volumes.sandbox_mounts(pod))
            kwargs: dict[str, Any] = {}
        else:
            hc = self.runtime.sandbox_host_config(cfg.network, cfg.log_max_size, self.volumes.sandbox_mounts(pod),
                                                  net_admin=bool(cfg.service_cidr_route),
                                                  dns=docker_dns(pod, cfg.cluster_dns, cfg.cluster_domain))
            kwargs = {"hostname": (pod.spec.hostname or pod.metadata.name)[:63].rstrip("-.")}
            if pod.spec.subdomain:
                kwargs["domainname"] = f"{pod.spec.subdomain}.{pod.metadata.namespace}.svc.{cfg.cluster_domain}"
        try:
            cid = await self.runtime.create(docker_name(pod, SANDBOX, attempt), cfg.pause_image,
                                            pod_labels(cfg.node_name, pod, SANDBOX, "sandbox", attempt), hc, **kwargs)
            await self.runtime.start(cid)
            sandbox = await self.runtime.inspect(cid)
            if pod.spec.host_network:
                sandbox = self.on_node_network(sandbox, pod_name(pod))
        except RuntimeError_ as e:
            log.warning("creating the sandbox of %s failed: %s", pod_name(pod), e.message)
            record("Warning", "FailedCreatePodSandBox", f"Failed to create pod sandbox: {e.message}")
            return None
        await self.prepare(pod, sandbox, record)
        log.info("started sandbox of %s: ip %s", pod_name(pod), sandbox.ip)
        return sandbox

    async def prepare(self, pod: Any, sandbox: ContainerInfo, record: Record) -> None:
        """The pod's network namespace as the kubelet sets it up: service route and resolv.conf.

        Once per sandbox per kubelet process: a new sandbox gets it at creation, an adopted one
        (the kubelet restarted) on its first sync, so a node whose address changed while it was
        down points its pods at the new one. Both steps are idempotent.
        """
        if sandbox.id in self.prepared or pod.spec.host_network:
            return        # a hostNetwork pod is in the node's namespace: its routes and resolv.conf are the node's
        if await self._route_services(pod, sandbox, record) and await self._write_resolv_conf(pod, sandbox, record):
            self.prepared.add(sandbox.id)

    def on_node_network(self, sandbox: ContainerInfo, name: str = "") -> ContainerInfo:
        """A hostNetwork sandbox, as this pod sees it: its IP is the node's. One left in the namespace of a
        node container that has since restarted has no network any more: it counts as gone, and a new one
        is made. (A copy: the runtime may cache the one it gave us.)"""
        mode = (sandbox.raw.get("HostConfig") or {}).get("NetworkMode", "")
        stale = sandbox.running and bool(mode) and mode != self.config.host_network_mode
        if stale:
            log.info("sandbox of %s is on the network of a previous node (%s)", name or sandbox.name, mode)
        return dataclasses.replace(sandbox, ip=self.config.node_ip, status="exited" if stale else sandbox.status)

    async def _write_resolv_conf(self, pod: Any, sandbox: ContainerInfo, record: Record) -> bool:
        """ClusterFirst pods get the cluster DNS as their nameserver, as the kubelet writes it.

        Docker points every container on a user network at its own resolver (127.0.0.11) and
        keeps the servers it was given as upstreams; dockershim rewrote the sandbox's file, and
        so does this. The pod's containers share the sandbox's /etc/resolv.conf (they join its
        network namespace), so one write serves them all.
        """
        content = resolv_conf(pod, self.config.cluster_dns, self.config.cluster_domain)
        if content is None:
            return True
        return await self.exec(pod, sandbox, ["sh", "-c", 'printf "%s" "$1" > /etc/resolv.conf', "sh", content],
                               "DNSConfigForming", "cannot write /etc/resolv.conf: {}", record)

    async def _route_services(self, pod: Any, sandbox: ContainerInfo, record: Record) -> bool:
        """Route the service range from the pod's network namespace to this node (design §4, way a)."""
        cfg = self.config
        if not cfg.service_cidr_route or not cfg.node_ip:
            return True
        cidr = cfg.service_cidr_route
        return await self.exec(pod, sandbox, ["ip", "route", "replace", cidr, "via", cfg.node_ip],
                               "FailedServiceRoute",
                               f"cannot route {cidr} to the node: {{}} (ClusterIPs will not answer in this pod)",
                               record)

    async def exec(self, pod: Any, sandbox: ContainerInfo, command: list[str], reason: str, message: str,
                   record: Record) -> bool:
        """Run a set-up command in the sandbox; a failure is logged and becomes a Warning event
        (`message` with the command's output in place of `{}`)."""
        try:
            code, out = await self.runtime.exec_run(sandbox.id, command, 5)
        except RuntimeError_ as e:
            code, out = -1, e.message
        if code == 0:       # None is a timeout: the command may not have run
            return True
        said = message.format((out or "").strip())
        log.warning("%s in %s: %s", command[0], pod_name(pod), said)
        record("Warning", reason, said)
        return False
