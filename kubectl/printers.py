"""Printers: kubectl's table columns per kind, and the -o formats.

Tables follow k8s.io/kubernetes/pkg/printers/internalversion (the code
behind `kubectl get`): the same columns, the same cell text (`<none>`,
`<pending>`, `80:30000/TCP`, a pod's STATUS from its container states).
Each kind has a row function `(obj, wide, now) -> [cells]`; the shared
part (NAMESPACE column for -A, `kind/name` names when several kinds are
printed, --show-labels, -L) is added around it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

from kubectl import tabwriter
from kubectl.context import CLIError
from kubectl.output.terminal import table_cell
from kubectl.timefmt import now as _now, parse_time
from kubelab import timeutil
from kubelab.tables import (  # noqa: F401 - the column functions live in kubelab.tables; re-exported here
    EVENT_WIDE, NONE, event_time, format_endpoints, format_labels, format_selector, has_value, int_or_string,
    node_roles, replicas_of, table_def)



# ---------------------------------------------------------------- helpers
def to_dict(obj: Any, managed_fields: bool = False) -> dict[str, Any]:
    """An object as printed: without metadata.managedFields unless asked, as kubectl prints
    (`--show-managed-fields`)."""
    from kubelab import manifests
    doc = manifests.to_dict(obj)
    if not managed_fields and isinstance(doc.get("metadata"), dict):
        doc["metadata"].pop("managedFields", None)
    return doc


def info_of(obj: Any) -> Any:
    from kubelab import kinds
    return kinds.info_of(obj)


def qualified_name(obj: Any) -> str:
    """`deployment.apps/nginx`, `pod/x`: how kubectl names an object in messages."""
    return f"{info_of(obj).qualified}/{obj.metadata.name}"


def event_sort_key(ev: Any) -> tuple[Any, ...]:
    """By time last seen, then (events of one second) by when last seen to the microsecond (a repeat's
    series.lastObservedTime, else eventTime), then by creation order: writers may store events in another
    order than they happened (the scheduler's Scheduled may land after the kubelet's Pulling)."""
    rv = ev.metadata.resource_version
    last_seen = timeutil.parse(ev.series.last_observed_time or ev.event_time) or 0.0
    return (sort_key(event_time(ev)), last_seen, int(rv) if rv.isdigit() else 0, ev.metadata.name)


@dataclass
class TableOptions:
    wide: bool = False
    all_namespaces: bool = False
    with_kind: bool = False          # NAME column as `pod/x`
    show_labels: bool = False
    label_columns: tuple[str, ...] = ()
    no_headers: bool = False


def table_headers(kind: str, opts: TableOptions) -> list[str]:
    td = table_def(kind)
    if kind == "Event" and opts.wide:
        headers = list(EVENT_WIDE)
    else:
        headers = list(td.headers) + (list(td.wide) if opts.wide else [])
    if opts.all_namespaces and _namespaced(kind):
        headers.insert(0, "NAMESPACE")
    headers += [c.upper() for c in opts.label_columns]
    if opts.show_labels:
        headers.append("LABELS")
    return headers


def _namespaced(kind: str) -> bool:
    from kubelab import kinds
    info = kinds.BY_KIND.get(kind)
    return info.namespaced if info else True


def table_row(obj: Any, opts: TableOptions, at: datetime | None = None) -> list[str]:
    kind = info_of(obj).kind
    row = table_def(kind).row(obj, opts.wide, at or _now())
    if opts.with_kind and kind != "Event":
        row[0] = f"{info_of(obj).qualified}/{row[0]}"
    if opts.all_namespaces and _namespaced(kind):
        row.insert(0, obj.metadata.namespace)
    labels = obj.metadata.labels
    row += [labels.get(c, "") for c in opts.label_columns]
    if opts.show_labels:
        row.append(format_labels(labels))
    return [table_cell(c) for c in row]   # cells come from objects: one line each, no terminal escapes


def format_table(objs: Iterable[Any], opts: TableOptions, at: datetime | None = None) -> str:
    objs = list(objs)
    if not objs:
        return ""
    at = at or _now()
    rows = [] if opts.no_headers else [table_headers(info_of(objs[0]).kind, opts)]
    rows += [table_row(o, opts, at) for o in objs]
    return tabwriter.table(rows)


# ---------------------------------------------------------------- -o formats
@dataclass
class OutputFormat:
    kind: str = ""      # "", wide, yaml, json, name, jsonpath, custom-columns, go-template
    arg: str = ""
    managed_fields: bool = False    # --show-managed-fields

    @property
    def is_table(self) -> bool:
        return self.kind in ("", "wide")


_TEMPLATE_KINDS = {"jsonpath", "jsonpath-as-json", "custom-columns", "go-template", "template"}


def parse_output(value: str | None, template: str | None = None) -> OutputFormat:
    if not value:
        if template:
            return OutputFormat("go-template", template)
        return OutputFormat()
    kind, sep, arg = value.partition("=")
    kind = kind.strip()
    if kind.endswith("-file"):
        base = kind[: -len("-file")]
        if base not in _TEMPLATE_KINDS or not arg:
            raise CLIError(f'unable to match a printer suitable for the output format "{value}"')
        try:
            with open(arg, encoding="utf-8") as f:
                arg = f.read()
        except OSError as e:
            raise CLIError(f"error reading template {arg}: {e.strerror}") from None
        kind = base
    if kind == "template":
        kind = "go-template"
    if kind in ("", "wide", "yaml", "json", "name"):
        if sep:
            raise CLIError(f'unable to match a printer suitable for the output format "{value}"')
        return OutputFormat(kind)
    if kind in _TEMPLATE_KINDS:
        arg = arg or (template or "")
        if not arg:
            raise CLIError("template format specified but no template given")
        fmt = OutputFormat(kind, _unquote(arg))
        _check_template(fmt)
        return fmt
    raise CLIError(f'unable to match a printer suitable for the output format "{value}", allowed formats are: '
                   "custom-columns,custom-columns-file,go-template,go-template-file,json,jsonpath,"
                   "jsonpath-as-json,jsonpath-file,name,template,templatefile,wide,yaml")


def _check_template(fmt: OutputFormat) -> None:
    """A template that does not parse is refused before the server is asked, in kubectl's words."""
    from kubectl.output import gotemplate, jsonpath
    if fmt.kind not in ("go-template", "jsonpath"):
        return
    try:
        (gotemplate.check_go_template if fmt.kind == "go-template" else jsonpath.check_jsonpath)(fmt.arg)
    except ValueError as e:
        what = "template" if fmt.kind == "go-template" else "jsonpath"
        raise CLIError(f"error parsing {what} {fmt.arg}, {e}") from None


