"""`kubelab rollout status|history|undo|pause|resume|restart` for Deployments.

undo is done here, as kubectl does it: find the ReplicaSet owned by the
Deployment whose `deployment.kubernetes.io/revision` annotation is the
wanted revision (default: the one before the current), and copy its pod
template (without the `pod-template-hash` label) back into the Deployment;
the deployment controller then rolls out that template as a new revision.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

import click

from kubectl import printers, resources, tabwriter
from kubectl.context import CLIError, Failed, global_options, out, run, settings, stdout_write
from kubectl.output.terminal import escape_terminal
from kubectl.timefmt import parse_duration
from kubelab import timeutil

REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
HASH_LABEL = "pod-template-hash"


def deployment_targets(args: tuple[str, ...]) -> list[str]:
    req = resources.parse(args)
    names: list[str] = []
    for t in req.targets:
        if t.info.kind != "Deployment":
            raise CLIError(f"no rollout support for {t.info.plural}: only deployments are supported")
        if not t.names:
            raise CLIError("required resource not specified")
        names += t.names
    return names


def status_message(d: Any) -> tuple[str, bool]:
    """kubectl's DeploymentStatusViewer: (message, done); raises when the deadline was exceeded."""
    name = d.metadata.name
    if d.metadata.generation <= d.status.observed_generation:
        cond = next((c for c in d.status.conditions if c.type == "Progressing"), None)
        if cond is not None and cond.reason == "ProgressDeadlineExceeded":
            raise CLIError(f'deployment "{name}" exceeded its progress deadline')
        want = printers.replicas_of(d.spec)
        s = d.status
        if s.updated_replicas < want:
            return (f'Waiting for deployment "{name}" rollout to finish: {s.updated_replicas} out of {want} '
                    "new replicas have been updated..."), False
        if s.replicas > s.updated_replicas:
            return (f'Waiting for deployment "{name}" rollout to finish: {s.replicas - s.updated_replicas} '
                    "old replicas are pending termination..."), False
        if s.available_replicas < s.updated_replicas:
            return (f'Waiting for deployment "{name}" rollout to finish: {s.available_replicas} of '
                    f"{s.updated_replicas} updated replicas are available..."), False
        return f'deployment "{name}" successfully rolled out', True
    return "Waiting for deployment spec update to be observed...", False


async def owned_replicasets(client: Any, d: Any) -> list[Any]:
    rss, _ = await client.list("ReplicaSet", d.metadata.namespace)
    return [rs for rs in rss if any(r.uid == d.metadata.uid for r in rs.metadata.owner_references)]


def revision_of(obj: Any) -> int:
    try:
        return int(obj.metadata.annotations.get(REVISION, "0"))
    except ValueError:
        return 0


@click.group("rollout")
@global_options
def rollout() -> None:
    """Manage the rollout of a deployment."""


@rollout.command("status")
@click.argument("args", nargs=-1, required=True)
@click.option("-w", "--watch", "watch_", default="true", is_flag=False, flag_value="true",
              help="Watch until the rollout finishes (default true).")
@click.option("--timeout", default="0s", help="How long to wait (0: no limit), e.g. 5m.")
@click.option("--revision", type=int, default=0, help="Pin to a specific revision (0: the latest).")
@click.option("--poll-interval", type=float, default=0.5, hidden=True)
@global_options
def status(args: tuple[str, ...], watch_: str, timeout: str, revision: int, poll_interval: float) -> None:
    """Show the status of the rollout (waits until it is done, by default).

    Exits non-zero when the deployment reports ProgressDeadlineExceeded.
    """
    from kubectl.delete import parse_bool
    watch = parse_bool(watch_, "--watch")
    names = deployment_targets(args)
    if len(names) != 1:
        raise CLIError("rollout status accepts exactly one deployment")
    try:
        timeout_s = parse_duration(timeout)
    except ValueError as e:
        raise CLIError(str(e)) from None
    name = names[0]
    namespace = settings().current_namespace()

    async def body(client: Any) -> None:
        deadline = time.monotonic() + timeout_s if timeout_s > 0 else None
        last = ""
        while True:
            d = await client.get("Deployment", name, namespace)
            if revision:
                current = revision_of(d)
                if current and current != revision:
                    raise CLIError(f"desired revision ({revision}) is different from the running revision "
                                   f"({current})")
            msg, done = status_message(d)
            if msg != last:
                out(msg)
                last = msg
            if done or not watch:
                return
            if deadline is not None and time.monotonic() >= deadline:
                raise CLIError("timed out waiting for the condition")
            await asyncio.sleep(poll_interval)

    try:
        run(body)
    except KeyboardInterrupt:
        raise Failed(130) from None


