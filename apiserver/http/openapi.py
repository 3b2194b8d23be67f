"""OpenAPI documents of the HTTP API, generated from the protos: `/openapi/v2` and `/openapi/v3`.

Sits in the apiserver's HTTP front end beside discovery. Clients nobody here wrote read these:
kubectl 1.37's `explain` and its check that the server takes `fieldValidation`/`dryRun` (on the PATCH
operation tagged with the kind's group-version-kind) read v3; kubectl 1.20's `apply` validation and
`explain` read v2 as protobuf (`openapi_pb`); the Python client and `kubectl edit`/`apply`'s
strategic merge read the `x-kubernetes-patch-*` extensions.

Every schema comes from the message descriptors in `kubelab.v1.objects_pb2` (field names in their
JSON form), under the names Kubernetes gives them (`io.k8s.api.apps.v1.Deployment`,
`io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta`), so `kubectl explain deployment.spec` walks the
same tree it walks on Kubernetes. Documents are built once and kept as bytes.
"""
from __future__ import annotations

import functools
import hashlib
import json
from typing import Any, Iterable

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from kubelab import kinds
from kubelab.v1 import objects_pb2 as pb

from . import versions

META = "io.k8s.apimachinery.pkg.apis.meta.v1"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
TIME = f"{META}.Time"
MICRO_TIME = f"{META}.MicroTime"
FIELDS_V1 = f"{META}.FieldsV1"

# Where each message lives in Kubernetes' API packages (a message not named here is core/v1's).
_META_MESSAGES = {"ObjectMeta", "OwnerReference", "LabelSelector", "LabelSelectorRequirement", "Condition",
                  "ManagedFieldsEntry"}
_PACKAGE_OF_PREFIX = (
    ("ReplicaSet", "io.k8s.api.apps.v1"), ("Deployment", "io.k8s.api.apps.v1"),
    ("RollingUpdateDeployment", "io.k8s.api.apps.v1"),
    ("PodDisruptionBudget", "io.k8s.api.policy.v1"), ("Lease", "io.k8s.api.coordination.v1"),
)
# Messages named whole (discovery/v1's EndpointPort is EndpointSlicePort here: core/v1 has the name).
_NAMED = {**{m: f"io.k8s.api.discovery.v1.{m}" for m in ("EndpointSlice", "Endpoint", "EndpointConditions",
                                                           "EndpointHints", "ForZone", "ForNode")},
          "EndpointSlicePort": "io.k8s.api.discovery.v1.EndpointPort"}

# Fields holding a time (Kubernetes' metav1.Time: RFC 3339 strings) and the one MicroTime.
_TIME_FIELDS = {"creationTimestamp", "deletionTimestamp", "lastTransitionTime", "lastUpdateTime", "lastProbeTime",
                "lastHeartbeatTime", "startedAt", "finishedAt", "startTime", "firstTimestamp", "lastTimestamp",
                "lastObservedTime", "time"}
_MICRO_TIME_FIELDS = {"eventTime", "acquireTime", "renewTime"}
# map<string,string> fields whose values are quantities.
_QUANTITY_MAPS = {("ResourceRequirements", "limits"), ("ResourceRequirements", "requests"),
                  ("NodeStatus", "capacity"), ("NodeStatus", "allocatable")}

