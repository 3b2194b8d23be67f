"""`kubelab describe`: kubectl's describe layout for every kind.

Follows k8s.io/kubectl/pkg/describe: lines are written with tabs at
levels of two-space indentation and aligned by Go's tabwriter (padding 2),
so `Name:`/`Namespace:` and the nested container fields line up as in
kubectl. Every description ends with the object's Events (`Events:  <none>`
when there are none), fetched with the field selector
`involvedObject.name=X,involvedObject.namespace=Y` and filtered by uid and
kind on this side.
"""
from __future__ import annotations

from typing import Any, Callable

import click

from kubectl import printers, resources, tabwriter
from kubectl.context import Failed, api_error_line, err, global_options, run, settings, stdout_write
from kubectl.output.terminal import escape_terminal
from kubectl.printers import NONE, has_value, int_or_string
from kubelab.tables import format_endpoint_slices
from kubectl.timefmt import age, rfc1123

SKIP_ANNOTATIONS = {"kubectl.kubernetes.io/last-applied-configuration"}
MAX_ANNOTATION_LEN = 140


class Writer:
    """kubectl's PrefixWriter over a tabwriter; `flush()` ends the alignment blocks."""

    def __init__(self) -> None:
        self.chunks: list[str] = []
        self.buf: list[str] = []

    def write(self, level: int, text: str) -> None:
        # Values come from objects anyone with write access set: ESC and CR made visible, as kubectl's do.
        self.buf.append(escape_terminal("  " * level + text))

    def flush(self) -> None:
        if self.buf:
            self.chunks.append(tabwriter.format_text("".join(self.buf), minwidth=0, padding=2))
            self.buf = []

    def text(self) -> str:
        self.flush()
        return "".join(self.chunks)


# ---------------------------------------------------------------- shared pieces
def labels_multiline(w: Writer, title: str, labels: Any, indent: str = "") -> None:
    w.write(0, f"{indent}{title}:\t")
    keys = sorted(labels or {})
    if not keys:
        w.write(0, "<none>\n")
        return
    for i, k in enumerate(keys):
        if i:
            w.write(0, f"{indent}\t")
        w.write(0, f"{k}={labels[k]}\n")


def describe_identity(w: Writer, md: Any) -> None:
    """Name, Namespace, Labels, Annotations: how most of kubectl's descriptions begin."""
    w.write(0, f"Name:\t{md.name}\n")
    w.write(0, f"Namespace:\t{md.namespace}\n")
    labels_multiline(w, "Labels", md.labels)
    annotations_multiline(w, "Annotations", md.annotations)


def annotations_multiline(w: Writer, title: str, annotations: Any, indent: str = "") -> None:
    w.write(0, f"{indent}{title}:\t")
    keys = sorted(k for k in (annotations or {}) if k not in SKIP_ANNOTATIONS)
    if not keys:
        w.write(0, "<none>\n")
        return
    for i, k in enumerate(keys):
        if i:
            w.write(0, f"{indent}\t")
        value = annotations[k].rstrip("\n")
        if len(value) + len(k) + 2 > MAX_ANNOTATION_LEN or "\n" in value:
            w.write(0, f"{k}:\n")
            for s in value.split("\n"):
                short = s if len(s) <= MAX_ANNOTATION_LEN - 2 else s[:MAX_ANNOTATION_LEN - 5] + "..."
                w.write(0, f"{indent}\t  {short}\n")
        else:
            w.write(0, f"{k}: {value}\n")


def controller_of(obj: Any) -> str:
    for ref in obj.metadata.owner_references:
        if ref.HasField("controller") and ref.controller:
            return f"{ref.kind}/{ref.name}"
    return ""


def describe_probe(probe: Any) -> str:
    timeout = probe.timeout_seconds or 1
    period = probe.period_seconds or 10
    success = probe.success_threshold or 1
    failure = probe.failure_threshold or 3
    attrs = (f"delay={probe.initial_delay_seconds}s timeout={timeout}s period={period}s "
             f"successThreshold={success} failureThreshold={failure}")
    if probe.HasField("exec"):
        return f"exec [{' '.join(probe.exec.command)}] {attrs}"
    if probe.HasField("http_get"):
        h = probe.http_get
        scheme = (h.scheme or "HTTP").lower()
        port = int_or_string(h.port) if h.HasField("port") else ""
        host = f"{h.host}:{port}" if port else h.host
        if ":" in h.host and port:
            host = f"[{h.host}]:{port}"
        return f"http-get {scheme}://{host}{h.path} {attrs}"
    if probe.HasField("tcp_socket"):
        t = probe.tcp_socket
        return f"tcp-socket {t.host}:{int_or_string(t.port)} {attrs}"
    return f"unknown {attrs}"


def _state(w: Writer, name: str, state: Any) -> None:
    if state.HasField("running"):
        w.write(2, f"{name}:\tRunning\n")
        w.write(3, f"Started:\t{rfc1123(state.running.started_at)}\n")
    elif state.HasField("waiting"):
        w.write(2, f"{name}:\tWaiting\n")
        if state.waiting.reason:
            w.write(3, f"Reason:\t{state.waiting.reason}\n")
    elif state.HasField("terminated"):
        t = state.terminated
        w.write(2, f"{name}:\tTerminated\n")
        if t.reason:
            w.write(3, f"Reason:\t{t.reason}\n")
        if t.message:
            w.write(3, f"Message:\t{t.message}\n")
        w.write(3, f"Exit Code:\t{t.exit_code}\n")
        if t.signal > 0:
            w.write(3, f"Signal:\t{t.signal}\n")
        w.write(3, f"Started:\t{rfc1123(t.started_at)}\n")
        w.write(3, f"Finished:\t{rfc1123(t.finished_at)}\n")
    else:
        w.write(2, f"{name}:\tWaiting\n")


