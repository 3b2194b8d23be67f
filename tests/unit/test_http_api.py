"""Unit tests of the HTTP API's pure parts: serialization (the zero values Kubernetes always writes),
content negotiation, Status building, URL parsing, Kubernetes' protobuf bodies, Table columns."""
from __future__ import annotations

import json

import pytest

from apiserver.http import negotiate, protobuf, request, serialize, status, table
from apiserver.registry.common import FieldErrors, raise_invalid
from kubelab import errors, kinds
from kubelab.v1 import objects_pb2 as pb


# ---------------------------------------------------------------- serialization
def test_a_pod_is_written_with_the_zero_values_kubernetes_always_writes() -> None:
    pod = pb.Pod()
    pod.metadata.name = "p"
    pod.spec.containers.add(name="c", image="nginx").ports.add(container_port=0)
    pod.status.container_statuses.add(name="c", image="nginx")       # ready false, restartCount 0
    doc = serialize.to_wire(pod)
    assert doc["apiVersion"] == "v1" and doc["kind"] == "Pod"
    cs = doc["status"]["containerStatuses"][0]
    assert cs["restartCount"] == 0 and cs["ready"] is False and cs["imageID"] == ""
    assert doc["spec"]["containers"][0]["ports"][0] == {"containerPort": 0}
    # omitempty fields stay out, as Kubernetes leaves them out
    assert "started" not in cs and "nodeName" not in doc["spec"]


def test_a_replicaset_status_writes_replicas_zero_and_empty_structs_are_written() -> None:
    rs = pb.ReplicaSet()
    rs.metadata.name = "r"
    doc = serialize.to_wire(rs)
    assert doc["status"] == {"replicas": 0} and doc["spec"] == {}
    d = serialize.to_wire(pb.Deployment())
    assert d["status"] == {}      # DeploymentStatus.replicas is omitempty in Kubernetes


def test_a_list_carries_kind_apiversion_and_list_metadata() -> None:
    info = kinds.BY_KIND["Deployment"]
    doc = serialize.list_wire(info, [], "42", "tok")
    assert doc == {"kind": "DeploymentList", "apiVersion": "apps/v1",
                   "metadata": {"resourceVersion": "42", "continue": "tok"}, "items": []}


# ---------------------------------------------------------------- negotiation
def test_kubectls_table_accept_header_chooses_a_table_and_falls_back_to_json() -> None:
    accept = ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;"
              "g=meta.k8s.io,application/json")
    allowed = (negotiate.JSON, negotiate.YAML, negotiate.TABLE)
    assert negotiate.negotiate(accept, allowed) == negotiate.TABLE
    assert negotiate.negotiate(accept, (negotiate.JSON,)) == negotiate.JSON
    assert negotiate.negotiate("application/vnd.kubernetes.protobuf,application/json") == negotiate.JSON
    assert negotiate.negotiate("application/yaml") == negotiate.YAML
    assert negotiate.negotiate("") == negotiate.JSON


def test_aggregated_discovery_is_chosen_only_where_allowed_and_nothing_servable_is_406() -> None:
    accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    assert negotiate.negotiate(accept, (negotiate.JSON, negotiate.DISCOVERY)) == negotiate.DISCOVERY
    assert negotiate.negotiate(accept) == negotiate.JSON
    with pytest.raises(status.NotAcceptable):
        negotiate.negotiate("application/vnd.kubernetes.protobuf;as=Table;g=meta.k8s.io;v=v1")


def test_body_types_and_415_in_kubernetes_words() -> None:
    assert negotiate.body_type("application/json; charset=utf-8") == "json"
    assert negotiate.body_type("application/strategic-merge-patch+json", patch=True) == "strategic"
    with pytest.raises(status.UnsupportedMediaType, match="the body of the request was in an unknown format"):
        negotiate.body_type("text/plain")
    with pytest.raises(status.UnsupportedMediaType):
        negotiate.body_type("application/json", patch=True)


# ---------------------------------------------------------------- Status
def test_not_found_status_names_the_resource_as_kubernetes_does() -> None:
    doc = status.status(errors.NotFound('deployments.apps "x" not found'), kinds.BY_KIND["Deployment"], "x")
    assert doc == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                   "message": 'deployments.apps "x" not found', "reason": "NotFound", "code": 404,
                   "details": {"name": "x", "group": "apps", "kind": "deployments"}}


def test_invalid_status_lists_causes_with_field_paths() -> None:
    pod = pb.Pod()
    pod.metadata.name = "p"
    errs = FieldErrors()
    errs.required("spec.containers")
    errs.invalid("spec.containers[0].ports[0].containerPort", 0, "must be between 1 and 65535, inclusive")
    with pytest.raises(errors.Invalid) as e:
        raise_invalid(pod, errs)
    doc = status.status(e.value, kinds.BY_KIND["Pod"], "p")
    assert doc["code"] == 422 and doc["reason"] == "Invalid" and doc["details"]["kind"] == "Pod"
    assert doc["details"]["causes"] == [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers"},
        {"reason": "FieldValueInvalid", "message": "Invalid value: 0: must be between 1 and 65535, inclusive",
         "field": "spec.containers[0].ports[0].containerPort"}]


