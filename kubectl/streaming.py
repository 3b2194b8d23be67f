"""Streaming verbs: `logs`, `exec`, `port-forward`, `proxy`.

All four go through the apiserver's streaming RPCs (`client.stub.Logs`,
`Exec`, `PortForward`, `Proxy`), which relay to the pod's kubelet; the CLI
never talks to a kubelet. kubectl/main.py picks these commands up by name
(its STREAMING table).

    logs POD [-c C] [-f] [--tail N] [-p] [--timestamps]   logs -l app=x [--all-containers] [--prefix]
    exec [-i] [-t] POD [-c C] -- CMD ...                  exec POD CMD (the older form)
    port-forward pod/X|deployment/X|service/X [LOCAL:]REMOTE ...
    proxy [--port 8001]                                   /version, /healthz, discovery (/, /api, /apis, /api/v1,
                                                          /apis/G/V: kubectl/discovery.py), objects as JSON,
                                                          /api/v1/namespaces/NS/pods/NAME[:PORT]/proxy/PATH
                                                          (and the older /api/v1/proxy/namespaces/NS/pods/NAME/PATH)
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import threading
from typing import Any, Callable

import click

from kubectl.context import CLIError, Failed, api_error_line, err, global_options, out, run, settings


# ---------------------------------------------------------------- shared
def _rpc_error(e: Exception) -> Exception:
    """A gRPC error from a streaming call, as the ApiError the CLI reports."""
    import grpc
    from kubelab import errors
    if isinstance(e, grpc.aio.AioRpcError):
        return errors.from_rpc_error(e)
    return e


_KIND_ALIASES = {"po": "Pod", "pod": "Pod", "pods": "Pod",
                 "deploy": "Deployment", "deployment": "Deployment", "deployments": "Deployment",
                 "rs": "ReplicaSet", "replicaset": "ReplicaSet", "replicasets": "ReplicaSet",
                 "svc": "Service", "service": "Service", "services": "Service"}


def _split_ref(ref: str) -> tuple[str, str]:
    """`pod/x`, `deployment/x`, `svc/x`, or a bare pod name → (kind, name)."""
    if "/" not in ref:
        return "Pod", ref
    kind, _, name = ref.partition("/")
    k = _KIND_ALIASES.get(kind.lower().split(".")[0])
    if k is None:
        raise CLIError(f"cannot select a pod of {kind}: use pod/, deployment/, replicaset/ or service/")
    if not name:
        raise CLIError("arguments in resource/name form must have a single resource and name")
    return k, name


def _selector_of(obj: Any) -> str:
    from kubelab import selectors
    if obj.kind == "Service":
        return str(selectors.Selector.from_labels(dict(obj.spec.selector)))
    sel = obj.spec.selector
    return str(selectors.from_label_selector(dict(sel.match_labels), list(sel.match_expressions)))


async def _send_all(call: Any, queue: "asyncio.Queue[Any]") -> None:
    """Write what `queue` holds to an Exec or PortForward call, in order, until the call ends.

    The first item (the start) goes at once, the rest once the apiserver has accepted the stream (which it
    does once the kubelet has: the container runs, the port answers): a write in flight while the server
    ends the call makes grpc.aio report "Internal error from Core" in place of the server's own error (a pod
    on a hollow node, a container the pod does not have), which the reading side reports instead."""
    from kubelab.client import STREAM_ACCEPTED
    try:
        await call.write(await queue.get())
        if STREAM_ACCEPTED not in tuple(await call.initial_metadata() or ()):
            return
        while True:
            await call.write(await queue.get())
    except asyncio.InvalidStateError:
        pass     # the call has ended: its reader reports how


def _pod_rank(p: Any) -> tuple[int, int, int, str]:
    """Kubernetes' ordering for "the first pod" of a controller: running, ready, not terminating first."""
    ready = any(c.type == "Ready" and c.status == "True" for c in p.status.conditions)
    return (0 if not p.metadata.deletion_timestamp else 1, 0 if p.status.phase == "Running" else 1,
            0 if ready else 1, p.metadata.creation_timestamp)


