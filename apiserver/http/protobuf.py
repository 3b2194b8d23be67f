"""Request bodies in Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`), read into the
JSON document the rest of the request path takes.

kubectl's typed clients (`create deployment|namespace|service|pdb`, `auth can-i`, `drain`'s evictions)
send protobuf only, so a server that refused it would leave them unusable. The encoding is `k8s\\0` and a
runtime.Unknown {typeMeta {apiVersion, kind}, raw}, `raw` being the object in the field numbering of
k8s.io/api's generated.proto. SCHEMA lists that numbering for the messages of our kinds (and the few
request types above); a field it does not list is skipped, as a field our kinds do not have would be
dropped from JSON. Answers stay JSON: every client that sends protobuf also accepts JSON.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from kubelab import errors

MAGIC = b"k8s\x00"
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"

# Field kinds: s string, i integer, b bool, t Time/MicroTime, q Quantity, ios IntOrString, mss map<string,
# string>, msq map<string, Quantity>, B bytes; anything else names a message in SCHEMA. A trailing `*`
# marks a repeated field.
_META = {1: ("name", "s"), 2: ("generateName", "s"), 3: ("namespace", "s"), 5: ("uid", "s"),
         6: ("resourceVersion", "s"), 7: ("generation", "i"), 8: ("creationTimestamp", "t"),
         9: ("deletionTimestamp", "t"), 10: ("deletionGracePeriodSeconds", "i"), 11: ("labels", "mss"),
         12: ("annotations", "mss"), 13: ("ownerReferences", "OwnerReference*"), 14: ("finalizers", "s*")}
_OBJECT = {1: ("metadata", "ObjectMeta"), 3: ("status", "-")}      # status is not taken from a request

SCHEMA: dict[str, dict[int, tuple[str, str]]] = {
    "Unknown": {1: ("typeMeta", "TypeMeta"), 2: ("raw", "B"), 3: ("contentEncoding", "s"),
                4: ("contentType", "s")},
    "TypeMeta": {1: ("apiVersion", "s"), 2: ("kind", "s")},
    "ObjectMeta": _META,
    "OwnerReference": {1: ("kind", "s"), 3: ("name", "s"), 4: ("uid", "s"), 5: ("apiVersion", "s"),
                       6: ("controller", "b"), 7: ("blockOwnerDeletion", "b")},
    "LabelSelector": {1: ("matchLabels", "mss"), 2: ("matchExpressions", "LabelSelectorRequirement*")},
    "LabelSelectorRequirement": {1: ("key", "s"), 2: ("operator", "s"), 3: ("values", "s*")},
    "DeleteOptions": {1: ("gracePeriodSeconds", "i"), 2: ("preconditions", "Preconditions"),
                      3: ("orphanDependents", "b"), 4: ("propagationPolicy", "s"), 5: ("dryRun", "s*")},
    "Preconditions": {1: ("uid", "s"), 2: ("resourceVersion", "s")},
    # core/v1
    "Namespace": {**_OBJECT, 2: ("spec", "NamespaceSpec")},
    "NamespaceSpec": {1: ("finalizers", "s*")},
    "Pod": {**_OBJECT, 2: ("spec", "PodSpec")},
    "PodTemplateSpec": {1: ("metadata", "ObjectMeta"), 2: ("spec", "PodSpec")},
    "PodSpec": {1: ("volumes", "Volume*"), 20: ("initContainers", "Container*"), 2: ("containers", "Container*"),
                3: ("restartPolicy", "s"), 4: ("terminationGracePeriodSeconds", "i"),
                5: ("activeDeadlineSeconds", "i"), 6: ("dnsPolicy", "s"), 7: ("nodeSelector", "mss"),
                8: ("serviceAccountName", "s"), 9: ("serviceAccount", "s"), 21: ("automountServiceAccountToken", "b"),
                10: ("nodeName", "s"), 11: ("hostNetwork", "b"), 16: ("hostname", "s"), 17: ("subdomain", "s"),
                19: ("schedulerName", "s"), 22: ("tolerations", "Toleration*"), 24: ("priorityClassName", "s"),
                25: ("priority", "i"), 30: ("enableServiceLinks", "b")},
    "Container": {1: ("name", "s"), 2: ("image", "s"), 3: ("command", "s*"), 4: ("args", "s*"),
                  5: ("workingDir", "s"), 6: ("ports", "ContainerPort*"), 7: ("env", "EnvVar*"),
                  8: ("resources", "ResourceRequirements"), 9: ("volumeMounts", "VolumeMount*"),
                  10: ("livenessProbe", "Probe"), 11: ("readinessProbe", "Probe"), 22: ("startupProbe", "Probe"),
                  13: ("terminationMessagePath", "s"), 20: ("terminationMessagePolicy", "s"),
                  14: ("imagePullPolicy", "s"), 16: ("stdin", "b"), 17: ("stdinOnce", "b"), 18: ("tty", "b")},
    "ContainerPort": {1: ("name", "s"), 2: ("hostPort", "i"), 3: ("containerPort", "i"), 4: ("protocol", "s"),
                      5: ("hostIP", "s")},
    "ResourceRequirements": {1: ("limits", "msq"), 2: ("requests", "msq")},
    "EnvVar": {1: ("name", "s"), 2: ("value", "s"), 3: ("valueFrom", "EnvVarSource")},
    "EnvVarSource": {1: ("fieldRef", "ObjectFieldSelector")},
    "ObjectFieldSelector": {1: ("apiVersion", "s"), 2: ("fieldPath", "s")},
    "VolumeMount": {1: ("name", "s"), 2: ("readOnly", "b"), 3: ("mountPath", "s"), 4: ("subPath", "s")},
    "Volume": {1: ("name", "s"), 2: ("", "VolumeSource")},          # VolumeSource is inlined in JSON
    "VolumeSource": {1: ("hostPath", "HostPathVolumeSource"), 2: ("emptyDir", "EmptyDirVolumeSource")},
    "HostPathVolumeSource": {1: ("path", "s"), 2: ("type", "s")},
    "EmptyDirVolumeSource": {1: ("medium", "s"), 2: ("sizeLimit", "q")},
    "Probe": {1: ("", "ProbeHandler"), 2: ("initialDelaySeconds", "i"), 3: ("timeoutSeconds", "i"),
              4: ("periodSeconds", "i"), 5: ("successThreshold", "i"), 6: ("failureThreshold", "i")},
    "ProbeHandler": {1: ("exec", "ExecAction"), 2: ("httpGet", "HTTPGetAction"), 3: ("tcpSocket", "TCPSocketAction")},
    "ExecAction": {1: ("command", "s*")},
    "HTTPGetAction": {1: ("path", "s"), 2: ("port", "ios"), 3: ("host", "s"), 4: ("scheme", "s")},
    "TCPSocketAction": {1: ("port", "ios"), 2: ("host", "s")},
    "Toleration": {1: ("key", "s"), 2: ("operator", "s"), 3: ("value", "s"), 4: ("effect", "s"),
                   5: ("tolerationSeconds", "i")},
    "Service": {**_OBJECT, 2: ("spec", "ServiceSpec")},
    "ServiceSpec": {1: ("ports", "ServicePort*"), 2: ("selector", "mss"), 3: ("clusterIP", "s"),
                    18: ("clusterIPs", "s*"), 4: ("type", "s"), 5: ("externalIPs", "s*"),
                    7: ("sessionAffinity", "s"), 8: ("loadBalancerIP", "s"), 10: ("externalName", "s"),
                    11: ("externalTrafficPolicy", "s"), 19: ("ipFamilies", "s*"), 17: ("ipFamilyPolicy", "s"),
                    22: ("internalTrafficPolicy", "s")},
    "ServicePort": {1: ("name", "s"), 2: ("protocol", "s"), 6: ("appProtocol", "s"), 3: ("port", "i"),
                    4: ("targetPort", "ios"), 5: ("nodePort", "i")},
    "Binding": {1: ("metadata", "ObjectMeta"), 2: ("target", "ObjectReference")},
    "ObjectReference": {1: ("kind", "s"), 2: ("namespace", "s"), 3: ("name", "s"), 4: ("uid", "s"),
                        5: ("apiVersion", "s"), 6: ("resourceVersion", "s"), 7: ("fieldPath", "s")},
    # apps/v1
    "Deployment": {**_OBJECT, 2: ("spec", "DeploymentSpec")},
    "DeploymentSpec": {1: ("replicas", "i"), 2: ("selector", "LabelSelector"), 3: ("template", "PodTemplateSpec"),
                       4: ("strategy", "DeploymentStrategy"), 5: ("minReadySeconds", "i"),
                       6: ("revisionHistoryLimit", "i"), 7: ("paused", "b"), 9: ("progressDeadlineSeconds", "i")},
    "DeploymentStrategy": {1: ("type", "s"), 2: ("rollingUpdate", "RollingUpdateDeployment")},
    "RollingUpdateDeployment": {1: ("maxUnavailable", "ios"), 2: ("maxSurge", "ios")},
    "ReplicaSet": {**_OBJECT, 2: ("spec", "ReplicaSetSpec")},
    "ReplicaSetSpec": {1: ("replicas", "i"), 4: ("minReadySeconds", "i"), 2: ("selector", "LabelSelector"),
                       3: ("template", "PodTemplateSpec")},
    # policy/v1
    "PodDisruptionBudget": {**_OBJECT, 2: ("spec", "PodDisruptionBudgetSpec")},
    "PodDisruptionBudgetSpec": {1: ("minAvailable", "ios"), 2: ("selector", "LabelSelector"),
                                3: ("maxUnavailable", "ios"), 4: ("unhealthyPodEvictionPolicy", "s")},
    "Eviction": {1: ("metadata", "ObjectMeta"), 2: ("deleteOptions", "DeleteOptions")},
    # coordination/v1
    "Lease": {1: ("metadata", "ObjectMeta"), 2: ("spec", "LeaseSpec")},
    "LeaseSpec": {1: ("holderIdentity", "s"), 2: ("leaseDurationSeconds", "i"), 3: ("acquireTime", "t"),
                  4: ("renewTime", "t"), 5: ("leaseTransitions", "i")},
    # rbac.authorization.k8s.io/v1 (kubectl create role|clusterrole|rolebinding|clusterrolebinding)
    "Role": {1: ("metadata", "ObjectMeta"), 2: ("rules", "PolicyRule*")},
    "ClusterRole": {1: ("metadata", "ObjectMeta"), 2: ("rules", "PolicyRule*"),
                    3: ("aggregationRule", "AggregationRule")},
    "AggregationRule": {1: ("clusterRoleSelectors", "LabelSelector*")},
    "PolicyRule": {1: ("verbs", "s*"), 2: ("apiGroups", "s*"), 3: ("resources", "s*"), 4: ("resourceNames", "s*"),
                   5: ("nonResourceURLs", "s*")},
    "RoleBinding": {1: ("metadata", "ObjectMeta"), 2: ("subjects", "Subject*"), 3: ("roleRef", "RoleRef")},
    "ClusterRoleBinding": {1: ("metadata", "ObjectMeta"), 2: ("subjects", "Subject*"), 3: ("roleRef", "RoleRef")},
    "Subject": {1: ("kind", "s"), 2: ("apiGroup", "s"), 3: ("name", "s"), 4: ("namespace", "s")},
    "RoleRef": {1: ("apiGroup", "s"), 2: ("kind", "s"), 3: ("name", "s")},
    "ServiceAccount": {1: ("metadata", "ObjectMeta"), 3: ("imagePullSecrets", "LocalObjectReference*"),
                       4: ("automountServiceAccountToken", "b")},
    "LocalObjectReference": {1: ("name", "s")},
    # authentication/v1 (kubectl create token)
    "TokenRequest": {**_OBJECT, 2: ("spec", "TokenRequestSpec")},
    "TokenRequestSpec": {1: ("audiences", "s*"), 4: ("expirationSeconds", "i"),
                         3: ("boundObjectRef", "BoundObjectReference")},
    "BoundObjectReference": {1: ("kind", "s"), 2: ("apiVersion", "s"), 3: ("name", "s"), 4: ("uid", "s")},
    "SelfSubjectReview": {1: ("metadata", "ObjectMeta")},       # kubectl auth whoami (its status is ours)
    # authorization/v1
    "SelfSubjectAccessReview": {1: ("metadata", "ObjectMeta"), 2: ("spec", "SelfSubjectAccessReviewSpec")},
    "SelfSubjectAccessReviewSpec": {1: ("resourceAttributes", "ResourceAttributes"),
                                    2: ("nonResourceAttributes", "NonResourceAttributes")},
    "ResourceAttributes": {1: ("namespace", "s"), 2: ("verb", "s"), 3: ("group", "s"), 4: ("version", "s"),
                           5: ("resource", "s"), 6: ("subresource", "s"), 7: ("name", "s")},
    "NonResourceAttributes": {1: ("path", "s"), 2: ("verb", "s")},
}


class _Malformed(Exception):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise _Malformed("truncated varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) of each field on the wire: varints as ints, length-delimited as bytes."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            out.append((num, value))
        elif wire == 2:
            n, pos = _varint(data, pos)
            if pos + n > len(data):
                raise _Malformed("truncated field")
            out.append((num, data[pos:pos + n]))
            pos += n
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise _Malformed(f"unsupported wire type {wire}")
    return out


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _time(data: bytes) -> str | None:
    """A metav1.Time; None for the zero time, which Go writes for an unset one."""
    f = dict(fields(data))
    seconds, nanos = _signed(int(f.get(1, 0))), int(f.get(2, 0))
    if not seconds and not nanos:
        return None
    t = dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{nanos // 1000:06d}Z" if nanos else "Z")


def _int_or_string(data: bytes) -> int | str:
    f = dict(fields(data))
    if int(f.get(1, 0)) == 1:
        return bytes(f.get(3, b"")).decode()      # type: ignore[arg-type]
    return _signed(int(f.get(2, 0)))


def _map_entry(data: bytes, quantity: bool) -> tuple[str, str]:
    f = dict(fields(data))
    key = bytes(f.get(1, b"")).decode()           # type: ignore[arg-type]
    value = f.get(2, b"")
    if quantity:
        value = dict(fields(bytes(value))).get(1, b"")     # type: ignore[arg-type]
    return key, bytes(value).decode()              # type: ignore[arg-type]


def _value(kind: str, raw: int | bytes) -> Any:
    if kind == "s":
        return bytes(raw).decode()                 # type: ignore[arg-type]
    if kind == "i":
        return _signed(int(raw))
    if kind == "b":
        return bool(raw)
    if kind == "t":
        return _time(bytes(raw))                   # type: ignore[arg-type]
    if kind == "q":
        return bytes(dict(fields(bytes(raw))).get(1, b"")).decode()   # type: ignore[arg-type]
    if kind == "ios":
        return _int_or_string(bytes(raw))          # type: ignore[arg-type]
    if kind == "B":
        return bytes(raw)                          # type: ignore[arg-type]
    return message(kind, bytes(raw))               # type: ignore[arg-type]


def message(name: str, data: bytes) -> dict[str, Any]:
    """One message of SCHEMA as its JSON document."""
    schema = SCHEMA.get(name, {})
    out: dict[str, Any] = {}
    for num, raw in fields(data):
        entry = schema.get(num)
        if entry is None or entry[1] == "-":
            continue
        json_name, kind = entry
        repeated = kind.endswith("*")
        kind = kind.rstrip("*")
        if isinstance(raw, int) and kind not in ("i", "b"):
            raise _Malformed(f"field {json_name} has the wrong wire type")
        if kind in ("mss", "msq"):
            k, v = _map_entry(bytes(raw), kind == "msq")     # type: ignore[arg-type]
            out.setdefault(json_name, {})[k] = v
            continue
        value = _value(kind, raw)
        if value is None:
            continue
        if not json_name:                     # an inlined member (Volume's VolumeSource, Probe's handler)
            out.update(value)
        elif repeated:
            out.setdefault(json_name, []).append(value)
        else:
            out[json_name] = value
    return out


def decode(body: bytes) -> dict[str, Any]:
    """A protobuf request body as its JSON document (apiVersion and kind from its envelope)."""
    if not body.startswith(MAGIC):
        raise errors.BadRequest("provided data does not appear to be a protobuf message, expected prefix "
                                "[107 56 115 0]")
    try:
        unknown = message("Unknown", body[len(MAGIC):])
        type_meta = unknown.get("typeMeta", {})
        kind = type_meta.get("kind", "")
        doc = message(kind, unknown.get("raw", b"")) if kind in SCHEMA else {}
    except (_Malformed, UnicodeDecodeError) as e:
        raise errors.BadRequest(f"unable to decode the protobuf request body: {e}") from None
    if kind not in SCHEMA:
        raise errors.BadRequest(f'no kind "{kind}" is registered for the protobuf encoding in this server')
    return {"apiVersion": type_meta.get("apiVersion", ""), "kind": kind, **doc}
