"""When this node's proxy began sending to which pods: what it tells the apiserver for `kubelab trace`.

Sits beside the proxy's sync (proxy/server.py): after each sync set its balancers, `Tracker.observe` is given
each served Service's Endpoints and works out which pods' ready addresses went into a balancer that had not
been there before; those become `ProxyProgrammed` entries, sent in one `ReportProxy` call per sync (batched
while a call is in flight). The apiserver only adds them to its trace index (apiserver/trace.py): nothing is
written to etcd, so a thousand nodes' proxies cost a thousand small calls per Endpoints change, not a thousand
writes. Reporting is best effort: a failed call is logged and dropped (the trace then says less; traffic is
not affected), and at most MAX_PENDING entries wait.
"""
from __future__ import annotations

import time
from typing import Any, Iterable

from kubelab import timeutil
from kubelab.v1 import api_pb2 as api

from .balancer import ServicePortSpec

MAX_PENDING = 5_000          # entries waiting for a call; beyond, the oldest are dropped (and counted)
MAX_PER_CALL = 500


def sent_to(endpoints: Any | None, specs: Iterable[ServicePortSpec], node: str) -> set[str]:
    """The uids of the pods whose ready addresses a balancer of these service ports sends to (a port
    matched by name and protocol, as `ready_backends` does; with a Local policy on both the ClusterIP and the
    outside balancers, only this node's)."""
    if endpoints is None:
        return set()
    out: set[str] = set()
    for spec in specs:
        local_only = spec.internal_local and spec.external_local
        for subset in endpoints.subsets:
            if not any(p.name == spec.port_name and (p.protocol or "TCP") == spec.protocol and 0 < p.port < 65536
                       for p in subset.ports):
                continue
            out.update(a.target_ref.uid for a in subset.addresses
                       if a.ip and a.target_ref.uid and (not local_only or a.node_name == node))
    return out


class Tracker:
    """What this proxy sends to, per Endpoints (namespace/name), and the entries not reported yet."""

    def __init__(self) -> None:
        self.sending: dict[str, set[str]] = {}
        self.pending: list[api.ProxyProgrammed] = []
        self.dropped = 0

    def observe(self, served: dict[str, tuple[Any | None, list[ServicePortSpec]]], node: str,
                now: float | None = None) -> int:
        """`served`: namespace/name → (its Endpoints, its service ports) for every Service served after a sync.
        Queues an entry per Endpoints that gave a balancer a pod it did not have; returns how many."""
        when = timeutil.fmt_micro(now if now is not None else time.time())
        added = 0
        for key, (endpoints, specs) in served.items():
            now_sending = sent_to(endpoints, specs, node)
            new = now_sending - self.sending.get(key, set())
            self.sending[key] = now_sending
            if new and endpoints is not None:
                ns, _, name = key.partition("/")
                self.pending.append(api.ProxyProgrammed(namespace=ns, name=name,
                                                        resource_version=endpoints.metadata.resource_version,
                                                        pod_uids=sorted(new), time=when))
                added += 1
        for key in [k for k in self.sending if k not in served]:
            del self.sending[key]           # a Service that comes back is new again
        if len(self.pending) > MAX_PENDING:
            self.dropped += len(self.pending) - MAX_PENDING
            del self.pending[:len(self.pending) - MAX_PENDING]
        return added

    def take(self, node: str) -> api.ProxyReport | None:
        """The next call's report (up to MAX_PER_CALL entries), or None when nothing waits."""
        if not self.pending:
            return None
        batch, self.pending = self.pending[:MAX_PER_CALL], self.pending[MAX_PER_CALL:]
        return api.ProxyReport(node_name=node, programmed=batch)