@pytest.mark.parametrize("err,code", [(errors.Conflict("c"), 409), (errors.AlreadyExists("a"), 409),
                                      (errors.Gone("g"), 410), (errors.TooManyRequests("t"), 429),
                                      (errors.Unauthenticated("Unauthorized"), 401), (errors.Forbidden("f"), 403),
                                      (errors.RequestEntityTooLarge("r"), 413), (errors.BadRequest("b"), 400),
                                      (status.MethodNotAllowed("m"), 405), (status.UnsupportedMediaType("u"), 415)])
def test_each_reason_has_kubernetes_code(err: errors.ApiError, code: int) -> None:
    assert status.status(err)["code"] == code
    assert json.loads(status.error_response(err).body)["reason"] == err.reason


# ---------------------------------------------------------------- URLs and bodies
def test_paths_name_resources_namespaces_and_subresources() -> None:
    r = request.parse_path("/apis/apps/v1/namespaces/ns/deployments/web/scale")
    assert (r.kind_info.kind, r.namespace, r.name, r.subresource) == ("Deployment", "ns", "web", "scale")
    r = request.parse_path("/api/v1/namespaces/ns")
    assert (r.kind_info.kind, r.namespace, r.name) == ("Namespace", "", "ns")
    r = request.parse_path("/api/v1/namespaces/ns/status")
    assert (r.kind_info.kind, r.name, r.subresource) == ("Namespace", "ns", "status")
    r = request.parse_path("/api/v1/watch/namespaces/ns/pods")
    assert r.watch_path and r.kind_info.kind == "Pod" and r.namespace == "ns"
    for bad in ("/api/v1/widgets", "/apis/apps/v1/pods", "/apis/nope/v1/things", "/api/v1/namespaces/x/nodes"):
        with pytest.raises(errors.NotFound, match="the server could not find the requested resource"):
            request.parse_path(bad)


def test_a_body_of_another_kind_or_namespace_is_400_in_kubernetes_words() -> None:
    req = request.parse_path("/api/v1/namespaces/default/pods")
    with pytest.raises(errors.BadRequest, match='Service in version "v1" cannot be handled as a Pod'):
        request.decode_object({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}}, req, "Strict", [])
    with pytest.raises(errors.BadRequest, match=r"the API version in the data \(apps/v1\) does not match"):
        request.decode_object({"apiVersion": "apps/v1", "kind": "Pod"}, req, "Strict", [])
    obj = request.decode_object({"kind": "Pod", "metadata": {"name": "x", "namespace": "other"},
                                 "spec": {"containers": [{"name": "c", "image": "i"}]}}, req, "Strict", [])
    with pytest.raises(errors.BadRequest, match="the namespace of the provided object does not match"):
        request.check_identity(obj, req, creating=True)


def test_field_validation_strict_refuses_warn_and_ignore_drop_unknown_fields() -> None:
    req = request.parse_path("/apis/apps/v1/namespaces/default/deployments")
    doc = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicaz": 3}}
    with pytest.raises(errors.BadRequest, match='strict decoding error: unknown field "spec.replicaz"'):
        request.decode_object(json.loads(json.dumps(doc)), req, "Strict", [])
    warnings: list[str] = []
    obj = request.decode_object(json.loads(json.dumps(doc)), req, "Warn", warnings)
    assert warnings == ['unknown field "spec.replicaz"'] and obj.metadata.name == "d"
    warnings = []
    request.decode_object(json.loads(json.dumps(doc)), req, "Ignore", warnings)
    assert warnings == []


def test_malformed_json_and_yaml_bodies_are_400() -> None:
    with pytest.raises(errors.BadRequest, match="json parse error"):
        request.load_doc(b'{"kind": ', "json")
    with pytest.raises(errors.BadRequest, match="error converting YAML to JSON"):
        request.load_doc(b"a: [b", "yaml")


# ---------------------------------------------------------------- protobuf
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(num: int, value: bytes | int | str) -> bytes:
    if isinstance(value, int):
        return _varint(num << 3) + _varint(value)
    data = value.encode() if isinstance(value, str) else value
    return _varint(num << 3 | 2) + _varint(len(data)) + data


def test_a_protobuf_deployment_as_kubectl_create_sends_it() -> None:
    labels = _field(11, _field(1, "app") + _field(2, "web"))
    container = _field(1, "nginx") + _field(2, "nginx:1.25")
    template = _field(1, labels + _field(8, b"")) + _field(2, _field(2, container))
    spec = _field(1, 2) + _field(2, _field(1, _field(1, "app") + _field(2, "web"))) + _field(3, template)
    raw = _field(1, _field(1, "web") + labels) + _field(2, spec) + _field(3, b"")
    body = protobuf.MAGIC + _field(1, _field(1, "apps/v1") + _field(2, "Deployment")) + _field(2, raw)
    assert protobuf.decode(body) == {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}]}}}}


