"""`kubelab port-forward`: local ports relayed to a pod's ports, one kubelab.streams.port_forward
session per connection. A client, but long-lived: it runs through kubelab.serving as the components do
(`Forwarder` is its Service), so SIGTERM ends it as Ctrl-C does and a second signal exits at once.

    port-forward pod/X|deployment/X|service/X [LOCAL:]REMOTE ...
"""
from __future__ import annotations

import asyncio
import sys
from typing import Any

import click

from kubectl.context import CLIError, api_error_line, err, global_options, out, settings
from kubectl.podref import duration, resolve_pod, target_port
from kubelab import serving


def _parse_ports(specs: tuple[str, ...]) -> list[tuple[int, str]]:
    """`8080:80`, `80`, `:80`, `8080:http` → (local port or 0, remote port as written)."""
    out = []
    for spec in specs:
        local, sep, remote = spec.partition(":")
        if not sep:
            local, remote = spec, spec
        if not remote:
            raise CLIError(f"invalid port spec {spec!r}")
        if local and not local.isdigit():
            raise CLIError(f"invalid local port {local!r} in {spec!r}")
        lp = int(local) if local else 0
        if not (0 <= lp <= 65535):
            raise CLIError(f"invalid local port {lp}")
        out.append((lp, remote))
    return out


async def _forward_connection(client: Any, namespace: str, pod: str, port: int,
                              reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """Relay one local connection to the pod's port; False if the forwarding failed (not the local side)."""
    from kubelab import errors, streams
    from kubelab.v1 import api_pb2 as api
    session = streams.port_forward(client, namespace, pod, port)

    async def upstream() -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    await session.send(api.PortForwardInput(close_write=True))
                    return
                await session.send(api.PortForwardInput(data=data))
        except (OSError, asyncio.CancelledError):
            pass

    up = asyncio.create_task(upstream())
    try:
        async for outp in session:
            if outp.error:
                err(f"E an error occurred forwarding {port}: {outp.error}")
                return False
            writer.write(outp.data)
            await writer.drain()
    except errors.ApiError as e:
        err(api_error_line(e))
        return False
    except OSError:
        pass      # the local side went away: nothing wrong with the pod
    finally:
        up.cancel()
        session.close()
        writer.close()
    return True


@click.command("port-forward")
@click.argument("ref")
@click.argument("ports", nargs=-1, required=True)
@click.option("--address", default="127.0.0.1", show_default=True,
              help="Addresses to listen on (comma separated): localhost, 127.0.0.1, 0.0.0.0 ...")
@click.option("--pod-running-timeout", default="1m", show_default=True,
              help="How long to wait for a running pod.")
@global_options
def port_forward(ref: str, ports: tuple[str, ...], address: str, pod_running_timeout: str) -> None:
    """Forward local ports to a pod (or a deployment's or service's pod).

    \b
      kubelab port-forward pod/nginx 8080:80
      kubelab port-forward deployment/web 8080:80
      kubelab port-forward service/web 8080:80
    """
    specs = _parse_ports(ports)
    namespace = settings().current_namespace()
    addresses = [("127.0.0.1" if a.strip() == "localhost" else a.strip()) for a in address.split(",") if a.strip()]
    timeout = duration(pod_running_timeout)
    st = settings()
    # Ctrl-C or SIGTERM ends it (listeners closed, the client too); a second signal exits at once.
    serving.run(lambda: Forwarder(st.client(), namespace, ref, specs, addresses, timeout), grace=FORWARD_GRACE)


FORWARD_GRACE = 2.0    # seconds: forwarded connections are the user's, not work to finish


class Forwarder:
    """port-forward as `kubelab.serving` runs a component's: start finds the pod and listens, run waits for a
    forwarded connection to fail (then the command ends, as kubectl's does since 1.23), stop closes."""

    def __init__(self, client: Any, namespace: str, ref: str, specs: list[tuple[int, str]], addresses: list[str],
                 timeout: float) -> None:
        self.client, self.namespace, self.ref, self.specs = client, namespace, ref, specs
        self.addresses, self.timeout = addresses, timeout
        self.lost = asyncio.Event()
        self.servers: list[asyncio.Server] = []
        self.connections: set[asyncio.Task[Any]] = set()     # one per forwarded connection, while it lasts

    async def start(self) -> None:
        from kubelab.errors import net_reason
        client, namespace = self.client, self.namespace
        pod, obj = await resolve_pod(client, namespace, self.ref)
        # A pod named directly must be running now, as kubectl checks it once; one chosen for a deployment
        # or service may still be starting, for up to --pod-running-timeout.
        waited = 0.0 if obj is not pod else self.timeout
        while pod.status.phase != "Running":
            if waited >= self.timeout:
                raise CLIError(f"unable to forward port because pod is not running. Current status={pod.status.phase}")
            await asyncio.sleep(1)
            waited += 1
            pod = await client.get("Pod", pod.metadata.name, namespace)
        for local, remote in self.specs:
            target = target_port(pod, obj, remote)

            def handler(port: int, local_label: list[int]) -> Any:
                async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
                    out(f"Handling connection for {local_label[0]}")
                    task = asyncio.current_task()
                    if task is not None:
                        self.connections.add(task)
                    try:
                        if not await _forward_connection(client, namespace, pod.metadata.name, port, r, w):
                            self.lost.set()
                    finally:
                        self.connections.discard(task)   # type: ignore[arg-type]
                return handle
            label = [local]
            for addr in self.addresses:
                try:
                    server = await asyncio.start_server(handler(target, label), addr, label[0] or 0)
                except OSError as e:
                    raise CLIError(f"unable to listen on port {label[0]}: listen tcp {addr}:{label[0]}: bind: "
                                   f"{net_reason(e)}") from None
                label[0] = server.sockets[0].getsockname()[1]
                self.servers.append(server)
                out(f"Forwarding from {addr}:{label[0]} -> {target}")
        sys.stdout.flush()

    async def run(self) -> None:
        # kubectl (since 1.23) ends when a forwarded connection fails: the pod is gone or the port is closed,
        # and the user had better know than keep a listener that cannot help.
        await self.lost.wait()
        raise CLIError("lost connection to pod")

    async def stop(self) -> None:
        for s in self.servers:
            s.close()
        # Connections in flight end quietly first: closing the client under them would say an error for each.
        for t in self.connections:
            t.cancel()
        await asyncio.gather(*self.connections, return_exceptions=True)
        await self.client.close()