# Strategic-merge keys, as Kubernetes' types declare them (`patchStrategy:"merge" patchMergeKey:"..."`):
# what `kubectl apply`/`edit` use to merge lists element by element instead of replacing them.
PATCH_MERGE_KEYS: dict[tuple[str, str], str] = {
    ("PodSpec", "containers"): "name", ("PodSpec", "initContainers"): "name",
    ("PodSpec", "volumes"): "name", ("PodSpec", "imagePullSecrets"): "name",
    ("Container", "ports"): "containerPort", ("Container", "env"): "name",
    ("Container", "volumeMounts"): "mountPath",
    ("ObjectMeta", "ownerReferences"): "uid",
    ("ServiceSpec", "ports"): "port",
    ("NodeSpec", "taints"): "key",
    ("NodeStatus", "addresses"): "type", ("NodeStatus", "conditions"): "type",
    ("PodStatus", "conditions"): "type", ("DeploymentStatus", "conditions"): "type",
    ("ReplicaSetStatus", "conditions"): "type", ("PodDisruptionBudgetStatus", "conditions"): "type",
    ("PodStatus", "podIPs"): "ip",
}
# Keyed lists whose items Kubernetes tells apart by more fields than the merge key (`+listMapKey`), and the
# default a key field takes when an item leaves it out (server-side apply completes keys with it, as
# structured-merge-diff does with the schema's defaults).
LIST_MAP_KEYS: dict[tuple[str, str], list[str]] = {
    ("Container", "ports"): ["containerPort", "protocol"], ("ServiceSpec", "ports"): ["port", "protocol"],
}
LIST_KEY_DEFAULTS = {"protocol": "TCP"}
# Lists merged as sets without a key (`patchStrategy:"merge"` on a list of strings).
PATCH_MERGE_SETS = {("ObjectMeta", "finalizers")}
# Structs replaced whole, never merged field by field (`+structType=atomic`: `x-kubernetes-map-type: atomic`).
# With the two tables above, what server-side apply (apiserver.fieldmanager) reads of the schema.
ATOMIC_MESSAGES = {"LabelSelector"}


def definition_name(message: Descriptor) -> str:
    """Kubernetes' name of the type our message stands for."""
    name = message.name
    if name in _NAMED:
        return _NAMED[name]
    if name in _META_MESSAGES:
        return f"{META}.{name}"
    for prefix, package in _PACKAGE_OF_PREFIX:
        if name.startswith(prefix):
            return f"{package}.{name}"
    return f"io.k8s.api.core.v1.{name}"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/definitions/{name}"}


def _scalar(field: FieldDescriptor) -> dict[str, Any]:
    t = field.type
    if t == FieldDescriptor.TYPE_BOOL:
        return {"type": "boolean"}
    if t in (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_UINT32):
        return {"type": "integer", "format": "int32"}
    if t in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_UINT64):
        return {"type": "integer", "format": "int64"}
    if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return {"type": "number", "format": "double"}
    if field.json_name in _TIME_FIELDS:
        return _ref(TIME)
    if field.json_name in _MICRO_TIME_FIELDS:
        return _ref(MICRO_TIME)
    return {"type": "string"}


def _is_map(field: FieldDescriptor) -> bool:
    return (field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry)


def _field_schema(owner: Descriptor, field: FieldDescriptor) -> dict[str, Any]:
    if _is_map(field):
        value = field.message_type.fields_by_name["value"]
        item = _ref(QUANTITY) if (owner.name, field.json_name) in _QUANTITY_MAPS else _single(owner, value)
        return {"type": "object", "additionalProperties": item}
    one = _single(owner, field)
    if not field.is_repeated:
        return one
    schema: dict[str, Any] = {"type": "array", "items": one}
    key = PATCH_MERGE_KEYS.get((owner.name, field.json_name))
    if key:
        schema["x-kubernetes-patch-merge-key"] = key
        schema["x-kubernetes-patch-strategy"] = "merge"
        schema["x-kubernetes-list-type"] = "map"
        schema["x-kubernetes-list-map-keys"] = LIST_MAP_KEYS.get((owner.name, field.json_name), [key])
    elif (owner.name, field.json_name) in PATCH_MERGE_SETS:
        schema["x-kubernetes-patch-strategy"] = "merge"
        schema["x-kubernetes-list-type"] = "set"
    else:
        schema["x-kubernetes-list-type"] = "atomic"
    return schema


def _single(owner: Descriptor, field: FieldDescriptor) -> dict[str, Any]:
    if field.type != FieldDescriptor.TYPE_MESSAGE:
        return _scalar(field)
    if field.message_type.full_name == "google.protobuf.Value":
        return _ref(INT_OR_STRING)           # every Value field of ours is an int-or-string
    if field.message_type.full_name == "google.protobuf.Struct":
        return _ref(FIELDS_V1)               # the one Struct field of ours is managedFields' fieldsV1
    return _ref(definition_name(field.message_type))