async def resolve_pods(client: Any, namespace: str, ref: str) -> tuple[list[Any], Any]:
    """(the pods, best first, the object named) for `pod/x`, `x`, `deployment/x`, `service/x`."""
    kind, name = _split_ref(ref)
    if kind == "Pod":
        pod = await client.get("Pod", name, namespace)
        return [pod], pod
    obj = await client.get(kind, name, namespace)
    selector = _selector_of(obj)
    if not selector:
        raise CLIError(f"{kind.lower()} {name} has no selector")
    pods, _ = await client.list("Pod", namespace, label_selector=selector)
    if not pods:
        raise CLIError(f"no pods found for {kind.lower()} {name} (selector {selector})")
    return sorted(pods, key=_pod_rank), obj


async def resolve_pod(client: Any, namespace: str, ref: str) -> tuple[Any, Any]:
    """(the pod, the object named): the best of `resolve_pods`."""
    pods, obj = await resolve_pods(client, namespace, ref)
    return pods[0], obj


def _default_container(pod: Any, quiet: bool = False) -> str:
    names = [c.name for c in pod.spec.containers]
    wanted = pod.metadata.annotations.get("kubectl.kubernetes.io/default-container", "")
    if wanted in names:
        return wanted
    if len(names) > 1 and not quiet:
        err(f'Defaulted container "{names[0]}" out of: {", ".join(names)}')
    return names[0] if names else ""


def _duration(text: str) -> int:
    """`10s`, `5m`, `1h`, `1h30m` → seconds."""
    if not text:
        return 0
    total = 0
    for num, unit in re.findall(r"(\d+)([smh])", text):
        total += int(num) * {"s": 1, "m": 60, "h": 3600}[unit]
    if total == 0 or re.sub(r"\d+[smh]", "", text):
        raise CLIError(f'invalid argument "{text}" for "--since" flag: use a duration such as 10s, 5m or 1h')
    return total


# ---------------------------------------------------------------- logs
class _LineWriter:
    """Writes whole lines only, so concurrent streams (-l -f) never interleave inside a line."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix.encode()
        self.partial = b""

    def write(self, data: bytes) -> None:
        data = self.partial + data
        lines = data.split(b"\n")
        self.partial = lines.pop()
        if lines:
            sys.stdout.buffer.write(b"".join(self.prefix + line + b"\n" for line in lines))
            sys.stdout.buffer.flush()

    def flush(self) -> None:
        if self.partial:
            sys.stdout.buffer.write(self.prefix + self.partial)
            sys.stdout.buffer.flush()
            self.partial = b""


async def _stream_logs(client: Any, req: Any, writer: _LineWriter) -> None:
    import grpc
    call = client.stub.Logs(req, metadata=client.metadata)
    try:
        async for chunk in call:
            writer.write(chunk.data)
    except grpc.aio.AioRpcError as e:
        raise _rpc_error(e) from None
    finally:
        writer.flush()


async def print_logs(client: Any, namespace: str, pod: str, container: str) -> None:
    """A container's whole log on stdout (what `run -i` shows of a pod that ended before it could attach)."""
    from kubelab.v1 import api_pb2 as api
    await _stream_logs(client, api.LogsRequest(namespace=namespace, name=pod, container=container), _LineWriter(""))


@click.command("logs")
@click.argument("args", nargs=-1)
@click.option("-c", "--container", default="", help="Print the logs of this container.")
@click.option("-f", "--follow", is_flag=True, help="Specify if the logs should be streamed.")
@click.option("--tail", type=int, default=None,
              help="Lines of recent log to display (default all; 10 with a selector).")
@click.option("-p", "--previous", is_flag=True, help="The logs of the previous terminated container instance.")
@click.option("--timestamps", is_flag=True, help="Include timestamps on each line.")
@click.option("-l", "--selector", default="", help="Label selector: logs of every matching pod.")
@click.option("--all-containers", is_flag=True, help="Logs of all containers in the pod(s).")
@click.option("--prefix", is_flag=True, help="Prefix each line with pod/NAME/CONTAINER.")
@click.option("--since", default="", help="Only logs newer than a duration like 5s, 2m, 3h.")
@click.option("--limit-bytes", type=int, default=None, help="Maximum bytes of logs to return.")
@click.option("--max-log-requests", type=int, default=5, show_default=True,
              help="With a selector: how many concurrent streams to follow at most.")
