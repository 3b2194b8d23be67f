"""`kubelab get`: list or fetch objects and print them (tables, -o formats, -w)."""
from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import click

from kubectl import printers, resources
from kubectl.context import CLIError, Failed, api_error_line, err, global_options, run, settings, stdout_write
from kubectl.printers import OutputFormat, TableOptions


def output_options(f: Any) -> Any:
    f = click.option("--template", default=None,
                     help="Template string for -o go-template / jsonpath.")(f)
    f = click.option("-o", "--output", default=None,
                     help="Output format: wide|yaml|json|name|jsonpath=...|custom-columns=...|go-template=...")(f)
    return f


def no_resources_message(targets: list[resources.Target], namespace: str, all_namespaces: bool) -> str:
    if all_namespaces or not any(t.info.namespaced for t in targets):
        return "No resources found"
    return f"No resources found in {namespace} namespace."


async def fetch(client: Any, req: resources.Request, namespace: str | None, selector: str,
                field_selector: str) -> tuple[list[tuple[Any, list[Any]]], bool, str]:
    """Objects per kind, whether any name failed, and the resourceVersion of the last list."""
    from kubelab import errors
    groups: list[tuple[Any, list[Any]]] = []
    failed = False
    rv = ""
    for t in req.targets:
        ns = namespace if t.info.namespaced else None
        if t.names:
            objs = []
            for name in t.names:
                try:
                    objs.append(await client.get(t.info.kind, name, ns or None))
                except errors.NotFound as e:
                    err(api_error_line(e))
                    failed = True
            groups.append((t.info, objs))
        else:
            objs, rv = await client.list(t.info.kind, ns, label_selector=selector, field_selector=field_selector)
            groups.append((t.info, sorted(objs, key=lambda o: (o.metadata.namespace, o.metadata.name))))
    return groups, failed, rv


def print_groups(groups: list[tuple[Any, list[Any]]], fmt: OutputFormat, opts: TableOptions,
                 single: bool, sort_by: str = "") -> None:
    if fmt.is_table:
        chunks = []
        for info, objs in groups:
            if not objs:
                continue
            objs = printers.sort_objects(objs, sort_by) if sort_by else objs
            if info.kind == "Event" and not sort_by:
                objs = sorted(objs, key=printers.event_sort_key)
            chunks.append(printers.format_table(objs, opts))
        stdout_write("\n".join(chunks))
        return
    objs = [o for _, group in groups for o in group]
    if sort_by:
        objs = printers.sort_objects(objs, sort_by, table=False)
    if fmt.kind == "custom-columns":
        stdout_write(printers.run_custom_columns(fmt.arg, [printers.to_dict(o, fmt.managed_fields) for o in objs],
                                                 opts.no_headers))
        return
    stdout_write(printers.render(objs, fmt, single))


@click.command("get", context_settings={"ignore_unknown_options": False})
@click.argument("args", nargs=-1)
@output_options
@click.option("-l", "--selector", default="", help="Label selector (e.g. -l app=nginx,tier!=db).")
@click.option("--field-selector", default="", help="Field selector (e.g. status.phase=Running).")
@click.option("-A", "--all-namespaces", is_flag=True, help="List across all namespaces.")
@click.option("-w", "--watch", is_flag=True, help="After listing, watch for changes.")
@click.option("--watch-only", is_flag=True, help="Watch for changes without listing first.")
@click.option("--show-labels", is_flag=True, help="Show all labels as the last column.")
@click.option("-L", "--label-columns", multiple=True, help="Labels to show as columns (repeatable, or a,b).")
@click.option("--sort-by", default="", help="Sort by a JSONPath field, e.g. .metadata.name.")
@click.option("--no-headers", is_flag=True, help="Don't print headers.")
@click.option("--ignore-not-found", is_flag=True, help="Don't fail when a named object is missing.")
@click.option("--show-managed-fields", is_flag=True,
              help="Keep metadata.managedFields when printing objects as JSON or YAML.")
