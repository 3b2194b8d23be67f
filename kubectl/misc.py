"""Small verbs: version, api-resources, cluster-info, label, annotate, patch."""
from __future__ import annotations

import json
from typing import Any

import click

from kubectl import printers, resources, tabwriter
from kubectl.context import CLIError, Failed, api_error_line, err, global_options, out, run, run_each, settings, \
    stdout_write


# ---------------------------------------------------------------- version
@click.command("version")
@click.option("--client", "client_only", is_flag=True, help="Only the client version (no server needed).")
@click.option("-o", "--output", type=click.Choice(["yaml", "json"]), default=None)
@global_options
def version(client_only: bool, output: str | None) -> None:
    """Print the client and server version information."""
    import platform

    import kubelab
    client_info = {"gitVersion": f"v{kubelab.__version__}", "major": kubelab.__version__.split(".")[0],
                   "minor": kubelab.__version__.split(".")[1],
                   "platform": f"{platform.system().lower()}/{platform.machine()}",
                   "pythonVersion": platform.python_version()}
    server_info: dict[str, Any] | None = None
    error: Exception | None = None
    if not client_only:
        async def body(client: Any) -> Any:
            return await client.version()
        try:
            v = run(body)
            server_info = {"gitVersion": v.git_version, "major": v.major, "minor": v.minor,
                           "platform": v.platform, "pythonVersion": v.python_version,
                           "etcdVersion": v.etcd_version, "buildDate": v.build_date}
        except Exception as e:  # noqa: BLE001 - reported after the client version, as kubectl
            error = e
    if output:
        data: dict[str, Any] = {"clientVersion": client_info}
        if server_info:
            data["serverVersion"] = server_info
        stdout_write(json.dumps(data, indent=2) + "\n" if output == "json" else printers.dump_yaml(data))
    else:
        out(f"Client Version: {client_info['gitVersion']}")
        if server_info:
            out(f"Server Version: {server_info['gitVersion']}")
    if error is not None:
        raise error


# ---------------------------------------------------------------- api-resources
@click.command("api-resources")
@click.option("--namespaced", default=None, type=click.BOOL, help="true: namespaced kinds only; false: cluster-scoped.")
@click.option("-o", "--output", type=click.Choice(["wide", "name"]), default=None)
@click.option("--no-headers", is_flag=True)
@click.option("--api-group", default=None, help="Only the resources of this API group.")
@global_options
def api_resources(namespaced: bool | None, output: str | None, no_headers: bool, api_group: str | None) -> None:
    """Print the supported API resources."""
    from kubelab import kinds
    infos = sorted(kinds.KINDS, key=lambda i: (i.group != "", i.group, i.plural))
    if namespaced is not None:
        infos = [i for i in infos if i.namespaced == namespaced]
    if api_group is not None:
        infos = [i for i in infos if i.group == api_group]
    if output == "name":
        for i in infos:
            out(f"{i.plural}.{i.group}" if i.group else i.plural)
        return
    rows = [] if no_headers else [["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"] +
                                  (["VERBS"] if output == "wide" else [])]
    verbs = f"[{' '.join(kinds.VERBS)}]"
    for i in infos:
        row = [i.plural, ",".join(i.short_names), i.api_version, "true" if i.namespaced else "false", i.kind]
        if output == "wide":
            row.append(verbs)
        rows.append(row)
    stdout_write(tabwriter.table(rows))


# ---------------------------------------------------------------- cluster-info
@click.command("cluster-info")
@global_options
def cluster_info() -> None:
    """Display addresses of the control plane."""
    st = settings()
    conn = st.connection()

    async def body(client: Any) -> Any:
        return await client.version()
    run(body)
    out(f"kubelab control plane is running at {conn.server}")
    out("")
    out("To further debug and diagnose cluster problems, use 'kubelab describe nodes' and "
        "'kubelab get events -A'.")


# ---------------------------------------------------------------- label / annotate
def split_pairs(args: tuple[str, ...], what: str) -> tuple[list[str], dict[str, str], list[str]]:
    """(resource args, key=value to set, keys to remove), as kubectl's GetResourcesAndPairs."""
    res: list[str] = []
    sets: dict[str, str] = {}
    removes: list[str] = []
    pairs_started = False
    for a in args:
        if "=" in a or (a.endswith("-") and len(a) > 1):
            pairs_started = True
            if "=" in a:
                k, _, v = a.partition("=")
                if not k:
                    raise CLIError(f"invalid {what} spec: {a}")
                sets[k] = v
            else:
                removes.append(a[:-1])
        else:
            if pairs_started:
                raise CLIError(f"all resources must be specified before {what} changes: {a}")
            res.append(a)
    for k in removes:
        if k in sets:
            raise CLIError(f"can not both modify and remove the following {what}(s) in the same command: {k}")
    return res, sets, removes


def _validate_labels(sets: dict[str, str]) -> None:
    from kubelab import selectors
    for k, v in sets.items():
        msg = selectors.validate_label_key(k)
        if msg:
            raise CLIError(f'invalid label spec: {k}={v}: {msg}')
        msg = selectors.validate_label_value(v)
        if msg:
            raise CLIError(f'invalid label value: "{k}={v}": {msg}')