@click.option("--ignore-errors", is_flag=True,
              help="With several pods: print a stream's error among the logs and go on with the others.")
@global_options
def logs(args: tuple[str, ...], container: str, follow: bool, tail: int | None, previous: bool, timestamps: bool,
         selector: str, all_containers: bool, prefix: bool, since: str, limit_bytes: int | None,
         max_log_requests: int, ignore_errors: bool) -> None:
    """Print the logs of a container in a pod.

    \b
      kubelab logs nginx
      kubelab logs -f nginx -c web --tail 20
      kubelab logs -l app=nginx --all-containers --prefix
      kubelab logs deployment/nginx
    """
    from kubelab import errors
    from kubelab.v1 import api_pb2 as api
    if selector and args:
        raise CLIError("only one of a selector (-l) or a pod name may be given")
    if not selector and not args:
        raise CLIError("expected POD or TYPE/NAME (or -l SELECTOR): see `kubelab logs --help`")
    if len(args) > 2:
        raise CLIError("expected at most POD [CONTAINER]")
    if len(args) == 2:
        if container:
            raise CLIError("only one of -c or an inline container name may be given")
        container = args[1]
    since_s = _duration(since)
    if tail is None and selector:
        tail = 10
    namespace = settings().current_namespace()

    async def body(client: Any) -> bool:
        if selector:
            pods, _ = await client.list("Pod", namespace, label_selector=selector)
            pods = sorted(pods, key=lambda p: p.metadata.name)
            if not pods:
                err(f"No resources found in {namespace} namespace.")
                return True
        else:
            found, _ = await resolve_pods(client, namespace, args[0])
            if len(found) > 1:
                err(f"Found {len(found)} pods, using pod/{found[0].metadata.name}")
            pods = found[:1]
        streams: list[tuple[Any, str]] = []
        for p in pods:
            if all_containers:
                names = [c.name for c in list(p.spec.init_containers) + list(p.spec.containers)]
                streams += [(p, n) for n in names]
            else:
                streams.append((p, container or _default_container(p, quiet=bool(selector))))
        if follow and len(streams) > max_log_requests:
            raise CLIError(f"you are attempting to follow {len(streams)} log streams, but maximum allowed "
                           f"concurrency is {max_log_requests}, use --max-log-requests to increase the limit")
        many = prefix

        def request(p: Any, c: str) -> Any:
            req = api.LogsRequest(namespace=p.metadata.namespace, name=p.metadata.name, container=c,
                                  follow=follow, previous=previous, timestamps=timestamps)
            if tail is not None and tail >= 0:
                req.tail_lines = tail
            if since_s:
                req.since_seconds = since_s
            if limit_bytes:
                req.limit_bytes = limit_bytes
            return req

        def writer(p: Any, c: str) -> _LineWriter:
            return _LineWriter(f"[pod/{p.metadata.name}/{c}] " if many else "")

        async def stream(p: Any, c: str) -> None:
            """One container's logs. As kubectl: its error ends the command (the other streams too), unless
            --ignore-errors, which prints it among the logs and goes on."""
            try:
                await _stream_logs(client, request(p, c), writer(p, c))
            except errors.ApiError as e:
                if not ignore_errors:
                    raise
                out(f"error: {e.message}")

        try:
            if follow:
                await asyncio.gather(*(stream(p, c) for p, c in streams))
            else:
                for p, c in streams:
                    await stream(p, c)
        except errors.ApiError as e:
            err(api_error_line(e))
            return False
        return True

    try:
        if not run(body):
            raise Failed(1)
    except KeyboardInterrupt:
        pass