def _unquote(s: str) -> str:
    s = s.strip() if s.strip()[:1] in ("'", '"') else s
    if len(s) >= 2 and s[0] == s[-1] and s[0] in ("'", '"'):
        return s[1:-1]
    return s


def _sorted_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted_keys(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted_keys(v) for v in value]
    return value


def list_dict(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}


_DUMPER: Any = None


def _dumper() -> Any:
    """PyYAML's safe dumper with Go's habits: keys sorted, `"1"` (not `'1'`), `|` for multi-line text."""
    global _DUMPER
    if _DUMPER is None:
        import yaml

        class KubeDumper(yaml.SafeDumper):
            def choose_scalar_style(self) -> Any:
                style = super().choose_scalar_style()
                if style == "'" and not ('"' in self.event.value and "'" not in self.event.value):
                    return '"'
                return style

        def str_presenter(dumper: Any, value: str) -> Any:
            style = "|" if "\n" in value else None
            return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

        KubeDumper.add_representer(str, str_presenter)
        _DUMPER = KubeDumper
    return _DUMPER


def dump_yaml(data: Any) -> str:
    import yaml
    return yaml.dump(_sorted_keys(data), Dumper=_dumper(), sort_keys=False, default_flow_style=False,
                     allow_unicode=True, width=1 << 30)


def dump_json(data: Any) -> str:
    from kubelab import manifests
    return manifests.dump_json(data) + "\n"


