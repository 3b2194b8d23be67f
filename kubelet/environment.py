"""A container's environment as the kubelet builds it: service variables, `env` with `$(VAR)` expansion,
and `valueFrom` (fieldRef, resourceFieldRef; configMap and secret keys only when optional).

Where it sits: the pod worker (`kubelet.worker`) calls `container_env` when it creates a container and
`expand` for its command and args; the Services come from the pod manager's informer. Pure.
"""
from __future__ import annotations

import re
from typing import Any, Sequence

from kubelab.quantity import cpu_millis, parse_quantity, to_bytes

from .config import PodConfig
from .docker_runtime import RuntimeError_
from .service_env import service_env

_VAR_REF = re.compile(r"\$\$|\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)")


def expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: defined names are replaced, `$$` escapes, the rest stays."""
    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return env[name] if name in env else m.group(0)
    return _VAR_REF.sub(sub, value)


def container_env(pod: Any, c: Any, pod_ip: str, cfg: PodConfig, services: Sequence[Any] | None) -> list[str]:
    """`NAME=value` lines for container `c`; `services` None means service links are off on this kubelet.
    Raises RuntimeError_ (CreateContainerConfigError) for a reference it cannot resolve."""
    env: dict[str, str] = {}
    if services is not None:
        links = not pod.spec.HasField("enable_service_links") or pod.spec.enable_service_links
        env.update(service_env(list(services), pod.metadata.namespace, links))
    for e in c.env:
        if e.HasField("value_from"):
            env[e.name] = value_from(pod, c, pod_ip, cfg, e)
        else:
            env[e.name] = expand(e.value, env)
    return [f"{k}={v}" for k, v in env.items()]


def value_from(pod: Any, c: Any, pod_ip: str, cfg: PodConfig, e: Any) -> str:
    src = e.value_from
    if src.HasField("field_ref"):
        path = src.field_ref.field_path
        md = pod.metadata
        simple = {"metadata.name": md.name, "metadata.namespace": md.namespace, "metadata.uid": md.uid,
                  "spec.nodeName": pod.spec.node_name or cfg.node_name,
                  "spec.serviceAccountName": pod.spec.service_account_name or "default",
                  "status.podIP": pod_ip, "status.podIPs": pod_ip, "status.hostIP": cfg.node_ip,
                  "status.hostIPs": cfg.node_ip}
        if path in simple:
            return simple[path]
        m = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
        if m:
            return dict(getattr(md, m.group(1))).get(m.group(2), "")
        raise RuntimeError_(f'unsupported fieldRef "{path}" in env {e.name}', "CreateContainerConfigError")
    if src.HasField("resource_field_ref"):
        ref = src.resource_field_ref
        target = c
        if ref.container_name:
            target = next((x for x in pod.spec.containers if x.name == ref.container_name), c)
        kind, _, res = ref.resource.partition(".")
        values = target.resources.limits if kind == "limits" else target.resources.requests
        divisor = parse_quantity(ref.divisor) if ref.divisor else None
        if res == "cpu":
            millis = cpu_millis(values["cpu"]) if "cpu" in values else (
                cfg.node_cpu_millis if kind == "limits" else 0)
            d = divisor or 1
            return str(max(1, -(-int(millis) // int(d * 1000)))) if d >= 1 else str(-(-millis // int(d * 1000)))
        if res in ("memory", "ephemeral-storage"):
            b = to_bytes(values[res]) if res in values else (cfg.node_memory_bytes if kind == "limits" else 0)
            d = divisor or 1
            return str(-(-b // int(d)))
        raise RuntimeError_(f'unsupported resourceFieldRef "{ref.resource}"', "CreateContainerConfigError")
    ref = src.config_map_key_ref if src.HasField("config_map_key_ref") else src.secret_key_ref
    what = "configmap" if src.HasField("config_map_key_ref") else "secret"
    if ref.HasField("optional") and ref.optional:
        return ""
    raise RuntimeError_(f'{what} "{ref.name}" not found', "CreateContainerConfigError")
