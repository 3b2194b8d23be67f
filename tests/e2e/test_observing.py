"""Every lab component serves Prometheus /metrics, reachable from the host on the lab network (README, Observing)."""
from __future__ import annotations

import urllib.request
from typing import Any

import pytest

from .conftest import docker, wait_for

# (container, port, a metric that only that component reports)
ENDPOINTS = [
    ("kubelab-apiserver", 8080, "apiserver_request_total"),
    ("kubelab-scheduler", 10251, "scheduler_schedule_attempts_total"),
    ("kubelab-controller-manager", 10252, 'leader_election_master_status{name="kube-controller-manager"} 1.0'),
    ("kubelab-node1", 10255, 'kubelet_node_name{node="node1"} 1.0'),
    ("kubelab-node2", 10249, "kubelab_proxy_"),        # node2's proxy shares the node's network namespace
    ("kubelab-dns", 9153, "kubelab_dns_names"),
]


def container_ip(name: str) -> str:
    out = docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", name).stdout.split()
    assert out, f"{name} has no address on the lab network"
    return out[0]


@pytest.mark.parametrize("container,port,metric", ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
def test_component_metrics_are_served(lab: dict[str, Any], container: str, port: int, metric: str) -> None:
    url = f"http://{container_ip(container)}:{port}/metrics"

    def scrape() -> str | None:
        try:
            text = urllib.request.urlopen(url, timeout=5).read().decode()
        except OSError:
            return None
        return text if metric in text else None
    wait_for(scrape, 30, f"{metric} at {url}")
