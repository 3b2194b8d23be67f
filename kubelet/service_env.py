"""Kubernetes' service environment variables (`MY_FIRST_SERVICE_SERVICE_HOST`, ...) for a pod.

Where it sits: the pod workers (`kubelet.worker`) read the kubelet's Service
informer when they start a container and put these in front of the
container's own env (which wins, and may refer to them with `$(VAR)`).
As in Kubernetes they describe the Services that exist when the container
starts — the ones in the pod's namespace plus `kubernetes` in `default` —
and only when `enableServiceLinks` is not false; a Service created later
is found through DNS instead.
"""
from __future__ import annotations

from typing import Any, Iterable


def env_name(service_name: str) -> str:
    return service_name.upper().replace("-", "_").replace(".", "_")


def service_env(services: Iterable[Any], namespace: str, enable_service_links: bool = True) -> dict[str, str]:
    """The variables for a pod in `namespace`, given every Service the kubelet knows."""
    out: dict[str, str] = {}
    chosen = []
    for svc in services:
        ns, name = svc.metadata.namespace, svc.metadata.name
        if (ns == "default" and name == "kubernetes") or (ns == namespace and enable_service_links):
            chosen.append(svc)
    for svc in sorted(chosen, key=lambda s: s.metadata.name):
        ip = svc.spec.cluster_ip
        ports = [p for p in svc.spec.ports if 0 < p.port < 65536]
        if ip in ("", "None") or not ports:
            continue
        prefix = env_name(svc.metadata.name)
        first = ports[0]
        out[f"{prefix}_SERVICE_HOST"] = ip
        out[f"{prefix}_SERVICE_PORT"] = str(first.port)
        for p in ports:
            if p.name:
                out[f"{prefix}_SERVICE_PORT_{env_name(p.name)}"] = str(p.port)
        # The Docker-links style ones, as Kubernetes keeps them for old images.
        out[f"{prefix}_PORT"] = f"{(first.protocol or 'TCP').lower()}://{ip}:{first.port}"
        for p in ports:
            proto = (p.protocol or "TCP")
            base = f"{prefix}_PORT_{p.port}_{proto.upper()}"
            out[base] = f"{proto.lower()}://{ip}:{p.port}"
            out[f"{base}_PROTO"] = proto.lower()
            out[f"{base}_PORT"] = str(p.port)
            out[f"{base}_ADDR"] = ip
    return out
