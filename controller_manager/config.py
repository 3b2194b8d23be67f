"""Settings of the controller manager (filled by `main` from flags)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Config:
    server: str = "127.0.0.1:6443"
    token: str = ""
    controllers: list[str] = field(default_factory=lambda: ["*"])
    workers: int = 0                          # 0 = each controller's default
    leader_elect: bool = True
    leader_elect_lease_duration: float = 15.0
    leader_elect_renew_deadline: float = 10.0
    leader_elect_retry_period: float = 2.0
    leader_elect_namespace: str = "kube-system"
    leader_elect_name: str = "kube-controller-manager"
    identity: str = ""
    # node lifecycle (lab defaults are short: Kubernetes uses 40s / 5m)
    node_monitor_grace_period: float = 20.0
    node_monitor_period: float = 2.0
    pod_eviction_timeout: float = 30.0
    pod_gc_quarantine: float = 40.0           # a node missing this long loses its pods (Kubernetes: 40s, fixed)
    # garbage collector / namespaces / disruption
    disrupted_pod_timeout: float = 120.0
    health_address: str = ""
    metrics_address: str = ""
    shutdown_grace: float = 5.0