def _quantity_sorted(m: Any) -> list[str]:
    order = {"cpu": 0, "memory": 1, "ephemeral-storage": 2, "pods": 3}
    return sorted(m, key=lambda k: (order.get(k, 9), k))


def describe_containers(w: Writer, label: str, containers: Any, statuses: Any, space: str) -> None:
    by_name = {s.name: s for s in (statuses or [])}
    w.write(0, f"{space}{label}:\n")
    name_indent = " " if space else ""
    for c in containers:
        st = by_name.get(c.name)
        w.write(1, f"{name_indent}{c.name}:\n")
        if st is not None:
            w.write(2, f"Container ID:\t{st.container_id}\n")
        w.write(2, f"Image:\t{c.image}\n")
        if st is not None:
            w.write(2, f"Image ID:\t{st.image_id}\n")
        # kubectl 1.37 names a named port after it, on both lines: `8080/TCP (api)`
        named = [f" ({p.name})" if p.name else "" for p in c.ports]
        ports = ", ".join(f"{p.container_port}/{p.protocol or 'TCP'}{n}" for p, n in zip(c.ports, named))
        if "," in ports:
            w.write(2, f"Ports:\t{ports}\n")
        else:
            w.write(2, f"Port:\t{ports or NONE}\n")
        host_ports = ", ".join(f"{p.host_port}/{p.protocol or 'TCP'}{n}" for p, n in zip(c.ports, named))
        if "," in host_ports:
            w.write(2, f"Host Ports:\t{host_ports}\n")
        else:
            w.write(2, f"Host Port:\t{host_ports or NONE}\n")
        if c.command:
            w.write(2, "Command:\n")
            for part in c.command:
                for s in part.split("\n"):
                    w.write(3, f"{s}\n")
        if c.args:
            w.write(2, "Args:\n")
            for part in c.args:
                for s in part.split("\n"):
                    w.write(3, f"{s}\n")
        if st is not None:
            _state(w, "State", st.state)
            ls = st.last_state
            if ls.HasField("running") or ls.HasField("waiting") or ls.HasField("terminated"):
                _state(w, "Last State", ls)
            w.write(2, f"Ready:\t{'True' if st.ready else 'False'}\n")
            w.write(2, f"Restart Count:\t{st.restart_count}\n")
        res = c.resources
        if res.limits:
            w.write(2, "Limits:\n")
            for k in _quantity_sorted(res.limits):
                w.write(3, f"{k}:\t{res.limits[k]}\n")
        if res.requests:
            w.write(2, "Requests:\n")
            for k in _quantity_sorted(res.requests):
                w.write(3, f"{k}:\t{res.requests[k]}\n")
        for title, field in (("Liveness", "liveness_probe"), ("Readiness", "readiness_probe"),
                             ("Startup", "startup_probe")):
            if c.HasField(field):
                w.write(2, f"{title}:\t{describe_probe(getattr(c, field))}\n")
        w.write(2, "Environment:" + ("\t<none>" if not c.env else "") + "\n")
        for e in c.env:
            if e.HasField("value_from"):
                vf = e.value_from
                if vf.HasField("field_ref"):
                    w.write(3, f"{e.name}:\t (v1:{vf.field_ref.field_path})\n")
                elif vf.HasField("resource_field_ref"):
                    r = vf.resource_field_ref
                    w.write(3, f"{e.name}:\t{r.resource} ({r.container_name or c.name})\n")
                elif vf.HasField("config_map_key_ref"):
                    k = vf.config_map_key_ref
                    w.write(3, f"{e.name}:\t<set to the key '{k.key}' of config map '{k.name}'>\n")
                elif vf.HasField("secret_key_ref"):
                    k = vf.secret_key_ref
                    w.write(3, f"{e.name}:\t<set to the key '{k.key}' in secret '{k.name}'>\n")
                else:
                    w.write(3, f"{e.name}:\t\n")
                continue
            for i, s in enumerate(e.value.split("\n")):
                w.write(3, f"{e.name}:\t{s}\n" if i == 0 else f"\t{s}\n")
        w.write(2, "Mounts:" + ("\t<none>" if not c.volume_mounts else "") + "\n")
        for m in sorted(c.volume_mounts, key=lambda m: m.mount_path):
            flags = ["ro" if m.read_only else "rw"]
            if m.sub_path:
                flags.append(f'path="{m.sub_path}"')
            w.write(3, f"{m.mount_path} from {m.name} ({','.join(flags)})\n")


