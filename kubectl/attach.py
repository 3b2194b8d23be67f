"""`kubelab attach`: a session on a running container's own process (kubectl/exec_.py's `run_exec`).

    attach POD|TYPE/NAME [-c C] [-i] [-t]
"""
from __future__ import annotations

from typing import Any

import click

from kubectl.context import CLIError, Failed, err, run, settings
from kubectl.exec_ import local_terminal, run_exec, session_options
from kubectl.podref import default_container, resolve_pod


async def attach_session(client: Any, pod: Any, container: str, stdin: bool, tty: bool, quiet: bool) -> int:
    """Attach to a running container's process (as kubectl attach); its exit code once it ends, or 0 when the
    session ends with the process still running."""
    spec = next((c for c in pod.spec.containers if c.name == container), None)
    if tty and spec is not None and not spec.tty:
        if not quiet:
            err(f"error: Unable to use a TTY - container {container} did not allocate one")
        tty = False
    terminal = local_terminal(stdin, tty, quiet)
    ns, name = pod.metadata.namespace, pod.metadata.name
    if terminal is None:
        return await run_exec(client, ns, name, container, [], stdin, False, None, attach=True)
    if not quiet:
        err("If you don't see a command prompt, try pressing enter.")
    with terminal:
        return await run_exec(client, ns, name, container, [], stdin, True, terminal, attach=True)


@click.command("attach")
@click.argument("ref")
@session_options
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
        return await attach_session(client, pod, container or default_container(pod, quiet), stdin, tty, quiet)

    code = run(body)
    if code:
        raise Failed(code)
