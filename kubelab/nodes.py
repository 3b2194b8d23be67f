"""What a Node's status says about the kubelet behind it.

Kubelets write it (kubelet/node.py fills the status; kubelet/hollow.py's
simulated nodes say runtime `hollow://VERSION`); the apiserver reads it to
reach a pod's kubelet for logs, exec, port-forward and proxy, and to say why
it can't. A hollow node advertises a kubelet port as kubemark's do, but no
streaming server listens there: its runtime is what tells.
"""
from __future__ import annotations

from typing import Any

# The scheme of nodeInfo.containerRuntimeVersion on simulated nodes, as `docker://` names Docker.
SIMULATED_RUNTIME = "hollow"


def runtime_version(scheme: str, version: str) -> str:
    return f"{scheme}://{version}"


def is_simulated(node: Any) -> bool:
    """A hollow node: its pods' containers are simulated, nothing runs to stream from."""
    return str(node.status.node_info.container_runtime_version).startswith(runtime_version(SIMULATED_RUNTIME, ""))


def kubelet_address(node: Any) -> str | None:
    """`host:port` of the node's kubelet (InternalIP, else Hostname; daemonEndpoints), None if it has none."""
    port = node.status.daemon_endpoints.kubelet_endpoint.port
    addrs = {a.type: a.address for a in node.status.addresses}
    host = addrs.get("InternalIP") or addrs.get("Hostname")
    return f"{host}:{port}" if host and port else None
