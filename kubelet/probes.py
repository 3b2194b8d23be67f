"""Probes: liveness, readiness and startup, each httpGet, tcpSocket or exec.

The pod worker (`kubelet.worker`) owns the containers; after every sync it
calls `ProbeManager.sync()` with the pod's running containers, and the
manager keeps one asyncio task per (container instance, probe kind). A task
sleeps `initialDelaySeconds` from the container's start, probes every
`periodSeconds` with `timeoutSeconds`, and flips its result after
`successThreshold` successes or `failureThreshold` failures in a row. A flip
calls back into the pod worker (`on_change(uid)`), which reads
`ready()`/`started()`/`must_restart()` on its next sync: readiness gates
the container's `ready`, a failed liveness or startup probe makes the worker
kill and restart the container. While a startup probe has not succeeded,
liveness and readiness are not run (as in Kubernetes).

httpGet and tcpSocket go from the kubelet to the pod IP (the kubelet sits on
the pod network); exec runs through `docker exec` with the timeout enforced.
"""
from __future__ import annotations

import asyncio
import logging
import ssl
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from kubelab.errors import net_reason

from .docker_runtime import DockerRuntime, RuntimeError_

log = logging.getLogger(__name__)

KINDS = ("startup", "liveness", "readiness")
FIELD = {"startup": "startup_probe", "liveness": "liveness_probe", "readiness": "readiness_probe"}
USER_AGENT = "kube-probe/1.30"


def value_of(v: Any) -> int | str | None:
    """An int-or-string (google.protobuf.Value) as int or str."""
    kind = v.WhichOneof("kind") if v is not None else None
    if kind == "number_value":
        return int(v.number_value)
    if kind == "string_value":
        s = v.string_value
        return int(s) if s.isdigit() else s
    return None


