"""The node proxy's life cycle: informers → desired listeners → sockets and loopback addresses.

Pipeline:

    Service informer ──┐
    Endpoints informer ┴─▶ dirty flag ─▶ sync():
         for every service port (proxy.balancer.service_ports):
             Balancer.set_backends(ready endpoint addresses)   (an atomic swap)
         listeners wanted = {ClusterIP:port} ∪ {bind-address:NodePort}
                          ∪ {ingress or external IP:port, where that IP is this node's}
         new ClusterIPs → added to lo (proxy.netlink), then bound (proxy.tcp)
         listeners no longer wanted → closed (open connections go on); their
         ClusterIPs removed from lo

After each sync, the pods newly sent to are reported to the apiserver for `kubelab trace` (proxy/report.py):
one small call per sync, batched, best effort.

A listener that cannot be opened (port taken, address missing) is logged,
recorded as an Event on its Service once, and retried every few seconds.
Addresses are left on lo at shutdown on purpose: while the proxy restarts a
pod connecting to a ClusterIP is refused at once instead of waiting on a
black hole; the next start removes the ones no Service has any more.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from dataclasses import dataclass
from typing import Any, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from kubelab import errors
from kubelab.client import Client
from kubelab.events import EventRecorder
from kubelab.informer import Informer
from kubelab.serving import Fatal, HealthServer, MetricsServer, render_collectors, until_a_task_ends

from . import netlink
from .balancer import Balancer, ServicePortSpec, ready_backends, service_ports
from .report import Tracker
from .tcp import Stats, TcpListener
from .udp import UDP_IDLE_TIMEOUT, UdpListener

log = logging.getLogger(__name__)

RETRY_SECONDS = 5.0          # failed listeners are retried this often
EXPIRE_SECONDS = 30.0        # affinity entries and down marks are swept this often
NETNS_CHECK_SECONDS = 5.0


@dataclass
class Config:
    server: str
    token: str
    node_name: str
    bind_address: str = "0.0.0.0"            # where NodePorts listen
    cluster_ips: bool = True                  # serve ClusterIPs (adding them to lo)
    service_cidr: str = "10.96.0.0/16"        # stale lo addresses in it are removed at start
    loopback_device: str = "lo"
    health_address: str = ""
    metrics_address: str = ""
    exit_on_lost_network: bool = True
    udp_timeout: float = UDP_IDLE_TIMEOUT     # an idle UDP session is closed after this (kube-proxy's default)


ListenerKey = tuple[str, int, str]            # (host, port, service port key: its protocol too)


class Proxy:
    def __init__(self, client: Client, config: Config) -> None:
        self.client = client
        self.config = config
        self.services = Informer(client, "Service")
        self.endpoints = Informer(client, "Endpoints")
        self.recorder = EventRecorder(client, "kube-proxy", config.node_name)
        # Per service port: one balancer for its ClusterIP, one for what comes from outside the
        # cluster (NodePorts, external addresses); they differ when a traffic policy is Local.
        self.balancers: dict[str, Balancer] = {}
        self.external: dict[str, Balancer] = {}
        self.stats: dict[str, Stats] = {}
        self.listeners: dict[ListenerKey, TcpListener | UdpListener] = {}
        self.failed: dict[ListenerKey, str] = {}          # listener → last error (reported once)
        self.addresses: set[str] = set()                  # ClusterIPs this proxy put on lo
        self.specs: dict[str, ServicePortSpec] = {}
        self.netlink: netlink.Netlink | None = None
        self.cluster_ip_error = ""
        self.syncs = 0
        self.sync_seconds = 0.0
        self._dirty = asyncio.Event()
        self.tracker = Tracker()
        self._report = asyncio.Event()
        self.report_error = ""
        self._tasks: list[asyncio.Task[Any]] = []
        self.service_cidr = ipaddress.ip_network(config.service_cidr)

    # ------------------------------------------------------------ life cycle
    async def start(self) -> None:
        try:
            self.netlink = netlink.Netlink()
        except OSError as e:
            self.cluster_ip_error = f"no netlink socket: {e}"
            log.warning("ClusterIPs and external addresses will not be served: %s", self.cluster_ip_error)
        for inf in (self.services, self.endpoints):
            inf.add_handlers(on_add=self._changed, on_update=lambda o, n: self._changed(n), on_delete=self._changed)
            inf.start()
        await asyncio.gather(self.services.wait_synced(), self.endpoints.wait_synced())
        await self.sync()
        self._remove_stale_addresses()
        self._tasks = [asyncio.create_task(self._sync_loop(), name="proxy-sync"),
                       asyncio.create_task(self._report_loop(), name="proxy-report"),
                       asyncio.create_task(self._housekeeping(), name="proxy-housekeeping")]
        log.info("proxy on node %s: %d service ports, %d listeners", self.config.node_name, len(self.specs),
                 len(self.listeners))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(self.services.stop(), self.endpoints.stop())
        for listener in self.listeners.values():
            await listener.close()
        self.listeners.clear()
        await self.recorder.flush()
        if self.netlink is not None:
            self.netlink.close()

    async def run(self) -> None:
        """Serve until cancelled; ends (raising Fatal) when the network namespace is lost."""
        await until_a_task_ends(self._tasks)

    def _changed(self, obj: Any) -> None:
        self._dirty.set()

    async def _sync_loop(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                await self.sync()
            except Exception:  # noqa: BLE001 - one bad sync must not stop the proxy
                log.exception("sync failed; retrying")
                await asyncio.sleep(1.0)
                self._dirty.set()

    async def _report_loop(self) -> None:
        """Send what the syncs queued, one call at a time (what piles up meanwhile goes in the next)."""
        while True:
            await self._report.wait()
            self._report.clear()
            while (report := self.tracker.take(self.config.node_name)) is not None:
                try:
                    await self.client.report_proxy(report)
                    if self.report_error:
                        log.info("reporting to the trace index works again")
                    self.report_error = ""
                except Exception as e:  # noqa: BLE001 - best effort: the trace says less, traffic goes on
                    reason = e.reason if isinstance(e, errors.ApiError) else type(e).__name__
                    if self.report_error != reason:      # said once per kind of error
                        log.warning("cannot report to the trace index (%s: %s); dropping what this proxy "
                                    "began sending to until it works", reason, e)
                    self.report_error = reason

    async def _housekeeping(self) -> None:
        last_expire = time.monotonic()
        lost = 0
        while True:
            await asyncio.sleep(min(RETRY_SECONDS, NETNS_CHECK_SECONDS))
            if self.failed:
                self._dirty.set()
            now = time.monotonic()
            if now - last_expire >= EXPIRE_SECONDS:
                for b in (*self.balancers.values(), *self.external.values()):
                    b.expire(now)
                last_expire = now
            if self.config.exit_on_lost_network:
                lost = lost + 1 if not netlink.has_routable_interface() else 0
                if lost >= 2:
                    # The node container we share a network namespace with was restarted: ours is
                    # an empty husk now. Exiting lets the restart policy join the new one.
                    raise Fatal("this network namespace has lost every interface but lo; exiting")

    # ------------------------------------------------------------ sync
    def local_addresses(self) -> set[str]:
        """This network namespace's IPv4 addresses (where external/ingress IPs can be served)."""
        if self.netlink is None:
            return set()
        try:
            return set(self.netlink.list_addresses(None))
        except OSError as e:
            log.warning("cannot list local addresses: %s", e)
            return set()

    def desired(self) -> tuple[dict[str, ServicePortSpec], dict[ListenerKey, ServicePortSpec]]:
        specs: dict[str, ServicePortSpec] = {}
        local: set[str] | None = None
        listeners: dict[ListenerKey, ServicePortSpec] = {}
        for svc in self.services.list():
            for spec in service_ports(svc):
                if spec.protocol not in ("TCP", "UDP"):
                    continue                    # SCTP is not proxied (see proxy/README.md)
                specs[spec.key] = spec
                if spec.cluster_ip and self.config.cluster_ips:
                    listeners[(spec.cluster_ip, spec.port, spec.key)] = spec
                if spec.node_port:
                    listeners[(self.config.bind_address, spec.node_port, spec.key)] = spec
                if spec.external_ips:
                    if local is None:
                        local = self.local_addresses() - self.addresses     # not our own ClusterIPs
                    for ip in spec.external_ips:
                        if ip in local or netlink.is_loopback(ip):     # 127/8 is local without a listing
                            listeners[(ip, spec.port, spec.key)] = spec
        return specs, listeners

    async def sync(self) -> None:
        t0 = time.perf_counter()
        specs, wanted = self.desired()
        # 1. Backends first: a listener opened below serves the current list from its first connection.
        here = self.config.node_name
        for key, spec in specs.items():
            self.stats.setdefault(key, Stats())
            endpoints = self.endpoints.get(f"{spec.namespace}/{spec.name}")
            for balancers, local in ((self.balancers, spec.internal_local), (self.external, spec.external_local)):
                b = balancers.setdefault(key, Balancer())
                b.set_affinity(spec.affinity_seconds)
                b.set_backends(ready_backends(endpoints, spec.port_name, spec.protocol, here if local else None))
        served: dict[str, tuple[Any, list[ServicePortSpec]]] = {}
        for spec in specs.values():
            key = f"{spec.namespace}/{spec.name}"
            served.setdefault(key, (self.endpoints.get(key), []))[1].append(spec)
        if self.tracker.observe(served, here):
            self._report.set()
        # 2. Listeners that are no longer wanted stop accepting (their connections go on).
        for lk in [lk for lk in self.listeners if lk not in wanted]:
            log.info("closing %s on %s:%d", lk[2], lk[0], lk[1])
            await self.listeners.pop(lk).close()
        for lk in [lk for lk in self.failed if lk not in wanted]:
            del self.failed[lk]
        # 3. Loopback addresses: add the new ClusterIPs, remove those nobody listens on any more.
        if self.config.cluster_ips:
            ips = {lk[0] for lk, spec in wanted.items() if spec.cluster_ip == lk[0] and lk[1] == spec.port}
            for ip in sorted(ips - self.addresses):
                self._add_address(ip)
            for ip in sorted(self.addresses - ips):
                self._remove_address(ip)
        # 4. New listeners.
        for lk, spec in wanted.items():
            if lk in self.listeners:
                continue
            host, port, key = lk
            balancer = self.balancers[key] if (host, port) == (spec.cluster_ip, spec.port) else self.external[key]
            listener: TcpListener | UdpListener
            if spec.protocol == "UDP":
                listener = UdpListener(key, host, port, balancer, self.stats[key], self.config.udp_timeout)
            else:
                listener = TcpListener(key, host, port, balancer, self.stats[key])
            try:
                await listener.start()
            except OSError as e:
                msg = f"cannot listen on {host}:{port} for service {key}: {e.strerror or e}"
                if self.failed.get(lk) != msg:
                    log.warning("%s; retrying every %.0fs", msg, RETRY_SECONDS)
                    svc = self.services.get(f"{spec.namespace}/{spec.name}")
                    if svc is not None:
                        self.recorder.event(svc, "Warning", "FailedToListen",
                                            f"{msg} (node {self.config.node_name})")
                self.failed[lk] = msg
                continue
            self.failed.pop(lk, None)
            self.listeners[lk] = listener
            log.info("serving %s on %s:%d → %s", key, host, port,
                     ", ".join(map(str, balancer.backends)) or "no endpoints")
        # 5. Forget balancers of service ports that are gone (after their listeners closed).
        for key in [k for k in self.balancers if k not in specs]:
            del self.balancers[key]
            self.external.pop(key, None)
        for key in [k for k in self.stats if k not in specs]:
            del self.stats[key]
        self.specs = specs
        self.syncs += 1
        self.sync_seconds += time.perf_counter() - t0

    def _add_address(self, ip: str) -> None:
        if netlink.is_loopback(ip):
            return                       # 127/8 is local already (integration tests use it)
        if self.netlink is None:
            return
        try:
            if self.netlink.add(ip, self.config.loopback_device):
                log.debug("added %s to %s", ip, self.config.loopback_device)
            self.addresses.add(ip)
            self.cluster_ip_error = ""
        except OSError as e:
            if self.cluster_ip_error != str(e):
                log.warning("cannot add ClusterIP %s to %s: %s (ClusterIPs will not answer on this node)", ip,
                            self.config.loopback_device, e)
            self.cluster_ip_error = str(e)

    def _remove_address(self, ip: str) -> None:
        self.addresses.discard(ip)
        if self.netlink is None or netlink.is_loopback(ip):
            return
        try:
            self.netlink.remove(ip, self.config.loopback_device)
        except OSError as e:
            log.warning("cannot remove %s from %s: %s", ip, self.config.loopback_device, e)

    def _remove_stale_addresses(self) -> None:
        """Service addresses on lo that no Service has any more (left by an earlier run)."""
        if self.netlink is None or not self.config.cluster_ips:
            return
        try:
            present = self.netlink.list_addresses(self.config.loopback_device)
        except OSError as e:
            log.warning("cannot list the addresses of %s: %s", self.config.loopback_device, e)
            return
        for ip in present:
            if ip not in self.addresses and ipaddress.ip_address(ip) in self.service_cidr:
                log.info("removing stale service address %s from %s", ip, self.config.loopback_device)
                self._remove_address(ip)

    # ------------------------------------------------------------ metrics
    def metrics(self) -> str:
        return render_collectors(_Collector(self))


