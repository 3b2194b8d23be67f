"""The resolv.conf the kubelet writes into a pod (dnsPolicy ClusterFirst), as Kubernetes' kubelet does."""
from __future__ import annotations

from kubelab.client import new_object
from kubelet.pods import resolv_conf


def pod(policy: str = "") -> object:
    p = new_object("Pod", "web", "shop")
    p.spec.dns_policy = policy
    return p


def test_cluster_first_names_the_cluster_dns_with_the_namespace_search_path() -> None:
    assert resolv_conf(pod(), ["172.28.255.10"], "cluster.local") == (
        "search shop.svc.cluster.local svc.cluster.local cluster.local\n"
        "nameserver 172.28.255.10\n"
        "options ndots:5\n")
    assert resolv_conf(pod("ClusterFirst"), ["10.0.0.1"], "lab.internal").startswith(
        "search shop.svc.lab.internal svc.lab.internal lab.internal\nnameserver 10.0.0.1\n")


def test_at_most_three_nameservers() -> None:
    text = resolv_conf(pod(), ["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"], "cluster.local") or ""
    assert text.count("nameserver") == 3 and "4.4.4.4" not in text


def test_default_policy_or_no_cluster_dns_leaves_the_nodes_resolution() -> None:
    assert resolv_conf(pod("Default"), ["172.28.255.10"], "cluster.local") is None
    assert resolv_conf(pod(), [], "cluster.local") is None