def describe_volumes(w: Writer, volumes: Any, space: str) -> None:
    if not volumes:
        w.write(0, f"{space}Volumes:\t<none>\n")
        return
    w.write(0, f"{space}Volumes:\n")
    name_indent = " " if space else ""
    for v in volumes:
        w.write(1, f"{name_indent}{v.name}:\n")
        if v.HasField("empty_dir"):
            w.write(2, "Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)\n")
            w.write(2, f"Medium:\t{v.empty_dir.medium}\n")
            w.write(2, f"SizeLimit:\t{v.empty_dir.size_limit or '<unset>'}\n")
        elif v.HasField("host_path"):
            w.write(2, "Type:\tHostPath (bare host directory volume)\n")
            w.write(2, f"Path:\t{v.host_path.path}\n")
            w.write(2, f"HostPathType:\t{v.host_path.type}\n")
        elif v.HasField("projected"):      # kubectl's printProjectedVolumeSource (never the token: not in the spec)
            w.write(2, "Type:\tProjected (a volume that contains injected data from multiple sources)\n")
            for src in v.projected.sources:
                if src.HasField("downward_api"):
                    w.write(2, "DownwardAPI:\ttrue\n")
                elif src.HasField("config_map"):
                    # kubectl 1.37 prints the flag's value, false when unset (seen against this API)
                    w.write(2, f"ConfigMapName:\t{src.config_map.name}\n")
                    w.write(2, f"Optional:\t{str(src.config_map.optional).lower()}\n")
                elif src.HasField("service_account_token"):
                    w.write(2, f"TokenExpirationSeconds:\t{src.service_account_token.expiration_seconds}\n")
        else:
            w.write(2, "<unknown>\n")


def tolerations_multiline(w: Writer, title: str, tolerations: Any) -> None:
    w.write(0, f"{title}:\t")
    if not tolerations:
        w.write(0, "<none>\n")
        return
    for i, t in enumerate(tolerations):
        if i:
            w.write(0, "\t")
        text = t.key
        if t.value:
            text += f"={t.value}"
        if t.effect:
            text += f":{t.effect}"
        if t.operator == "Exists" and not t.value:
            text += " op=Exists"
        if t.HasField("toleration_seconds"):
            text += f" for {t.toleration_seconds}s"
        w.write(0, text + "\n")


def describe_pod_template(w: Writer, template: Any) -> None:
    w.write(0, "Pod Template:\n")
    labels_multiline(w, "Labels", template.metadata.labels, indent="  ")
    if template.metadata.annotations:
        annotations_multiline(w, "Annotations", template.metadata.annotations, indent="  ")
    if template.spec.service_account_name:
        w.write(1, f"Service Account:\t{template.spec.service_account_name}\n")
    if template.spec.init_containers:
        describe_containers(w, "Init Containers", template.spec.init_containers, None, "  ")
    describe_containers(w, "Containers", template.spec.containers, None, "  ")
    describe_volumes(w, template.spec.volumes, "  ")
    labels_multiline(w, "Node-Selectors", template.spec.node_selector, indent="  ")
    w.write(1, "Tolerations:\t" + ("<none>" if not template.spec.tolerations else
                                   ", ".join(t.key for t in template.spec.tolerations)) + "\n")


def describe_events(w: Writer, events: list[Any] | None) -> None:
    if events is None:
        return
    if not events:
        w.write(0, "Events:\t<none>\n")
        return
    w.flush()
    w.write(0, "Events:\n  Type\tReason\tAge\tFrom\tMessage\n")
    w.write(1, "----\t------\t----\t----\t-------\n")
    for e in sorted(events, key=printers.event_sort_key):
        first = age(e.event_time or e.first_timestamp or e.metadata.creation_timestamp)
        if e.count > 1:
            interval = f"{age(e.last_timestamp or e.event_time)} (x{e.count} over {first})"
        else:
            interval = first
        source = e.source.component or e.reporting_component
        # kubectl 1.35+ names the part of the object first (kubernetes#133627): `spec.containers{web}: Pulled ...`
        field = e.involved_object.field_path
        message = f"{field}: {e.message.strip()}" if field else e.message.strip()
        w.write(1, f"{e.type}\t{e.reason}\t{interval}\t{source}\t{message}\n")


def describe_conditions(w: Writer, conditions: Any) -> None:
    """A workload's Conditions table (Type, Status, Reason), when it has any."""
    if conditions:
        w.write(0, "Conditions:\n  Type\tStatus\tReason\n")
        w.write(1, "----\t------\t------\n")
        for c in conditions:
            w.write(1, f"{c.type} \t{c.status}\t{c.reason}\n")