# ---------------------------------------------------------------- exec
class _Terminal:
    """Raw mode on a real terminal for `exec -it`, restored on exit; window size changes → resize."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.saved: Any = None

    def size(self) -> tuple[int, int]:
        try:
            sz = os.get_terminal_size(self.fd)
            return sz.columns, sz.lines
        except OSError:
            return 80, 24

    def __enter__(self) -> "_Terminal":
        import termios
        import tty
        self.saved = termios.tcgetattr(self.fd)
        tty.setraw(self.fd)
        return self

    def __exit__(self, *exc: Any) -> None:
        import termios
        if self.saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)


def _stdin_reader(loop: asyncio.AbstractEventLoop, push: Callable[[bytes | None], None]) -> Callable[[], None]:
    """Feed stdin to `push` (None at EOF) from the event loop or, for regular files, a daemon thread."""
    fd = sys.stdin.fileno()

    def on_readable() -> None:
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(fd)
        push(data or None)

    def stop() -> None:
        loop.remove_reader(fd)
    try:
        loop.add_reader(fd, on_readable)
        return stop
    except (PermissionError, OSError, ValueError):
        pass

    def pump() -> None:
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                data = b""
            loop.call_soon_threadsafe(push, data or None)
            if not data:
                return
    threading.Thread(target=pump, daemon=True, name="stdin").start()
    return lambda: None


async def run_exec(client: Any, namespace: str, pod: str, container: str, command: list[str],
                   stdin: bool, tty: bool, terminal: _Terminal | None, attach: bool = False) -> int:
    """An exec (or, `attach`, a session on the container's own process): stdio relayed; its exit code."""
    import grpc
    from kubelab.v1 import api_pb2 as api
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=64)
    start = api.ExecStart(namespace=namespace, name=pod, container=container, command=command, stdin=stdin, tty=tty,
                          attach=attach)
    if terminal is not None:
        w, h = terminal.size()
        start.size.width, start.size.height = w, h
    queue.put_nowait(api.ExecInput(start=start))

    def push(data: bytes | None) -> None:
        msg = api.ExecInput(stdin=data) if data is not None else api.ExecInput(stdin_close=True)
        try:
            queue.put_nowait(msg)
        except asyncio.QueueFull:
            asyncio.ensure_future(queue.put(msg))

    stop_reading = _stdin_reader(loop, push) if stdin else (lambda: None)
    if terminal is not None:
        def on_winch() -> None:
            w, h = terminal.size()
            queue.put_nowait(api.ExecInput(resize=api.TerminalSize(width=w, height=h)))
        loop.add_signal_handler(signal.SIGWINCH, on_winch)
    code = 0
    call = client.stub.Exec(metadata=client.metadata)
    sender = asyncio.create_task(_send_all(call, queue))
    try:
        async for outp in call:
            if outp.stdout:
                os.write(sys.stdout.fileno(), outp.stdout)
            if outp.stderr:
                os.write(sys.stderr.fileno(), outp.stderr)
            if outp.error:
                os.write(sys.stderr.fileno(), (outp.error + "\n").encode())
                code = code or 1
            if outp.HasField("exit_code"):
                code = outp.exit_code
    except grpc.aio.AioRpcError as e:
        raise _rpc_error(e) from None
    finally:
        stop_reading()
        if terminal is not None:
            loop.remove_signal_handler(signal.SIGWINCH)
        sender.cancel()
        call.cancel()
    return code


