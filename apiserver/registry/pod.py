"""Pods: defaulting and validation of the pod spec (shared with templates)."""
from __future__ import annotations

from typing import Any

from kubelab.quantity import QuantityError, parse_quantity

from .common import (FieldErrors, Strategy, is_set, validate_int_or_string, validate_name, validate_port_name,
                     validate_port_number, validate_quantities, int_or_string, validate_label_selector)
import re

RESTART_POLICIES = ("Always", "OnFailure", "Never")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
PROTOCOLS = ("TCP", "UDP", "SCTP")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


def default_probe(probe: Any) -> None:
    if not probe.timeout_seconds:
        probe.timeout_seconds = 1
    if not probe.period_seconds:
        probe.period_seconds = 10
    if not probe.success_threshold:
        probe.success_threshold = 1
    if not probe.failure_threshold:
        probe.failure_threshold = 3
    if probe.HasField("http_get") and not probe.http_get.scheme:
        probe.http_get.scheme = "HTTP"
    if probe.HasField("http_get") and not probe.http_get.path:
        probe.http_get.path = "/"


def default_pull_policy(image: str) -> str:
    name = image.rsplit("/", 1)[-1]
    if "@" in name:
        return "IfNotPresent"
    tag = name.split(":", 1)[1] if ":" in name else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def default_container(c: Any) -> None:
    if not c.image_pull_policy:
        c.image_pull_policy = default_pull_policy(c.image)
    if not c.termination_message_path:
        c.termination_message_path = "/dev/termination-log"
    if not c.termination_message_policy:
        c.termination_message_policy = "File"
    for p in c.ports:
        if not p.protocol:
            p.protocol = "TCP"
    # Kubernetes: a limit with no request makes the request equal to the limit.
    for name, q in c.resources.limits.items():
        if name not in c.resources.requests:
            c.resources.requests[name] = q
    for probe_name in ("liveness_probe", "readiness_probe", "startup_probe"):
        if c.HasField(probe_name):
            default_probe(getattr(c, probe_name))


def default_pod_spec(spec: Any) -> None:
    if not spec.restart_policy:
        spec.restart_policy = "Always"
    if not spec.HasField("termination_grace_period_seconds"):
        spec.termination_grace_period_seconds = 30
    if not spec.dns_policy:
        spec.dns_policy = "ClusterFirst"
    if not spec.scheduler_name:
        spec.scheduler_name = "default-scheduler"
    if not spec.HasField("enable_service_links"):
        spec.enable_service_links = True
    for c in list(spec.init_containers) + list(spec.containers):
        default_container(c)
        if spec.host_network:     # on the node's network a container port is a node port: say so
            for port in c.ports:
                if not port.host_port:
                    port.host_port = port.container_port
    for v in spec.volumes:
        if not v.HasField("empty_dir") and not v.HasField("host_path"):
            v.empty_dir.SetInParent()


def _validate_probe(errs: FieldErrors, path: str, probe: Any, container: Any, liveness_like: bool) -> None:
    handlers = [h for h in ("exec", "http_get", "tcp_socket") if probe.HasField(h)]
    if not handlers:
        errs.required(path, "must specify a handler type")
    elif len(handlers) > 1:
        errs.forbidden(path, "may not specify more than 1 handler type")
    for field in ("initial_delay_seconds", "timeout_seconds", "period_seconds", "success_threshold",
                  "failure_threshold"):
        value = getattr(probe, field)
        camel = re.sub(r"_(\w)", lambda m: m.group(1).upper(), field)
        if value < 0:
            errs.invalid(f"{path}.{camel}", value, "must be greater than or equal to 0")
    if liveness_like and probe.success_threshold not in (0, 1):
        errs.invalid(f"{path}.successThreshold", probe.success_threshold, "must be 1")
    port_names = {p.name for p in container.ports if p.name}
    for h, label in (("http_get", "httpGet"), ("tcp_socket", "tcpSocket")):
        if probe.HasField(h):
            action = getattr(probe, h)
            if not is_set(action.port):
                errs.required(f"{path}.{label}.port")
                continue
            validate_int_or_string(errs, f"{path}.{label}.port", action.port)
            port = int_or_string(action.port)
            if isinstance(port, int):
                validate_port_number(errs, f"{path}.{label}.port", port)
            elif isinstance(port, str) and port not in port_names:
                errs.invalid(f"{path}.{label}.port", port, "must be a port number or the name of a container port")
            if h == "http_get" and action.scheme not in ("", "HTTP", "HTTPS"):
                errs.unsupported(f"{path}.httpGet.scheme", action.scheme, ("HTTP", "HTTPS"))
    if probe.HasField("exec") and not probe.exec.command:
        errs.required(f"{path}.exec.command")