# ---------------------------------------------------------------- per kind
def describe_pod(pod: Any, events: list[Any] | None, extra: dict[str, Any]) -> str:
    w = Writer()
    md, spec, st = pod.metadata, pod.spec, pod.status
    w.write(0, f"Name:\t{md.name}\n")
    w.write(0, f"Namespace:\t{md.namespace}\n")
    # kubectl prints these only when the pod has them (kube-apiserver's admission sets both; ours does not,
    # and a priority of 0 is not told from none in our objects): what the server holds, as kubectl shows it.
    if spec.priority:
        w.write(0, f"Priority:\t{spec.priority}\n")
    if spec.priority_class_name:
        w.write(0, f"Priority Class Name:\t{spec.priority_class_name}\n")
    if spec.service_account_name:
        w.write(0, f"Service Account:\t{spec.service_account_name}\n")
    w.write(0, f"Node:\t{spec.node_name + '/' + st.host_ip if spec.node_name else NONE}\n")
    if st.start_time:
        w.write(0, f"Start Time:\t{rfc1123(st.start_time)}\n")
    labels_multiline(w, "Labels", md.labels)
    annotations_multiline(w, "Annotations", md.annotations)
    if md.deletion_timestamp and st.phase not in ("Failed", "Succeeded"):
        w.write(0, f"Status:\tTerminating (lasts {age(md.deletion_timestamp)})\n")
        grace = md.deletion_grace_period_seconds if md.HasField("deletion_grace_period_seconds") else 0
        w.write(0, f"Termination Grace Period:\t{grace}s\n")
    else:
        w.write(0, f"Status:\t{st.phase}\n")
    if st.reason:
        w.write(0, f"Reason:\t{st.reason}\n")
    if st.message:
        w.write(0, f"Message:\t{st.message}\n")
    w.write(0, f"IP:\t{st.pod_ip}\n")
    ips = [i.ip for i in st.pod_ips] or ([st.pod_ip] if st.pod_ip else [])
    if not ips:
        w.write(0, "IPs:\t<none>\n")
    else:
        w.write(0, "IPs:\n")
        for ip in ips:
            w.write(1, f"IP:\t{ip}\n")
    ctl = controller_of(pod)
    if ctl:
        w.write(0, f"Controlled By:\t{ctl}\n")
    if st.nominated_node_name:
        w.write(0, f"NominatedNodeName:\t{st.nominated_node_name}\n")
    if spec.init_containers:
        describe_containers(w, "Init Containers", spec.init_containers, st.init_container_statuses, "")
    describe_containers(w, "Containers", spec.containers, st.container_statuses, "")
    if st.conditions:
        w.write(0, "Conditions:\n  Type\tStatus\n")
        for c in st.conditions:
            w.write(1, f"{c.type} \t{c.status} \n")
    describe_volumes(w, spec.volumes, "")
    w.write(0, f"QoS Class:\t{st.qos_class or qos_class(pod)}\n")
    labels_multiline(w, "Node-Selectors", spec.node_selector)
    tolerations_multiline(w, "Tolerations", spec.tolerations)
    describe_events(w, events)
    return w.text()


def qos_class(pod: Any) -> str:
    """Guaranteed / Burstable / BestEffort, from the containers' requests and limits."""
    cs = list(pod.spec.containers)
    if not any(c.resources.requests or c.resources.limits for c in cs):
        return "BestEffort"
    guaranteed = all(
        c.resources.limits.get(r) and c.resources.requests.get(r, c.resources.limits.get(r)) ==
        c.resources.limits.get(r) for c in cs for r in ("cpu", "memory"))
    return "Guaranteed" if guaranteed else "Burstable"


def _strategy(d: Any) -> tuple[str, str, str]:
    s = d.spec.strategy
    typ = s.type or "RollingUpdate"
    ru = s.rolling_update
    mu = int_or_string(ru.max_unavailable) if ru.HasField("max_unavailable") else "25%"
    ms = int_or_string(ru.max_surge) if ru.HasField("max_surge") else "25%"
    return typ, mu, ms


def _rs_summary(rss: list[Any]) -> str:
    if not rss:
        return NONE
    return ", ".join(f"{rs.metadata.name} ({rs.status.replicas}/{printers.replicas_of(rs.spec)} replicas created)"
                     for rs in rss)


def template_without_hash(template: Any) -> dict[str, Any]:
    from google.protobuf import json_format
    d = json_format.MessageToDict(template)
    labels = d.get("metadata", {}).get("labels")
    if labels:
        labels.pop("pod-template-hash", None)
        if not labels:
            d["metadata"].pop("labels")
    if "metadata" in d and not d["metadata"]:
        d.pop("metadata")
    return d


def split_replicasets(d: Any, rss: list[Any]) -> tuple[list[Any], Any]:
    """(old, new): the new ReplicaSet is the owned one whose template is the Deployment's."""
    owned = [rs for rs in rss if any(r.uid == d.metadata.uid for r in rs.metadata.owner_references)]
    want = template_without_hash(d.spec.template)
    new = next((rs for rs in owned if template_without_hash(rs.spec.template) == want), None)
    old = [rs for rs in owned if rs is not new and (printers.replicas_of(rs.spec) or rs.status.replicas)]
    return old, new


def describe_deployment(d: Any, events: list[Any] | None, extra: dict[str, Any]) -> str:
    w = Writer()
    md = d.metadata
    w.write(0, f"Name:\t{md.name}\n")
    w.write(0, f"Namespace:\t{md.namespace}\n")
    w.write(0, f"CreationTimestamp:\t{rfc1123(md.creation_timestamp)}\n")
    labels_multiline(w, "Labels", md.labels)
    annotations_multiline(w, "Annotations", md.annotations)
    w.write(0, f"Selector:\t{printers.format_selector(d.spec.selector)}\n")
    s = d.status
    w.write(0, f"Replicas:\t{printers.replicas_of(d.spec)} desired | {s.updated_replicas} updated | "
               f"{s.replicas} total | {s.available_replicas} available | {s.unavailable_replicas} unavailable\n")
    typ, mu, ms = _strategy(d)
    w.write(0, f"StrategyType:\t{typ}\n")
    w.write(0, f"MinReadySeconds:\t{d.spec.min_ready_seconds}\n")
    if typ == "RollingUpdate":
        w.write(0, f"RollingUpdateStrategy:\t{mu} max unavailable, {ms} max surge\n")
    describe_pod_template(w, d.spec.template)
    describe_conditions(w, s.conditions)
    if "replicasets" in extra:
        old, new = split_replicasets(d, extra["replicasets"])
        w.write(0, f"OldReplicaSets:\t{_rs_summary(old)}\n")
        w.write(0, f"NewReplicaSet:\t{_rs_summary([new] if new is not None else [])}\n")
    describe_events(w, events)
    return w.text()