def render(objs: list[Any], fmt: OutputFormat, single: bool) -> str:
    """Everything but tables: one object when a single one was asked for, else a `List`."""
    if fmt.kind == "name":
        return "".join(qualified_name(o) + "\n" for o in objs)
    dicts = [to_dict(o, fmt.managed_fields) for o in objs]
    if fmt.kind == "custom-columns":
        return run_custom_columns(fmt.arg, dicts)
    return render_data(dicts[0] if single and len(dicts) == 1 else list_dict(dicts), fmt)


def render_data(data: Any, fmt: OutputFormat) -> str:
    """One document (an object, a List, the kubeconfig) as yaml, json, jsonpath or go-template."""
    if fmt.kind == "yaml":
        return dump_yaml(data)
    if fmt.kind == "json":
        return dump_json(data)
    if fmt.kind in ("jsonpath", "jsonpath-as-json"):
        return run_jsonpath(fmt.arg, data, as_json=fmt.kind == "jsonpath-as-json")
    if fmt.kind == "go-template":
        return run_go_template(fmt.arg, data)
    raise CLIError(f'unable to match a printer suitable for the output format "{fmt.kind}"')


def _template_error(kind: str, e: Exception) -> CLIError:
    return CLIError(f"error executing {kind} template: {e}")


def run_jsonpath(template: str, data: Any, as_json: bool = False) -> str:
    from kubectl.output import jsonpath
    try:
        if as_json:
            return json.dumps(jsonpath.jsonpath_values(template, data), indent=4) + "\n"
        return jsonpath.jsonpath(template, data)
    except ValueError as e:
        raise _template_error("jsonpath", e) from None


def run_go_template(template: str, data: Any) -> str:
    from kubectl.output import gotemplate
    try:
        return gotemplate.go_template(template, data)
    except ValueError as e:
        raise _template_error("go-template", e) from None


def run_custom_columns(spec: str, dicts: list[dict[str, Any]], no_headers: bool = False) -> str:
    from kubectl.output import custom_columns
    try:
        headers, rows = custom_columns.custom_columns(spec, dicts)
    except ValueError as e:
        raise CLIError(f"custom-columns format: {e}") from None
    return tabwriter.table(([] if no_headers else [headers]) + rows)


# ---------------------------------------------------------------- --sort-by
def sort_path(expr: str) -> str:
    """The JSONPath template of a --sort-by value, as kubectl's RuntimeSorter takes it: relaxed (`.a.b`,
    `a.b`, `{.a.b}`) when it can be, else as given; refused when it does not parse."""
    from kubectl.output import jsonpath
    try:
        template = jsonpath.relaxed_jsonpath(expr)
    except jsonpath.JSONPathError:
        template = expr
    try:
        jsonpath.check_jsonpath(template)
    except jsonpath.JSONPathError as e:
        raise CLIError(f"sorting error: {e}") from None
    return template


def sort_value(data: Any, template: str) -> Any:
    """The value an object sorts by: the first the template selects (kubectl's values[0][0]); None if none."""
    from kubectl.output import jsonpath
    values = jsonpath.jsonpath_values(template, data)
    return values[0] if values else None


def sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, (int, float)):
        return (1, value)
    if isinstance(value, str):
        t = parse_time(value) if len(value) >= 20 and value[4:5] == "-" and "T" in value else None
        if t is not None:
            return (1, t.timestamp())
        return (2, value)
    return (3, json.dumps(value, sort_keys=True))


def sort_objects(objs: list[Any], expr: str, table: bool = True) -> list[Any]:
    """Stable sort by a --sort-by JSONPath; objects without the field come first. As kubectl's sorters: a
    path that selects nothing in any object is an error (a typo would otherwise sort nothing), and a single
    object printed other than as a table is not sorted at all."""
    if not expr or not objs or (len(objs) == 1 and not table):
        return objs
    template = sort_path(expr)
    values = [sort_value(to_dict(o), template) for o in objs]
    if all(v is None for v in values):
        raise CLIError(f"couldn't find any field with path {json.dumps(template)} in the list of objects")
    keyed = sorted(range(len(objs)), key=lambda i: (sort_key(values[i]), i))
    return [objs[i] for i in keyed]
