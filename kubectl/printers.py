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
from typing import Any, Callable, Iterable

from kubectl import tabwriter
from kubectl.context import CLIError
from kubectl.output.terminal import table_cell
from kubectl.timefmt import age, now as _now, parse_time
from kubelab import timeutil

NONE = "<none>"


# ---------------------------------------------------------------- helpers
def to_dict(obj: Any) -> dict[str, Any]:
    from kubelab import manifests
    return manifests.to_dict(obj)


def info_of(obj: Any) -> Any:
    from kubelab import kinds
    return kinds.info_of(obj)


def qualified_name(obj: Any) -> str:
    """`deployment.apps/nginx`, `pod/x`: how kubectl names an object in messages."""
    return f"{info_of(obj).qualified}/{obj.metadata.name}"


def format_labels(labels: Any) -> str:
    if not labels:
        return NONE
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def format_selector(sel: Any) -> str:
    """metav1.FormatLabelSelector: `app=x,tier in (a,b)`; `<none>` when empty."""
    if sel is None:
        return NONE
    parts = [f"{k}={sel.match_labels[k]}" for k in sorted(sel.match_labels)]
    for req in sel.match_expressions:
        op = req.operator
        vals = ",".join(sorted(req.values))
        if op == "In":
            parts.append(f"{req.key} in ({vals})")
        elif op == "NotIn":
            parts.append(f"{req.key} notin ({vals})")
        elif op == "Exists":
            parts.append(req.key)
        elif op == "DoesNotExist":
            parts.append(f"!{req.key}")
        else:
            parts.append(f"{req.key} {op} ({vals})")
    return ",".join(parts) if parts else NONE


def int_or_string(v: Any) -> str:
    """A google.protobuf.Value holding an int or a string (`targetPort`, `maxSurge`)."""
    if v is None:
        return ""
    which = v.WhichOneof("kind") if hasattr(v, "WhichOneof") else None
    if which == "number_value":
        n = v.number_value
        return str(int(n)) if float(n).is_integer() else str(n)
    if which == "string_value":
        return v.string_value
    if which is None and hasattr(v, "WhichOneof"):
        return ""
    return str(v)


def has_value(msg: Any, field: str) -> bool:
    try:
        return msg.HasField(field)
    except ValueError:
        return False


# ---------------------------------------------------------------- pods
def pod_status(pod: Any) -> tuple[str, int, int, int, str]:
    """(STATUS, ready containers, total containers, restarts, last restart) as kubectl's printPod."""
    st = pod.status
    restarts = 0
    total = len(pod.spec.containers)
    ready = 0
    last_restart = ""
    reason = st.reason or st.phase or "Pending"

    initializing = False
    n_init = len(pod.spec.init_containers)
    for i, c in enumerate(st.init_container_statuses):
        restarts += c.restart_count
        if c.last_state.HasField("terminated") and c.last_state.terminated.finished_at > last_restart:
            last_restart = c.last_state.terminated.finished_at
        term = c.state.terminated if c.state.HasField("terminated") else None
        wait = c.state.waiting if c.state.HasField("waiting") else None
        if term is not None and term.exit_code == 0:
            continue
        if term is not None:
            if not term.reason:
                reason = f"Init:Signal:{term.signal}" if term.signal else f"Init:ExitCode:{term.exit_code}"
            else:
                reason = "Init:" + term.reason
        elif wait is not None and wait.reason and wait.reason != "PodInitializing":
            reason = "Init:" + wait.reason
        else:
            reason = f"Init:{i}/{n_init}"
        initializing = True
        break

    initialized = any(c.type == "Initialized" and c.status == "True" for c in st.conditions)
    if not initializing or initialized:
        restarts = 0
        last_restart = ""
        has_running = False
        for c in reversed(st.container_statuses):
            restarts += c.restart_count
            if c.last_state.HasField("terminated") and c.last_state.terminated.finished_at > last_restart:
                last_restart = c.last_state.terminated.finished_at
            wait = c.state.waiting if c.state.HasField("waiting") else None
            term = c.state.terminated if c.state.HasField("terminated") else None
            if wait is not None and wait.reason:
                reason = wait.reason
            elif term is not None and term.reason:
                reason = term.reason
            elif term is not None:
                reason = f"Signal:{term.signal}" if term.signal else f"ExitCode:{term.exit_code}"
            elif c.ready and c.state.HasField("running"):
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            pod_ready = any(c.type == "Ready" and c.status == "True" for c in st.conditions)
            reason = "Running" if pod_ready else "NotReady"

    if pod.metadata.deletion_timestamp and st.reason == "NodeLost":
        reason = "Unknown"
    elif pod.metadata.deletion_timestamp and st.phase not in ("Succeeded", "Failed"):
        reason = "Terminating"
    return reason, ready, total, restarts, last_restart