def test_a_body_that_is_not_kubernetes_protobuf_is_400() -> None:
    with pytest.raises(errors.BadRequest, match="does not appear to be a protobuf message"):
        protobuf.decode(b"{}")
    with pytest.raises(errors.BadRequest, match="unable to decode"):
        protobuf.decode(protobuf.MAGIC + b"\x0a\xff")


# ---------------------------------------------------------------- Table
def test_table_columns_are_kubelab_gets_with_wide_ones_at_priority_1() -> None:
    cols = table.column_definitions("Pod")
    assert [(c["name"], c["priority"]) for c in cols] == [
        ("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0), ("IP", 1), ("Node", 1),
        ("Nominated Node", 1), ("Readiness Gates", 1)]
    assert [c["name"].upper() for c in table.column_definitions("Service")][:4] == [
        "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP"]
    event = [(c["name"], c["priority"]) for c in table.column_definitions("Event")]
    assert [n for n, p in event if p == 0] == ["Last Seen", "Type", "Reason", "Object", "Message"]


# ---------------------------------------------------------------- kubectl proxy's filters
@pytest.mark.parametrize("path,host,code", [
    ("/api/v1/namespaces/default/pods", "localhost:8001", None),
    ("/api/v1/namespaces/default/pods?watch=1", "127.0.0.1:8001", None),
    ("/api/v1/namespaces/default/pods/../secrets", "localhost", 400),
    ("/api/v1/namespaces/default/pods/x%2F..%2Fy", "localhost", 400),
    ("/api/v1/namespaces/default/pods/%2e%2e/y", "localhost", 400),
    ("/api/v1/namespaces/default/pods/web/exec?command=sh", "localhost", 403),
    ("/api/v1/namespaces/default/pods", "evil.example.com", 403),
])
def test_the_api_proxy_refuses_what_kubectl_proxy_refuses(path: str, host: str, code: int | None) -> None:
    from kubectl.apiproxy import refused
    answer = refused(path, host)
    assert (answer.status if answer is not None else None) == code


def test_watch_bookmarks_carry_kind_and_revision_and_the_initial_events_end_annotation() -> None:
    from apiserver.http import watch
    info = kinds.BY_KIND["Pod"]
    assert watch.bookmark(info, "7") == {"type": "BOOKMARK", "object": {
        "kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": "7"}}}
    end = watch.bookmark(info, "9", initial_end=True)["object"]["metadata"]
    assert end == {"resourceVersion": "9", "annotations": {"k8s.io/initial-events-end": "true"}}
    with pytest.raises(errors.BadRequest, match='invalid resourceVersion "x"'):
        watch.parse_resource_version("x")
    assert watch.parse_resource_version("0") is None and watch.parse_resource_version("12") == 12


def test_required_nested_fields_are_written_inside_lists_and_maps() -> None:
    pod = pb.Pod()
    pod.spec.volumes.add(name="v").host_path.type = "Directory"
    pod.spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution.SetInParent()
    doc = serialize.to_wire(pod)
    assert doc["spec"]["volumes"][0]["hostPath"] == {"type": "Directory", "path": ""}
    assert doc["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == {
        "nodeSelectorTerms": []}


def _pod(name: str, rv: str, image: str = "kubelab/hello:v1") -> pb.Pod:
    pod = pb.Pod(api_version="v1", kind="Pod")
    pod.metadata.name, pod.metadata.namespace, pod.metadata.resource_version = name, "default", rv
    pod.metadata.labels["app"] = "web"
    pod.spec.containers.add(name="c", image=image).ports.add(container_port=8080)
    return pod


def test_a_list_written_from_cached_bytes_is_the_list_byte_for_byte() -> None:
    info = kinds.BY_KIND["Pod"]
    cache = serialize.WireCache()
    pods = [_pod(f"p{i}", str(10 + i)) for i in range(3)] + [_pod("dry", "")]
    expected = serialize.dumps(serialize.list_wire(info, pods, "99", "tok"))
    assert serialize.list_bytes(info, pods, "99", "tok", cache) == expected
    assert (cache.hits, cache.misses) == (0, 3)           # a dry run's answer (no resourceVersion) is not kept
    assert serialize.list_bytes(info, pods, "99", "tok", cache) == expected
    assert (cache.hits, cache.misses) == (3, 3)
    json.loads(expected)


def test_a_changed_object_is_written_anew_and_the_cache_stays_within_its_bound() -> None:
    info = kinds.BY_KIND["Pod"]
    one = serialize.dumps(serialize.to_wire(_pod("p", "10")))
    cache = serialize.WireCache(max_bytes=3 * len(one))
    serialize.list_bytes(info, [_pod("p", "10")], "10", cache=cache)
    changed = _pod("p", "11", image="kubelab/hello:v2")
    body = json.loads(serialize.list_bytes(info, [changed], "11", cache=cache))
    assert body["items"][0]["spec"]["containers"][0]["image"] == "kubelab/hello:v2"
    for i in range(10):
        serialize.list_bytes(info, [_pod(f"q{i}", str(20 + i))], "30", cache=cache)
    assert cache.size <= cache.max_bytes and len(cache._entries) <= 3
