"""Pods: defaulting and validation of the pod spec (shared with templates)."""
from __future__ import annotations

from typing import Any

from kubelab.quantity import QuantityError, parse_quantity

import re

from kubelab import selectors
from kubelab.imageref import InvalidReference, parse_normalized

from .common import (FieldErrors, Strategy, int_or_string, is_set, validate_condition_statuses,
                     validate_container_resource_name, validate_int_or_string, validate_ip, validate_label_selector,
                     validate_labels, validate_name, validate_nonnegative, validate_port_name, validate_port_number,
                     validate_quantities, validate_quantity)

RESTART_POLICIES = ("Always", "OnFailure", "Never")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
PROTOCOLS = ("TCP", "UDP", "SCTP")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
DNS_POLICIES = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")
POD_PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
TOLERATION_OPERATORS = ("Equal", "Exists")
# What an env fieldRef may name (Kubernetes' validEnvDownwardAPIFieldPathExpressions; the kubelet resolves these),
# besides metadata.labels['<key>'] and metadata.annotations['<key>'].
ENV_FIELD_PATHS = ("metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName",
                   "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs")
_SUBSCRIPTED_FIELD_PATH = re.compile(r"^metadata\.(labels|annotations)\['(.*)'\]$")
ENV_RESOURCE_FIELDS = ("limits.cpu", "limits.memory", "limits.ephemeral-storage", "requests.cpu",
                       "requests.memory", "requests.ephemeral-storage")


def default_probe(probe: Any) -> None:
    if not probe.timeout_seconds:
        probe.timeout_seconds = 1
    if not probe.period_seconds:
        probe.period_seconds = 10
    if not probe.success_threshold:
        probe.success_threshold = 1
    if not probe.failure_threshold:
        probe.failure_threshold = 3
    default_handler(probe)


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
    for hook in ("post_start", "pre_stop"):
        if c.lifecycle.HasField(hook):
            default_handler(getattr(c.lifecycle, hook))


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
        if not any(v.HasField(source) for source in VOLUME_SOURCES):
            v.empty_dir.SetInParent()
        if v.HasField("projected"):
            default_projected(v.projected)


# The volume sources a pod may name (one per volume), by proto field and Kubernetes' JSON name.
VOLUME_SOURCES = {"empty_dir": "emptyDir", "host_path": "hostPath", "projected": "projected"}
PROJECTED_DEFAULT_MODE = 0o644


def default_projected(p: Any) -> None:
    """Kubernetes' SetDefaults_ProjectedVolumeSource and SetDefaults_ServiceAccountTokenProjection."""
    if not p.HasField("default_mode"):
        p.default_mode = PROJECTED_DEFAULT_MODE
    for s in p.sources:
        if s.HasField("service_account_token") and not s.service_account_token.HasField("expiration_seconds"):
            s.service_account_token.expiration_seconds = 3600
        if s.HasField("downward_api"):
            for item in s.downward_api.items:
                if item.HasField("field_ref") and not item.field_ref.api_version:
                    item.field_ref.api_version = "v1"


# What a handler (a probe's or a lifecycle hook's) may name: Kubernetes' Handler has the same three actions in both.
HANDLER_ACTIONS = (("exec", "exec"), ("http_get", "httpGet"), ("tcp_socket", "tcpSocket"))
URI_SCHEMES = ("HTTP", "HTTPS")
_HTTP_HEADER_NAME = re.compile(r"^[-A-Za-z0-9]+$")


def default_handler(handler: Any) -> None:
    """Kubernetes' SetDefaults_HTTPGetAction, for a probe's and a hook's alike."""
    if handler.HasField("http_get"):
        if not handler.http_get.scheme:
            handler.http_get.scheme = "HTTP"
        if not handler.http_get.path:
            handler.http_get.path = "/"


def _validate_handler_port(errs: FieldErrors, path: str, action: Any, container: Any) -> None:
    if not is_set(action.port):
        errs.required(path)
        return
    validate_int_or_string(errs, path, action.port)
    port = int_or_string(action.port)
    if isinstance(port, int):
        validate_port_number(errs, path, port)
    elif isinstance(port, str):
        n = len(errs)
        validate_port_name(errs, path, port)
        if len(errs) == n and port not in {p.name for p in container.ports if p.name}:
            errs.invalid(path, port, "must be a port number or the name of a container port")