@click.command("exec")
@click.argument("args", nargs=-1, required=True)
@click.option("-c", "--container", default="", help="Container name (default: the pod's default container).")
@click.option("-i", "--stdin", "stdin", is_flag=True, help="Pass stdin to the container.")
@click.option("-t", "--tty", "tty", is_flag=True, help="Stdin is a TTY.")
@click.option("-q", "--quiet", is_flag=True, help="Only print output from the remote session.")
@global_options
def exec_(args: tuple[str, ...], container: str, stdin: bool, tty: bool, quiet: bool) -> None:
    """Execute a command in a container.

    \b
      kubelab exec mypod -- env
      kubelab exec -it mypod -- sh
      kubelab exec mypod -c web -- ls /usr/share/nginx/html
      kubelab exec deployment/nginx -- hostname
    """
    if len(args) < 2:
        raise CLIError("you must specify at least one command for the container")
    ref, command = args[0], list(args[1:])
    namespace = settings().current_namespace()
    terminal = _local_terminal(stdin, tty, quiet)
    tty = terminal is not None

    async def body(client: Any) -> int:
        pod, _ = await resolve_pod(client, namespace, ref)
        if pod.status.phase in ("Succeeded", "Failed"):      # kubectl's own check, before any connection
            raise CLIError(f"cannot exec into a container in a completed pod; current phase is {pod.status.phase}")
        c = container or _default_container(pod, quiet)
        if terminal is not None:
            with terminal:
                return await run_exec(client, namespace, pod.metadata.name, c, command, stdin, True, terminal)
        return await run_exec(client, namespace, pod.metadata.name, c, command, stdin, tty, None)

    code = run(body)
    if code:
        if not quiet:
            err(f"command terminated with exit code {code}")
        raise Failed(code)


def _local_terminal(stdin: bool, tty: bool, quiet: bool) -> _Terminal | None:
    """This terminal, for a session that asked for a TTY and has one to give (stdin is a terminal); else None,
    with kubectl's warning if a TTY was asked for."""
    if not tty:
        return None
    if stdin and sys.stdin.isatty():
        return _Terminal(sys.stdin.fileno())
    if not quiet:
        err("Unable to use a TTY - input is not a terminal or the right kind of file")
    return None


# ---------------------------------------------------------------- attach
async def attach_session(client: Any, pod: Any, container: str, stdin: bool, tty: bool, quiet: bool) -> int:
    """Attach to a running container's process (as kubectl attach); its exit code once it ends, or 0 when the
    session ends with the process still running."""
    spec = next((c for c in pod.spec.containers if c.name == container), None)
    if tty and spec is not None and not spec.tty:
        if not quiet:
            err(f"error: Unable to use a TTY - container {container} did not allocate one")
        tty = False
    terminal = _local_terminal(stdin, tty, quiet)
    ns, name = pod.metadata.namespace, pod.metadata.name
    if terminal is None:
        return await run_exec(client, ns, name, container, [], stdin, False, None, attach=True)
    if not quiet:
        err("If you don't see a command prompt, try pressing enter.")
    with terminal:
        return await run_exec(client, ns, name, container, [], stdin, True, terminal, attach=True)


@click.command("attach")
@click.argument("ref")
@click.option("-c", "--container", default="", help="Container name (default: the pod's default container).")
@click.option("-i", "--stdin", "stdin", is_flag=True, help="Pass stdin to the container.")
@click.option("-t", "--tty", "tty", is_flag=True, help="Stdin is a TTY.")
@click.option("-q", "--quiet", is_flag=True, help="Only print output from the remote session.")
@global_options
def attach(ref: str, container: str, stdin: bool, tty: bool, quiet: bool) -> None:
    """Attach to a process that is already running inside an existing container.

    \b
      kubelab attach mypod
      kubelab attach mypod -c web -i -t
      kubelab attach deployment/nginx
    """
    namespace = settings().current_namespace()

    async def body(client: Any) -> int:
        pod, _ = await resolve_pod(client, namespace, ref)
        if pod.status.phase in ("Succeeded", "Failed"):      # kubectl's own check, before any connection
            raise CLIError(f"cannot attach a container in a completed pod; current phase is {pod.status.phase}")
        return await attach_session(client, pod, container or _default_container(pod, quiet), stdin, tty, quiet)

    code = run(body)
    if code:
        raise Failed(code)


# ---------------------------------------------------------------- port-forward
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