def describe_replicaset(rs: Any, events: list[Any] | None, extra: dict[str, Any]) -> str:
    w = Writer()
    md = rs.metadata
    w.write(0, f"Name:\t{md.name}\n")
    w.write(0, f"Namespace:\t{md.namespace}\n")
    w.write(0, f"Selector:\t{printers.format_selector(rs.spec.selector)}\n")
    labels_multiline(w, "Labels", md.labels)
    annotations_multiline(w, "Annotations", md.annotations)
    ctl = controller_of(rs)
    if ctl:
        w.write(0, f"Controlled By:\t{ctl}\n")
    w.write(0, f"Replicas:\t{rs.status.replicas} current / {printers.replicas_of(rs.spec)} desired\n")
    pods = [p for p in extra.get("pods", []) if any(r.uid == md.uid for r in p.metadata.owner_references)]
    counts = {"Running": 0, "Pending": 0, "Succeeded": 0, "Failed": 0}
    for p in pods:
        counts[p.status.phase or "Pending"] = counts.get(p.status.phase or "Pending", 0) + 1
    w.write(0, f"Pods Status:\t{counts['Running']} Running / {counts['Pending']} Waiting / "
               f"{counts['Succeeded']} Succeeded / {counts['Failed']} Failed\n")
    describe_pod_template(w, rs.spec.template)
    describe_conditions(w, rs.status.conditions)
    describe_events(w, events)
    return w.text()


def describe_service(svc: Any, events: list[Any] | None, extra: dict[str, Any]) -> str:
    w = Writer()
    md, spec = svc.metadata, svc.spec
    describe_identity(w, md)
    w.write(0, f"Selector:\t{','.join(f'{k}={spec.selector[k]}' for k in sorted(spec.selector))}\n")
    w.write(0, f"Type:\t{spec.type or 'ClusterIP'}\n")
    if spec.ip_family_policy:
        w.write(0, f"IP Family Policy:\t{spec.ip_family_policy}\n")
    w.write(0, f"IP Families:\t{','.join(spec.ip_families) or NONE}\n")
    w.write(0, f"IP:\t{spec.cluster_ip}\n")
    ips = list(spec.cluster_ips) or ([spec.cluster_ip] if spec.cluster_ip and spec.cluster_ip != "None" else [])
    w.write(0, f"IPs:\t{','.join(ips) or NONE}\n")
    if spec.external_ips:
        w.write(0, f"External IPs:\t{','.join(spec.external_ips)}\n")
    if spec.load_balancer_ip:
        w.write(0, f"IP:\t{spec.load_balancer_ip}\n")
    if spec.external_name:
        w.write(0, f"External Name:\t{spec.external_name}\n")
    ingress = [i.ip or i.hostname for i in svc.status.load_balancer.ingress]
    if ingress:
        w.write(0, f"LoadBalancer Ingress:\t{', '.join(ingress)}\n")
    slices = extra.get("endpoint_slices") or []     # kubectl 1.33+ reads the Service's EndpointSlices
    for p in spec.ports:
        name = p.name or "<unset>"
        proto = p.protocol or "TCP"
        w.write(0, f"Port:\t{name}\t{p.port}/{proto}\n")
        tp = int_or_string(p.target_port) if p.HasField("target_port") else str(p.port)
        w.write(0, f"TargetPort:\t{tp}/{proto}\n")
        if p.node_port:
            w.write(0, f"NodePort:\t{name}\t{p.node_port}/{proto}\n")
        w.write(0, f"Endpoints:\t{format_endpoint_slices(slices, p.name)}\n")
    w.write(0, f"Session Affinity:\t{spec.session_affinity or 'None'}\n")
    if spec.external_traffic_policy:
        w.write(0, f"External Traffic Policy:\t{spec.external_traffic_policy}\n")
    if spec.internal_traffic_policy:
        w.write(0, f"Internal Traffic Policy:\t{spec.internal_traffic_policy}\n")
    describe_events(w, events)
    return w.text()


def describe_endpoints(ep: Any, events: list[Any] | None, extra: dict[str, Any]) -> str:
    w = Writer()
    md = ep.metadata
    describe_identity(w, md)
    w.write(0, "Subsets:\n")
    for ss in ep.subsets:
        w.write(1, f"Addresses:\t{','.join(a.ip for a in ss.addresses) or NONE}\n")
        w.write(1, f"NotReadyAddresses:\t{','.join(a.ip for a in ss.not_ready_addresses) or NONE}\n")
        if ss.ports:
            w.write(1, "Ports:\n")
            w.write(2, "Name\tPort\tProtocol\n")
            w.write(2, "----\t----\t--------\n")
            for p in ss.ports:
                w.write(2, f"{p.name or '<unset>'}\t{p.port}\t{p.protocol or 'TCP'}\n")
        w.write(0, "\n")
    describe_events(w, events)
    return w.text()