def validate_handler(errs: FieldErrors, path: str, handler: Any, container: Any) -> None:
    """One rule for every handler, a probe's (livenessProbe, ...) or a hook's (lifecycle.postStart, preStop),
    as Kubernetes' validateHandler: one action, and that action well formed."""
    actions = [(field, label) for field, label in HANDLER_ACTIONS if handler.HasField(field)]
    if not actions:
        errs.required(path, "must specify a handler type")
    for field, label in actions[1:]:
        errs.forbidden(f"{path}.{label}", "may not specify more than 1 handler type")
    for field, label in actions[:1]:
        action, where = getattr(handler, field), f"{path}.{label}"
        if field == "exec" and not action.command:
            errs.required(f"{where}.command")
        if field == "http_get":
            if not action.path:
                errs.required(f"{where}.path")
            if action.scheme not in URI_SCHEMES:
                errs.unsupported(f"{where}.scheme", action.scheme, URI_SCHEMES)
            for header in action.http_headers:
                if not _HTTP_HEADER_NAME.match(header.name):
                    errs.invalid(f"{where}.httpHeaders", header.name,
                                 "a valid HTTP header must consist of alphanumeric characters or '-' (e.g. "
                                 "'X-Header-Name', regex used for validation is '[-A-Za-z0-9]+')")
        if field in ("http_get", "tcp_socket"):
            _validate_handler_port(errs, f"{where}.port", action, container)


def _validate_probe(errs: FieldErrors, path: str, probe: Any, container: Any, liveness_like: bool) -> None:
    validate_handler(errs, path, probe, container)
    for field in ("initial_delay_seconds", "timeout_seconds", "period_seconds", "success_threshold",
                  "failure_threshold"):
        value = getattr(probe, field)
        camel = re.sub(r"_(\w)", lambda m: m.group(1).upper(), field)
        if value < 0:
            errs.invalid(f"{path}.{camel}", value, "must be greater than or equal to 0")
    if liveness_like and probe.success_threshold not in (0, 1):
        errs.invalid(f"{path}.successThreshold", probe.success_threshold, "must be 1")


def _validate_env_source(errs: FieldErrors, path: str, e: Any) -> None:
    src = e.value_from
    if e.value:
        errs.invalid(path, "", "may not be specified when `value` is not empty")
    sources = [s for s in ("field_ref", "resource_field_ref", "config_map_key_ref", "secret_key_ref")
               if src.HasField(s)]
    if not sources:
        errs.invalid(path, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or "
                               "`secretKeyRef`")
    elif len(sources) > 1:
        errs.invalid(path, "", "may not have more than one field specified at a time")
    if src.HasField("field_ref"):
        fp = src.field_ref.field_path
        if not fp:
            errs.required(f"{path}.fieldRef.fieldPath")
        elif m := _SUBSCRIPTED_FIELD_PATH.match(fp):
            if msg := selectors.validate_label_key(m.group(2)):
                errs.invalid(f"{path}.fieldRef.fieldPath", fp, msg)
        elif fp not in ENV_FIELD_PATHS:
            errs.unsupported(f"{path}.fieldRef.fieldPath", fp,
                             ENV_FIELD_PATHS + ("metadata.annotations['<KEY>']", "metadata.labels['<KEY>']"))
    if src.HasField("resource_field_ref"):
        ref = src.resource_field_ref
        if not ref.resource:
            errs.required(f"{path}.resourceFieldRef.resource")
        elif ref.resource not in ENV_RESOURCE_FIELDS:
            errs.unsupported(f"{path}.resourceFieldRef.resource", ref.resource, ENV_RESOURCE_FIELDS)
        if ref.divisor:
            validate_quantity(errs, f"{path}.resourceFieldRef.divisor", ref.divisor)


