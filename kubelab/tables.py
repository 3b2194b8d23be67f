"""Server-side printing's columns, per kind: the one copy `kubelab get` and the apiserver's Table use.

Follows k8s.io/kubernetes/pkg/printers/internalversion (the code behind kube-apiserver's Table answers and
so `kubectl get`): the same columns, the same cell text (`<none>`, `<pending>`, `80:30000/TCP`, a pod's
STATUS from its container states). Each kind has a row function `(obj, wide, now) -> [cells]`: `wide`
adds the columns Kubernetes marks `priority: 1` (shown by `-o wide`). kubectl/printers.py adds the CLI's
parts around it (NAMESPACE for -A, `kind/name`, --show-labels, -L).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from kubelab import conditions
from kubelab.timeutil import age

NONE = "<none>"


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

    initialized = conditions.is_true(st.conditions, "Initialized")
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
            pod_ready = conditions.pod_ready(pod)
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


def _list_with_more(shown: list[str], more: bool, count: int, max_shown: int) -> str:
    """kubectl's listWithMoreString: `a,b,c + 2 more...`; `<unset>` for nothing."""
    text = ",".join(shown)
    if more:
        return f"{text} + {count - max_shown} more..."
    return text or "<unset>"


def format_discovery_ports(ports: Any, max_shown: int = 3) -> str:
    """An EndpointSlice's PORTS cell: each port's number (its name when it has none, else `*`)."""
    shown = [str(p.port) if p.HasField("port") else (p.name if p.HasField("name") else "*")
             for p in ports[:max_shown]]
    return _list_with_more(shown, len(ports) > max_shown, len(ports), max_shown)


def format_discovery_endpoints(endpoints: Any, max_shown: int = 3) -> str:
    """An EndpointSlice's ENDPOINTS cell: the addresses, ready or not."""
    addresses = [a for ep in endpoints for a in ep.addresses]
    return _list_with_more(addresses[:max_shown], len(addresses) > max_shown, len(addresses), max_shown)


def _endpointslice_row(eps: Any, wide: bool, at: datetime) -> list[str]:
    return [eps.metadata.name, eps.address_type, format_discovery_ports(eps.ports),
            format_discovery_endpoints(eps.endpoints), age(eps.metadata.creation_timestamp, at)]


def format_endpoint_slices(slices: Any, port_name: str | None = None, max_shown: int = 3) -> str:
    """A Service's endpoints as kubectl 1.37's describe prints them from its EndpointSlices (formatEndpointSlices):
    the ready endpoints' `ip:port` for the port named `port_name` (addresses alone for a slice without ports)."""
    if not slices:
        return NONE
    shown: list[str] = []
    more = False
    count = 0
    for eps in slices:
        if eps.ports:
            targets = [(p.port, ep) for p in eps.ports if port_name is None or p.name == port_name
                       for ep in eps.endpoints]
        else:
            targets = [(None, ep) for ep in eps.endpoints]
        for port, ep in targets:
            if len(shown) == max_shown:
                more = True
            if ep.conditions.HasField("ready") and not ep.conditions.ready:
                continue
            if not more:
                addr = ep.addresses[0]
                if port is None:
                    shown.append(addr)
                else:
                    shown.append(f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}")
            count += 1
    text = ",".join(shown)
    return f"{text} + {count - max_shown} more..." if more else text


# ---------------------------------------------------------------- cluster
def node_status(node: Any) -> str:
    status = []
    ready = conditions.get(node.status.conditions, "Ready")
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
    "EndpointSlice": TableDef(("NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"), (), _endpointslice_row),
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
