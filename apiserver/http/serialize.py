"""Objects as Kubernetes writes them on the wire.

`manifests.to_dict` gives protobuf's JSON mapping, which leaves out every zero value. Kubernetes' Go
types leave out only fields tagged `omitempty`: the others are always written, and clients generated
from the OpenAPI schema (the official Python client) require them (`V1ContainerStatus.restartCount`).
ALWAYS lists, per proto message, the fields of our kinds that Kubernetes' types write without
omitempty (k8s.io/api core/v1, apps/v1, policy/v1, coordination/v1 types.go), and `to_wire` fills them.
Go also writes struct-valued fields even when empty (`status: {}`): the object's metadata, spec and
status are written so.
"""
from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from kubelab import kinds, manifests

# message name -> JSON field names Kubernetes writes even when zero (no omitempty in its Go json tag).
ALWAYS: dict[str, tuple[str, ...]] = {
    "ContainerStatus": ("name", "ready", "restartCount", "image", "imageID"),
    "ContainerPort": ("containerPort",),
    "Container": ("name",),
    "Condition": ("type", "status"),
    "OwnerReference": ("apiVersion", "kind", "name", "uid"),
    "LabelSelectorRequirement": ("key", "operator"),
    "NodeSelectorRequirement": ("key", "operator"),
    "NodeSelector": ("nodeSelectorTerms",),
    "HostPathVolumeSource": ("path",),
    "NodeAddress": ("type", "address"),
    "NodeSystemInfo": ("machineID", "systemUUID", "bootID", "kernelVersion", "osImage",
                       "containerRuntimeVersion", "kubeletVersion", "kubeProxyVersion", "operatingSystem",
                       "architecture"),
    "DaemonEndpoint": ("Port",),
    "Taint": ("key", "effect"),
    "EnvVar": ("name",),
    "VolumeMount": ("name", "mountPath"),
    "Volume": ("name",),
    "HTTPHeader": ("name", "value"),
    "ContainerStateTerminated": ("exitCode",),
    "PodIP": ("ip",),
    "ReplicaSetStatus": ("replicas",),
    "ServicePort": ("port",),
    "EndpointAddress": ("ip",),
    "EndpointPort": ("port",),
    "PodDisruptionBudgetStatus": ("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods"),
    "PodAffinityTerm": ("topologyKey",),
    "WeightedPodAffinityTerm": ("weight", "podAffinityTerm"),
    "PreferredSchedulingTerm": ("weight", "preference"),
    "Event": ("involvedObject", "reportingComponent", "reportingInstance"),
    "KeySelector": ("key",),
    "ObjectFieldSelector": ("fieldPath",),
    "ResourceFieldSelector": ("resource",),
}

_ZERO_BY_TYPE = {FieldDescriptor.TYPE_BOOL: False, FieldDescriptor.TYPE_STRING: ""}


def _zero(field: FieldDescriptor) -> Any:
    if field.is_repeated:
        return [] if field.message_type is None or not field.message_type.GetOptions().map_entry else {}
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return {}
    return _ZERO_BY_TYPE.get(field.type, 0)


@lru_cache(maxsize=None)
def _fields(desc: Descriptor) -> dict[str, FieldDescriptor]:
    return {f.json_name: f for f in desc.fields}


def _fill(d: dict[str, Any], desc: Descriptor) -> None:
    fields = _fields(desc)
    for name in ALWAYS.get(desc.name, ()):
        if name not in d and name in fields:
            d[name] = _zero(fields[name])
    for name, value in d.items():
        field = fields.get(name)
        if field is None or field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        sub = field.message_type
        if sub.GetOptions().map_entry or sub.full_name.startswith("google.protobuf."):
            continue
        if field.is_repeated:
            for item in value:
                if isinstance(item, dict):
                    _fill(item, sub)
        elif isinstance(value, dict):
            _fill(value, sub)


def to_wire(obj: Message) -> dict[str, Any]:
    """One object's JSON form, as kube-apiserver writes it."""
    d = manifests.to_dict(obj)
    desc = obj.DESCRIPTOR
    for top in ("metadata", "spec", "status"):
        if top in desc.fields_by_name and top not in d:
            d[top] = {}
    _fill(d, desc)
    return d


def list_wire(info: kinds.KindInfo, items: list[Message], resource_version: str,
              continue_token: str = "", remaining: int | None = None) -> dict[str, Any]:
    """A `<Kind>List`, with its ListMeta."""
    meta: dict[str, Any] = {"resourceVersion": resource_version}
    if continue_token:
        meta["continue"] = continue_token
    if remaining is not None:
        meta["remainingItemCount"] = remaining
    return {"kind": f"{info.kind}List", "apiVersion": info.api_version, "metadata": meta,
            "items": [to_wire(o) for o in items]}


def dumps(doc: Any) -> bytes:
    """Compact JSON, as kube-apiserver writes it (UTF-8, no spaces)."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