def _description(message: Descriptor, kind: kinds.KindInfo | None) -> str:
    if kind is not None:
        return f"{kind.kind} ({kind.api_version}), served by kubelab."
    return f"{message.name}, as Kubernetes' {definition_name(message).rsplit('.', 1)[0]} has it."


def _message_schema(message: Descriptor) -> dict[str, Any]:
    kind = kinds.BY_MESSAGE.get(message.full_name)
    props: dict[str, Any] = {}
    for f in message.fields:
        props[f.json_name] = _field_schema(message, f)
    schema: dict[str, Any] = {"type": "object", "description": _description(message, kind), "properties": props}
    if kind is not None:
        schema["x-kubernetes-group-version-kind"] = [gvk(kind)]
    if message.name in ATOMIC_MESSAGES:
        schema["x-kubernetes-map-type"] = "atomic"
    if message.name == "Container" or message.name == "ContainerPort":
        schema["required"] = ["name"] if message.name == "Container" else ["containerPort"]
    return schema


def gvk(kind: kinds.KindInfo) -> dict[str, str]:
    return {"group": kind.group, "version": kind.version, "kind": kind.kind}


_OPAQUE = ("google.protobuf.Value", "google.protobuf.Struct")     # shared definitions, not walked


def _walk(message: Descriptor, seen: dict[str, Descriptor]) -> None:
    name = definition_name(message)
    if name in seen:
        return
    seen[name] = message
    for f in message.fields:
        if f.type == FieldDescriptor.TYPE_MESSAGE and f.message_type.full_name not in _OPAQUE:
            target = f.message_type
            if target.GetOptions().map_entry:
                value = target.fields_by_name["value"]
                if value.type == FieldDescriptor.TYPE_MESSAGE:
                    _walk(value.message_type, seen)
                continue
            _walk(target, seen)


def _shared_definitions() -> dict[str, Any]:
    """The apimachinery types every document refers to."""
    return {
        INT_OR_STRING: {"type": "string", "format": "int-or-string",
                        "description": "IntOrString is a type that can hold an int32 or a string."},
        QUANTITY: {"type": "string",
                   "description": "Quantity is a fixed-point representation of a number (`250m`, `128Mi`)."},
        TIME: {"type": "string", "format": "date-time",
               "description": "Time is a wrapper around time.Time, serialized as RFC 3339."},
        MICRO_TIME: {"type": "string", "format": "date-time",
                     "description": "MicroTime is Time with microsecond precision."},
        FIELDS_V1: {"type": "object",
                    "description": "FieldsV1 stores a set of fields in a data structure like a Trie, in JSON format."},
        f"{META}.Status": {"type": "object", "description": "Status is a return value for calls that don't return other objects.",
                           "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                                          "code": {"type": "integer", "format": "int32"},
                                          "message": {"type": "string"}, "reason": {"type": "string"},
                                          "status": {"type": "string"},
                                          "details": {"type": "object"}, "metadata": {"type": "object"}},
                           "x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "Status"}]},
        f"{META}.ListMeta": {"type": "object", "description": "ListMeta describes metadata that synthetic resources must have.",
                             "properties": {"resourceVersion": {"type": "string"}, "continue": {"type": "string"},
                                            "remainingItemCount": {"type": "integer", "format": "int64"}}},
        f"{META}.Patch": {"type": "object", "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body."},
        f"{META}.DeleteOptions": {"type": "object", "description": "DeleteOptions may be provided when deleting an API object.",
                                  "properties": {"gracePeriodSeconds": {"type": "integer", "format": "int64"},
                                                 "propagationPolicy": {"type": "string"},
                                                 "dryRun": {"type": "array", "items": {"type": "string"}}}},
    }


def _list_definition(kind: kinds.KindInfo) -> tuple[str, dict[str, Any]]:
    item = kind_definition(kind)
    return f"{item}List", {
        "type": "object", "description": f"{kind.kind}List is a list of {kind.kind} objects.",
        "required": ["items"],
        "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                       "items": {"type": "array", "items": _ref(item)}, "metadata": _ref(f"{META}.ListMeta")},
        "x-kubernetes-group-version-kind": [{"group": kind.group, "version": kind.version, "kind": f"{kind.kind}List"}],
    }