@rollout.command("history")
@click.argument("args", nargs=-1, required=True)
@click.option("--revision", type=int, default=0, help="Show the pod template of this revision.")
@global_options
def history(args: tuple[str, ...], revision: int) -> None:
    """View previous rollout revisions and configurations."""
    names = deployment_targets(args)
    namespace = settings().current_namespace()

    async def body(client: Any) -> None:
        for name in names:
            d = await client.get("Deployment", name, namespace)
            rss = await owned_replicasets(client, d)
            by_rev = {revision_of(rs): rs for rs in rss if revision_of(rs)}
            if revision:
                rs = by_rev.get(revision)
                if rs is None:
                    raise CLIError(f"unable to find the specified revision")
                from kubectl.describe import Writer, describe_pod_template
                w = Writer()
                describe_pod_template(w, rs.spec.template)
                out(f"deployment.apps/{name} with revision #{revision}")
                stdout_write(w.text())
                continue
            out(f"deployment.apps/{name} ")
            rows = [["REVISION", "CHANGE-CAUSE"]]
            for rev in sorted(by_rev):
                cause = by_rev[rev].metadata.annotations.get(CHANGE_CAUSE) or "<none>"
                rows.append([str(rev), escape_terminal(cause)])
            stdout_write(tabwriter.format_text("".join("\t".join(r) + "\n" for r in rows), 0, 2) + "\n")

    run(body)


@rollout.command("undo")
@click.argument("args", nargs=-1, required=True)
@click.option("--to-revision", type=int, default=0, help="The revision to roll back to (0: the previous one).")
@click.option("--dry-run", "dry_run", is_flag=True)
@global_options
def undo(args: tuple[str, ...], to_revision: int, dry_run: bool) -> None:
    """Roll back to a previous rollout."""
    from kubectl.describe import template_without_hash
    from kubectl.workloads import update_with_retry
    names = deployment_targets(args)
    namespace = settings().current_namespace()

    async def body(client: Any) -> None:
        for name in names:
            d = await client.get("Deployment", name, namespace)
            if d.spec.paused:
                raise CLIError(f"you cannot rollback a paused deployment; resume it first with "
                               f"'kubelab rollout resume deployment/{name}' and try again")
            rss = await owned_replicasets(client, d)
            by_rev = {revision_of(rs): rs for rs in rss if revision_of(rs)}
            if not by_rev:
                raise CLIError(f'no rollout history found for deployment "{name}"')
            if to_revision:
                target = by_rev.get(to_revision)
                if target is None:
                    raise CLIError(f"unable to find specified revision {to_revision} in history")
            else:
                revs = sorted(by_rev)
                if len(revs) < 2:
                    raise CLIError(f'no rollout history found for deployment "{name}"')
                target = by_rev[revs[-2]]
            rev = revision_of(target)
            if template_without_hash(target.spec.template) == template_without_hash(d.spec.template):
                out(f"deployment.apps/{name} skipped rollback (current template already matches revision {rev})")
                continue
            if dry_run:
                out(f"deployment.apps/{name} Pod Template (dry run): revision {rev}")
                continue

            def mutate(obj: Any) -> None:
                obj.spec.template.CopyFrom(target.spec.template)
                obj.spec.template.metadata.labels.pop(HASH_LABEL, None)
                cause = target.metadata.annotations.get(CHANGE_CAUSE)
                if cause:
                    obj.metadata.annotations[CHANGE_CAUSE] = cause

            await update_with_retry(client, "Deployment", name, namespace, mutate)
            out(f"deployment.apps/{name} rolled back")

    run(body)


def _each_deployment(args: tuple[str, ...], refused: Callable[[Any], str], patch: Callable[[], dict[str, Any]],
                     patch_type: str, done: str) -> None:
    """Patch each named Deployment and say `done`, but for one `refused` names a reason not to (said as
    kubectl's error, and the command fails once the others are done)."""
    names = deployment_targets(args)
    namespace = settings().current_namespace()

    async def body(client: Any) -> bool:
        failed = False
        for name in names:
            reason = refused(await client.get("Deployment", name, namespace))
            if reason:
                click.echo(f'error: deployments.apps "{name}" {reason}', err=True)
                failed = True
                continue
            await client.patch("Deployment", name, patch(), namespace, patch_type=patch_type)
            out(f"deployment.apps/{name} {done}")
        return failed

    if run(body):
        raise Failed(1)


def _set_paused(args: tuple[str, ...], paused: bool) -> None:
    _each_deployment(args, lambda d: ("is already paused" if paused else "is not paused") if d.spec.paused == paused
                     else "", lambda: {"spec": {"paused": paused}}, "merge", "paused" if paused else "resumed")


@rollout.command("pause")
@click.argument("args", nargs=-1, required=True)
@global_options
def pause(args: tuple[str, ...]) -> None:
    """Mark the deployment as paused: template changes are not rolled out until resumed."""
    _set_paused(args, True)


@rollout.command("resume")
@click.argument("args", nargs=-1, required=True)
@global_options
def resume(args: tuple[str, ...]) -> None:
    """Resume a paused deployment."""
    _set_paused(args, False)


@rollout.command("restart")
@click.argument("args", nargs=-1, required=True)
@global_options
def restart(args: tuple[str, ...]) -> None:
    """Restart a deployment: a new rollout of the same template."""
    _each_deployment(args, lambda d: "can't restart paused deployment (run rollout resume first)" if d.spec.paused
                     else "", lambda: {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: timeutil.now_str()}}}}},
                     "strategic", "restarted")
