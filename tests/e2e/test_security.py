"""Only the apiserver talks to etcd: from inside a pod, etcd cannot be reached, by name or by address.

etcd sits on the kubelab-control-plane network (pods are on `kubelab`), speaks only TLS and asks for a
client certificate. The apiserver, on both networks, is the control: a pod reaches it by the same means.
"""
from __future__ import annotations

from typing import Any

import pytest

from tests.harness.manifests import sleeping_pod

from .conftest import apply, docker, kubectl, unique, wait_running_ready

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def _addresses(container: str) -> dict[str, str]:
    out = docker("inspect", container, "--format",
                 "{{range $n, $e := .NetworkSettings.Networks}}{{$n}}={{$e.IPAddress}} {{end}}").stdout
    return dict(item.split("=", 1) for item in out.split())


def _connects(pod: str, host: str, port: int) -> bool:
    """Whether a TCP connection from inside `pod` to host:port opens within 3 s."""
    p = kubectl("exec", pod, "--", "timeout", "3", "bash", "-c", f"exec 3<>/dev/tcp/{host}/{port}",
                check=False, timeout=30)
    return p.returncode == 0


def test_etcd_cannot_be_reached_from_a_pod(lab: dict[str, Any]) -> None:
    etcd = _addresses("kubelab-etcd")
    assert list(etcd) == ["kubelab-control-plane"], f"etcd is on {sorted(etcd)}, not the control-plane network only"
    apiserver = _addresses("kubelab-apiserver")
    assert sorted(apiserver) == ["kubelab", "kubelab-control-plane"]
    name = unique("snoop")
    apply(sleeping_pod(name, "kubelab/debian", "shell"))
    try:
        wait_running_ready(name, timeout=90)
        # The control: the apiserver answers a pod by name and by its address on the pod network.
        assert _connects(name, "apiserver", 6443)
        assert _connects(name, apiserver["kubelab"], 6443)
        # etcd: its name does not resolve from a pod, and neither of its addresses accepts a connection.
        resolved = kubectl("exec", name, "--", "getent", "hosts", "etcd", check=False, timeout=30)
        assert resolved.returncode != 0, f"etcd resolves from a pod: {resolved.stdout}"
        assert not _connects(name, "etcd", 2379)
        assert not _connects(name, etcd["kubelab-control-plane"], 2379), "a pod reaches etcd by its address"
        assert not _connects(name, apiserver["kubelab-control-plane"], 6443), \
            "a pod reaches the control-plane network"
    finally:
        kubectl("delete", "pod", name, "--wait=false", check=False)
