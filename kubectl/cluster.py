"""`kubelab cluster up|down|status`: start and stop a lab.

`--local` runs etcd and the control plane as processes on this machine
(lab/local.py); without it, the compose lab (lab/compose.py: images, then
docker compose). Either returns once every node is
Ready: the compose lab waits itself (lab.compose), `up --local --hollow-nodes N`
waits here (`wait_nodes_ready`, bounded by --timeout), not in
`launcher.up_local`, which benchmarks call to time node readiness themselves.
"""
from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any, Callable

import click

from kubectl.context import CLIError, global_options, out, settings
from kubectl.timefmt import parse_duration
from kubectl.wait import Condition, condition_met


def _launcher() -> Any:
    try:
        from lab import local as launcher
    except ImportError:
        raise CLIError("lab.local is not available in this installation") from None
    return launcher


def _use_kubeconfig() -> None:
    """The launcher writes $KUBELAB_CONFIG (or ~/.kubelab/config): point it at --kubeconfig if given."""
    st = settings()
    if st.kubeconfig:
        os.environ["KUBELAB_CONFIG"] = str(Path(st.kubeconfig).expanduser())


@click.group("cluster")
@global_options
def cluster() -> None:
    """Start, stop and inspect a kubelab lab."""


def _alive(launcher: Any, pid: int) -> bool:
    return bool(getattr(launcher, "_alive", lambda pid: True)(pid))


async def wait_nodes_ready(client: Any, want: int, timeout: float, runner_alive: Callable[[], bool],
                           log_hint: str = "") -> list[str]:
    """Poll until `want` nodes are Ready and return their names.

    The launcher only spawns the hollow-node runner, which registers its nodes a few seconds later; a
    user's next `kubelab get nodes` must see them, so `cluster up` waits here. A runner that exits, or
    nodes still missing after `timeout` seconds, is a one-line error (the lab is left running)."""
    deadline = time.monotonic() + timeout
    while True:
        items, _ = await client.list("Node")
        ready = sorted(n.metadata.name for n in items if condition_met(n, Condition("condition", "Ready")))
        if len(ready) >= want:
            return ready
        where = f" (see {log_hint})" if log_hint else ""
        if not runner_alive():
            raise CLIError(f"the hollow-node runner exited with {len(ready)}/{want} nodes Ready{where}")
        if time.monotonic() >= deadline:
            raise CLIError(f"only {len(ready)}/{want} nodes were Ready after {timeout:g}s{where}; the lab is still "
                           "running: watch `kubelab get nodes`, or stop it with `kubelab cluster down --local`")
        await asyncio.sleep(0.2)


def _wait_for_hollow_nodes(launcher: Any, info: dict[str, Any], want: int, timeout: float) -> list[str]:
    from kubelab import errors
    from kubelab.client import Client
    pid = info.get("pids", {}).get("hollow-nodes")
    log_hint = str(Path(info["state_dir"]) / "logs" / "hollow-nodes.log") if info.get("state_dir") else ""

    async def body() -> list[str]:
        async with Client(info["server"], info.get("token", ""), retries=3) as client:
            return await wait_nodes_ready(client, want, timeout, lambda: pid is None or _alive(launcher, pid),
                                          log_hint)
    try:
        return asyncio.run(body())
    except errors.ApiError as e:
        raise CLIError(f"waiting for the nodes to be Ready: {e.message}") from None


@cluster.command("up")
@click.option("--local", is_flag=True, help="Processes on this machine (etcd, apiserver, scheduler, "
                                             "controller-manager), no Docker.")
@click.option("--hollow-nodes", type=int, default=0, show_default=True,
              help="Simulated nodes (no containers) to register, with --local.")
@click.option("--nodes", type=int, default=None, help="Nodes of the compose lab [default: 3, 2 with --ha].")
@click.option("--ha", is_flag=True, help="A highly available compose lab: three etcd members, two apiservers, "
                                          "two schedulers and two controller managers (leader election).")