def _meta_command(field: str, verb: str, args: tuple[str, ...], overwrite: bool, selector: str, all_: bool,
                  filenames: tuple[str, ...], dry_run: bool) -> None:
    what = "label" if field == "labels" else "annotation"
    res_args, sets, removes = split_pairs(args, what)
    if not sets and not removes:
        raise CLIError(f"at least one {what} update is required")
    if field == "labels":
        _validate_labels(sets)
    st = settings()
    namespace = st.current_namespace()
    named, selected = resources.select(filenames, res_args, selector, all_, namespace, st.namespace is not None)

    async def body(client: Any) -> bool:
        from kubelab import errors
        objs: list[Any] = []
        failed = False
        for info, name, ns in named:
            try:
                objs.append(await client.get(info.kind, name, ns))
            except errors.NotFound as e:
                err(api_error_line(e))
                failed = True
        for info in selected:
            found, _ = await client.list(info.kind, namespace if info.namespaced else None, label_selector=selector)
            objs += sorted(found, key=lambda o: o.metadata.name)
        for obj in objs:
            current = dict(getattr(obj.metadata, field))
            if not overwrite:
                for k, v in sets.items():
                    if k in current and current[k] != v:
                        raise CLIError(f"'{k}' already has a value ({current[k]}), and --overwrite is false")
            patch: dict[str, Any] = {k: v for k, v in sets.items()}
            for k in removes:
                if k in current:
                    patch[k] = None
                elif field == "labels":
                    click.echo(f'label "{k}" not found.', err=True)
            new = dict(current)
            for k, v in patch.items():
                if v is None:
                    new.pop(k, None)
                else:
                    new[k] = v
            name = printers.qualified_name(obj)
            if new == current:
                out(f"{name} not {verb}" if field == "labels" else f"{name} {verb}")
                continue
            if not dry_run:
                info = printers.info_of(obj)
                await client.patch(info.kind, obj.metadata.name, {"metadata": {field: patch}},
                                   obj.metadata.namespace or None, patch_type="merge")
            msg = verb
            if field == "labels" and not sets and removes:
                msg = "unlabeled"
            out(f"{name} {msg}")
        return failed

    if run(body):
        raise Failed(1)


def _meta_options(f: Any) -> Any:
    f = click.option("--dry-run", "dry_run", is_flag=True, help="Only print what would change.")(f)
    f = click.option("-f", "--filename", "filenames", multiple=True)(f)
    f = click.option("--all", "all_", is_flag=True, help="Every object of the kind in the namespace.")(f)
    f = click.option("-l", "--selector", default="", help="Objects matching this label selector.")(f)
    f = click.option("--overwrite", is_flag=True, help="Allow changing existing values.")(f)
    return f


@click.command("label")
@click.argument("args", nargs=-1, required=True)
@_meta_options
@global_options
def label(args: tuple[str, ...], overwrite: bool, selector: str, all_: bool, filenames: tuple[str, ...],
          dry_run: bool) -> None:
    """Update the labels on a resource: `key=value` sets, `key-` removes.

    \b
    Examples:
      kubelab label pods foo unhealthy=true
      kubelab label --overwrite pods foo status=unhealthy
      kubelab label pods foo bar-
    """
    _meta_command("labels", "labeled", args, overwrite, selector, all_, filenames, dry_run)


@click.command("annotate")
@click.argument("args", nargs=-1, required=True)
@_meta_options
@global_options
def annotate(args: tuple[str, ...], overwrite: bool, selector: str, all_: bool, filenames: tuple[str, ...],
             dry_run: bool) -> None:
    """Update the annotations on a resource: `key=value` sets, `key-` removes."""
    _meta_command("annotations", "annotated", args, overwrite, selector, all_, filenames, dry_run)


# ---------------------------------------------------------------- patch
@click.command("patch")
@click.argument("args", nargs=-1, required=True)
@click.option("-p", "--patch", "patch_text", required=True, help="The patch (JSON or YAML).")
@click.option("--type", "patch_type", type=click.Choice(["strategic", "merge", "json"]), default="strategic")
@click.option("--subresource", default="", type=click.Choice(["", "status"]))
@click.option("--dry-run", "dry_run", is_flag=True)
@global_options
def patch(args: tuple[str, ...], patch_text: str, patch_type: str, subresource: str, dry_run: bool) -> None:
    """Update fields of a resource with a strategic merge, JSON merge or JSON patch.

    \b
    Examples:
      kubelab patch deployment web -p '{"spec":{"replicas":2}}'
      kubelab patch pod x --type=json -p '[{"op":"replace","path":"/spec/containers/0/image","value":"nginx:1.16"}]'
    """
    import yaml

    from kubelab.manifests import loads_yaml
    try:
        body = loads_yaml(patch_text)
    except yaml.YAMLError as e:
        raise CLIError(f"unable to parse \"{patch_text}\": {e}") from None
    except RecursionError:
        raise CLIError("unable to parse the patch: nested too deeply") from None
    req = resources.parse(args)
    st = settings()
    namespace = st.current_namespace()
    items = [(t.info, n) for t in req.targets for n in t.names]
    if not items:
        raise CLIError("resource(s) were provided, but no name was specified")

    async def act(client: Any, target: tuple[Any, str]) -> bool:
        info, name = target
        ns = namespace if info.namespaced else None
        before = await client.get(info.kind, name, ns)
        after = await client.patch(info.kind, name, json.dumps(body), ns, patch_type=patch_type,
                                   subresource=subresource, dry_run=dry_run)
        changed = printers.to_dict(after) != printers.to_dict(before)
        out(f"{info.qualified}/{name} patched" + ("" if changed else " (no change)"))
        return False

    async def targets(client: Any) -> list[tuple[Any, str]]:
        return items

    run_each(targets, act)