def resolve_port(port: int | str | None, container: Any) -> int:
    """A probe's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    for p in container.ports:
        if p.name and p.name == port:
            return int(p.container_port)
    raise ValueError(f"port {port!r} is not a port of container {container.name}")


async def http_get(host: str, port: int, path: str, scheme: str, headers: list[tuple[str, str]],
                   timeout: float) -> tuple[bool, str]:
    url = f"{scheme.lower()}://{host}:{port}{path}"
    ctx = None
    if scheme.upper() == "HTTPS":
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE

    async def go() -> tuple[bool, str]:
        reader, writer = await asyncio.open_connection(host, port, ssl=ctx)
        try:
            names = {k.lower() for k, _ in headers}
            lines = [f"GET {path or '/'} HTTP/1.1"]
            if "host" not in names:
                lines.append(f"Host: {host}:{port}")
            if "user-agent" not in names:
                lines.append(f"User-Agent: {USER_AGENT}")
            if "accept" not in names:
                lines.append("Accept: */*")
            lines += [f"{k}: {v}" for k, v in headers]
            lines.append("Connection: close")
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
            await writer.drain()
            status_line = await reader.readline()
            parts = status_line.decode(errors="replace").split()
            if len(parts) < 2 or not parts[1].isdigit():
                return False, f'Get "{url}": malformed HTTP response {status_line[:60]!r}'
            code = int(parts[1])
            if 200 <= code < 400:
                return True, ""
            return False, f"HTTP probe failed with statuscode: {code}"
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except Exception:  # noqa: BLE001
                pass
    try:
        return await asyncio.wait_for(go(), timeout)
    except asyncio.TimeoutError:
        return False, f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
    except OSError as e:
        return False, f'Get "{url}": dial tcp {host}:{port}: connect: {_os_reason(e)}'


async def tcp_socket(host: str, port: int, timeout: float) -> tuple[bool, str]:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except asyncio.TimeoutError:
        return False, f"dial tcp {host}:{port}: i/o timeout"
    except OSError as e:
        return False, f"dial tcp {host}:{port}: connect: {_os_reason(e)}"
    writer.close()
    try:
        await writer.wait_closed()
    except Exception:  # noqa: BLE001
        pass
    return True, ""


def _os_reason(e: OSError) -> str:
    # Go's words (`connection refused`), not asyncio's strerror (`Connect call failed ('10.0.0.5', 80)`).
    return net_reason(e)


async def run_probe(runtime: DockerRuntime, probe: Any, container: Any, container_id: str,
                    pod_ip: str) -> tuple[bool, str]:
    """One probe attempt: (success, message)."""
    timeout = float(probe.timeout_seconds or 1)
    try:
        if probe.HasField("exec"):
            code, output = await runtime.exec_run(container_id, list(probe.exec.command), timeout)
            if code is None:
                return False, f"command {list(probe.exec.command)!r} timed out"
            if code == 0:
                return True, output
            return False, output.strip() or f"command {list(probe.exec.command)!r} exited with {code}"
        if probe.HasField("http_get"):
            g = probe.http_get
            port = resolve_port(value_of(g.port), container)
            return await http_get(g.host or pod_ip, port, g.path or "/", g.scheme or "HTTP",
                                  [(h.name, h.value) for h in g.http_headers], timeout)
        if probe.HasField("tcp_socket"):
            t = probe.tcp_socket
            port = resolve_port(value_of(t.port), container)
            return await tcp_socket(t.host or pod_ip, port, timeout)
    except (RuntimeError_, ValueError) as e:
        return False, str(e)
    return False, "probe has no handler"


@dataclass
class _Worker:
    kind: str
    container_id: str
    task: asyncio.Task[None] | None = None
    result: bool | None = None          # None: not yet known
    successes: int = 0
    failures: int = 0
    last_message: str = ""


@dataclass
class _ContainerProbes:
    container_id: str
    workers: dict[str, _Worker] = field(default_factory=dict)
    started: bool = True
    ready: bool = False
    restart_reason: str = ""            # "liveness" | "startup" once the container must be restarted


Recorder = Callable[[Any, str, str, str], None]   # (pod, type, reason, message)


class ProbeManager:
    def __init__(self, runtime: DockerRuntime, record: Recorder, on_change: Callable[[str], None],
                 clock: Callable[[], float] = time.time) -> None:
        self.runtime = runtime
        self.record = record
        self.on_change = on_change
        self.clock = clock
        self._state: dict[tuple[str, str], _ContainerProbes] = {}

    # ------------------------------------------------------------ queries
    def ready(self, uid: str, name: str, container_id: str) -> bool:
        st = self._state.get((uid, name))
        return bool(st and st.container_id == container_id and st.started and st.ready)

    def started(self, uid: str, name: str, container_id: str) -> bool:
        st = self._state.get((uid, name))
        return bool(st and st.container_id == container_id and st.started)

    def must_restart(self, uid: str, name: str, container_id: str) -> str:
        st = self._state.get((uid, name))
        return st.restart_reason if st and st.container_id == container_id else ""

    # ------------------------------------------------------------ life cycle
    def sync(self, pod: Any, container: Any, container_id: str, started_ts: float, pod_ip: str,
             was_ready: bool = False) -> None:
        """Make sure the probes of this running container instance run (and only those)."""
        uid = pod.metadata.uid
        key = (uid, container.name)
        st = self._state.get(key)
        if st is not None and st.container_id == container_id:
            return
        if st is not None:
            self._cancel(st)
        has = {k: container.HasField(FIELD[k]) for k in KINDS}
        st = _ContainerProbes(container_id=container_id, started=not has["startup"],
                              ready=not has["readiness"])
        if has["readiness"] and was_ready:
            # Adopted after a kubelet restart: keep the last reported readiness until the
            # first probe says otherwise, so endpoints do not flap because the kubelet did.
            st.ready = True
        self._state[key] = st
        for kind in KINDS:
            if has[kind]:
                w = _Worker(kind, container_id)
                st.workers[kind] = w
                w.task = asyncio.create_task(
                    self._run(pod, container, w, st, started_ts, pod_ip),
                    name=f"probe-{kind}-{pod.metadata.name}-{container.name}")

    def forget_container(self, uid: str, name: str) -> None:
        st = self._state.pop((uid, name), None)
        if st is not None:
            self._cancel(st)

    def forget_pod(self, uid: str) -> None:
        for key in [k for k in self._state if k[0] == uid]:
            self._cancel(self._state.pop(key))

    def stop(self) -> None:
        for st in self._state.values():
            self._cancel(st)
        self._state.clear()

    @staticmethod
    def _cancel(st: _ContainerProbes) -> None:
        for w in st.workers.values():
            if w.task is not None:
                w.task.cancel()

    # ------------------------------------------------------------ the probe loop
    async def _run(self, pod: Any, container: Any, w: _Worker, st: _ContainerProbes, started_ts: float,
                   pod_ip: str) -> None:
        probe = getattr(container, FIELD[w.kind])
        period = max(1, probe.period_seconds or 10)
        success_threshold = max(1, probe.success_threshold or 1)
        failure_threshold = max(1, probe.failure_threshold or 3)
        label = w.kind.capitalize()
        try:
            delay = started_ts + probe.initial_delay_seconds - self.clock()
            if delay > 0:
                await asyncio.sleep(delay)
            while True:
                if w.kind == "startup" and st.started:
                    return
                if w.kind != "startup" and not st.started:
                    await asyncio.sleep(min(period, 1))
                    continue
                ok, message = await run_probe(self.runtime, probe, container, w.container_id, pod_ip)
                if ok:
                    w.successes, w.failures = w.successes + 1, 0
                    if w.result is not True and w.successes >= success_threshold:
                        w.result = True
                        self._flip(pod, container, w, st, True)
                else:
                    w.failures, w.successes = w.failures + 1, 0
                    w.last_message = message
                    log.debug("%s probe of %s/%s failed: %s", w.kind, pod.metadata.name, container.name, message)
                    self.record(pod, "Warning", "Unhealthy", f"{label} probe failed: {message}")
                    if w.result is not False and w.failures >= failure_threshold:
                        w.result = False
                        self._flip(pod, container, w, st, False)
                        if w.kind in ("liveness", "startup"):
                            return      # the container is restarted; its successor gets new probes
                await asyncio.sleep(period)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a probe bug must not kill the kubelet
            log.exception("%s probe of %s/%s crashed", w.kind, pod.metadata.name, container.name)

    def _flip(self, pod: Any, container: Any, w: _Worker, st: _ContainerProbes, ok: bool) -> None:
        if w.kind == "readiness":
            if st.ready == ok:
                return
            st.ready = ok
        elif w.kind == "startup":
            if ok:
                st.started = True
            else:
                st.restart_reason = "startup"
        elif w.kind == "liveness" and not ok:
            st.restart_reason = "liveness"
        else:
            return
        log.info("%s probe of %s/%s: %s", w.kind, pod.metadata.name, container.name,
                 "success" if ok else "failure")
        self.on_change(pod.metadata.uid)