def describe_namespace(ns: Any, events: list[Any] | None, extra: dict[str, Any]) -> str:
    w = Writer()
    w.write(0, f"Name:\t{ns.metadata.name}\n")
    labels_multiline(w, "Labels", ns.metadata.labels)
    annotations_multiline(w, "Annotations", ns.metadata.annotations)
    w.write(0, f"Status:\t{ns.status.phase or 'Active'}\n")
    w.write(0, "\nNo resource quota.\n\nNo LimitRange resource.\n")
    return w.text()


def describe_pdb(pdb: Any, events: list[Any] | None, extra: dict[str, Any]) -> str:
    w = Writer()
    md, spec, st = pdb.metadata, pdb.spec, pdb.status
    w.write(0, f"Name:\t{md.name}\n")
    w.write(0, f"Namespace:\t{md.namespace}\n")
    if has_value(spec, "min_available"):
        w.write(0, f"Min available:\t{int_or_string(spec.min_available)}\n")
    if has_value(spec, "max_unavailable"):
        w.write(0, f"Max unavailable:\t{int_or_string(spec.max_unavailable)}\n")
    w.write(0, f"Selector:\t{printers.format_selector(spec.selector)}\n")
    w.write(0, "Status:\n")
    w.write(2, f"Allowed disruptions:\t{st.disruptions_allowed}\n")
    w.write(2, f"Current:\t{st.current_healthy}\n")
    w.write(2, f"Desired:\t{st.desired_healthy}\n")
    w.write(2, f"Total:\t{st.expected_pods}\n")
    describe_events(w, events)
    return w.text()


def _pct(part: int, whole: int) -> str:
    return f"{int(part * 100 / whole)}%" if whole else "0%"


def describe_node(node: Any, events: list[Any] | None, extra: dict[str, Any]) -> str:
    from kubelab import quantity
    w = Writer()
    md, spec, st = node.metadata, node.spec, node.status
    w.write(0, f"Name:\t{md.name}\n")
    w.write(0, f"Roles:\t{printers.node_roles(node)}\n")
    labels_multiline(w, "Labels", md.labels)
    annotations_multiline(w, "Annotations", md.annotations)
    w.write(0, f"CreationTimestamp:\t{rfc1123(md.creation_timestamp)}\n")
    if spec.taints:
        w.write(0, "Taints:\t")
        for i, t in enumerate(spec.taints):
            w.write(0, ("\t" if i else "") + f"{t.key}{'=' + t.value if t.value else ''}:{t.effect}\n")
    else:
        w.write(0, "Taints:\t<none>\n")
    w.write(0, f"Unschedulable:\t{'true' if spec.unschedulable else 'false'}\n")
    if st.conditions:
        w.write(0, "Conditions:\n  Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage\n")
        w.write(1, "----\t------\t-----------------\t------------------\t------\t-------\n")
        for c in st.conditions:
            w.write(1, f"{c.type} \t{c.status} \t{rfc1123(c.last_heartbeat_time)} \t"
                       f"{rfc1123(c.last_transition_time)} \t{c.reason} \t{c.message}\n")
    if st.addresses:
        w.write(0, "Addresses:\n")
        for a in st.addresses:
            w.write(1, f"{a.type}:\t{a.address}\n")
    for title, m in (("Capacity", st.capacity), ("Allocatable", st.allocatable)):
        if m:
            w.write(0, f"{title}:\n")
            for k in _quantity_sorted(m):
                w.write(1, f"{k}:\t{m[k]}\n")
    ni = st.node_info
    w.write(0, "System Info:\n")
    for label, value in (("Machine ID", ni.machine_id), ("System UUID", ni.system_uuid), ("Boot ID", ni.boot_id),
                         ("Kernel Version", ni.kernel_version), ("OS Image", ni.os_image),
                         ("Operating System", ni.operating_system), ("Architecture", ni.architecture),
                         ("Container Runtime Version", ni.container_runtime_version),
                         ("Kubelet Version", ni.kubelet_version), ("Kube-Proxy Version", ni.kube_proxy_version)):
        w.write(1, f"{label}:\t{value}\n")
    if spec.pod_cidr:
        w.write(0, f"PodCIDR:\t{spec.pod_cidr}\n")
        w.write(0, f"PodCIDRs:\t{','.join(spec.pod_cidrs) or spec.pod_cidr}\n")
    pods = [p for p in extra.get("pods", []) if p.status.phase not in ("Succeeded", "Failed")]
    alloc = st.allocatable or st.capacity

    def total(res: str, kind: str, pod: Any) -> int:
        n = 0
        for c in pod.spec.containers:
            v = getattr(c.resources, kind).get(res)
            if v:
                try:
                    n += quantity.cpu_millis(v) if res == "cpu" else quantity.to_bytes(v)
                except Exception:  # noqa: BLE001 - a bad quantity counts as none
                    pass
        return n

    def fmt(res: str, n: int) -> str:
        return quantity.format_cpu_millis(n) if res == "cpu" else quantity.format_bytes(n)

    def cap(res: str) -> int:
        v = alloc.get(res)
        if not v:
            return 0
        try:
            return quantity.cpu_millis(v) if res == "cpu" else quantity.to_bytes(v)
        except Exception:  # noqa: BLE001
            return 0

    w.write(0, f"Non-terminated Pods:\t({len(pods)} in total)\n")
    w.write(1, "Namespace\tName\t\tCPU Requests\tCPU Limits\tMemory Requests\tMemory Limits\tAge\n")
    w.write(1, "---------\t----\t\t------------\t----------\t---------------\t-------------\t---\n")
    sums = {("cpu", "requests"): 0, ("cpu", "limits"): 0, ("memory", "requests"): 0, ("memory", "limits"): 0}
    for p in sorted(pods, key=lambda p: (p.metadata.namespace, p.metadata.name)):
        cells = []
        for res, kind in (("cpu", "requests"), ("cpu", "limits"), ("memory", "requests"), ("memory", "limits")):
            n = total(res, kind, p)
            sums[(res, kind)] += n
            cells.append(f"{fmt(res, n)} ({_pct(n, cap(res))})")
        w.write(1, f"{p.metadata.namespace}\t{p.metadata.name}\t\t" + "\t".join(cells) +
                f"\t{age(p.metadata.creation_timestamp)}\n")
    w.write(0, "Allocated resources:\n  (Total limits may be over 100 percent, i.e., overcommitted.)\n")
    w.write(1, "Resource\tRequests\tLimits\n")
    w.write(1, "--------\t--------\t------\n")
    for res in ("cpu", "memory"):
        rq, lm = sums[(res, "requests")], sums[(res, "limits")]
        w.write(1, f"{res}\t{fmt(res, rq)} ({_pct(rq, cap(res))})\t{fmt(res, lm)} ({_pct(lm, cap(res))})\n")
    describe_events(w, events)
    return w.text()