def definitions(served: Iterable[kinds.KindInfo] = versions.SERVED) -> dict[str, Any]:
    """Every schema the served kinds reach, by Kubernetes' name."""
    seen: dict[str, Descriptor] = {}
    served = list(served)
    for k in served:
        _walk(k.message.DESCRIPTOR, seen)
    out = {name: _message_schema(msg) for name, msg in seen.items()}
    for k in served:
        if versions.alternate(k) is not None:
            out.update(_alternate_definitions(k, out, keep_storage=kinds.BY_KIND[k.kind] in served))
    for k in served:
        name, schema = _list_definition(k)
        out[name] = schema
    out.update(_shared_definitions())
    return dict(sorted(out.items()))


def _package(name: str) -> str:
    return name.rsplit(".", 1)[0]


def kind_definition(kind: kinds.KindInfo) -> str:
    """The definition name of a served kind in its version's package (io.k8s.api.policy.v1beta1.X for an
    alternate version of a kind stored as io.k8s.api.policy.v1.X: apiserver.http.versions)."""
    name = definition_name(kind.message.DESCRIPTOR)
    storage = kinds.BY_KIND[kind.kind]
    if kind.version == storage.version or not _package(name).endswith("." + storage.version):
        return name
    return f"{_package(name)[:-len(storage.version)]}{kind.version}.{name.rsplit('.', 1)[1]}"


def _alternate_definitions(kind: kinds.KindInfo, schemas: dict[str, Any], keep_storage: bool) -> dict[str, Any]:
    """The schemas of the storage version's package again under the alternate version's (same fields, their
    refs and group-version-kind in that version); the storage package's dropped unless it is served too."""
    old, new = _package(definition_name(kind.message.DESCRIPTOR)), _package(kind_definition(kind))
    storage = kinds.BY_KIND[kind.kind]

    def moved(doc: Any) -> Any:
        if isinstance(doc, dict):
            out = {}
            for key, value in doc.items():
                if key == "$ref" and value.startswith(f"#/definitions/{old}."):
                    value = value.replace(f"#/definitions/{old}.", f"#/definitions/{new}.", 1)
                elif key == "x-kubernetes-group-version-kind":
                    value = [dict(g, version=kind.version) if (g["group"], g["version"]) == (storage.group,
                                                                                            storage.version) else g
                             for g in value]
                elif key == "description" and isinstance(value, str):
                    value = value.replace(f"({storage.api_version})", f"({kind.api_version})")
                else:
                    value = moved(value)
                out[key] = value
            return out
        if isinstance(doc, list):
            return [moved(v) for v in doc]
        return doc
    names = [n for n in schemas if _package(n) == old]
    out = {f"{new}.{n.rsplit('.', 1)[1]}": moved(schemas[n]) for n in names}
    if not keep_storage:
        for n in names:
            del schemas[n]
    return out


# ----------------------------------------------------------------------------------------- paths

def _query(name: str, description: str, typ: str = "string") -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "type": typ, "uniqueItems": True}


_DRY_RUN = _query("dryRun", "When present, indicates that modifications should not be persisted. Valid value: All.")
_FIELD_VALIDATION = _query("fieldValidation", "How the server treats unknown or duplicate fields: Ignore, Warn or Strict.")
_FIELD_MANAGER = _query("fieldManager", "A name associated with the actor or entity that is making these changes.")
_PRETTY = _query("pretty", "If 'true', then the output is pretty printed.")
_LIST_PARAMS = [_query("labelSelector", "A selector to restrict the list of returned objects by their labels."),
                _query("fieldSelector", "A selector to restrict the list of returned objects by their fields."),
                _query("limit", "The maximum number of responses to return for a list call.", "integer"),
                _query("continue", "The continue option, from a previous list's metadata."),
                _query("resourceVersion", "Which resourceVersion the list or watch is served at."),
                _query("watch", "Watch for changes to the described resources.", "boolean"),
                _query("allowWatchBookmarks", "Request watch events with type BOOKMARK.", "boolean"),
                _query("timeoutSeconds", "Timeout for the list/watch call.", "integer")]