def _validate_container(errs: FieldErrors, path: str, c: Any, volumes: set[str], init: bool) -> None:
    if not c.name:
        errs.required(f"{path}.name")
    else:
        validate_name(errs, f"{path}.name", c.name, label=True)
    # The image must be set and (unlike kube-apiserver, which leaves it to the kubelet's InvalidImageName)
    # parse as a Docker reference: a pod that could never pull is refused at apply, naming the field. Surrounding
    # whitespace is checked on pods only (validate_pod_images), as kube-apiserver does; a template's " " stays legal.
    if not c.image:
        errs.required(f"{path}.image")
    elif c.image == c.image.strip():
        validate_image_reference(errs, f"{path}.image", c.image)
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
        if e.HasField("value_from"):
            _validate_env_source(errs, f"{path}.env[{i}].valueFrom", e)
    for field in ("requests", "limits"):
        for name in getattr(c.resources, field):
            validate_container_resource_name(errs, f"{path}.resources.{field}[{name}]", name)
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
    for hook, label in (("post_start", "postStart"), ("pre_stop", "preStop")):
        if c.lifecycle.HasField(hook):
            validate_handler(errs, f"{path}.lifecycle.{label}", getattr(c.lifecycle, hook), c)


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
        given = [label for field, label in VOLUME_SOURCES.items() if v.HasField(field)]
        if len(given) > 1:
            errs.forbidden(f"{path}.volumes[{i}].{given[1]}", "may not specify more than 1 volume type")
        if v.HasField("projected"):
            _validate_projected(errs, f"{path}.volumes[{i}].projected", v.projected)
        if v.HasField("empty_dir") and v.empty_dir.size_limit:
            validate_quantity(errs, f"{path}.volumes[{i}].emptyDir.sizeLimit", v.empty_dir.size_limit)
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
    if spec.dns_policy and spec.dns_policy not in DNS_POLICIES:
        errs.unsupported(f"{path}.dnsPolicy", spec.dns_policy, DNS_POLICIES)
    elif spec.dns_policy == "None":
        # Kubernetes requires dnsConfig with dnsPolicy None; kubelab's PodSpec has no dnsConfig to give.
        errs.required(f"{path}.dnsConfig", "must provide `dnsConfig` when `dnsPolicy` is None "
                                           "(kubelab does not support `dnsConfig`, so `dnsPolicy: None` cannot be used)")
    if spec.HasField("active_deadline_seconds") and spec.active_deadline_seconds < 1:
        errs.invalid(f"{path}.activeDeadlineSeconds", spec.active_deadline_seconds,
                     "must be between 1 and 2147483647, inclusive")
    validate_labels(errs, f"{path}.nodeSelector", spec.node_selector)
    validate_tolerations(errs, f"{path}.tolerations", spec.tolerations)
    if spec.HasField("affinity"):
        _validate_node_affinity(errs, f"{path}.affinity.nodeAffinity", spec.affinity.node_affinity)
        for kind, label in (("pod_affinity", "podAffinity"), ("pod_anti_affinity", "podAntiAffinity")):
            aff = getattr(spec.affinity, kind)
            for i, term in enumerate(aff.required_during_scheduling_ignored_during_execution):
                tp = f"{path}.affinity.{label}.requiredDuringSchedulingIgnoredDuringExecution[{i}]"
                if not term.topology_key:
                    errs.required(f"{tp}.topologyKey", "can not be empty")
                validate_label_selector(errs, f"{tp}.labelSelector", term.label_selector, required=False)
            for i, weighted in enumerate(aff.preferred_during_scheduling_ignored_during_execution):
                tp = f"{path}.affinity.{label}.preferredDuringSchedulingIgnoredDuringExecution[{i}]"
                _validate_weight(errs, f"{tp}.weight", weighted.weight)
                if not weighted.pod_affinity_term.topology_key:
                    errs.required(f"{tp}.podAffinityTerm.topologyKey", "can not be empty")
                validate_label_selector(errs, f"{tp}.podAffinityTerm.labelSelector",
                                        weighted.pod_affinity_term.label_selector, required=False)
    if spec.hostname:
        validate_name(errs, f"{path}.hostname", spec.hostname, label=True)


