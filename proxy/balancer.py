"""Backend selection for one service port: round robin, ClientIP affinity, down-marking.

Where it sits: `proxy.server` turns Services and Endpoints into a
`ServicePortSpec` per service port and hands each one's ready backends to
a `Balancer`; `proxy.lb` (the HA lab's load balancer) hands one a fixed
list of apiservers. `proxy.tcp` asks the Balancer for a backend per new
connection and reports each connect's outcome back. Nothing here does I/O
or reads a clock: `now` is passed in, so tests are exact.

Worked example (backends a, b, c; affinity off):

    pick → a, pick → b; connect to c refused → mark_down(c); pick → a
    (c is skipped while down, so a and b share c's turns evenly instead of
    the backend after c taking all of them); after DOWN_SECONDS c is back.

A backend stays *failing* from its first failed connect to its next
successful one, whatever its down mark does meanwhile: `mark_down` and
`mark_up` return True only on that change, so a log says it once.

`set_backends` replaces the whole tuple at once (one assignment in an event
loop, no lock): a connection already open keeps the backend it has, new
connections only ever see the current list.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, NamedTuple

from kubelab.hostport import split_host_port

DOWN_SECONDS = 2.0                  # how long a refusing backend gets no new connections
DEFAULT_AFFINITY_SECONDS = 10800    # Kubernetes' sessionAffinityConfig.clientIP.timeoutSeconds default
MAX_AFFINITY_ENTRIES = 65536        # a bound on memory: oldest client entries are dropped past it


class Backend(NamedTuple):
    host: str                       # an endpoint's IP; a name (resolved at each connect) for proxy.lb
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_backend(text: str, listen: bool = False) -> Backend:
    """`host:port` (a bracketed IPv6 address too) → Backend; ValueError when it is not one. An address to
    listen on may have port 0 (a free one); both need a host."""
    host, port = split_host_port(text.strip(), min_port=0 if listen else 1)
    if not host:
        raise ValueError(f"{text.strip()!r} is not host:port (missing host)")
    return Backend(host, port)


@dataclass(frozen=True)
class ServicePortSpec:
    """What the proxy serves for one port of one Service (from the Service alone)."""
    namespace: str
    name: str
    port_name: str
    protocol: str
    cluster_ip: str                 # "" or "None": no ClusterIP listener
    port: int
    node_port: int                  # 0: none
    affinity_seconds: int           # 0: no session affinity
    external_ips: tuple[str, ...] = ()   # load balancer ingress and spec.externalIPs: served where local
    internal_local: bool = False    # internalTrafficPolicy Local: the ClusterIP goes to this node's endpoints only
    external_local: bool = False    # externalTrafficPolicy Local: so do NodePorts and external addresses

    @property
    def key(self) -> str:
        """`ns/name:port-name` as Kubernetes' proxy names a service port."""
        return f"{self.namespace}/{self.name}:{self.port_name}" if self.port_name else \
            f"{self.namespace}/{self.name}"


def affinity_seconds(svc: Any) -> int:
    """The ClientIP affinity timeout of a Service (0 when affinity is off)."""
    if svc.spec.session_affinity != "ClientIP":
        return 0
    cfg = svc.spec.session_affinity_config.client_ip
    if cfg.HasField("timeout_seconds") and cfg.timeout_seconds > 0:
        return int(cfg.timeout_seconds)
    return DEFAULT_AFFINITY_SECONDS


def service_ports(svc: Any) -> list[ServicePortSpec]:
    """The ports of a Service the proxy serves; ExternalName and odd ports are skipped."""
    if svc.spec.type == "ExternalName":
        return []
    cluster_ip = svc.spec.cluster_ip if svc.spec.cluster_ip not in ("", "None") else ""
    node_ports = svc.spec.type in ("NodePort", "LoadBalancer")
    affinity = affinity_seconds(svc)
    external = list(svc.spec.external_ips)
    if svc.spec.type == "LoadBalancer":
        # The lab's service load balancer (k3s ServiceLB style) publishes node addresses here;
        # the proxy of the node owning an address listens on it at the Service's port.
        external += [i.ip for i in svc.status.load_balancer.ingress if i.ip]
    external_ips = tuple(sorted(set(external)))
    out = []
    for p in svc.spec.ports:
        protocol = p.protocol or "TCP"
        if not 0 < p.port < 65536:
            continue
        node_port = p.node_port if node_ports and 0 < p.node_port < 65536 else 0
        if not cluster_ip and not node_port and not external_ips:
            continue
        out.append(ServicePortSpec(svc.metadata.namespace, svc.metadata.name, p.name, protocol, cluster_ip, p.port,
                                   node_port, affinity, external_ips,
                                   internal_local=svc.spec.internal_traffic_policy == "Local",
                                   external_local=svc.spec.external_traffic_policy == "Local"))
    return out