def _target_port(pod: Any, obj: Any, remote: str) -> int:
    """The pod port for a remote spec: a number, a named container port, or (services) a service port."""
    from kubelab.v1 import objects_pb2 as pb

    def container_port(name: str) -> int:
        for c in pod.spec.containers:
            for p in c.ports:
                if p.name == name:
                    return int(p.container_port)
        raise CLIError(f"pod {pod.metadata.name} has no port named {name!r}")

    if isinstance(obj, pb.Service):
        svc_port = None
        for p in obj.spec.ports:
            if (remote.isdigit() and p.port == int(remote)) or p.name == remote:
                svc_port = p
                break
        if svc_port is None:
            raise CLIError(f"service {obj.metadata.name} does not have a service port {remote}")
        tp = svc_port.target_port
        kind = tp.WhichOneof("kind")
        if kind == "number_value":
            return int(tp.number_value)
        if kind == "string_value":
            return int(tp.string_value) if tp.string_value.isdigit() else container_port(tp.string_value)
        return int(svc_port.port)
    return int(remote) if remote.isdigit() else container_port(remote)


async def _forward_connection(client: Any, namespace: str, pod: str, port: int,
                              reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """Relay one local connection to the pod's port; False if the forwarding failed (not the local side)."""
    import grpc
    from kubelab.v1 import api_pb2 as api
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=32)
    queue.put_nowait(api.PortForwardInput(start=api.PortForwardStart(namespace=namespace, name=pod, port=port)))

    async def upstream() -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    await queue.put(api.PortForwardInput(close_write=True))
                    return
                await queue.put(api.PortForwardInput(data=data))
        except (OSError, asyncio.CancelledError):
            pass

    call = client.stub.PortForward(metadata=client.metadata)
    up = asyncio.create_task(upstream())
    sender = asyncio.create_task(_send_all(call, queue))
    try:
        async for outp in call:
            if outp.error:
                err(f"E an error occurred forwarding {port}: {outp.error}")
                return False
            writer.write(outp.data)
            await writer.drain()
    except grpc.aio.AioRpcError as e:
        from kubelab.errors import write_after_close
        if write_after_close(e):
            return True
        err(api_error_line(_rpc_error(e)))
        return False
    except OSError:
        pass      # the local side went away: nothing wrong with the pod
    finally:
        up.cancel()
        sender.cancel()
        call.cancel()
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
    timeout = _duration(pod_running_timeout)

    async def body(client: Any) -> None:
        from kubelab.errors import net_reason
        pod, obj = await resolve_pod(client, namespace, ref)
        # A pod named directly must be running now, as kubectl checks it once; one chosen for a deployment
        # or service may still be starting, for up to --pod-running-timeout.
        waited = 0.0 if obj is not pod else timeout
        while pod.status.phase != "Running":
            if waited >= timeout:
                raise CLIError(f"unable to forward port because pod is not running. Current status={pod.status.phase}")
            await asyncio.sleep(1)
            waited += 1
            pod = await client.get("Pod", pod.metadata.name, namespace)
        lost = asyncio.Event()
        servers = []
        for local, remote in specs:
            target = _target_port(pod, obj, remote)

            def handler(port: int, local_label: list[int]) -> Any:
                async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
                    out(f"Handling connection for {local_label[0]}")
                    if not await _forward_connection(client, namespace, pod.metadata.name, port, r, w):
                        lost.set()
                return handle
            label = [local]
            for addr in addresses:
                try:
                    server = await asyncio.start_server(handler(target, label), addr, label[0] or 0)
                except OSError as e:
                    raise CLIError(f"unable to listen on port {label[0]}: listen tcp {addr}:{label[0]}: bind: "
                                   f"{net_reason(e)}") from None
                label[0] = server.sockets[0].getsockname()[1]
                servers.append(server)
                out(f"Forwarding from {addr}:{label[0]} -> {target}")
        sys.stdout.flush()
        # kubectl (since 1.23) ends when a forwarded connection fails: the pod is gone or the port is closed,
        # and the user had better know than keep a listener that cannot help.
        await lost.wait()
        for s in servers:
            s.close()
        raise CLIError("lost connection to pod")

    try:
        run(body)
    except KeyboardInterrupt:
        pass