def _validate_projected(errs: FieldErrors, path: str, p: Any) -> None:
    """Kubernetes' validateProjectedVolumeSource, for the sources kubelab has: one source per item, each
    path relative and unique, a token's expirationSeconds within [10 minutes, 2^32 s]."""
    paths: set[str] = set()

    def file(where: str, rel: str) -> None:
        if not rel:
            errs.required(f"{where}.path")
        elif rel.startswith("/") or ".." in rel.split("/"):
            errs.invalid(f"{where}.path", rel, "must be a relative path without '..'")
        elif rel in paths:
            errs.invalid(f"{where}.path", rel, "conflicting duplicate paths")
        paths.add(rel)
    for j, s in enumerate(p.sources):
        sp = f"{path}.sources[{j}]"
        kinds = [f for f in ("service_account_token", "config_map", "downward_api") if s.HasField(f)]
        if len(kinds) != 1:
            errs.forbidden(sp, "may not specify more than 1 volume type per source" if kinds
                           else "must specify a volume type")
        if s.HasField("service_account_token"):
            t = s.service_account_token
            file(f"{sp}.serviceAccountToken", t.path)
            if t.HasField("expiration_seconds") and t.expiration_seconds < 600:
                errs.invalid(f"{sp}.serviceAccountToken.expirationSeconds", t.expiration_seconds,
                             "may not specify a duration less than 10 minutes")
        if s.HasField("config_map"):
            if not s.config_map.name:
                errs.required(f"{sp}.configMap.name")
            for k, item in enumerate(s.config_map.items):
                if not item.key:
                    errs.required(f"{sp}.configMap.items[{k}].key")
                file(f"{sp}.configMap.items[{k}]", item.path)
        if s.HasField("downward_api"):
            for k, item in enumerate(s.downward_api.items):
                ip = f"{sp}.downwardAPI.items[{k}]"
                file(ip, item.path)
                if item.HasField("field_ref") and item.field_ref.field_path not in ENV_FIELD_PATHS \
                        and not _SUBSCRIPTED_FIELD_PATH.match(item.field_ref.field_path):
                    errs.unsupported(f"{ip}.fieldRef.fieldPath", item.field_ref.field_path, ENV_FIELD_PATHS)


def validate_tolerations(errs: FieldErrors, path: str, tolerations: Any) -> None:
    """Kubernetes' validateTolerations."""
    for i, t in enumerate(tolerations):
        p = f"{path}[{i}]"
        if t.key:
            if msg := selectors.validate_label_key(t.key):
                errs.invalid(f"{p}.key", t.key, msg)
        elif t.operator != "Exists":
            errs.invalid(f"{p}.operator", t.operator,
                         'operator must be Exists when `key` is empty, which means "match all values and all keys"')
        if t.HasField("toleration_seconds") and t.effect != "NoExecute":
            errs.invalid(f"{p}.effect", t.effect, "effect must be 'NoExecute' when `tolerationSeconds` is set")
        if t.operator in ("", "Equal"):
            if msg := selectors.validate_label_value(t.value):
                errs.invalid(f"{p}.operator", t.value, msg)
        elif t.operator == "Exists":
            if t.value:
                errs.invalid(f"{p}.operator", t.value, "value must be empty when `operator` is 'Exists'")
        else:
            errs.unsupported(f"{p}.operator", t.operator, TOLERATION_OPERATORS)
        if t.effect and t.effect not in TAINT_EFFECTS:
            errs.unsupported(f"{p}.effect", t.effect, TAINT_EFFECTS)


def _validate_weight(errs: FieldErrors, path: str, weight: int) -> None:
    if not 1 <= weight <= 100:
        errs.invalid(path, weight, "must be in the range 1-100")