def ready_backends(endpoints: Any | None, port_name: str, protocol: str = "TCP",
                   node: str | None = None) -> tuple[Backend, ...]:
    """Ready addresses of the Endpoints for one service port (matched by port name, as Kubernetes does).

    Not-ready addresses are never used; with `node`, only the addresses on that
    node (a `Local` traffic policy). The result is sorted, so every node's
    proxy walks the backends in the same order.
    """
    if endpoints is None:
        return ()
    out: set[Backend] = set()
    for subset in endpoints.subsets:
        for ep in subset.ports:
            if ep.name == port_name and (ep.protocol or "TCP") == protocol and 0 < ep.port < 65536:
                out.update(Backend(a.ip, ep.port) for a in subset.addresses
                           if a.ip and (node is None or a.node_name == node))
    return tuple(sorted(out))


@dataclass
class Balancer:
    """Selection state of one service port (lives as long as the port is served)."""
    backends: tuple[Backend, ...] = ()
    affinity_seconds: int = 0
    down_seconds: float = DOWN_SECONDS
    next_index: int = 0
    down_until: dict[Backend, float] = field(default_factory=dict)
    failing: set[Backend] = field(default_factory=set)      # failed its last connect
    affinity: dict[str, tuple[Backend, float]] = field(default_factory=dict)    # client ip → (backend, last use)

    def set_backends(self, backends: Iterable[Backend]) -> None:
        """Swap the backend list; affinity to removed backends and their down marks are forgotten."""
        new = tuple(backends)
        if new == self.backends:
            return
        keep = set(new)
        self.backends = new
        self.down_until = {b: t for b, t in self.down_until.items() if b in keep}
        self.failing &= keep
        self.affinity = {c: v for c, v in self.affinity.items() if v[0] in keep}
        if self.next_index >= len(new):
            self.next_index = 0

    def set_affinity(self, seconds: int) -> None:
        if seconds != self.affinity_seconds:
            self.affinity_seconds = seconds
            self.affinity.clear()

    def is_down(self, b: Backend, now: float) -> bool:
        until = self.down_until.get(b)
        return until is not None and until > now

    def mark_down(self, b: Backend, now: float) -> bool:
        """A connect to `b` was refused or timed out: no new connections for `down_seconds` (unless no
        other backend is left to try). True when `b` was not failing before (a change to report)."""
        if b not in self.backends:
            return False
        self.down_until[b] = now + self.down_seconds
        if self.affinity_seconds:
            self.affinity = {c: v for c, v in self.affinity.items() if v[0] != b}
        changed = b not in self.failing
        self.failing.add(b)
        return changed

    def mark_up(self, b: Backend) -> bool:
        """A connect to `b` succeeded: its down mark goes at once. True when it was failing (a change)."""
        self.down_until.pop(b, None)
        changed = b in self.failing
        self.failing.discard(b)
        return changed

    def state(self, b: Backend, now: float) -> str:
        """`up`, `down` (resting: tried only when nothing else is left) or `down, due a try` (its rest is
        over; it is up again at its next successful connect)."""
        return "up" if b not in self.failing else "down" if self.is_down(b, now) else "down, due a try"

    def pick(self, client_ip: str, now: float, exclude: frozenset[Backend] = frozenset()) -> Backend | None:
        """The backend for a new connection from `client_ip`, or None when there is none to try.

        `exclude` holds backends this connection already failed on. A client
        with a fresh affinity entry gets its backend again (unless that one is
        down); otherwise round robin over backends not down. When every
        remaining backend is marked down, they are tried anyway, the one back
        soonest first: a stale mark must not turn a working service away.
        """
        candidates = [b for b in self.backends if b not in exclude]
        if not candidates:
            return None
        if self.affinity_seconds and client_ip:
            entry = self.affinity.get(client_ip)
            if entry is not None:
                b, last = entry
                if now - last <= self.affinity_seconds and b in candidates and not self.is_down(b, now):
                    self._remember(client_ip, b, now)
                    return b
        chosen = self._round_robin(candidates, now)
        if self.affinity_seconds and client_ip:
            self._remember(client_ip, chosen, now)
        return chosen

    def _round_robin(self, candidates: list[Backend], now: float) -> Backend:
        up = {b for b in candidates if not self.is_down(b, now)}
        if not up:
            return min(candidates, key=lambda b: self.down_until.get(b, 0.0))
        n = len(self.backends)
        for step in range(n):
            i = (self.next_index + step) % n
            b = self.backends[i]
            if b in up:
                self.next_index = (i + 1) % n
                return b
        return candidates[0]        # unreachable: `up` is a non-empty subset of the backends

    def _remember(self, client_ip: str, b: Backend, now: float) -> None:
        self.affinity.pop(client_ip, None)
        self.affinity[client_ip] = (b, now)
        if len(self.affinity) > MAX_AFFINITY_ENTRIES:
            # dicts keep insertion order and a refresh re-inserts: the first entry is the oldest.
            self.affinity.pop(next(iter(self.affinity)))

    def expire(self, now: float) -> None:
        """Drop affinity entries past their timeout and down marks past their time (called periodically)."""
        if self.affinity_seconds:
            self.affinity = {c: v for c, v in self.affinity.items() if now - v[1] <= self.affinity_seconds}
        self.down_until = {b: t for b, t in self.down_until.items() if t > now}