def _validate_container(errs: FieldErrors, path: str, c: Any, volumes: set[str], init: bool) -> None:
    if not c.name:
        errs.required(f"{path}.name")
    else:
        validate_name(errs, f"{path}.name", c.name, label=True)
    if not c.image.strip():
        errs.required(f"{path}.image")
    if c.image_pull_policy and c.image_pull_policy not in PULL_POLICIES:
        errs.unsupported(f"{path}.imagePullPolicy", c.image_pull_policy, PULL_POLICIES)
    port_names: set[str] = set()
    for i, p in enumerate(c.ports):
        pp = f"{path}.ports[{i}]"
        validate_port_number(errs, f"{pp}.containerPort", p.container_port)
        validate_port_number(errs, f"{pp}.hostPort", p.host_port, allow_zero=True)
        if p.protocol and p.protocol not in PROTOCOLS:
            errs.unsupported(f"{pp}.protocol", p.protocol, PROTOCOLS)
        if p.name:
            validate_port_name(errs, f"{pp}.name", p.name)
            if p.name in port_names:
                errs.duplicate(f"{pp}.name", p.name)
            port_names.add(p.name)
    for i, e in enumerate(c.env):
        if not e.name:
            errs.required(f"{path}.env[{i}].name")
        elif not _ENV_NAME.match(e.name):
            errs.invalid(f"{path}.env[{i}].name", e.name,
                         "a valid environment variable name must consist of alphabetic characters, digits, "
                         "'_', '-', or '.', and must not start with a digit")
    validate_quantities(errs, f"{path}.resources.requests", c.resources.requests)
    validate_quantities(errs, f"{path}.resources.limits", c.resources.limits)
    for name, limit in c.resources.limits.items():
        req = c.resources.requests.get(name)
        try:
            if req is not None and parse_quantity(req) > parse_quantity(limit):
                errs.invalid(f"{path}.resources.requests", req, f"must be less than or equal to {name} limit of {limit}")
        except QuantityError:
            pass
    mounts: set[str] = set()
    for i, m in enumerate(c.volume_mounts):
        mp = f"{path}.volumeMounts[{i}]"
        if m.name not in volumes:
            errs.invalid(f"{mp}.name", m.name, "not found")
        if not m.mount_path:
            errs.required(f"{mp}.mountPath")
        elif m.mount_path in mounts:
            errs.invalid(f"{mp}.mountPath", m.mount_path, "must be unique")
        mounts.add(m.mount_path)
    if c.HasField("liveness_probe"):
        _validate_probe(errs, f"{path}.livenessProbe", c.liveness_probe, c, True)
    if c.HasField("readiness_probe"):
        _validate_probe(errs, f"{path}.readinessProbe", c.readiness_probe, c, False)
    if c.HasField("startup_probe"):
        _validate_probe(errs, f"{path}.startupProbe", c.startup_probe, c, True)