def describe_event(ev: Any, events: list[Any] | None, extra: dict[str, Any]) -> str:
    w = Writer()
    md, io = ev.metadata, ev.involved_object
    describe_identity(w, md)
    w.write(0, f"API Version:\t{ev.api_version or 'v1'}\n")
    w.write(0, f"Count:\t{ev.count}\n")
    w.write(0, f"First Timestamp:\t{rfc1123(ev.first_timestamp)}\n")
    w.write(0, "Involved Object:\n")
    for k, v in (("API Version", io.api_version), ("Kind", io.kind), ("Name", io.name),
                 ("Namespace", io.namespace), ("UID", io.uid), ("Field Path", io.field_path)):
        if v:
            w.write(1, f"{k}:\t{v}\n")
    w.write(0, f"Last Timestamp:\t{rfc1123(ev.last_timestamp)}\n")
    w.write(0, f"Message:\t{ev.message}\n")
    w.write(0, f"Reason:\t{ev.reason}\n")
    w.write(0, "Source:\n")
    w.write(1, f"Component:\t{ev.source.component}\n")
    if ev.source.host:
        w.write(1, f"Host:\t{ev.source.host}\n")
    w.write(0, f"Type:\t{ev.type}\n")
    w.write(0, "Events:\t<none>\n")
    return w.text()


def describe_lease(lease: Any, events: list[Any] | None, extra: dict[str, Any]) -> str:
    w = Writer()
    md, spec = lease.metadata, lease.spec
    describe_identity(w, md)
    w.write(0, "API Version:\tcoordination.k8s.io/v1\n")
    w.write(0, "Kind:\tLease\n")
    w.write(0, "Spec:\n")
    for k, v in (("Acquire Time", spec.acquire_time), ("Holder Identity", spec.holder_identity),
                 ("Lease Duration Seconds", spec.lease_duration_seconds),
                 ("Lease Transitions", spec.lease_transitions), ("Renew Time", spec.renew_time)):
        w.write(1, f"{k}:\t{v}\n")
    describe_events(w, events)
    return w.text()


def describe_endpointslice(eps: Any, events: list[Any] | None, extra: dict[str, Any]) -> str:
    """kubectl's describeEndpointSliceV1."""
    w = Writer()
    describe_identity(w, eps.metadata)
    w.write(0, f"AddressType:\t{eps.address_type}\n")
    if not eps.ports:
        w.write(0, "Ports: <unset>\n")
    else:
        w.write(0, "Ports:\n")
        w.write(1, "Name\tPort\tProtocol\n")
        w.write(1, "----\t----\t--------\n")
        for p in eps.ports:
            w.write(1, f"{p.name or '<unset>'}\t{p.port if p.HasField('port') else '<unset>'}\t{p.protocol}\n")
    if not eps.endpoints:
        w.write(0, "Endpoints: <none>\n")
    else:
        w.write(0, "Endpoints:\n")
        for e in eps.endpoints:
            unset = "<unset>"
            w.write(1, f"- Addresses:\t{', '.join(e.addresses) or NONE}\n")
            w.write(2, "Conditions:\n")
            ready = str(e.conditions.ready).lower() if e.conditions.HasField("ready") else unset
            w.write(3, f"Ready:\t{ready}\n")
            w.write(2, f"Hostname:\t{e.hostname if e.HasField('hostname') else unset}\n")
            if e.HasField("target_ref"):
                w.write(2, f"TargetRef:\t{e.target_ref.kind}/{e.target_ref.name}\n")
            w.write(2, f"NodeName:\t{e.node_name if e.HasField('node_name') else unset}\n")
            w.write(2, f"Zone:\t{e.zone if e.HasField('zone') else unset}\n")
    describe_events(w, events)
    return w.text()


DESCRIBERS: dict[str, Callable[[Any, list[Any] | None, dict[str, Any]], str]] = {
    "Pod": describe_pod, "Deployment": describe_deployment, "ReplicaSet": describe_replicaset,
    "Service": describe_service, "Endpoints": describe_endpoints, "Namespace": describe_namespace,
    "PodDisruptionBudget": describe_pdb, "Node": describe_node, "Event": describe_event,
    "Lease": describe_lease, "EndpointSlice": describe_endpointslice,
}


