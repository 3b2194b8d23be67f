"""Container life-cycle hooks (postStart, preStop) and stopping a container within its grace period.

Where it sits: the pod worker (`kubelet.worker`) runs postStart after it starts a container and calls
`stop_container` whenever it stops one (deletion, failed probes, a changed spec). Handlers run through
`kubelet.docker_runtime` (exec) or against the pod's address (httpGet, tcpSocket, as `kubelet.probes`).
The time a preStop hook takes is read on the clock the worker passes in (`kubelab.timeutil.Clock`).
"""
from __future__ import annotations

from typing import Any, Callable

from kubelab.timeutil import Clock

from .docker_runtime import ContainerInfo, DockerRuntime, RuntimeError_
from .probes import http_get, resolve_port, tcp_socket, value_of

Record = Callable[[str, str, str], None]       # (type, reason, message): an Event on the pod


async def run_hook(runtime: DockerRuntime, handler: Any, c: Any, cid: str, pod_ip: str,
                   timeout: float) -> tuple[bool, str]:
    """A postStart/preStop handler: exec in the container, or httpGet/tcpSocket to the pod."""
    try:
        if handler.HasField("exec"):
            code, out = await runtime.exec_run(cid, list(handler.exec.command), timeout)
            return code == 0, out if code is not None else f"timed out after {timeout:g}s"
        if handler.HasField("http_get"):
            g = handler.http_get
            return await http_get(g.host or pod_ip, resolve_port(value_of(g.port), c), g.path or "/",
                                  g.scheme or "HTTP", [(h.name, h.value) for h in g.http_headers], timeout)
        if handler.HasField("tcp_socket"):
            t = handler.tcp_socket
            return await tcp_socket(t.host or pod_ip, resolve_port(value_of(t.port), c), timeout)
    except (RuntimeError_, ValueError) as e:
        return False, str(e)
    return True, ""


async def stop_container(runtime: DockerRuntime, pod: Any, c: ContainerInfo, grace: int, pod_ip: str,
                         record: Record, clock: Clock) -> None:
    """preStop hook (within the grace period), then SIGTERM, the rest of the grace, SIGKILL."""
    spec = next((x for x in pod.spec.containers if x.name == c.container_name), None)
    t0 = clock.now()
    if spec is not None and spec.HasField("lifecycle") and spec.lifecycle.HasField("pre_stop") and grace > 0:
        ok, msg = await run_hook(runtime, spec.lifecycle.pre_stop, spec, c.id, pod_ip, float(grace))
        if not ok:
            record("Warning", "FailedPreStopHook", f"PreStopHook failed: {msg}".strip())
    await runtime.stop(c.id, grace_after_pre_stop(grace, clock.now() - t0))


def grace_after_pre_stop(grace: int, spent: float) -> int:
    """The seconds between SIGTERM and SIGKILL: what the preStop hook left of the grace period (the whole
    seconds it took come off, as Kubernetes counts them: no hook leaves all of it), but at least 2 s after a hook
    that used it all up; none for a grace period of 0."""
    return max(0 if grace == 0 else 2, grace - int(spent))
