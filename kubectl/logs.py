"""`kubelab logs`: a container's log, or those of every pod a selector matches (kubelab.streams.logs).

    logs POD [-c C] [-f] [--tail N] [-p] [--timestamps]   logs -l app=x [--all-containers] [--prefix]
"""
from __future__ import annotations

import asyncio
import sys
from typing import Any

import click

from kubectl.context import CLIError, Failed, api_error_line, err, global_options, out, run, settings
from kubectl.podref import default_container, duration, resolve_pods


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
    from kubelab import streams
    try:
        async for data in streams.logs(client, req):
            writer.write(data)
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
    since_s = duration(since)
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
                streams.append((p, container or default_container(p, quiet=bool(selector))))
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
