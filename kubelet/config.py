"""The Docker kubelet's pod-side settings (`PodConfig`), filled from `kubelab-kubelet`'s flags.

Where it sits: `kubelet.main` builds it; the pod manager (`kubelet.manager`) and what it hands each pod worker
(`kubelet.worker`, `kubelet.sandbox`, `kubelet.pulls`, `kubelet.environment`) read it. Plain data, no I/O.
"""
from __future__ import annotations

from dataclasses import dataclass, field

FORCE_GRACE = 2                # seconds given to containers of a pod force-deleted from the API


@dataclass
class PodConfig:
    node_name: str
    node_ip: str = ""
    network: str = "kubelab"
    pause_image: str = "kubelab/pause:latest"
    backoff_base: float = 10.0          # restart and image pull back-off: base doubling to max (Kubernetes: 10s, 5min)
    backoff_max: float = 300.0
    resync_period: float = 10.0
    housekeeping_period: float = 15.0
    cluster_dns: list[str] = field(default_factory=list)
    cluster_domain: str = "cluster.local"
    service_cidr_route: str = ""        # route this range via the node from every pod (userspace proxy, design §4)
    host_network_mode: str = "host"     # Docker network mode of hostNetwork pods: the node's namespace
    service_links: bool = True          # watch Services for the pods' service environment variables
    local_images: tuple[str, ...] = ("kubelab/",)   # built locally: never pulled while present
    log_max_size: str = "10m"
    node_cpu_millis: int = 0            # for resourceFieldRef without a limit
    node_memory_bytes: int = 0
    status_backoff_base: float = 1.0    # a status write the apiserver refuses is retried after this, doubling
    status_backoff_max: float = 300.0
    root_ca_file: str = ""              # the cluster CA pods get as ca.crt (the kube-root-ca.crt ConfigMap's)