# ---------------------------------------------------------------- proxy
_POD_PROXY = re.compile(r"^/api/v1/namespaces/([^/]+)/(pods|services)/([^/]+)/proxy(/.*)?$")
# The form Kubernetes served before 1.10, which older tutorials (seeds 002 and 004) still type.
_LEGACY_PROXY = re.compile(r"^/api/v1/proxy/namespaces/([^/]+)/(pods|services)/([^/]+)(/.*)?$")
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Unavailable"}


def _json_body(doc: Any) -> bytes:
    return json.dumps(doc, indent=2).encode() + b"\n"


def _status_body(code: int, reason: str, message: str) -> bytes:
    return _json_body({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                       "message": message, "reason": reason, "code": code})


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes] | None:
    line = await reader.readline()
    if not line:
        return None
    parts = line.decode("latin-1").strip().split()
    if len(parts) < 2:
        return None
    method, target = parts[0], parts[1]
    headers: dict[str, str] = {}
    while True:
        h = await reader.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        k, _, v = h.decode("latin-1").partition(":")
        headers[k.strip()] = v.strip()
    body = b""
    length = next((v for k, v in headers.items() if k.lower() == "content-length"), "")
    if length.isdigit():
        body = await reader.readexactly(int(length))
    return method, target, headers, body


class _ProxyServer:
    """`kubelab proxy`: a local HTTP server that turns URLs into API calls."""

    def __init__(self, client: Any, prefix: str) -> None:
        self.client = client
        self.prefix = prefix.rstrip("/")

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                req = await _read_request(reader)
                if req is None:
                    break
                method, target, headers, body = req
                status, resp_headers, resp_body = await self.route(method, target, headers, body)
                keep = headers.get("Connection", headers.get("connection", "")).lower() != "close"
                head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
                resp_headers = {k: v for k, v in resp_headers.items()
                                if k.lower() not in ("content-length", "transfer-encoding", "connection")}
                resp_headers["Content-Length"] = str(len(resp_body))
                resp_headers["Connection"] = "keep-alive" if keep else "close"
                head += [f"{k}: {v}" for k, v in resp_headers.items()]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + resp_body)
                await writer.drain()
                if not keep:
                    break
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def route(self, method: str, target: str, headers: dict[str, str],
                    body: bytes) -> tuple[int, dict[str, str], bytes]:
        from google.protobuf import json_format

        from kubectl import discovery
        from kubelab import errors
        path, _, query = target.partition("?")
        if self.prefix and path.startswith(self.prefix):
            path = path[len(self.prefix):] or "/"
        json_headers = {"Content-Type": "application/json"}
        try:
            if path in ("/version", "/version/"):
                v = await self.client.version()
                return 200, json_headers, _json_body(json_format.MessageToDict(v))
            if path in ("/healthz", "/healthz/"):
                await self.client.version()      # healthy means the apiserver answers, as kube-apiserver's own
                return 200, {"Content-Type": "text/plain; charset=utf-8"}, b"ok"
            doc = discovery.document(path, self.client.server) if method == "GET" else None
            if doc is not None:
                return 200, json_headers, _json_body(doc)
            m = _POD_PROXY.match(path) or _LEGACY_PROXY.match(path)
            if m:
                return await self.proxy(m.group(1), m.group(2), m.group(3), (m.group(4) or "/"), query, method,
                                        headers, body)
            if method == "GET":
                return await self.get_object(path, query)
            return 405, json_headers, _status_body(405, "MethodNotAllowed", f"{method} is not supported here")
        except errors.ApiError as e:
            code = {"NotFound": 404, "BadRequest": 400, "ServiceUnavailable": 503, "Unauthorized": 401,
                    "Forbidden": 403, "Invalid": 422}.get(e.reason, 500)
            return code, json_headers, _status_body(code, e.reason, e.message)

    async def proxy(self, namespace: str, resource: str, name_port: str, path: str, query: str, method: str,
                    headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        import grpc
        from kubelab.v1 import api_pb2 as api
        parts = name_port.split(":")
        if len(parts) == 3:          # scheme:name:port
            parts = parts[1:]
        name, port = parts[0], parts[1] if len(parts) > 1 else ""
        if resource == "services":
            pod, svc = await resolve_pod(self.client, namespace, f"service/{name}")
            if not port and svc.spec.ports:
                port = str(svc.spec.ports[0].port)
            port = str(_target_port(pod, svc, port)) if port else ""
            name = pod.metadata.name
        req = api.ProxyRequest(namespace=namespace, name=name, port=port, method=method,
                               path=path + (f"?{query}" if query else ""), body=body)
        for k, v in headers.items():
            if k.lower() not in ("host", "connection", "content-length", "authorization"):
                req.headers[k] = v
        try:
            resp = await self.client.stub.Proxy(req, metadata=self.client.metadata, timeout=60)
        except grpc.aio.AioRpcError as e:
            raise _rpc_error(e) from None
        return resp.status, dict(resp.headers), resp.body

    async def get_object(self, path: str, query: str) -> tuple[int, dict[str, str], bytes]:
        """GET /api/v1/[namespaces/NS/]RESOURCE[/NAME] and /apis/GROUP/VERSION/...: objects as JSON."""
        from kubelab import kinds, manifests
        segs = [s for s in path.split("/") if s]
        if segs[:1] == ["api"] and len(segs) >= 2:
            group, version, rest = "", segs[1], segs[2:]
        elif segs[:1] == ["apis"] and len(segs) >= 3:
            group, version, rest = segs[1], segs[2], segs[3:]
        else:
            return 404, {"Content-Type": "application/json"}, _status_body(404, "NotFound", f"path {path} not found")
        namespace = None
        if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) != 2:
            namespace, rest = rest[1], rest[2:]
        if not rest:
            return 404, {"Content-Type": "application/json"}, _status_body(404, "NotFound", f"path {path} not found")
        try:
            info = kinds.lookup(rest[0])
        except kinds.UnknownKind:
            info = None
        if info is None or (info.group, info.version) != (group, version):    # kinds live in one group version
            return 404, {"Content-Type": "application/json"}, _status_body(
                404, "NotFound", f"the server could not find the requested resource {rest[0]}")
        if len(rest) >= 2:
            obj = await self.client.get(info.kind, rest[1], namespace if info.namespaced else None)
            doc: dict[str, Any] = manifests.to_dict(obj)
        else:
            selector = ""
            for kv in query.split("&"):
                k, _, v = kv.partition("=")
                if k == "labelSelector":
                    from urllib.parse import unquote
                    selector = unquote(v)
            items, rv = await self.client.list(info.kind, namespace if info.namespaced else "",
                                               label_selector=selector)
            doc = {"kind": f"{info.kind}List", "apiVersion": info.api_version,
                   "metadata": {"resourceVersion": rv}, "items": [manifests.to_dict(o) for o in items]}
        return 200, {"Content-Type": "application/json"}, _json_body(doc)