@global_options
def get(args: tuple[str, ...], output: str | None, template: str | None, selector: str, field_selector: str,
        all_namespaces: bool, watch: bool, watch_only: bool, show_labels: bool, label_columns: tuple[str, ...],
        sort_by: str, no_headers: bool, ignore_not_found: bool, show_managed_fields: bool) -> None:
    """Display one or many resources.

    \b
    Examples:
      kubelab get pods
      kubelab get pod,service
      kubelab get deployments/cowweb -o yaml
      kubelab get pods -o wide -l app=web
      kubelab get pods -o custom-columns=NAME:.metadata.name,IMAGE:.spec.containers[*].image
    """
    fmt = dataclasses.replace(printers.parse_output(output, template), managed_fields=show_managed_fields)
    resources.check_selector(selector)
    resources.check_selector(field_selector, field=True)
    req = resources.parse(args, selector=selector or field_selector)
    if (watch or watch_only) and len(req.targets) > 1:
        raise CLIError("you may only specify a single resource type")
    st = settings()
    namespace = st.current_namespace()
    ns_arg: str | None = "" if all_namespaces else namespace
    cols = tuple(c for spec in label_columns for c in spec.split(",") if c)
    opts = TableOptions(wide=fmt.kind == "wide", all_namespaces=all_namespaces, with_kind=req.multi_kind,
                        show_labels=show_labels, label_columns=cols, no_headers=no_headers)

    async def body(client: Any) -> bool:
        from kubelab import errors
        if watch_only:
            _, _, rv = await fetch(client, resources.Request([resources.Target(req.targets[0].info)], False, False),
                                   ns_arg, selector, field_selector)
            await _watch(client, req, ns_arg, selector, field_selector, rv, fmt, opts, header=True)
            return False
        try:
            groups, failed, rv = await fetch(client, req, ns_arg, selector, field_selector)
        except errors.NotFound as e:
            err(api_error_line(e))
            return True
        if ignore_not_found:
            failed = False
        total = sum(len(g) for _, g in groups)
        if total == 0 and not failed and not watch:
            if fmt.kind in ("yaml", "json") and not req.single_item:
                print_groups(groups, fmt, opts, single=False)
            elif fmt.kind not in ("jsonpath", "go-template", "name"):
                err(no_resources_message(req.targets, namespace, all_namespaces))
        elif total:
            print_groups(groups, fmt, opts, req.single_item, sort_by)
        if watch:
            if total == 0 and fmt.is_table:
                err(no_resources_message(req.targets, namespace, all_namespaces))
            if not rv:
                # named objects: watch from the newest resourceVersion we saw
                rvs = [int(o.metadata.resource_version or 0) for _, g in groups for o in g]
                rv = str(max(rvs)) if rvs else ""
            widths = [_header_row(req.targets[0].info.kind, opts)] + [
                printers.table_row(o, opts) for _, g in groups for o in g]
            await _watch(client, req, ns_arg, selector, field_selector, rv, fmt, opts, header=total == 0,
                         seed_rows=widths)
        return failed

    try:
        failed = run(body)
    except KeyboardInterrupt:
        return
    if failed:
        raise Failed(1)


def _header_row(kind: str, opts: TableOptions) -> list[str]:
    return printers.table_headers(kind, opts)


async def _watch(client: Any, req: resources.Request, ns: str | None, selector: str, field_selector: str,
                 rv: str, fmt: OutputFormat, opts: TableOptions, header: bool,
                 seed_rows: list[list[str]] | None = None) -> None:
    """Print a row (or an object) per event until interrupted."""
    from kubectl.tabwriter import RowPadder
    from kubelab import errors
    target = req.targets[0]
    fsel = field_selector
    if target.names:
        if len(target.names) > 1:
            raise CLIError("watch is only supported on individual resources and resource collections, "
                           "but multiple names were given")
        name_sel = f"metadata.name={target.names[0]}"
        fsel = f"{fsel},{name_sel}" if fsel else name_sel
    padder = RowPadder()
    if seed_rows and not opts.no_headers:
        padder.format(seed_rows)   # remember the widths of what was printed already
    need_header = header and not opts.no_headers
    kind_ns = ns if target.info.namespaced else None
    stream = client.watch(target.info.kind, kind_ns, resource_version=rv, label_selector=selector,
                          field_selector=fsel)
    try:
        async for ev in stream:
            if ev.type == "BOOKMARK" or not ev.HasField("object"):
                continue
            from kubelab import kinds
            obj = kinds.unwrap(ev.object)
            if fmt.is_table:
                rows = [printers.table_row(obj, opts)]
                if need_header:
                    rows.insert(0, printers.table_headers(target.info.kind, opts))
                    need_header = False
                stdout_write(padder.format(rows))
            elif fmt.kind == "yaml":
                stdout_write("---\n" + printers.dump_yaml(printers.to_dict(obj, fmt.managed_fields)))
            else:
                stdout_write(printers.render([obj], fmt, single=True))
    except errors.Gone:
        raise CLIError("the watch expired (resourceVersion too old); run the command again") from None
    except asyncio.CancelledError:
        pass
    finally:
        stream.cancel()
