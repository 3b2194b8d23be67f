"""`kubelab delete`: by name, kind/name, -f, -l or --all; waits until gone by default."""
from __future__ import annotations

import asyncio
import time
from typing import Any

import click

from kubectl import resources
from kubectl.context import CLIError, Failed, api_error_line, err, global_options, out, run, settings, warn
from kubectl.timefmt import parse_duration

PROPAGATION = {"background": "Background", "foreground": "Foreground", "orphan": "Orphan",
               "true": "Background", "false": "Orphan"}


def parse_bool(value: str, flag: str) -> bool:
    v = value.strip().lower()
    if v in ("true", "1", "yes", "t", ""):
        return True
    if v in ("false", "0", "no", "f"):
        return False
    raise CLIError(f'invalid argument "{value}" for "{flag}" flag: strconv.ParseBool: parsing "{value}": '
                   "invalid syntax")


def grace_for(grace_period: int, force: bool, now: bool) -> int | None:
    """kubectl's rules: --force means 0 unless a period is given; 0 without --force means 1."""
    if now:
        if grace_period >= 0:
            raise CLIError("--now and --grace-period cannot be specified together")
        return 1
    if force and grace_period < 0:
        return 0
    if grace_period == 0 and not force:
        return 1
    return grace_period if grace_period >= 0 else None


async def wait_gone(client: Any, items: list[tuple[Any, str, str | None, str]], timeout: float) -> list[str]:
    """Poll until every (info, name, ns, uid) is gone (or replaced by a new uid); names still there."""
    from kubelab import errors
    deadline = time.monotonic() + timeout if timeout > 0 else None
    pending = list(items)
    delay = 0.2
    while pending:
        still = []
        for info, name, ns, uid in pending:
            try:
                obj = await client.get(info.kind, name, ns)
            except errors.NotFound:
                continue
            if uid and obj.metadata.uid != uid:
                continue
            still.append((info, name, ns, uid))
        pending = still
        if not pending:
            break
        if deadline is not None and time.monotonic() >= deadline:
            return [f'{i.plural}/{n}' for i, n, _, _ in pending]
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 1.0)
    return []


@click.command("delete")
@click.argument("args", nargs=-1)
@click.option("-f", "--filename", "filenames", multiple=True, help="Files or directories with the objects.")
@click.option("-R", "--recursive", is_flag=True)
@click.option("-l", "--selector", default="", help="Delete the objects matching this label selector.")
@click.option("--field-selector", default="")
@click.option("--all", "all_", is_flag=True, help="Delete all objects of the kind in the namespace.")
@click.option("-A", "--all-namespaces", is_flag=True)
@click.option("--grace-period", type=int, default=-1,
              help="Seconds given to the object to terminate gracefully (-1: the object's default).")
@click.option("--force", is_flag=True, help="Delete immediately, without waiting for termination.")
@click.option("--now", is_flag=True, help="Signal the object for immediate shutdown (grace period 1).")
@click.option("--wait", "wait_", default="true", is_flag=False, flag_value="true",
              help="Wait for the objects to be gone before returning (default true; --wait=false not to).")
@click.option("--timeout", default="0s", help="How long to wait for deletion (0: no limit).")
@click.option("--cascade", default="background", is_flag=False, flag_value="background",
              help="background|foreground|orphan: what happens to dependents.")