@click.command("proxy")
@click.option("-p", "--port", type=int, default=8001, show_default=True, help="The port to serve on (0: random).")
@click.option("--address", default="127.0.0.1", show_default=True, help="The IP address to serve on.")
@click.option("--api-prefix", default="/", show_default=True, help="Prefix to serve the proxied API under.")
@global_options
def proxy(port: int, address: str, api_prefix: str) -> None:
    """Run an HTTP proxy to the API: /version, /healthz, discovery, objects as JSON, and pod/service proxy URLs.

    \b
      kubelab proxy &
      curl http://localhost:8001/version
      curl http://localhost:8001/apis/apps/v1
      curl http://localhost:8001/api/v1/namespaces/default/pods/$POD_NAME/proxy/
    """
    async def body(client: Any) -> None:
        srv = _ProxyServer(client, api_prefix)
        from kubelab.errors import net_reason
        try:
            server = await asyncio.start_server(srv.handle, address, port)
        except OSError as e:
            raise CLIError(f"listen tcp {address}:{port}: bind: {net_reason(e)}") from None
        bound = server.sockets[0].getsockname()[1]
        out(f"Starting to serve on {address}:{bound}")
        sys.stdout.flush()
        await server.serve_forever()

    try:
        run(body)
    except KeyboardInterrupt:
        pass