def _op(kind: kinds.KindInfo, verb: str, action: str, params: list[dict[str, Any]], body: str | None,
        response: str) -> dict[str, Any]:
    # An alternate version's operations are named with their group and version, as Kubernetes names them all
    # (listPolicyV1beta1...): an operationId is unique in a document.
    prefix = "".join(w.capitalize() for w in kind.group.split(".")[:1] + [kind.version]) \
        if versions.alternate(kind) else ""
    op: dict[str, Any] = {
        "operationId": f"{verb}{prefix}{kind.kind}", "description": f"{verb} {kind.kind}",
        "consumes": ["application/json", "application/yaml"] if verb not in ("patch",) else
        ["application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json",
         "application/apply-patch+yaml"],
        "produces": ["application/json", "application/yaml"],
        "parameters": list(params), "responses": {"200": {"description": "OK", "schema": _ref(response)}},
        "tags": [kind.api_version.replace("/", "_").replace(".", "_")],
        "x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk(kind),
    }
    if body:
        op["parameters"].insert(0, {"name": "body", "in": "body", "required": True, "schema": _ref(body)})
    return op


def paths(served: Iterable[kinds.KindInfo] = versions.SERVED) -> dict[str, Any]:
    """Collection and item paths of every served kind, namespaced and (for lists) across namespaces."""
    out: dict[str, Any] = {}
    for k in served:
        base = f"/apis/{k.group}/{k.version}" if k.group else "/api/v1"
        obj = kind_definition(k)
        lst = f"{obj}List"
        ns = "/namespaces/{namespace}" if k.namespaced else ""
        ns_param = [{"name": "namespace", "in": "path", "required": True, "type": "string", "uniqueItems": True}] \
            if k.namespaced else []
        name_param = [{"name": "name", "in": "path", "required": True, "type": "string", "uniqueItems": True}]
        writes = [_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION]
        out[f"{base}{ns}/{k.plural}"] = {
            "parameters": ns_param + [_PRETTY],
            "get": _op(k, "list", "list", _LIST_PARAMS, None, lst),
            "post": _op(k, "create", "post", writes, obj, obj),
            "delete": _op(k, "deletecollection", "deletecollection", _LIST_PARAMS + [_DRY_RUN], None, f"{META}.Status"),
        }
        out[f"{base}{ns}/{k.plural}/{{name}}"] = {
            "parameters": name_param + ns_param + [_PRETTY],
            "get": _op(k, "read", "get", [], None, obj),
            "put": _op(k, "replace", "put", writes, obj, obj),
            "patch": _op(k, "patch", "patch", writes + [_query("force", "Force is going to \"force\" Apply requests.", "boolean")],
                         f"{META}.Patch", obj),
            "delete": _op(k, "delete", "delete", [_DRY_RUN, _query("gracePeriodSeconds", "The duration in seconds before the object should be deleted.", "integer"),
                                                  _query("propagationPolicy", "Whether and how garbage collection will be performed.")],
                          f"{META}.DeleteOptions", f"{META}.Status"),
        }
        if k.has_status:
            out[f"{base}{ns}/{k.plural}/{{name}}/status"] = {
                "parameters": name_param + ns_param + [_PRETTY],
                "get": _op(k, "read" + "Status", "get", [], None, obj),
                "put": _op(k, "replace" + "Status", "put", writes, obj, obj),
                "patch": _op(k, "patch" + "Status", "patch", writes, f"{META}.Patch", obj),
            }
        if k.namespaced:
            out[f"{base}/{k.plural}"] = {"parameters": [_PRETTY],
                                         "get": _op(k, "list" + "ForAllNamespaces", "list", _LIST_PARAMS, None, lst)}
    return dict(sorted(out.items()))


# ------------------------------------------------------------------------------------ documents

def _swagger(served: list[kinds.KindInfo], version: str) -> dict[str, Any]:
    return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": version},
            "paths": paths(served), "definitions": definitions(served)}


