"""Validation helpers and the Strategy base shared by every kind's module.

Errors are collected as FieldErrors with Kubernetes' wording and field
paths, then raised together as one Invalid: `Pod "x" is invalid: spec...`.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Iterable

from google.protobuf import struct_pb2

from kubelab import errors, kinds
from kubelab import selectors
from kubelab.quantity import QuantityError, parse_quantity


# The most of a value an error shows. Kubernetes shows it whole, but a gRPC status travels in a trailer a client
# refuses past 8 KiB: a 10,000-character name would turn its Invalid into a transport error.
MAX_SHOWN_VALUE = 256


def shown(value: str) -> str:
    """`value` as an error message shows it: whole, or its start and `...`."""
    return value if len(value) <= MAX_SHOWN_VALUE else value[:MAX_SHOWN_VALUE] + "..."


@dataclass
class FieldError:
    path: str
    kind: str          # "Invalid value", "Required value", "Unsupported value", "Forbidden", "Duplicate value"
    value: Any = None
    detail: str = ""

    def __str__(self) -> str:
        if self.kind in ("Required value", "Forbidden"):
            return f"{self.path}: {self.kind}" + (f": {self.detail}" if self.detail else "")
        value = f'"{shown(self.value)}"' if isinstance(self.value, str) else shown(str(self.value))
        return f"{self.path}: {self.kind}: {value}" + (f": {self.detail}" if self.detail else "")


class FieldErrors(list[FieldError]):
    def invalid(self, path: str, value: Any, detail: str) -> None:
        self.append(FieldError(path, "Invalid value", value, detail))

    def required(self, path: str, detail: str = "") -> None:
        self.append(FieldError(path, "Required value", None, detail))

    def unsupported(self, path: str, value: Any, supported: Iterable[str]) -> None:
        quoted = ", ".join(f'"{s}"' for s in supported)
        self.append(FieldError(path, "Unsupported value", value, f"supported values: {quoted}"))

    def forbidden(self, path: str, detail: str) -> None:
        self.append(FieldError(path, "Forbidden", None, detail))

    def duplicate(self, path: str, value: Any) -> None:
        self.append(FieldError(path, "Duplicate value", value))


def raise_invalid(obj: Any, errs: FieldErrors) -> None:
    if errs:
        info = kinds.info_of(obj)
        name = obj.metadata.name or obj.metadata.generate_name
        err = errors.Invalid(f'{info.kind} "{shown(name)}" is invalid: ' + ", ".join(str(e) for e in errs))
        err.causes = list(errs)      # type: ignore[attr-defined]  # the HTTP API's Status lists them (field paths)
        raise err


# ------------------------------------------------------------------ names & metadata
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_LABEL_RE = re.compile(f"^{_DNS1035_LABEL_FMT}$")


def validate_dns1035_label(name: str) -> str | None:
    """Kubernetes' IsDNS1035Label: what a Service name must be (it becomes a DNS label and an env var prefix)."""
    problems = []
    if len(name) > 63:
        problems.append("must be no more than 63 characters")
    if not _DNS1035_LABEL_RE.match(name):
        problems.append("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                        "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
                        f"'abc-123', regex used for validation is '{_DNS1035_LABEL_FMT}')")
    return "; ".join(problems) or None


def validate_path_segment_name(name: str) -> str | None:
    """Kubernetes' IsValidPathSegmentName: what RBAC objects' names must be (`system:kube-scheduler` is one)."""
    if name in (".", ".."):
        return f"may not be '{name}'"
    return "; ".join(f"may not contain '{c}'" for c in "/%" if c in name) or None


# Strategy.name_format / validate_name's `fmt`: which Kubernetes name rule a kind's names follow.
NAME_CHECKS = {
    "subdomain": selectors.validate_dns1123_subdomain,
    "label": selectors.validate_dns1123_label,
    "dns1035": validate_dns1035_label,
    "path": validate_path_segment_name,
}


def name_problem(name: str, label: bool = False, fmt: str = "") -> str:
    """Why `name` breaks the rule `fmt` (default: a DNS-1123 label if `label`, else a subdomain); "" if it does not."""
    return NAME_CHECKS[fmt or ("label" if label else "subdomain")](name) or ""


def validate_name(errs: FieldErrors, path: str, name: str, label: bool = False, fmt: str = "") -> None:
    if msg := name_problem(name, label, fmt):
        errs.invalid(path, name, msg)