def _pod_row(pod: Any, wide: bool, at: datetime) -> list[str]:
    reason, ready, total, restarts, last_restart = pod_status(pod)
    restarts_s = str(restarts)
    if restarts and last_restart:
        restarts_s = f"{restarts} ({age(last_restart, at)} ago)"
    row = [pod.metadata.name, f"{ready}/{total}", reason, restarts_s, age(pod.metadata.creation_timestamp, at)]
    if wide:
        gates = ",".join(g for g in getattr(pod.spec, "readiness_gates", [])) or NONE
        row += [pod.status.pod_ip or NONE, pod.spec.node_name or NONE, pod.status.nominated_node_name or NONE,
                gates]
    return row


# ---------------------------------------------------------------- workloads
def _containers_images(template: Any) -> tuple[str, str]:
    cs = template.spec.containers
    return ",".join(c.name for c in cs), ",".join(c.image for c in cs)


def replicas_of(spec: Any) -> int:
    return spec.replicas if has_value(spec, "replicas") else 1


def _deployment_row(d: Any, wide: bool, at: datetime) -> list[str]:
    desired = replicas_of(d.spec)
    row = [d.metadata.name, f"{d.status.ready_replicas}/{desired}", str(d.status.updated_replicas),
           str(d.status.available_replicas), age(d.metadata.creation_timestamp, at)]
    if wide:
        names, images = _containers_images(d.spec.template)
        row += [names, images, format_selector(d.spec.selector)]
    return row


def _replicaset_row(rs: Any, wide: bool, at: datetime) -> list[str]:
    row = [rs.metadata.name, str(replicas_of(rs.spec)), str(rs.status.replicas), str(rs.status.ready_replicas),
           age(rs.metadata.creation_timestamp, at)]
    if wide:
        names, images = _containers_images(rs.spec.template)
        row += [names, images, format_selector(rs.spec.selector)]
    return row


# ---------------------------------------------------------------- services
def service_ports(svc: Any) -> str:
    parts = []
    for p in svc.spec.ports:
        proto = p.protocol or "TCP"
        parts.append(f"{p.port}:{p.node_port}/{proto}" if p.node_port else f"{p.port}/{proto}")
    return ",".join(parts) if parts else NONE


def service_external_ip(svc: Any) -> str:
    typ = svc.spec.type or "ClusterIP"
    ext = list(svc.spec.external_ips)
    if typ in ("ClusterIP", "NodePort"):
        return ",".join(ext) if ext else NONE
    if typ == "LoadBalancer":
        lb = [i.ip or i.hostname for i in svc.status.load_balancer.ingress if i.ip or i.hostname]
        if lb or ext:
            return ",".join(lb + ext)
        return "<pending>"
    if typ == "ExternalName":
        return svc.spec.external_name
    return "<unknown>"


def _service_row(svc: Any, wide: bool, at: datetime) -> list[str]:
    typ = svc.spec.type or "ClusterIP"
    cluster_ip = svc.spec.cluster_ip or NONE
    if typ == "ExternalName" and not svc.spec.cluster_ip:
        cluster_ip = NONE
    row = [svc.metadata.name, typ, cluster_ip, service_external_ip(svc), service_ports(svc),
           age(svc.metadata.creation_timestamp, at)]
    if wide:
        row.append(format_labels(svc.spec.selector))
    return row


def format_endpoints(ep: Any, max_shown: int = 3) -> str:
    if not ep.subsets:
        return NONE
    shown: list[str] = []
    count = 0
    for ss in ep.subsets:
        if not ss.ports:
            for a in ss.addresses:
                if len(shown) < max_shown:
                    shown.append(a.ip)
                count += 1
            continue
        for port in ss.ports:
            for a in ss.addresses:
                if len(shown) < max_shown:
                    host = f"[{a.ip}]" if ":" in a.ip else a.ip
                    shown.append(f"{host}:{port.port}")
                count += 1
    text = ",".join(shown)
    if count > max_shown:
        return f"{text} + {count - max_shown} more..."
    return text or NONE      # subsets with not-ready addresses only: none to serve, as kubectl shows it


def _endpoints_row(ep: Any, wide: bool, at: datetime) -> list[str]:
    return [ep.metadata.name, format_endpoints(ep), age(ep.metadata.creation_timestamp, at)]


# ---------------------------------------------------------------- cluster
def node_status(node: Any) -> str:
    status = []
    ready = next((c for c in node.status.conditions if c.type == "Ready"), None)
    if ready is not None:
        status.append("Ready" if ready.status == "True" else "NotReady")
    if not status:
        status.append("Unknown")
    if node.spec.unschedulable:
        status.append("SchedulingDisabled")
    return ",".join(status)


def node_roles(node: Any) -> str:
    roles = set()
    for k, v in node.metadata.labels.items():
        if k.startswith("node-role.kubernetes.io/"):
            role = k[len("node-role.kubernetes.io/"):]
            if role:
                roles.add(role)
        elif k == "kubernetes.io/role" and v:
            roles.add(v)
    return ",".join(sorted(roles)) or NONE


def node_address(node: Any, typ: str) -> str:
    return next((a.address for a in node.status.addresses if a.type == typ), NONE)