def _validate_node_selector_requirement(errs: FieldErrors, path: str, req: Any, fields: bool) -> None:
    if fields:
        # Kubernetes: matchFields only on metadata.name, with In/NotIn and exactly one value.
        if req.key != "metadata.name":
            errs.invalid(f"{path}.key", req.key, "not a valid field selector key")
        if req.operator not in ("In", "NotIn"):
            errs.invalid(f"{path}.operator", req.operator, "not a valid selector operator")
        elif len(req.values) != 1:
            errs.required(f"{path}.values", "must be only one value when `operator` is 'In' or 'NotIn' for node "
                                            "field selector")
        return
    if msg := selectors.validate_label_key(req.key):
        errs.invalid(f"{path}.key", req.key, msg)
    if req.operator in ("In", "NotIn"):
        if not req.values:
            errs.required(f"{path}.values", "must be specified when `operator` is 'In' or 'NotIn'")
    elif req.operator in ("Exists", "DoesNotExist"):
        if req.values:
            errs.forbidden(f"{path}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
    elif req.operator in ("Gt", "Lt"):
        if len(req.values) != 1:
            errs.required(f"{path}.values", "must be specified single value when `operator` is 'Lt' or 'Gt'")
        elif not re.fullmatch(r"[+-]?[0-9]+", req.values[0]):
            errs.invalid(f"{path}.values[0]", req.values[0], "must be an integer")
    else:
        errs.invalid(f"{path}.operator", req.operator, "not a valid selector operator")


def _validate_node_selector_term(errs: FieldErrors, path: str, term: Any) -> None:
    for j, req in enumerate(term.match_expressions):
        _validate_node_selector_requirement(errs, f"{path}.matchExpressions[{j}]", req, fields=False)
    for j, req in enumerate(term.match_fields):
        _validate_node_selector_requirement(errs, f"{path}.matchFields[{j}]", req, fields=True)


def _validate_node_affinity(errs: FieldErrors, path: str, aff: Any) -> None:
    if aff.HasField("required_during_scheduling_ignored_during_execution"):
        rp = f"{path}.requiredDuringSchedulingIgnoredDuringExecution"
        terms = aff.required_during_scheduling_ignored_during_execution.node_selector_terms
        if not terms:
            errs.required(f"{rp}.nodeSelectorTerms", "must have at least one node selector term")
        for i, term in enumerate(terms):
            _validate_node_selector_term(errs, f"{rp}.nodeSelectorTerms[{i}]", term)
    for i, pref in enumerate(aff.preferred_during_scheduling_ignored_during_execution):
        pp = f"{path}.preferredDuringSchedulingIgnoredDuringExecution[{i}]"
        _validate_weight(errs, f"{pp}.weight", pref.weight)
        _validate_node_selector_term(errs, f"{pp}.preference", pref.preference)


def validate_pod_status(errs: FieldErrors, status: Any) -> None:
    """Kubernetes' ValidatePodStatusUpdate, the parts kubelab's PodStatus has."""
    if status.phase and status.phase not in POD_PHASES:
        errs.unsupported("status.phase", status.phase, POD_PHASES)
    validate_condition_statuses(errs, "status.conditions", status.conditions)
    if status.host_ip:
        validate_ip(errs, "status.hostIP", status.host_ip)
    if status.pod_ip:
        validate_ip(errs, "status.podIP", status.pod_ip)
    for i, ip in enumerate(status.pod_ips):
        validate_ip(errs, f"status.podIPs[{i}].ip", ip.ip)
    for field, label in (("init_container_statuses", "initContainerStatuses"),
                         ("container_statuses", "containerStatuses")):
        for i, cs in enumerate(getattr(status, field)):
            validate_nonnegative(errs, f"status.{label}[{i}].restartCount", cs.restart_count)


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


def validate_image_reference(errs: FieldErrors, path: str, image: str) -> None:
    """Docker's distribution/reference grammar, in its words: `Nginx:1.16`, `nginx:`, `nginx@sha256:abc`."""
    try:
        parse_normalized(image)
    except InvalidReference as e:
        errs.invalid(path, image, str(e))


def validate_pod_images(errs: FieldErrors, spec: Any) -> None:
    """kube-apiserver's validateContainersOnlyForPod: on pods (not templates) an image has no leading or
    trailing whitespace."""
    for field, label in (("init_containers", "initContainers"), ("containers", "containers")):
        for i, c in enumerate(getattr(spec, field)):
            if c.image != c.image.strip():
                errs.invalid(f"spec.{label}[{i}].image", c.image, "must not have leading or trailing whitespace")


class PodStrategy(Strategy):
    def default(self, obj: Any) -> None:
        default_pod_spec(obj.spec)

    def validate(self, obj: Any) -> FieldErrors:
        errs = super().validate(obj)
        validate_pod_spec(errs, "spec", obj.spec)
        validate_pod_images(errs, obj.spec)
        return errs

    def validate_update(self, new: Any, old: Any) -> FieldErrors:
        errs = super().validate_update(new, old)
        validate_pod_images(errs, new.spec)
        if new.spec.node_name != old.spec.node_name:
            errs.forbidden("spec.nodeName", "may not be changed except through pods/binding")
        elif _mutable_view(new.spec) != _mutable_view(old.spec):
            errs.forbidden("spec", "pod updates may not change fields other than `spec.containers[*].image`, "
                                   "`spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, "
                                   "`spec.tolerations` (only additions to existing tolerations) or "
                                   "`spec.terminationGracePeriodSeconds`")
        return errs

    def validate_status(self, new: Any, old: Any) -> FieldErrors:
        errs = super().validate_status(new, old)
        validate_pod_status(errs, new.status)
        return errs

    def prepare_create(self, obj: Any) -> None:
        super().prepare_create(obj)
        obj.status.phase = "Pending"
        obj.status.qos_class = qos_class(obj.spec)