@click.option("--state-dir", type=click.Path(file_okay=False), default=None,
              help="Where the local lab keeps its state (default ~/.kubelab/local).")
@click.option("--timeout", default="60s", show_default=True,
              help="With --local --hollow-nodes: how long to wait for every node to be Ready.")
@global_options
def up(local: bool, hollow_nodes: int, nodes: int | None, ha: bool, state_dir: str | None, timeout: str) -> None:
    """Start a lab and point the kubeconfig at it; returns once every node is Ready."""
    try:
        timeout_s = parse_duration(timeout)
    except ValueError as e:
        raise CLIError(str(e)) from None
    launcher = _launcher()
    _use_kubeconfig()
    state = Path(state_dir).expanduser() if state_dir else None
    if not local:
        from lab import compose as lab   # the compose lab prints its own next steps
        _call(lab.up, nodes=nodes, ha=ha)
        return
    if ha:
        raise CLIError("--ha is for the compose lab (without --local)")
    info = _call(launcher.up_local, hollow_nodes=hollow_nodes, state_dir=state)
    if hollow_nodes and isinstance(info, dict):
        ready = _wait_for_hollow_nodes(launcher, info, hollow_nodes, timeout_s)
        out(f"{len(ready)}/{hollow_nodes} nodes Ready")
    server = info.get("server", "") if isinstance(info, dict) else ""
    context = getattr(launcher, "CONTEXT", "kubelab-local")
    out(f"kubelab is running at {server}" if server else "kubelab is running")
    pids = info.get("pids", {}) if isinstance(info, dict) else {}
    if pids:
        out("components: " + ", ".join(sorted(pids)))
    out(f'context "{context}" is now current; try:')
    out("  kubelab get nodes")
    out("  kubelab apply -f app.yaml")
    out("stop it with: kubelab cluster down" + (" --local" if local else ""))


@cluster.command("down")
@click.option("--local", is_flag=True, help="Stop the local lab.")
@click.option("--state-dir", type=click.Path(file_okay=False), default=None)
@click.option("--keep-data", is_flag=True, help="Compose lab: keep etcd's data, tokens and certificates, so the "
              "next `cluster up` is the same cluster with every object (as kind/minikube `stop`).")
@global_options
def down(local: bool, state_dir: str | None, keep_data: bool) -> None:
    """Stop the lab and remove its context."""
    launcher = _launcher()
    _use_kubeconfig()
    state = Path(state_dir).expanduser() if state_dir else None
    if keep_data and local:
        raise CLIError("--keep-data is for the compose lab (without --local)")
    if not local:
        from lab import compose as lab
        _call(lab.down, keep_data=keep_data)
        out("kubelab lab stopped")
        return
    report = _call(launcher.down_local, state_dir=state)
    for name, why in report.not_stopped.items():
        click.echo(f"not stopped: {name}: {why}", err=True)
    if not report.stopped and not report.not_stopped:
        out("no local lab was running")
        return
    if report.stopped:
        out("stopped: " + ", ".join(report.stopped))


@cluster.command("status")
@click.option("--state-dir", type=click.Path(file_okay=False), default=None)
@global_options
def status(state_dir: str | None) -> None:
    """Show which processes of the local lab are running."""
    launcher = _launcher()
    state_of = getattr(launcher, "state_of", None)
    info = state_of(Path(state_dir).expanduser() if state_dir else None) if state_of else None
    if not info:
        out("no local lab")
        return
    out(f"server: {info.get('server', '')}")
    up = set(launcher.running(info))
    for name, pid in info.get("pids", {}).items():
        out(f"{name}: pid {pid} {'running' if name in up else 'stopped'}")


def _call(fn: Any, **kw: Any) -> Any:
    try:
        result = fn(**kw)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return result
    except Exception as e:  # noqa: BLE001 - the launcher's errors are one line for the user
        if type(e).__name__ == "LauncherError":
            raise CLIError(str(e)) from None
        raise