# ---------------------------------------------------------------- fetching
async def events_for(client: Any, obj: Any) -> list[Any]:
    """Events whose involvedObject is `obj`."""
    from kubelab import errors, kinds
    md = obj.metadata
    info = kinds.info_of(obj)
    ns = md.namespace if info.namespaced else ""
    fsel = f"involvedObject.name={md.name},involvedObject.namespace={ns}"
    list_ns = ns if info.namespaced else ""
    try:
        evs, _ = await client.list("Event", list_ns, field_selector=fsel)
    except (errors.BadRequest, errors.Invalid):
        evs, _ = await client.list("Event", list_ns)
    return [e for e in evs
            if e.involved_object.name == md.name
            and (not e.involved_object.uid or not md.uid or e.involved_object.uid == md.uid)
            and (not e.involved_object.kind or e.involved_object.kind == info.kind)]


async def extras_for(client: Any, obj: Any) -> dict[str, Any]:
    from kubelab import errors, kinds
    kind = kinds.info_of(obj).kind
    md = obj.metadata
    extra: dict[str, Any] = {}
    try:
        if kind == "Deployment":
            extra["replicasets"], _ = await client.list("ReplicaSet", md.namespace)
        elif kind == "ReplicaSet":
            extra["pods"], _ = await client.list("Pod", md.namespace,
                                                 label_selector=_selector_string(obj.spec.selector))
        elif kind == "Service":
            extra["endpoint_slices"], _ = await client.list(
                "EndpointSlice", md.namespace, label_selector=f"kubernetes.io/service-name={md.name}")
        elif kind == "Node":
            extra["pods"], _ = await client.list("Pod", "", field_selector=f"spec.nodeName={md.name}")
            extra["pods"] = [p for p in extra["pods"] if p.spec.node_name == md.name]
    except errors.ApiError:
        pass
    return extra


def _selector_string(sel: Any) -> str:
    s = printers.format_selector(sel)
    return "" if s == NONE else s


async def describe_object(client: Any, obj: Any, show_events: bool = True) -> str:
    from kubelab import kinds
    kind = kinds.info_of(obj).kind
    events = await events_for(client, obj) if show_events and kind != "Event" else (None if not show_events else [])
    extra = await extras_for(client, obj)
    fn = DESCRIBERS.get(kind)
    if fn is None:
        return printers.dump_yaml(printers.to_dict(obj))
    return fn(obj, events, extra)


@click.command("describe")
@click.argument("args", nargs=-1)
@click.option("-l", "--selector", default="", help="Describe the objects matching this label selector.")
@click.option("-A", "--all-namespaces", is_flag=True)
@click.option("-f", "--filename", "filenames", multiple=True)
@click.option("--show-events/--no-show-events", default=None,
              help="Show the objects' events (default: for a single object, not for several or a name prefix).")
@global_options
def describe(args: tuple[str, ...], selector: str, all_namespaces: bool, filenames: tuple[str, ...],
             show_events: bool | None) -> None:
    """Show details of a resource or group of resources.

    \b
    Examples:
      kubelab describe pod my-first-pod
      kubelab describe pods                  (every pod in the namespace)
      kubelab describe deployments/cowweb
      kubelab describe pods -l app=web
      kubelab describe pod nginx             (every pod whose name starts with nginx)
    """
    resources.check_selector(selector)
    st = settings()
    namespace = st.current_namespace()
    targets: list[resources.Target]
    if filenames:
        from kubectl.apply import load_placed
        from kubelab import kinds
        targets = []
        for d in load_placed(filenames, False):
            targets.append(resources.Target(kinds.info_of(d.obj), [d.obj.metadata.name]))
    else:
        targets = resources.parse(args, selector=selector).targets

    async def body(client: Any) -> bool:
        from kubelab import errors
        failed = False
        found: list[tuple[Any, bool]] = []       # (object, found by name prefix)
        for t in targets:
            ns = ("" if all_namespaces else namespace) if t.info.namespaced else None
            if not t.names:
                objs, _ = await client.list(t.info.kind, ns, label_selector=selector)
                objs.sort(key=lambda o: (o.metadata.namespace, o.metadata.name))
                if not objs and len(targets) == 1:
                    err(f"No resources found in {namespace} namespace." if t.info.namespaced and
                        not all_namespaces else "No resources found")
                found += [(o, False) for o in objs]
                continue
            for name in t.names:
                try:
                    found.append((await client.get(t.info.kind, name, ns or None), False))
                    continue
                except errors.NotFound as e:
                    not_found = e
                # kubectl describe TYPE NAME_PREFIX: every object whose name starts with NAME
                objs, _ = await client.list(t.info.kind, ns)
                matches = sorted((o for o in objs if o.metadata.name.startswith(name)),
                                 key=lambda o: o.metadata.name)
                if not matches:
                    err(api_error_line(not_found))
                    failed = True
                found += [(o, True) for o in matches]
        # kubectl: events by default for a single object only, not for several nor for a name prefix
        events = show_events if show_events is not None else len(found) == 1 and not found[0][1]
        texts = [await describe_object(client, o, events) for o, _ in found]
        stdout_write("\n\n".join(texts))
        return failed

    if run(body):
        raise Failed(1)