def validate_qualified_name(errs: FieldErrors, path: str, name: str) -> None:
    """A Kubernetes qualified name (`name` or `example.com/name`), as label keys are."""
    if msg := selectors.validate_label_key(name):
        errs.invalid(path, name, msg)


# Finalizers Kubernetes knows without a domain prefix; any other must be qualified (`example.com/x`).
STANDARD_FINALIZERS = ("kubernetes", "orphan", "foregroundDeletion")


def validate_finalizers(errs: FieldErrors, path: str, finalizers: Any) -> None:
    for i, f in enumerate(finalizers):
        if msg := selectors.validate_label_key(f):
            errs.invalid(f"{path}[{i}]", f, msg)
        elif "/" not in f and f not in STANDARD_FINALIZERS:
            errs.invalid(f"{path}[{i}]", f, "name is neither a standard finalizer name nor is it fully qualified")


def validate_owner_references(errs: FieldErrors, path: str, refs: Any) -> None:
    controllers = 0
    for i, ref in enumerate(refs):
        p = f"{path}[{i}]"
        for field, value, what in (("apiVersion", ref.api_version, "version"), ("kind", ref.kind, "kind"),
                                   ("name", ref.name, "name"), ("uid", ref.uid, "uid")):
            if not value:
                errs.invalid(f"{p}.{field}", value, f"{what} must not be empty")
        controllers += bool(ref.HasField("controller") and ref.controller)
    if controllers > 1:
        errs.invalid(path, controllers, "Only one reference can have Controller set to true")


def validate_labels(errs: FieldErrors, path: str, labels: Any) -> None:
    for k, v in labels.items():
        if msg := selectors.validate_label_key(k):
            errs.invalid(f"{path}", k, msg)
        if msg := selectors.validate_label_value(v):
            errs.invalid(f"{path}", v, msg)


def validate_annotations(errs: FieldErrors, path: str, annotations: Any) -> None:
    total = 0
    for k, v in annotations.items():
        if msg := selectors.validate_label_key(k):
            errs.invalid(path, k, msg)
        total += len(k) + len(v)
    if total > 256 * 1024:
        errs.append(FieldError(path, "Too long", "", "must have at most 262144 bytes"))


def validate_metadata(errs: FieldErrors, obj: Any, namespaced: bool, label_name: bool = False,
                      name_format: str = "") -> None:
    md = obj.metadata
    fmt = name_format or ("label" if label_name else "subdomain")
    if not md.name and not md.generate_name:
        errs.required("metadata.name", "name or generateName is required")
    elif md.name:
        validate_name(errs, "metadata.name", md.name, fmt=fmt)
    if md.generate_name:
        # Checked as a name under the kind's own rule, a trailing "-" allowed (the suffix follows it), as
        # Kubernetes does; the generated name itself is checked as metadata.name.
        prefix = md.generate_name[:-1] + "a" if md.generate_name.endswith("-") else md.generate_name
        if msg := name_problem(prefix, fmt=fmt):
            errs.invalid("metadata.generateName", md.generate_name, msg)
    if namespaced and md.namespace:
        validate_name(errs, "metadata.namespace", md.namespace, label=True)
    validate_labels(errs, "metadata.labels", md.labels)
    validate_annotations(errs, "metadata.annotations", md.annotations)
    validate_finalizers(errs, "metadata.finalizers", md.finalizers)
    validate_owner_references(errs, "metadata.ownerReferences", md.owner_references)


def validate_metadata_update(errs: FieldErrors, new: Any, old: Any) -> None:
    if new.metadata.uid and new.metadata.uid != old.metadata.uid:
        errs.invalid("metadata.uid", new.metadata.uid, "field is immutable")
    if new.metadata.creation_timestamp and new.metadata.creation_timestamp != old.metadata.creation_timestamp:
        errs.invalid("metadata.creationTimestamp", new.metadata.creation_timestamp, "field is immutable")