class _Collector(Collector):
    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy

    def collect(self) -> Iterator[Any]:
        p = self.proxy
        accepted = CounterMetricFamily("kubelab_proxy_connections", "Connections accepted, per service port.",
                                       labels=["service"])
        active = GaugeMetricFamily("kubelab_proxy_active_connections", "Connections open, per service port.",
                                   labels=["service"])
        failures = CounterMetricFamily("kubelab_proxy_backend_connect_failures",
                                       "Backend connects refused or timed out (the backend was marked down).",
                                       labels=["service"])
        no_backend = CounterMetricFamily("kubelab_proxy_no_backend",
                                         "Connections closed at once because no backend could be reached.",
                                         labels=["service"])
        bytes_ = CounterMetricFamily("kubelab_proxy_bytes", "Bytes forwarded, per service port and direction.",
                                     labels=["service", "direction"])
        backends = GaugeMetricFamily("kubelab_proxy_backends", "Ready backends, per service port.",
                                     labels=["service"])
        for key, s in sorted(p.stats.items()):
            accepted.add_metric([key], s.accepted)
            active.add_metric([key], s.active)
            failures.add_metric([key], s.connect_failures)
            no_backend.add_metric([key], s.no_backend)
            bytes_.add_metric([key, "in"], s.bytes_in)
            bytes_.add_metric([key, "out"], s.bytes_out)
        for key, b in sorted(p.balancers.items()):
            backends.add_metric([key], len(b.backends))
        yield from (accepted, active, failures, no_backend, bytes_, backends)
        yield GaugeMetricFamily("kubelab_proxy_listeners", "Listening sockets open.", value=len(p.listeners))
        yield GaugeMetricFamily("kubelab_proxy_listen_failures", "Listeners that could not be opened.",
                                value=len(p.failed))
        yield CounterMetricFamily("kubelab_proxy_syncs", "Syncs of listeners with the API.", value=p.syncs)
        yield CounterMetricFamily("kubelab_proxy_sync_seconds", "Time spent syncing.", value=p.sync_seconds)


class Server:
    """The proxy process, as kubelab.serving drives it: start (the proxy, health, metrics) → run → stop."""

    def __init__(self, config: Config) -> None:
        self.client = Client(config.server, config.token)
        self.proxy = Proxy(self.client, config)
        self.endpoints: list[HealthServer | MetricsServer] = []
        if config.health_address:
            self.endpoints.append(HealthServer(config.health_address))
        if config.metrics_address:
            self.endpoints.append(MetricsServer(config.metrics_address, self.proxy.metrics))

    async def start(self) -> None:
        await self.proxy.start()
        for endpoint in self.endpoints:
            await endpoint.start()

    async def run(self) -> None:
        await self.proxy.run()

    async def stop(self) -> None:
        for endpoint in self.endpoints:
            await endpoint.stop()
        await self.proxy.stop()
        await self.client.close()