def validate_pod_spec(errs: FieldErrors, path: str, spec: Any) -> None:
    volumes: set[str] = set()
    for i, v in enumerate(spec.volumes):
        if not v.name:
            errs.required(f"{path}.volumes[{i}].name")
            continue
        validate_name(errs, f"{path}.volumes[{i}].name", v.name, label=True)
        if v.name in volumes:
            errs.duplicate(f"{path}.volumes[{i}].name", v.name)
        volumes.add(v.name)
        if v.HasField("host_path") and not v.host_path.path:
            errs.required(f"{path}.volumes[{i}].hostPath.path")
    if not spec.containers:
        errs.required(f"{path}.containers")
    names: set[str] = set()
    for field, label, init in (("init_containers", "initContainers", True), ("containers", "containers", False)):
        for i, c in enumerate(getattr(spec, field)):
            _validate_container(errs, f"{path}.{label}[{i}]", c, volumes, init)
            if c.name in names:
                errs.duplicate(f"{path}.{label}[{i}].name", c.name)
            names.add(c.name)
    if spec.host_network:
        for field, label, _init in (("init_containers", "initContainers", True), ("containers", "containers", False)):
            for i, c in enumerate(getattr(spec, field)):
                for j, port in enumerate(c.ports):
                    if port.host_port and port.host_port != port.container_port:
                        errs.invalid(f"{path}.{label}[{i}].ports[{j}].hostPort", port.host_port,
                                     "must match `containerPort` when `hostNetwork` is true")
    if spec.restart_policy and spec.restart_policy not in RESTART_POLICIES:
        errs.unsupported(f"{path}.restartPolicy", spec.restart_policy, RESTART_POLICIES)
    if spec.HasField("termination_grace_period_seconds") and spec.termination_grace_period_seconds < 0:
        errs.invalid(f"{path}.terminationGracePeriodSeconds", spec.termination_grace_period_seconds,
                     "must be greater than or equal to 0")
    if spec.dns_policy and spec.dns_policy not in ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"):
        errs.unsupported(f"{path}.dnsPolicy", spec.dns_policy,
                         ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"))
    for i, t in enumerate(spec.tolerations):
        if t.operator not in ("", "Equal", "Exists"):
            errs.unsupported(f"{path}.tolerations[{i}].operator", t.operator, ("Equal", "Exists"))
        if t.effect not in ("", "NoSchedule", "PreferNoSchedule", "NoExecute"):
            errs.unsupported(f"{path}.tolerations[{i}].effect", t.effect,
                             ("NoSchedule", "PreferNoSchedule", "NoExecute"))
    if spec.HasField("affinity"):
        for kind, label in (("pod_affinity", "podAffinity"), ("pod_anti_affinity", "podAntiAffinity")):
            aff = getattr(spec.affinity, kind)
            for i, term in enumerate(aff.required_during_scheduling_ignored_during_execution):
                tp = f"{path}.affinity.{label}.requiredDuringSchedulingIgnoredDuringExecution[{i}]"
                if not term.topology_key:
                    errs.required(f"{tp}.topologyKey", "can not be empty")
                validate_label_selector(errs, f"{tp}.labelSelector", term.label_selector, required=False)
    if spec.hostname:
        validate_name(errs, f"{path}.hostname", spec.hostname, label=True)


def qos_class(spec: Any) -> str:
    requests = [c.resources.requests for c in spec.containers]
    limits = [c.resources.limits for c in spec.containers]
    if not any(requests) and not any(limits):
        return "BestEffort"
    guaranteed = all(
        all(r in lim and lim[r] == req[r] for r in ("cpu", "memory")) and "cpu" in lim and "memory" in lim
        for req, lim in zip(requests, limits))
    return "Guaranteed" if guaranteed else "Burstable"


# Fields of a pod spec that may change after creation (Kubernetes' rule, abridged).
def _mutable_view(spec: Any) -> Any:
    view = type(spec)()
    view.CopyFrom(spec)
    for c in list(view.containers) + list(view.init_containers):
        c.image = ""
    view.ClearField("active_deadline_seconds")
    view.ClearField("tolerations")
    view.ClearField("termination_grace_period_seconds")
    return view


class PodStrategy(Strategy):
    def default(self, obj: Any) -> None:
        default_pod_spec(obj.spec)

    def validate(self, obj: Any) -> FieldErrors:
        errs = super().validate(obj)
        validate_pod_spec(errs, "spec", obj.spec)
        return errs

    def validate_update(self, new: Any, old: Any) -> FieldErrors:
        errs = super().validate_update(new, old)
        if new.spec.node_name != old.spec.node_name:
            errs.forbidden("spec.nodeName", "may not be changed except through pods/binding")
        elif _mutable_view(new.spec) != _mutable_view(old.spec):
            errs.forbidden("spec", "pod updates may not change fields other than `spec.containers[*].image`, "
                                   "`spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, "
                                   "`spec.tolerations` (only additions to existing tolerations) or "
                                   "`spec.terminationGracePeriodSeconds`")
        return errs

    def prepare_create(self, obj: Any) -> None:
        super().prepare_create(obj)
        obj.status.phase = "Pending"
        obj.status.qos_class = qos_class(obj.spec)