@functools.lru_cache(maxsize=4)
def v2_json(version: str) -> bytes:
    """`/openapi/v2` as JSON (what `Accept: application/json` and the Python client get)."""
    return json.dumps(_swagger(list(versions.SERVED), version), separators=(",", ":")).encode()


def group_versions() -> dict[str, list[kinds.KindInfo]]:
    """The v3 document names (`api/v1`, `apis/apps/v1`) and the kinds each serves."""
    out: dict[str, list[kinds.KindInfo]] = {}
    for k in versions.SERVED:
        out.setdefault(f"apis/{k.group}/{k.version}" if k.group else "api/v1", []).append(k)
    return out


def _to_v3_refs(doc: Any) -> Any:
    """Swagger 2's `#/definitions/X` refs become OpenAPI 3's `#/components/schemas/X`."""
    if isinstance(doc, dict):
        out = {}
        for key, value in doc.items():
            if key == "$ref" and isinstance(value, str):
                # OpenAPI 3.0 ignores siblings of $ref; Kubernetes wraps refs in allOf for the same reason.
                out[key] = value.replace("#/definitions/", "#/components/schemas/")
            else:
                out[key] = _to_v3_refs(value)
        return out
    if isinstance(doc, list):
        return [_to_v3_refs(v) for v in doc]
    return doc


def _v3_operation(op: dict[str, Any]) -> dict[str, Any]:
    params = []
    body = None
    for p in op["parameters"]:
        if p["in"] == "body":
            body = p
            continue
        params.append({"name": p["name"], "in": p["in"], "description": p.get("description", ""),
                       "required": p.get("required", False), "schema": {"type": p["type"], "uniqueItems": True}})
    out = {k: v for k, v in op.items() if k not in ("parameters", "consumes", "produces", "responses")}
    out["parameters"] = params
    out["responses"] = {"200": {"description": "OK", "content": {
        t: {"schema": _to_v3_refs(op["responses"]["200"]["schema"])} for t in op["produces"]}}}
    if body is not None:
        out["requestBody"] = {"content": {t: {"schema": _to_v3_refs(body["schema"])} for t in op["consumes"]},
                              "required": True}
    return out


def _v3_document(served: list[kinds.KindInfo], version: str) -> dict[str, Any]:
    sw = _swagger(served, version)
    v3_paths: dict[str, Any] = {}
    for path, item in sw["paths"].items():
        entry: dict[str, Any] = {}
        for method, op in item.items():
            if method == "parameters":
                entry["parameters"] = [{"name": p["name"], "in": p["in"], "description": p.get("description", ""),
                                        "required": p.get("required", False),
                                        "schema": {"type": p["type"], "uniqueItems": True}} for p in op]
            else:
                entry[method] = _v3_operation(op)
        v3_paths[path] = entry
    schemas = _to_v3_refs(sw["definitions"])
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": version},
            "paths": v3_paths, "components": {"schemas": schemas}}


@functools.lru_cache(maxsize=16)
def v3_document(name: str, version: str) -> bytes | None:
    """`/openapi/v3/<name>` as JSON, or None when no group-version of that name is served."""
    served = group_versions().get(name)
    if served is None:
        return None
    return json.dumps(_v3_document(served, version), separators=(",", ":")).encode()


def v3_hash(name: str, version: str) -> str:
    """The content hash clients cache a v3 document under (`?hash=`), as kube-apiserver gives it."""
    body = v3_document(name, version) or b""
    return hashlib.sha512(body).hexdigest()[:128].upper()


@functools.lru_cache(maxsize=4)
def v3_index(version: str) -> bytes:
    """`/openapi/v3`: where each group-version's document is, with its hash."""
    return json.dumps({"paths": {name: {"serverRelativeURL": f"/openapi/v3/{name}?hash={v3_hash(name, version)}"}
                                 for name in group_versions()}}, separators=(",", ":")).encode()


@functools.lru_cache(maxsize=4)
def v2_protobuf(version: str) -> bytes:
    """`/openapi/v2` in gnostic's protobuf encoding (kubectl before 1.27 asks for nothing else)."""
    from apiserver.http import openapi_pb
    return openapi_pb.encode(_swagger(list(versions.SERVED), version))
