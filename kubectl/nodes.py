"""Node maintenance: cordon, uncordon, drain.

drain follows k8s.io/kubectl/pkg/drain: cordon, decide pod by pod what may
be removed (finished pods always; DaemonSet pods skipped with
--ignore-daemonsets; mirror pods skipped; emptyDir pods only with
--delete-emptydir-data; pods without a controller only with --force), then
evict them all at once through the eviction API, retrying every 5 s while
a PodDisruptionBudget refuses (TooManyRequests), and wait until each is gone.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import click

from kubectl.context import CLIError, Failed, err, global_options, out, run, run_each, warn
from kubectl.timefmt import parse_duration

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
DAEMONSET_FATAL = "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore)"
DAEMONSET_WARNING = "ignoring DaemonSet-managed Pods"
LOCAL_STORAGE_FATAL = "cannot delete Pods with local storage (use --delete-emptydir-data to override)"
LOCAL_STORAGE_WARNING = "deleting Pods with local storage"
UNMANAGED_FATAL = "cannot delete Pods that declare no controller (use --force to override)"
UNMANAGED_WARNING = "deleting Pods that declare no controller"


async def _node_names(client: Any, names: tuple[str, ...], selector: str) -> list[str]:
    if names:
        return list(names)
    if not selector:
        raise CLIError("resource(s) were provided, but no name was specified")
    nodes, _ = await client.list("Node", label_selector=selector)
    return sorted(n.metadata.name for n in nodes)


def _strip_kind(names: tuple[str, ...]) -> tuple[str, ...]:
    """`cordon node/x` and `cordon nodes x` are accepted as kubectl accepts them."""
    out_names = []
    for n in names:
        if "/" in n:
            kind, _, n = n.partition("/")
            if kind not in ("node", "nodes", "no"):
                raise CLIError(f"only nodes can be cordoned or drained, not {kind}")
        elif n in ("node", "nodes", "no"):
            continue
        out_names.append(n)
    return tuple(out_names)


async def set_unschedulable(client: Any, name: str, value: bool) -> bool:
    """Patch spec.unschedulable; False when it already had that value."""
    node = await client.get("Node", name)
    if node.spec.unschedulable == value:
        return False
    await client.patch("Node", name, {"spec": {"unschedulable": value}}, patch_type="merge")
    return True


def _cordon_verb(value: bool) -> str:
    return "cordoned" if value else "uncordoned"


def _cordon_command(names: tuple[str, ...], selector: str, value: bool, dry_run: bool) -> None:
    names = _strip_kind(names)

    async def act(client: Any, name: str) -> bool:
        if dry_run:
            changed = (await client.get("Node", name)).spec.unschedulable != value
        else:
            changed = await set_unschedulable(client, name, value)
        verb = _cordon_verb(value)
        out(f"node/{name} {verb}" + (" (dry run)" if dry_run and changed else "") if changed
            else f"node/{name} already {verb}")
        return False

    run_each(lambda client: _node_names(client, names, selector), act)


@click.command("cordon")
@click.argument("names", nargs=-1)
@click.option("-l", "--selector", default="")
@click.option("--dry-run", "dry_run", is_flag=True)
@global_options
def cordon(names: tuple[str, ...], selector: str, dry_run: bool) -> None:
    """Mark a node as unschedulable."""
    _cordon_command(names, selector, True, dry_run)


@click.command("uncordon")
@click.argument("names", nargs=-1)
@click.option("-l", "--selector", default="")
@click.option("--dry-run", "dry_run", is_flag=True)
@global_options
def uncordon(names: tuple[str, ...], selector: str, dry_run: bool) -> None:
    """Mark a node as schedulable."""
    _cordon_command(names, selector, False, dry_run)


# ---------------------------------------------------------------- drain
@dataclass
class DrainPlan:
    delete: list[Any] = field(default_factory=list)
    errors: dict[str, list[str]] = field(default_factory=dict)     # message -> ns/name
    warnings: dict[str, list[str]] = field(default_factory=dict)


def _controller(pod: Any) -> Any:
    return next((r for r in pod.metadata.owner_references if r.HasField("controller") and r.controller), None)


def plan_drain(pods: list[Any], force: bool, ignore_daemonsets: bool, delete_emptydir_data: bool) -> DrainPlan:
    """Which pods drain removes, and why it refuses the others (kubectl's filters, in its order)."""
    plan = DrainPlan()
    for pod in sorted(pods, key=lambda p: (p.metadata.namespace, p.metadata.name)):
        key = f"{pod.metadata.namespace}/{pod.metadata.name}"
        if pod.status.phase in ("Succeeded", "Failed"):
            plan.delete.append(pod)
            continue
        ctl = _controller(pod)
        if ctl is not None and ctl.kind == "DaemonSet":
            if ignore_daemonsets:
                plan.warnings.setdefault(DAEMONSET_WARNING, []).append(key)
            else:
                plan.errors.setdefault(DAEMONSET_FATAL, []).append(key)
            continue
        if MIRROR_ANNOTATION in pod.metadata.annotations:
            continue
        fatal = False
        if any(v.HasField("empty_dir") for v in pod.spec.volumes):
            if delete_emptydir_data:
                plan.warnings.setdefault(LOCAL_STORAGE_WARNING, []).append(key)
            else:
                # kubectl stops at the first filter that refuses a pod: a bare pod with an emptyDir is named
                # once, for its local storage
                plan.errors.setdefault(LOCAL_STORAGE_FATAL, []).append(key)
                continue
        if ctl is None:
            if force:
                plan.warnings.setdefault(UNMANAGED_WARNING, []).append(key)
            else:
                plan.errors.setdefault(UNMANAGED_FATAL, []).append(key)
                fatal = True
        if not fatal:
            plan.delete.append(pod)
    return plan


def _messages(groups: dict[str, list[str]]) -> list[str]:
    return [f"{msg}: {', '.join(keys)}" for msg, keys in groups.items()]


async def _gone(client: Any, pod: Any) -> bool:
    from kubelab import errors
    try:
        cur = await client.get("Pod", pod.metadata.name, pod.metadata.namespace)
    except errors.NotFound:
        return True
    return cur.metadata.uid != pod.metadata.uid


def _go(seconds: float) -> str:
    """A duration as Go prints it: 30s, 2m0s, 1h0m0s."""
    s = int(seconds)
    if s < 60:
        return f"{seconds:g}s"
    if s < 3600:
        return f"{s // 60}m{s % 60}s"
    return f"{s // 3600}h{s % 3600 // 60}m{s % 60}s"


async def _evict_one(client: Any, pod: Any, grace: int | None, deadline: float | None, retry: float,
                     disable_eviction: bool, timeout_s: float = 0) -> str | None:
    """Evict (or delete) one pod and wait until it is gone; an error message, or None."""
    from kubelab import errors
    ns, name = pod.metadata.namespace, pod.metadata.name
    while True:
        if deadline is not None and time.monotonic() >= deadline:
            return f'error when evicting pods/"{name}" -n "{ns}": global timeout reached: {_go(timeout_s)}'
        try:
            if disable_eviction:
                await client.delete("Pod", name, ns, grace_period_seconds=grace)
            else:
                await client.evict(ns, name, grace_period_seconds=grace)
            break
        except errors.NotFound:
            out(f"pod/{name} evicted" if not disable_eviction else f"pod/{name} deleted")
            return None
        except errors.TooManyRequests as e:
            err(f'error when evicting pods/"{name}" -n "{ns}" (will retry after {retry:g}s): {e.message}')
            await asyncio.sleep(retry)
        except ValueError:      # an empty answer: the pod went at once
            break
        except errors.ApiError as e:
            return f'error when evicting pods/"{name}" -n "{ns}": {e.message}'
    while not await _gone(client, pod):
        if deadline is not None and time.monotonic() >= deadline:
            return (f'error when waiting for pod "{name}" in namespace "{ns}" to terminate: global timeout reached: '
                    f'{_go(timeout_s)}')
        await asyncio.sleep(0.5)
    out(f"pod/{name} evicted" if not disable_eviction else f"pod/{name} deleted")
    return None


@click.command("drain")
@click.argument("names", nargs=-1)
@click.option("-l", "--selector", default="", help="Drain the nodes matching this label selector.")
@click.option("--force", is_flag=True, help="Also delete pods that declare no controller.")
@click.option("--ignore-daemonsets", is_flag=True, help="Ignore DaemonSet-managed pods.")
@click.option("--delete-emptydir-data", "--delete-local-data", "delete_emptydir_data", is_flag=True,
              help="Also delete pods with emptyDir volumes (their data is lost).")
@click.option("--grace-period", type=int, default=-1, help="Seconds each pod gets to terminate (-1: its own).")
@click.option("--timeout", default="0s", help="Give up after this long (0: no limit), e.g. 2m.")
@click.option("--pod-selector", default="", help="Only evict the pods matching this label selector.")
@click.option("--disable-eviction", is_flag=True, help="Delete pods instead of evicting (ignores PDBs).")
@click.option("--retry-interval", type=float, default=5.0, hidden=True)
@global_options
def drain(names: tuple[str, ...], selector: str, force: bool, ignore_daemonsets: bool, delete_emptydir_data: bool,
          grace_period: int, timeout: str, pod_selector: str, disable_eviction: bool, retry_interval: float) -> None:
    """Drain a node in preparation for maintenance: cordon it, then evict its pods.

    \b
    Examples:
      kubelab drain node-2 --ignore-daemonsets
      kubelab drain node-2 --force --delete-emptydir-data --timeout=2m
    """
    names = _strip_kind(names)
    try:
        timeout_s = parse_duration(timeout)
    except ValueError as e:
        raise CLIError(str(e)) from None
    grace = grace_period if grace_period >= 0 else None

    async def body(client: Any) -> bool:
        failed = False
        for node in await _node_names(client, names, selector):
            if not await drain_node(client, node, force, ignore_daemonsets, delete_emptydir_data, grace,
                                    timeout_s, pod_selector, disable_eviction, retry_interval):
                failed = True
        return failed

    if run(body):
        raise Failed(1)


async def drain_node(client: Any, node: str, force: bool, ignore_daemonsets: bool, delete_emptydir_data: bool,
                     grace: int | None, timeout_s: float, pod_selector: str, disable_eviction: bool,
                     retry_interval: float) -> bool:
    out(f"node/{node} {'cordoned' if await set_unschedulable(client, node, True) else 'already cordoned'}")
    pods, _ = await client.list("Pod", "", label_selector=pod_selector, field_selector=f"spec.nodeName={node}")
    pods = [p for p in pods if p.spec.node_name == node]
    plan = plan_drain(pods, force, ignore_daemonsets, delete_emptydir_data)
    if plan.errors:
        msgs = _messages(plan.errors)
        joined = msgs[0] if len(msgs) == 1 else "[" + ", ".join(msgs) + "]"
        err(f'error: unable to drain node "{node}" due to error: {joined}, continuing command...')
        err("There are pending nodes to be drained:")
        err(f" {node}")
        for m in msgs:
            err(m)
        return False
    for m in _messages(plan.warnings):
        warn(m)
    deadline = time.monotonic() + timeout_s if timeout_s > 0 else None
    for pod in plan.delete:
        out(f"evicting pod {pod.metadata.namespace}/{pod.metadata.name}")
    results = await asyncio.gather(*(_evict_one(client, p, grace, deadline, retry_interval, disable_eviction,
                                                timeout_s) for p in plan.delete))
    problems = [r for r in results if r]
    if problems:
        joined = problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]"
        err(f'error: unable to drain node "{node}" due to error: {joined}, continuing command...')
        err("There are pending nodes to be drained:")
        err(f" {node}")
        for p in problems:
            err(p)
        return False
    out(f"node/{node} drained")
    return True
