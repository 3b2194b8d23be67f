"""`kubelab exec`: a command in a container, stdio relayed (kubelab.streams.exec_session); the local
terminal's raw mode and size for `-it`. kubectl/attach.py runs its sessions through `run_exec` too.

    exec [-i] [-t] POD [-c C] -- CMD ...                  exec POD CMD (the older form)
"""
from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from typing import Any, Callable

import click

from kubectl.context import CLIError, Failed, err, global_options, options, run, settings
from kubectl.podref import default_container, resolve_pod


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
    from kubelab import streams
    from kubelab.v1 import api_pb2 as api
    loop = asyncio.get_running_loop()
    start = api.ExecStart(namespace=namespace, name=pod, container=container, command=command, stdin=stdin, tty=tty,
                          attach=attach)
    if terminal is not None:
        w, h = terminal.size()
        start.size.width, start.size.height = w, h
    session = streams.exec_session(client, start)

    def push(data: bytes | None) -> None:
        session.send_nowait(api.ExecInput(stdin=data) if data is not None else api.ExecInput(stdin_close=True))

    stop_reading = _stdin_reader(loop, push) if stdin else (lambda: None)
    if terminal is not None:
        def on_winch() -> None:
            w, h = terminal.size()
            session.send_nowait(api.ExecInput(resize=api.TerminalSize(width=w, height=h)))
        loop.add_signal_handler(signal.SIGWINCH, on_winch)
    code = 0
    try:
        async for outp in session:
            if outp.stdout:
                os.write(sys.stdout.fileno(), outp.stdout)
            if outp.stderr:
                os.write(sys.stderr.fileno(), outp.stderr)
            if outp.error:
                os.write(sys.stderr.fileno(), (outp.error + "\n").encode())
                code = code or 1
            if outp.HasField("exit_code"):
                code = outp.exit_code
    finally:
        stop_reading()
        if terminal is not None:
            loop.remove_signal_handler(signal.SIGWINCH)
        session.close()
    return code


# The flags exec and attach share: which container, stdin, a TTY, quiet.
session_options = options(
    click.option("-c", "--container", default="", help="Container name (default: the pod's default container)."),
    click.option("-i", "--stdin", "stdin", is_flag=True, help="Pass stdin to the container."),
    click.option("-t", "--tty", "tty", is_flag=True, help="Stdin is a TTY."),
    click.option("-q", "--quiet", is_flag=True, help="Only print output from the remote session."),
    global_options)


@click.command("exec")
@click.argument("args", nargs=-1, required=True)
@session_options
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
    terminal = local_terminal(stdin, tty, quiet)
    tty = terminal is not None

    async def body(client: Any) -> int:
        pod, _ = await resolve_pod(client, namespace, ref)
        if pod.status.phase in ("Succeeded", "Failed"):      # kubectl's own check, before any connection
            raise CLIError(f"cannot exec into a container in a completed pod; current phase is {pod.status.phase}")
        c = container or default_container(pod, quiet)
        if terminal is not None:
            with terminal:
                return await run_exec(client, namespace, pod.metadata.name, c, command, stdin, True, terminal)
        return await run_exec(client, namespace, pod.metadata.name, c, command, stdin, tty, None)

    code = run(body)
    if code:
        if not quiet:
            err(f"command terminated with exit code {code}")
        raise Failed(code)


def local_terminal(stdin: bool, tty: bool, quiet: bool) -> _Terminal | None:
    """This terminal, for a session that asked for a TTY and has one to give (stdin is a terminal); else None,
    with kubectl's warning if a TTY was asked for."""
    if not tty:
        return None
    if stdin and sys.stdin.isatty():
        return _Terminal(sys.stdin.fileno())
    if not quiet:
        err("Unable to use a TTY - input is not a terminal or the right kind of file")
    return None