def _node_row(node: Any, wide: bool, at: datetime) -> list[str]:
    info = node.status.node_info
    row = [node.metadata.name, node_status(node), node_roles(node), age(node.metadata.creation_timestamp, at),
           info.kubelet_version or ""]
    if wide:
        row += [node_address(node, "InternalIP"), node_address(node, "ExternalIP"), info.os_image or "<unknown>",
                info.kernel_version or "<unknown>", info.container_runtime_version or "<unknown>"]
    return row


def _namespace_row(ns: Any, wide: bool, at: datetime) -> list[str]:
    return [ns.metadata.name, ns.status.phase or "Active", age(ns.metadata.creation_timestamp, at)]


def _pdb_row(pdb: Any, wide: bool, at: datetime) -> list[str]:
    min_av = int_or_string(pdb.spec.min_available) if has_value(pdb.spec, "min_available") else ""
    max_un = int_or_string(pdb.spec.max_unavailable) if has_value(pdb.spec, "max_unavailable") else ""
    return [pdb.metadata.name, min_av or "N/A", max_un or "N/A", str(pdb.status.disruptions_allowed),
            age(pdb.metadata.creation_timestamp, at)]


def event_time(ev: Any) -> str:
    """The time an event was last seen (lastTimestamp, eventTime, firstTimestamp, creation)."""
    return (ev.last_timestamp or ev.event_time or ev.first_timestamp or ev.metadata.creation_timestamp)


def event_sort_key(ev: Any) -> tuple[Any, ...]:
    """By time last seen, then (events of one second) by when last seen to the microsecond (a repeat's
    series.lastObservedTime, else eventTime), then by creation order: writers may store events in another
    order than they happened (the scheduler's Scheduled may land after the kubelet's Pulling)."""
    rv = ev.metadata.resource_version
    last_seen = timeutil.parse(ev.series.last_observed_time or ev.event_time) or 0.0
    return (sort_key(event_time(ev)), last_seen, int(rv) if rv.isdigit() else 0, ev.metadata.name)


def event_object(ev: Any) -> str:
    io = ev.involved_object
    return f"{io.kind.lower()}/{io.name}"


def _event_row(ev: Any, wide: bool, at: datetime) -> list[str]:
    last = age(event_time(ev), at)
    if not wide:
        return [last, ev.type or "Normal", ev.reason, event_object(ev), ev.message.strip()]
    comp = ev.source.component or ev.reporting_component
    host = ev.source.host or ev.reporting_instance
    source = "<unknown>" if not comp else (f"{comp}, {host}" if host else comp)
    first = age(ev.first_timestamp or ev.event_time or ev.metadata.creation_timestamp, at)
    return [last, ev.type or "Normal", ev.reason, event_object(ev), ev.involved_object.field_path, source,
            ev.message.strip(), first, str(ev.count or 1), ev.metadata.name]


def _lease_row(lease: Any, wide: bool, at: datetime) -> list[str]:
    return [lease.metadata.name, lease.spec.holder_identity or NONE, age(lease.metadata.creation_timestamp, at)]


@dataclass(frozen=True)
class TableDef:
    headers: tuple[str, ...]
    wide: tuple[str, ...]
    row: Callable[[Any, bool, datetime], list[str]]


TABLES: dict[str, TableDef] = {
    "Pod": TableDef(("NAME", "READY", "STATUS", "RESTARTS", "AGE"),
                    ("IP", "NODE", "NOMINATED NODE", "READINESS GATES"), _pod_row),
    "Deployment": TableDef(("NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"),
                           ("CONTAINERS", "IMAGES", "SELECTOR"), _deployment_row),
    "ReplicaSet": TableDef(("NAME", "DESIRED", "CURRENT", "READY", "AGE"),
                           ("CONTAINERS", "IMAGES", "SELECTOR"), _replicaset_row),
    "Service": TableDef(("NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"), ("SELECTOR",),
                        _service_row),
    "Endpoints": TableDef(("NAME", "ENDPOINTS", "AGE"), (), _endpoints_row),
    "Node": TableDef(("NAME", "STATUS", "ROLES", "AGE", "VERSION"),
                     ("INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"), _node_row),
    "Namespace": TableDef(("NAME", "STATUS", "AGE"), (), _namespace_row),
    "PodDisruptionBudget": TableDef(("NAME", "MIN AVAILABLE", "MAX UNAVAILABLE", "ALLOWED DISRUPTIONS", "AGE"),
                                    (), _pdb_row),
    "Event": TableDef(("LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"), (), _event_row),
    "Lease": TableDef(("NAME", "HOLDER", "AGE"), (), _lease_row),
}
EVENT_WIDE = ("LAST SEEN", "TYPE", "REASON", "OBJECT", "SUBOBJECT", "SOURCE", "MESSAGE", "FIRST SEEN", "COUNT",
              "NAME")


def _generic_row(obj: Any, wide: bool, at: datetime) -> list[str]:
    return [obj.metadata.name, age(obj.metadata.creation_timestamp, at)]


def table_def(kind: str) -> TableDef:
    return TABLES.get(kind) or TableDef(("NAME", "AGE"), (), _generic_row)


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
    dicts = [to_dict(o) for o in objs]
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