def validate_label_selector(errs: FieldErrors, path: str, sel: Any, required: bool = True) -> None:
    if not sel.match_labels and not sel.match_expressions:
        if required:
            errs.required(path)
        return
    validate_labels(errs, f"{path}.matchLabels", sel.match_labels)
    ops = ("In", "NotIn", "Exists", "DoesNotExist")
    for i, req in enumerate(sel.match_expressions):
        p = f"{path}.matchExpressions[{i}]"
        if msg := selectors.validate_label_key(req.key):
            errs.invalid(f"{p}.key", req.key, msg)
        if req.operator not in ops:
            errs.unsupported(f"{p}.operator", req.operator, ops)
        elif req.operator in ("In", "NotIn") and not req.values:
            errs.required(f"{p}.values", "must be specified when `operator` is 'In' or 'NotIn'")
        elif req.operator in ("Exists", "DoesNotExist") and req.values:
            errs.forbidden(f"{p}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
        for j, value in enumerate(req.values):
            if msg := selectors.validate_label_value(value):
                errs.invalid(f"{p}.values[{j}]", value, msg)


def valid_selector_of(sel: Any) -> selectors.Selector | None:
    """The LabelSelector's selector, or None when it is invalid (validate_label_selector has said why)."""
    try:
        return selectors.from_label_selector(sel.match_labels, sel.match_expressions)
    except selectors.SelectorError:
        return None


# ------------------------------------------------------------------ ports, int-or-string, quantities
_IANA_SVC_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


def validate_port_number(errs: FieldErrors, path: str, port: int, allow_zero: bool = False) -> None:
    if allow_zero and port == 0:
        return
    if not 1 <= port <= 65535:
        errs.invalid(path, port, "must be between 1 and 65535, inclusive")


def validate_port_name(errs: FieldErrors, path: str, name: str) -> None:
    if len(name) > 15:
        errs.invalid(path, name, "must be no more than 15 characters")
    elif not _IANA_SVC_NAME.match(name) or "--" in name:
        errs.invalid(path, name, "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    elif not re.search(r"[a-z]", name):
        errs.invalid(path, name, "must contain at least one letter (a-z)")


def is_set(v: struct_pb2.Value) -> bool:
    return v.WhichOneof("kind") is not None and v.WhichOneof("kind") != "null_value"


def int_or_string(v: struct_pb2.Value) -> int | str | None:
    kind = v.WhichOneof("kind")
    if kind == "number_value":
        return int(v.number_value) if float(v.number_value).is_integer() else v.number_value  # type: ignore[return-value]
    if kind == "string_value":
        return v.string_value
    return None


def validate_int_or_string(errs: FieldErrors, path: str, v: struct_pb2.Value) -> None:
    kind = v.WhichOneof("kind")
    if kind == "number_value":
        if not float(v.number_value).is_integer():
            errs.invalid(path, v.number_value, "must be an integer")
        elif not -2 ** 31 <= v.number_value < 2 ** 31:     # an IntOrString's int is an int32
            errs.invalid(path, int(v.number_value), "must be between -2147483648 and 2147483647, inclusive")
    elif kind not in (None, "string_value", "null_value"):
        errs.invalid(path, "", "must be an integer or a string")


def validate_target_port(errs: FieldErrors, path: str, v: struct_pb2.Value) -> None:
    validate_int_or_string(errs, path, v)
    val = int_or_string(v)
    if isinstance(val, int):
        validate_port_number(errs, path, val)
    elif isinstance(val, str):
        validate_port_name(errs, path, val)


_PERCENT = re.compile(r"^(\d+)%$")


def validate_int_or_percent(errs: FieldErrors, path: str, v: struct_pb2.Value) -> None:
    validate_int_or_string(errs, path, v)
    val = int_or_string(v)
    if isinstance(val, int) and val < 0:
        errs.invalid(path, val, "must be greater than or equal to 0")
    elif isinstance(val, str):
        m = _PERCENT.match(val)
        if not m:
            errs.invalid(path, val, "a valid percent string must be a numeric string followed by an ending '%' "
                                    "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')")
        elif int(m.group(1)) > 100:
            errs.invalid(path, val, "must not be greater than 100%")


def validate_quantity(errs: FieldErrors, path: str, q: str) -> None:
    try:
        if parse_quantity(q) < 0:
            errs.invalid(path, q, "must be greater than or equal to 0")
    except QuantityError:
        errs.invalid(path, q, "quantities must match the regular expression "
                              "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")


def validate_quantities(errs: FieldErrors, path: str, values: Any) -> None:
    for name, q in values.items():
        validate_quantity(errs, f"{path}.{name}", q)


_STANDARD_CONTAINER_RESOURCES = ("cpu", "memory", "ephemeral-storage")
_STANDARD_RESOURCES = _STANDARD_CONTAINER_RESOURCES + ("pods", "services", "storage", "persistentvolumeclaims")


def validate_container_resource_name(errs: FieldErrors, path: str, name: str) -> None:
    """Kubernetes' validateContainerResourceName: cpu, memory, ephemeral-storage, hugepages-<size>, or a
    fully qualified extended resource (`example.com/gpu`)."""
    if msg := selectors.validate_label_key(name):
        errs.invalid(path, name, msg)
    elif "/" not in name:
        if name.startswith("hugepages-"):
            return
        if name not in _STANDARD_RESOURCES:
            errs.invalid(path, name, "must be a standard resource type or fully qualified")
        if name not in _STANDARD_CONTAINER_RESOURCES:
            errs.invalid(path, name, "must be a standard resource for containers")
    elif "kubernetes.io/" not in name and name.startswith("requests."):
        errs.invalid(path, name, "doesn't follow extended resource name standard")


# ------------------------------------------------------------------ numbers, IPs, CIDRs
def validate_nonnegative(errs: FieldErrors, path: str, value: int) -> None:
    if value < 0:
        errs.invalid(path, value, "must be greater than or equal to 0")


IP_MSG = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"


def is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


def validate_ip(errs: FieldErrors, path: str, value: str) -> None:
    if not is_ip(value):
        errs.invalid(path, value, IP_MSG)


def validate_cidr(errs: FieldErrors, path: str, value: str) -> None:
    try:
        ipaddress.ip_network(value, strict=False)   # Kubernetes' ParseCIDRSloppy accepts host bits too
        ok = "/" in value
    except ValueError:
        ok = False
    if not ok:
        errs.invalid(path, value, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)")


CONDITION_STATUSES = ("True", "False", "Unknown")


def validate_condition_statuses(errs: FieldErrors, path: str, conditions: Any) -> None:
    for i, c in enumerate(conditions):
        if c.status not in CONDITION_STATUSES:
            errs.unsupported(f"{path}[{i}].status", c.status, CONDITION_STATUSES)


# ------------------------------------------------------------------ strategy
class Strategy:
    """Per-kind behaviour; subclasses override what differs.

    `default` fills unset fields; `validate`/`validate_update` return
    FieldErrors; `prepare_create`/`prepare_update` decide what a client may
    set (status is written only through the status subresource).
    """

    label_name = False           # Namespace and Endpoints names are DNS-1123 labels
    name_format = ""             # or a NAME_CHECKS key ("dns1035" for Services); overrides label_name
    clear_status_on_create = True
    generation_on_spec_change = False

    def __init__(self, info: kinds.KindInfo) -> None:
        self.info = info

    def default(self, obj: Any) -> None:
        pass

    def validate(self, obj: Any) -> FieldErrors:
        errs = FieldErrors()
        validate_metadata(errs, obj, self.info.namespaced, self.label_name, self.name_format)
        return errs

    def validate_update(self, new: Any, old: Any) -> FieldErrors:
        errs = self.validate(new)
        validate_metadata_update(errs, new, old)
        return errs

    def prepare_create(self, obj: Any) -> None:
        if self.clear_status_on_create and self.info.has_status:
            obj.ClearField("status")
        if self.generation_on_spec_change:
            obj.metadata.generation = 1

    def prepare_update(self, new: Any, old: Any) -> None:
        """A spec update keeps the stored status; spec changes bump generation."""
        if self.info.has_status:
            # HasField matters: copying an unset status would mark it set and turn a no-op into a write.
            if old.HasField("status"):
                new.status.CopyFrom(old.status)
            else:
                new.ClearField("status")
        if self.generation_on_spec_change:
            changed = new.spec.SerializeToString(deterministic=True) != old.spec.SerializeToString(
                deterministic=True)
            new.metadata.generation = old.metadata.generation + (1 if changed else 0)

    def prepare_status_update(self, new: Any, old: Any) -> None:
        """A status update changes only status (and nothing in metadata but what the server sets)."""
        status = type(new.status)()
        status.CopyFrom(new.status)
        new.CopyFrom(old)
        new.status.CopyFrom(status)

    def validate_status(self, new: Any, old: Any) -> FieldErrors:
        """A status write: kinds with status rules override this (the rest of the object is the stored one)."""
        return FieldErrors()
