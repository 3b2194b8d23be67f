"""The kubelet's streaming service (gRPC `kubelab.v1.Kubelet`): logs, exec, port-forward, HTTP proxy.

Only the apiserver calls it (it relays the CLI's `logs`, `exec`,
`port-forward` and `proxy`), with the kubelet token as bearer token; any
other caller is refused. Pods are looked up in the pod manager's informer
(`kubelet.manager`), containers in the runtime (`kubelet.docker_runtime`):

    Logs         docker logs of the container (follow, tail, timestamps, since,
                 limitBytes); `previous` reads the instance before the current one
    Exec         docker exec on a hijacked socket: stdin, stdout/stderr (demultiplexed
                 unless TTY), TTY resize, half-close of stdin, the exit code last
    PortForward  a TCP connection from the kubelet to podIP:port (the kubelet is on
                 the pod network), bytes both ways, half-close honoured
                 (both end by the explicit close of api.proto: the last message carries
                 `end`, and the call returns once the caller has answered and half-closed)
    Proxy        one HTTP request to podIP:port, the whole response back
"""
from __future__ import annotations

import asyncio
import http.client
import logging
import socket
import time
from typing import Any, AsyncIterator

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from kubelab import errors, streams
from kubelab.errors import net_reason
from kubelab.client import STREAM_ACCEPTED, channel_options
from kubelab.serving import BearerTokenAuth
from kubelab.v1 import api_pb2 as api
from kubelab.v1 import api_pb2_grpc as api_grpc

from .docker_runtime import ContainerInfo, RuntimeError_, demux
from .manager import PodManager
from .probes import resolve_port

log = logging.getLogger(__name__)

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade", "host", "content-length"}


class _Abort(Exception):
    def __init__(self, code: grpc.StatusCode, message: str, reason: str) -> None:
        super().__init__(message)
        self.code, self.message, self.reason = code, message, reason


def not_found(message: str) -> _Abort:
    return _Abort(grpc.StatusCode.NOT_FOUND, message, "NotFound")


def bad_request(message: str) -> _Abort:
    return _Abort(grpc.StatusCode.INVALID_ARGUMENT, message, "BadRequest")


async def _abort(context: Any, e: _Abort) -> None:
    await context.abort(e.code, e.message, trailing_metadata=((errors.REASON_KEY, e.reason),))


