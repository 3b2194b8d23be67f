"""A pod's DNS as the kubelet configures it: the search path and /etc/resolv.conf of dnsPolicy ClusterFirst.

Where it sits: `kubelet.sandbox` writes `resolv_conf(...)` into a new sandbox and gives Docker
`docker_dns(...)` when it creates one. Pure.
"""
from __future__ import annotations

from typing import Any

CLUSTER_FIRST = ("ClusterFirst", "ClusterFirstWithHostNet", "")     # "" is the default: ClusterFirst


def cluster_first(pod: Any, cluster_dns: list[str]) -> bool:
    return bool(cluster_dns) and pod.spec.dns_policy in CLUSTER_FIRST


def search_path(pod: Any, cluster_domain: str) -> list[str]:
    ns = pod.metadata.namespace
    return [f"{ns}.svc.{cluster_domain}", f"svc.{cluster_domain}", cluster_domain]


def resolv_conf(pod: Any, cluster_dns: list[str], cluster_domain: str) -> str | None:
    """/etc/resolv.conf for a ClusterFirst pod, as the kubelet writes it; None leaves Docker's (dnsPolicy
    Default, or no --cluster-dns: Kubernetes then falls back to the node's resolution too)."""
    if not cluster_first(pod, cluster_dns):
        return None
    lines = [f"search {' '.join(search_path(pod, cluster_domain))}"]
    lines += [f"nameserver {ip}" for ip in cluster_dns[:3]]       # the resolver reads three at most
    lines.append("options ndots:5")
    return "\n".join(lines) + "\n"


def docker_dns(pod: Any, cluster_dns: list[str], cluster_domain: str) -> dict[str, Any]:
    """Docker's own resolver forwards to these until the sandbox's resolv.conf points the pod at them."""
    if not cluster_first(pod, cluster_dns):
        return {}
    return {"dns": list(cluster_dns), "dns_search": search_path(pod, cluster_domain), "dns_opt": ["ndots:5"]}