@click.option("--ignore-not-found", is_flag=True, help="Treat 'not found' as a successful delete.")
@click.option("-o", "--output", type=click.Choice(["name"]), default=None)
@global_options
def delete(args: tuple[str, ...], filenames: tuple[str, ...], recursive: bool, selector: str, field_selector: str,
           all_: bool, all_namespaces: bool, grace_period: int, force: bool, now: bool, wait_: str, timeout: str,
           cascade: str, ignore_not_found: bool, output: str | None) -> None:
    """Delete resources by names, kind/name, files, label selector or --all.

    \b
    Examples:
      kubelab delete pod my-first-pod
      kubelab delete -f ./kubernetes/cowweb-service.yaml
      kubelab delete deployments/cowweb
      kubelab delete pods -l app=web
      kubelab delete pod x --grace-period=0 --force
    """
    wait = parse_bool(wait_, "--wait")
    resources.check_selector(selector)
    resources.check_selector(field_selector, field=True)
    propagation = PROPAGATION.get(cascade.lower())
    if propagation is None:
        raise CLIError(f'invalid cascade value ({cascade}). Must be "background", "foreground", or "orphan".')
    try:
        timeout_s = parse_duration(timeout)
    except ValueError as e:
        raise CLIError(str(e)) from None
    grace = grace_for(grace_period, force, now)
    if force and grace == 0:
        warn("Immediate deletion does not wait for confirmation that the running resource has been terminated. "
             "The resource may continue to run on the cluster indefinitely.")
    st = settings()
    namespace = st.current_namespace()

    items: list[tuple[Any, str, str | None]] = []     # (info, name, namespace) to delete by name
    selects: list[Any] = []                            # kinds to delete by selector/--all
    if filenames:
        if args:
            raise CLIError("there is no need to specify a resource type as a separate argument when passing "
                           "arguments with -f")
        from kubectl.apply import load_placed
        for d in load_placed(filenames, recursive):
            from kubelab import kinds
            info = kinds.info_of(d.obj)
            items.append((info, d.obj.metadata.name, d.obj.metadata.namespace or None))
    else:
        if not args:
            raise CLIError("You must provide one or more resources by argument or filename.\n"
                           "Example resource specifications include:\n   '-f rsrc.yaml'\n   '--filename=rsrc.json'\n"
                           "   '<resource> <name>'\n   '<resource>'")
        req = resources.parse(args, selector=selector or field_selector)
        for t in req.targets:
            ns = namespace if t.info.namespaced else None
            if t.names:
                if all_:
                    raise CLIError("cannot set --all and resource names at the same time")
                items += [(t.info, n, ns) for n in t.names]
            elif selector or all_ or field_selector:
                selects.append(t.info)
            else:
                raise CLIError(f'resource(s) were provided, but no name was specified')

    async def body(client: Any) -> bool:
        from kubelab import errors
        failed = False
        todo = list(items)
        for info in selects:
            list_ns = "" if all_namespaces else (namespace if info.namespaced else None)
            objs, _ = await client.list(info.kind, list_ns, label_selector=selector, field_selector=field_selector)
            todo += [(info, o.metadata.name, o.metadata.namespace or None)
                     for o in sorted(objs, key=lambda o: (o.metadata.namespace, o.metadata.name))]
        if selects and not todo and not items:
            err("No resources found")
            return False
        deleted: list[tuple[Any, str, str | None, str]] = []
        for info, name, ns in todo:
            try:
                obj = await client.delete(info.kind, name, ns, grace_period_seconds=grace,
                                          propagation_policy=propagation)
            except errors.NotFound as e:
                if not ignore_not_found:
                    err(api_error_line(e))
                    failed = True
                continue
            except ValueError:      # the server answered with an empty object: gone already
                obj = None
            if output == "name":
                out(f"{info.qualified}/{name}")
            else:
                verb = "force deleted" if force and grace == 0 else "deleted"
                # kubectl 1.34+ says where from: `pod "web" deleted from default namespace`
                out(f'{info.qualified} "{name}" {verb}' + (f" from {ns} namespace" if ns else ""))
            uid = getattr(getattr(obj, "metadata", None), "uid", "") or ""
            deleted.append((info, name, ns, uid))
        if wait and deleted:
            left = await wait_gone(client, deleted, timeout_s)
            if left:
                err(f"error: timed out waiting for the condition on {', '.join(left)}")
                failed = True
        return failed

    if run(body):
        raise Failed(1)