class KubeletService(api_grpc.KubeletServicer):
    def __init__(self, pods: PodManager) -> None:
        self.pods = pods
        self.runtime = pods.runtime

    # ------------------------------------------------------------ lookups
    def _pod(self, namespace: str, name: str) -> Any:
        pod = self.pods.informer.get(f"{namespace}/{name}")
        if pod is None:
            raise not_found(f'pods "{name}" not found')
        return pod

    @staticmethod
    def _container_spec(pod: Any, container: str) -> Any:
        specs = list(pod.spec.containers) + list(pod.spec.init_containers)
        if not container:
            if len(pod.spec.containers) == 1:
                return pod.spec.containers[0]
            names = " ".join(c.name for c in pod.spec.containers)
            raise bad_request(f"a container name must be specified for pod {pod.metadata.name}, "
                              f"choose one of: [{names}]")
        for c in specs:
            if c.name == container:
                return c
        raise bad_request(f"container {container} is not valid for pod {pod.metadata.name}")

    async def _instances(self, pod: Any, name: str) -> list[ContainerInfo]:
        return [c for c in await self.runtime.list_containers(pod.metadata.uid)
                if not c.is_sandbox and c.container_name == name]

    async def _current(self, pod: Any, spec: Any, must_run: bool) -> ContainerInfo:
        insts = await self._instances(pod, spec.name)
        if not insts:
            reason = next((s.state.waiting.reason for s in list(pod.status.container_statuses) +
                           list(pod.status.init_container_statuses)
                           if s.name == spec.name and s.state.HasField("waiting")), "ContainerCreating")
            raise bad_request(f'container "{spec.name}" in pod "{pod.metadata.name}" is waiting to start: {reason}')
        cur = insts[0]
        if must_run and not cur.running:
            raise bad_request(f'container "{spec.name}" in pod "{pod.metadata.name}" is not running '
                              f'(state: {cur.status})')
        return cur

    def _pod_ip(self, pod: Any) -> str:
        w = self.pods.workers.get(pod.metadata.uid)
        if w is not None and w.sandbox is not None and w.sandbox.ip:
            return w.sandbox.ip
        if pod.status.pod_ip:
            return pod.status.pod_ip
        raise bad_request(f'pod "{pod.metadata.name}" has no IP address yet')

    # ------------------------------------------------------------ logs
    async def Logs(self, req: api.LogsRequest, context: Any) -> AsyncIterator[api.LogChunk]:
        try:
            pod = self._pod(req.namespace, req.name)
            spec = self._container_spec(pod, req.container)
            insts = await self._instances(pod, spec.name)
            if req.previous:
                # As Kubernetes: the container the status reports as lastState.terminated.
                status = next((s for s in list(pod.status.container_statuses) +
                               list(pod.status.init_container_statuses) if s.name == spec.name), None)
                last_id = status.last_state.terminated.container_id.removeprefix("docker://") if status else ""
                target = next((c for c in insts if c.id == last_id), None) if last_id else None
                if target is None:
                    raise bad_request(f'previous terminated container "{spec.name}" in pod '
                                      f'"{pod.metadata.name}" not found')
                follow = False
            else:
                target = await self._current(pod, spec, must_run=False)
                follow = req.follow
            tail = req.tail_lines if req.HasField("tail_lines") else None
            since = None
            if req.HasField("since_seconds") and req.since_seconds > 0:
                since = int(time.time() - req.since_seconds)
            limit = req.limit_bytes if req.HasField("limit_bytes") and req.limit_bytes > 0 else None
            sent = 0
            async for chunk in self.runtime.logs(target.id, follow=follow, tail=tail, timestamps=req.timestamps,
                                                 since=since):
                if limit is not None:
                    chunk = chunk[:max(0, limit - sent)]
                    if not chunk:
                        return
                sent += len(chunk)
                yield api.LogChunk(data=chunk)
        except _Abort as e:
            await _abort(context, e)
        except RuntimeError_ as e:
            await _abort(context, _Abort(grpc.StatusCode.INTERNAL, e.message, "InternalError"))

    # ------------------------------------------------------------ exec
    async def Exec(self, request_iterator: Any, context: Any) -> AsyncIterator[api.ExecOutput]:
        try:
            first = await request_iterator.__anext__()
        except StopAsyncIteration:
            return
        if first.WhichOneof("msg") != "start":
            await _abort(context, bad_request("the first exec message must be `start`"))
            return
        start = first.start
        try:
            pod = self._pod(start.namespace, start.name)
            spec = self._container_spec(pod, start.container)
            cur = await self._current(pod, spec, must_run=True)
            if start.attach:
                # The container's own stdio: stdin only if its spec opened it, a terminal only if it has one.
                session = await self.runtime.container_attach(cur.id, stdin=start.stdin and spec.stdin,
                                                              tty=spec.tty)
            elif not start.command:
                raise bad_request("you must specify at least one command for the container")
            else:
                session = await self.runtime.exec_attach(cur.id, list(start.command), stdin=start.stdin,
                                                         tty=start.tty)
            # The caller sends input only after this (kubelab.client.STREAM_ACCEPTED): a refusal above reaches it.
            await context.send_initial_metadata((STREAM_ACCEPTED,))
        except _Abort as e:
            await _abort(context, e)
            return
        except RuntimeError_ as e:
            await _abort(context, _Abort(grpc.StatusCode.INTERNAL, f"exec failed: {e.message}", "InternalError"))
            return
        loop = asyncio.get_running_loop()
        sock = session.sock

        async def resize(size: api.TerminalSize) -> None:
            if start.attach:
                await self.runtime.container_resize(cur.id, size.width, size.height)
            else:
                await self.runtime.exec_resize(session.exec_id, size.width, size.height)

        if session.tty and start.size.width and start.size.height:
            await resize(start.size)
        log.info("%s %s/%s[%s]: %s (tty=%s)", "attach to" if start.attach else "exec in", start.namespace,
                 start.name, spec.name, list(start.command), session.tty)

        async def pump_input() -> None:
            """The caller's input, until its half-close (read to the end even once the process is gone: the
            close waits for it). Input the process can no longer take is dropped."""
            taking = True
            try:
                async for msg in request_iterator:
                    which = msg.WhichOneof("msg")
                    try:
                        if which == "stdin" and start.stdin and taking:
                            await loop.sock_sendall(sock, msg.stdin)
                        elif which == "resize" and session.tty and taking:
                            await resize(msg.resize)
                        elif which == "stdin_close":
                            _shutdown_write(sock)
                    except (OSError, RuntimeError_):
                        taking = False
            except asyncio.CancelledError:
                pass
            except Exception as e:  # noqa: BLE001
                log.debug("exec input ended: %r", e)

        pump = asyncio.create_task(pump_input())
        buf = bytearray()
        try:
            while True:
                try:
                    data = await loop.sock_recv(sock, 65536)
                except OSError:
                    data = b""
                if not data:
                    break
                if session.tty:
                    yield api.ExecOutput(stdout=data)
                    continue
                buf += data
                out, err = bytearray(), bytearray()
                for stream, payload in demux(buf):
                    (err if stream == 2 else out).extend(payload)
                if out or err:
                    yield api.ExecOutput(stdout=bytes(out), stderr=bytes(err))
            if start.attach:
                code: int | None = await self.runtime.container_exit_code(cur.id)
            else:
                code = await self.runtime.exec_exit_code(session.exec_id)
            yield api.ExecOutput(exit_code=code if code is not None else 1, end=True)
            await streams.closed(pump)       # the explicit close (api.proto): the caller's half-close first
        finally:
            pump.cancel()
            try:
                sock.close()
            except OSError:
                pass

    # ------------------------------------------------------------ port-forward
    async def PortForward(self, request_iterator: Any, context: Any) -> AsyncIterator[api.PortForwardOutput]:
        try:
            first = await request_iterator.__anext__()
        except StopAsyncIteration:
            return
        if first.WhichOneof("msg") != "start":
            await _abort(context, bad_request("the first port-forward message must be `start`"))
            return
        start = first.start
        try:
            pod = self._pod(start.namespace, start.name)
            if pod.status.phase != "Running":
                raise bad_request(f"pod {start.name} is not running (phase {pod.status.phase or 'Pending'})")
            ip = self._pod_ip(pod)
        except _Abort as e:
            await _abort(context, e)
            return
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(ip, start.port), 10)
            await context.send_initial_metadata((STREAM_ACCEPTED,))
        except (OSError, asyncio.TimeoutError) as e:
            yield api.PortForwardOutput(error=f"error forwarding port {start.port} to pod {start.name}: "
                                              f"dial tcp {ip}:{start.port}: connect: {net_reason(e)}", end=True)
            await streams.closed(streams.drain(request_iterator))
            return

        async def pump_input() -> None:
            """The caller's bytes to the pod, until its half-close (read to the end even once the pod's side
            is gone: the close waits for it)."""
            taking = True
            try:
                async for msg in request_iterator:
                    which = msg.WhichOneof("msg")
                    try:
                        if which == "data" and taking:
                            writer.write(msg.data)
                            await writer.drain()
                        elif which == "close_write" and taking and writer.can_write_eof():
                            writer.write_eof()
                    except OSError:
                        taking = False
                if taking and writer.can_write_eof() and not writer.is_closing():
                    writer.write_eof()
            except (OSError, asyncio.CancelledError):
                pass
            except Exception as e:  # noqa: BLE001
                log.debug("port-forward input ended: %r", e)

        pump = asyncio.create_task(pump_input())
        try:
            try:
                while True:
                    data = await reader.read(65536)
                    if not data:
                        break
                    yield api.PortForwardOutput(data=data)
            except OSError as e:
                yield api.PortForwardOutput(error=str(e), end=True)
            else:
                yield api.PortForwardOutput(end=True)       # the pod closed its side: all its bytes are out
            await streams.closed(pump)       # the explicit close (api.proto): the caller's half-close first
        finally:
            pump.cancel()
            writer.close()

    # ------------------------------------------------------------ proxy
    async def Proxy(self, req: api.ProxyRequest, context: Any) -> api.ProxyResponse:
        try:
            pod = self._pod(req.namespace, req.name)
            ip = self._pod_ip(pod)
            port = self._proxy_port(pod, req.port)
        except _Abort as e:
            await _abort(context, e)
            raise AssertionError("unreachable")
        headers = {k: v for k, v in req.headers.items() if k.lower() not in HOP_BY_HOP}
        method = req.method or "GET"
        path = req.path if req.path.startswith("/") else "/" + req.path

        def do() -> api.ProxyResponse:
            conn = http.client.HTTPConnection(ip, port, timeout=30)
            try:
                conn.request(method, path, body=req.body or None, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                out = api.ProxyResponse(status=resp.status, body=body)
                for k, v in resp.getheaders():
                    if k.lower() not in HOP_BY_HOP:
                        out.headers[k] = v
                return out
            finally:
                conn.close()
        try:
            return await asyncio.get_running_loop().run_in_executor(self.runtime.pool, do)
        except (OSError, http.client.HTTPException) as e:
            await _abort(context, _Abort(grpc.StatusCode.UNAVAILABLE,
                                         f"error trying to reach service: dial tcp {ip}:{port}: connect: "
                                         f"{net_reason(e)}",
                                         "ServiceUnavailable"))
            raise AssertionError("unreachable")

    @staticmethod
    def _proxy_port(pod: Any, port: str) -> int:
        if not port:
            for c in pod.spec.containers:
                for p in c.ports:
                    return int(p.container_port)
            return 80
        if port.isdigit():
            return int(port)
        for c in pod.spec.containers:
            try:
                return resolve_port(port, c)
            except ValueError:
                continue
        raise bad_request(f'no port named "{port}" in pod {pod.metadata.name}')


def _shutdown_write(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


async def create_server(pods: PodManager, listen: str, token: str) -> tuple[grpc.aio.Server, int, Any]:
    """Start the streaming server (port 0 picks one); returns (server, port, health servicer)."""
    if not token:
        raise ValueError("the kubelet needs a token (--kubelet-token-file or $KUBELAB_KUBELET_TOKEN): "
                         "without one anybody could exec into its pods")
    auth = BearerTokenAuth(token, who="kubelet accepts the apiserver only")
    server = grpc.aio.server(interceptors=[auth], options=channel_options() + [
        ("grpc.http2.max_pings_without_data", 0), ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", 5000), ("grpc.http2.bdp_probe", 0),
        ("grpc.so_reuseport", 0)])     # a port in use is an error, not silently shared (gRPC's default)
    api_grpc.add_KubeletServicer_to_server(KubeletService(pods), server)
    health_servicer = health.aio.HealthServicer() if hasattr(health, "aio") else health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port(listen)
    await server.start()
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    return server, port, health_servicer
