"""`kubelab cluster up|down|status`: start and stop a lab.

`--local` runs etcd and the control plane as processes on this machine
(kubelab.launcher); the compose lab is started by the launcher too, when it
offers it (`up_compose` / `down_compose`).
"""
from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import click

from kubectl.context import CLIError, global_options, out, settings


def _launcher() -> Any:
    try:
        from kubelab import launcher
    except ImportError:
        raise CLIError("kubelab.launcher is not available in this installation") from None
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


@cluster.command("up")
@click.option("--local", is_flag=True, help="Processes on this machine (etcd, apiserver, scheduler, "
                                             "controller-manager), no Docker.")
@click.option("--hollow-nodes", type=int, default=0, show_default=True,
              help="Simulated nodes (no containers) to register, with --local.")
@click.option("--nodes", type=int, default=3, show_default=True, help="Nodes of the compose lab.")
@click.option("--state-dir", type=click.Path(file_okay=False), default=None,
              help="Where the local lab keeps its state (default ~/.kubelab/local).")
@global_options
def up(local: bool, hollow_nodes: int, nodes: int, state_dir: str | None) -> None:
    """Start a lab and point the kubeconfig at it."""
    launcher = _launcher()
    _use_kubeconfig()
    state = Path(state_dir).expanduser() if state_dir else None
    if not local:
        from kubelab import lab   # the compose lab prints its own next steps
        _call(lab.up, nodes=nodes)
        return
    info = _call(launcher.up_local, hollow_nodes=hollow_nodes, state_dir=state)
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
@global_options
def down(local: bool, state_dir: str | None) -> None:
    """Stop the lab and remove its context."""
    launcher = _launcher()
    _use_kubeconfig()
    state = Path(state_dir).expanduser() if state_dir else None
    if not local:
        from kubelab import lab
        _call(lab.down)
        out("kubelab lab stopped")
        return
    stopped = launcher.down_local(state_dir=state)
    if not stopped:
        out("no local lab was running")
        return
    out("stopped: " + ", ".join(stopped) if isinstance(stopped, list) else "local lab stopped")


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
    alive = getattr(launcher, "_alive", lambda pid: True)
    out(f"server: {info.get('server', '')}")
    for name, pid in info.get("pids", {}).items():
        out(f"{name}: pid {pid} {'running' if alive(pid) else 'stopped'}")


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
