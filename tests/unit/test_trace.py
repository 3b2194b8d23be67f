"""The trace index and timeline (apiserver/trace.py) from recorded audit events, Events and object changes:
joins, order, delays, the critical path's arithmetic, eviction, and the bad-input answers."""
from __future__ import annotations

from typing import Any

import pytest

from apiserver import audit
from apiserver.trace import PodMarks, TraceIndex, build_trace, segments, trace_for, trace_json
from kubelab import errors, timeutil
from kubelab.v1 import objects_pb2 as pb

T0 = 1_700_000_000.0          # 2023-11-14T22:13:20Z


stamp = timeutil.fmt_micro


def write(t: float, verb: str, resource: str, name: str, agent: str, rv: str = "", sub: str = "",
          user: str = "", annotations: dict[str, str] | None = None, code: int = 200) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "stage": "ResponseComplete", "verb": verb, "user": {"username": user or agent.split("/")[0]},
        "userAgent": agent, "requestReceivedTimestamp": stamp(t), "stageTimestamp": stamp(t + 0.002),
        "responseStatus": {"code": code},
        "objectRef": {k: v for k, v in {"resource": resource, "namespace": "default", "name": name,
                                         "resourceVersion": rv, "subresource": sub}.items() if v}}
    if annotations:
        ev["annotations"] = annotations
    return ev


def meta(obj: Any, name: str, uid: str, rv: str, owner: str = "") -> Any:
    obj.metadata.name, obj.metadata.namespace, obj.metadata.uid = name, "default", uid
    obj.metadata.resource_version = rv
    obj.metadata.creation_timestamp = "2023-11-14T22:13:20Z"
    if owner:
        obj.metadata.owner_references.add(uid=owner, name="x", kind="x")
    return obj


def pod(name: str, uid: str, rv: str, node: str = "", ready: bool | None = None) -> Any:
    p = meta(pb.Pod(), name, uid, rv, owner="rs-uid")
    p.spec.node_name = node
    if ready is not None:
        p.status.conditions.add(type="Ready", status="True" if ready else "False")
    return p


def event(name: str, reason: str, t: float, pod_name: str, uid: str, host: str = "node-a") -> Any:
    e = pb.Event(reason=reason, message=f"{reason} it", type="Normal", event_time=stamp(t),
                 reporting_component="kubelet", reporting_instance=host)
    e.metadata.name, e.metadata.namespace = name, "default"
    e.involved_object.kind, e.involved_object.namespace = "Pod", "default"
    e.involved_object.name, e.involved_object.uid = pod_name, uid
    return e


KCM = "kube-controller-manager/v0.1.0 (linux/amd64) kubelab"
SCHED = "kube-scheduler/v0.1.0 (linux/amd64) kubelab"
KUBELET = "kubelet/v0.1.0 (linux/amd64) kubelab"
DECISION = ('{"examined":3,"feasible":2,"node":"node-a","nodes":3,"score":87.5,'
            '"unfeasible":{"node(s) were unschedulable":1}}')


def recorded(clock: list[float]) -> TraceIndex:
    """A Deployment's rollout of one pod as the apiserver would see it: writes, changes, Events."""
    idx = TraceIndex(clock=lambda: clock[0])
    dep = meta(pb.Deployment(), "web", "dep-uid", "10")
    rs = meta(pb.ReplicaSet(), "web-1", "rs-uid", "11", owner="dep-uid")
    clock[0] = T0
    idx.add_audit(write(T0, "create", "deployments", "web", "kubelab/v0.1.0", "10", user="admin"))
    idx.add_object("Deployment", "ADDED", dep)
    idx.add_audit(write(T0 + 0.010, "create", "replicasets", "web-1", KCM, "11"))
    idx.add_object("ReplicaSet", "ADDED", rs)
    idx.add_audit(write(T0 + 0.030, "create", "pods", "web-1-a", KCM, "12"))
    idx.add_object("Pod", "ADDED", pod("web-1-a", "pod-uid", "12"))
    idx.add_audit(write(T0 + 0.042, "create", "pods", "web-1-a", SCHED, "13", sub="binding",
                        annotations={"kubelab.io/scheduler-decision": DECISION}))
    idx.add_object("Pod", "MODIFIED", pod("web-1-a", "pod-uid", "13", node="node-a"))
    idx.add_object("Event", "ADDED", event("e1", "Pulling", T0 + 0.050, "web-1-a", "pod-uid"))
    idx.add_audit(write(T0 + 0.051, "create", "events", "e1", KUBELET, user="system:node:node-a"))
    idx.add_object("Event", "ADDED", event("e2", "Pulled", T0 + 0.550, "web-1-a", "pod-uid"))
    idx.add_object("Event", "ADDED", event("e3", "Started", T0 + 1.350, "web-1-a", "pod-uid"))
    idx.add_audit(write(T0 + 1.400, "update", "pods", "web-1-a", KUBELET, "14", sub="status"))
    idx.add_object("Pod", "MODIFIED", pod("web-1-a", "pod-uid", "14", node="node-a", ready=False))
    idx.add_audit(write(T0 + 2.750, "update", "pods", "web-1-a", KUBELET, "15", sub="status",
                        user="system:node:node-a"))
    idx.add_object("Pod", "MODIFIED", pod("web-1-a", "pod-uid", "15", node="node-a", ready=True))
    ep = meta(pb.Endpoints(), "web", "ep-uid", "16")
    ep.subsets.add().addresses.add(ip="10.0.0.5", target_ref=pb.ObjectReference(kind="Pod", uid="pod-uid"))
    idx.add_audit(write(T0 + 2.800, "update", "endpoints", "web", KCM, "16"))
    idx.add_object("Endpoints", "MODIFIED", ep)
    idx.add_audit(write(T0 + 2.900, "update", "endpoints", "web", KCM, "17"))   # no new pod: not a step
    idx.add_audit(write(T0 + 0.5, "create", "pods", "other", KCM, "18"))         # not ours
    return idx


def cached_from(objs: dict[tuple[str, str], Any]) -> Any:
    return lambda kind, ns, name: objs.get((kind, name))


def test_a_deployment_timeline_joins_writes_events_and_changes_in_time_order() -> None:
    idx = recorded([T0])
    dep = meta(pb.Deployment(), "web", "dep-uid", "10")
    t = trace_for(idx, cached_from({("Deployment", "web"): dep}), "deployments", "default", "web")
    rows = [(round(s.time - T0, 3), s.component, s.action, s.object) for s in t.steps]
    assert rows == [
        (0.0, "kubelab", "create", "deployment/default/web"),
        (0.01, "kube-controller-manager", "create", "replicaset/default/web-1"),
        (0.03, "kube-controller-manager", "create", "pod/default/web-1-a"),
        (0.042, "kube-scheduler", "bind to node-a", "pod/default/web-1-a"),
        (0.05, "kubelet", "Pulling", "pod/default/web-1-a"),
        (0.55, "kubelet", "Pulled", "pod/default/web-1-a"),
        (1.35, "kubelet", "Started", "pod/default/web-1-a"),
        (1.4, "kubelet", "update status", "pod/default/web-1-a"),
        (2.75, "kubelet", "update status", "pod/default/web-1-a"),
        (2.8, "kube-controller-manager", "endpoints add", "endpoints/default/web"),
    ]
    by_action = {s.action: s for s in t.steps}
    assert by_action["bind to node-a"].detail == (
        "2/3 nodes feasible (3 examined); others: 1 node(s) were unschedulable; score 87.5")
    assert by_action["Pulling"].identity == "system:node:node-a"       # who wrote the Event
    assert "(kubelet on node-a)" in by_action["Pulling"].detail
    assert [s.detail for s in t.steps if s.action == "update status"] == ["", "Ready=True"]
    assert by_action["endpoints add"].detail == "ready address for pod web-1-a"
    assert [round(s.delay, 3) for s in t.steps][:4] == [0.0, 0.01, 0.02, 0.012]
    assert t.notes == []
    assert t.critical_path == ("apply → all pods Ready 2.8 s: controllers 30 ms, scheduling 12 ms, image 500 ms, "
                               "container start 808 ms, readiness 1.4 s (last pod web-1-a on node-a)")
    doc = trace_json(t)
    assert [s["time"] for s in doc["steps"]] == [stamp(s.time) for s in t.steps]
    assert doc["steps"][3]["component"] == "kube-scheduler" and doc["criticalPath"] == t.critical_path


def test_since_returns_only_what_came_after_the_cursor() -> None:
    clock = [T0]
    idx = recorded(clock)
    dep = meta(pb.Deployment(), "web", "dep-uid", "10")
    first = trace_for(idx, cached_from({("Deployment", "web"): dep}), "Deployment", "default", "web")
    idx.add_audit(write(T0 + 5, "patch", "deployments", "web", "kubelab/v0.1.0", "20", user="admin"))
    more = trace_for(idx, cached_from({("Deployment", "web"): dep}), "Deployment", "default", "web",
                     since=first.cursor)
    assert [(s.action, s.object) for s in more.steps] == [("patch", "deployment/default/web")]
    assert more.cursor > first.cursor


def test_critical_path_segments_add_up_along_the_last_pod() -> None:
    m = PodMarks("p", "n1", created=10.1, bound=10.112, pulling=10.2, pulled=10.2, started=11.0, ready=12.4)
    assert segments(10.0, m) == ("controllers 100 ms, scheduling 12 ms, image 0 ms, container start 888 ms, "
                                 "readiness 1.4 s (last pod p on n1)")
    gone = PodMarks("q", created=None, bound=None, started=1.0, ready=2.0)
    assert segments(0.0, gone).startswith("controllers ?, scheduling ?, image 0 ms, container start ?")


def test_pods_not_ready_yet_are_named() -> None:
    idx = recorded([T0])
    idx.add_audit(write(T0 + 3, "create", "pods", "web-1-b", KCM, "30"))
    idx.add_object("Pod", "ADDED", pod("web-1-b", "pod-b", "30"))
    dep = meta(pb.Deployment(), "web", "dep-uid", "10")
    t = trace_for(idx, cached_from({("Deployment", "web"): dep}), "Deployment", "default", "web")
    assert t.critical_path == "apply → 1/2 pods Ready; waiting for web-1-b"


def test_the_index_is_bounded_and_says_what_is_gone() -> None:
    clock = [T0 + 100]
    idx = TraceIndex(max_records=3, clock=lambda: clock[0])
    for i in range(5):
        idx.add_audit(write(T0 + 100 + i, "create", "pods", f"p{i}", KCM, str(i)))
    assert len(idx.records) == 3 and idx.dropped == 2 and idx.seq == 5
    assert [r.name for r in idx.records] == ["p2", "p3", "p4"]
    assert idx.oldest == T0 + 102
    dep = meta(pb.Deployment(), "web", "dep-uid", "10")      # created at T0: before the oldest record
    t = trace_for(idx, cached_from({("Deployment", "web"): dep}), "Deployment", "default", "web")
    [note] = t.notes
    assert note.startswith("deployment/web was created at 22:13:20.000, before the index's oldest record "
                           "(22:15:02.000; 2 older records were dropped (the index keeps the last 50,000))")
    assert note.endswith("left: 0 steps since then")
    assert t.critical_path == "no apply of the deployment in the index"


def test_failed_writes_and_other_stages_are_not_indexed() -> None:
    idx = TraceIndex()
    idx.add_audit(write(T0, "create", "pods", "p", KCM, code=409))
    idx.add_audit({**write(T0, "create", "pods", "p", KCM), "stage": "RequestReceived"})
    assert not idx.records and idx.seq == 0


def test_bad_input_is_answered_in_kubernetes_words() -> None:
    idx = TraceIndex()
    with pytest.raises(errors.NotFound, match='^deployments.apps "nope" not found$'):
        trace_for(idx, cached_from({}), "deployment", "default", "nope")
    with pytest.raises(errors.NotFound, match='the server doesn\'t have a resource type "widgets"'):
        trace_for(idx, cached_from({}), "widgets", "default", "nope")
    with pytest.raises(errors.BadRequest, match="trace follows deployments, pods and services, not nodes"):
        trace_for(idx, cached_from({}), "node", "", "x")


def test_a_service_trace_follows_its_endpoints_to_the_pods() -> None:
    idx = recorded([T0])
    svc = meta(pb.Service(), "web", "svc-uid", "9")
    t = trace_for(idx, cached_from({("Service", "web"): svc}), "service", "default", "web")
    actions = [(s.action, s.object) for s in t.steps]
    assert ("endpoints add", "endpoints/default/web") in actions
    assert ("bind to node-a", "pod/default/web-1-a") in actions


def test_subscribers_get_every_write_even_when_the_file_policy_says_none(tmp_path: Any) -> None:
    path = tmp_path / "audit.log"
    log = audit.AuditLog(audit.AuditConfig(log_path=str(path)))
    seen: list[dict[str, Any]] = []
    log.subscribers.append(seen.append)
    lease = audit.RequestInfo(verb="update", user="u", resource="leases", api_group="coordination.k8s.io",
                              name="n")
    ev = audit.RequestInfo(verb="create", user="u", resource="events", name="e")
    bind = audit.RequestInfo(verb="create", user="u", resource="pods", subresource="binding", name="p")
    read = audit.RequestInfo(verb="get", user="u", resource="pods", name="p")
    for info in (lease, ev, bind, read):
        rec = log.begin(info)
        if rec is not None and info is bind:
            rec.annotations["kubelab.io/scheduler-decision"] = "{}"
        log.finish(rec, 201)
    log.close()
    assert [(e["objectRef"]["resource"], e["level"]) for e in seen] == [("events", "Metadata"), ("pods", "Metadata")]
    assert seen[1]["annotations"] == {"kubelab.io/scheduler-decision": "{}"}
    written = path.read_text().splitlines()
    assert len(written) == 1 and '"binding"' in written[0] and "scheduler-decision" in written[0]


class _Context:
    def __init__(self, token: str) -> None:
        self.token = token
        self.aborted: tuple[Any, str] | None = None

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),)

    async def abort(self, code: Any, message: str, trailing_metadata: Any = ()) -> None:
        self.aborted = (code, message)
        raise RuntimeError("aborted")


async def test_the_trace_call_is_authorized_as_a_get_of_the_object(monkeypatch: pytest.MonkeyPatch) -> None:
    from apiserver.auth import Authenticator, UserInfo
    from apiserver.authz import Authorizer, bootstrap
    from apiserver.authz.gate import Gate
    from apiserver.memstorage import MemoryStorage
    from apiserver.store import Store
    from kubelab.kinds import RBAC_GROUP
    from tests.harness.store import api_service
    from kubelab.v1 import api_pb2 as api
    b = pb.RoleBinding(role_ref=pb.RoleRef(api_group=RBAC_GROUP, kind="Role", name="reader"))
    b.metadata.name, b.metadata.namespace = "r", "default"
    b.subjects.add(kind="User", name="alice", api_group=RBAC_GROUP)
    role = pb.Role(rules=[pb.PolicyRule(verbs=["get"], api_groups=["apps"], resources=["deployments"])])
    role.metadata.name, role.metadata.namespace = "reader", "default"
    objs: dict[str, list[Any]] = {"ClusterRole": bootstrap.cluster_roles(), "RoleBinding": [b], "Role": [role],
                                  "ClusterRoleBinding": bootstrap.cluster_role_bindings()}

    def get(kind: str, ns: str, name: str) -> Any:
        return next((o for o in objs.get(kind, []) if (o.metadata.namespace, o.metadata.name) == (ns, name)), None)
    svc = api_service(Store(MemoryStorage()), trace_index=recorded([T0]))
    svc.gate = Gate(Authenticator("", {"a": UserInfo("alice", "1"), "s": UserInfo("stranger", "2")}),
                    Authorizer(lambda kind: objs.get(kind, []), get))
    dep = meta(pb.Deployment(), "web", "dep-uid", "10")
    # the watch cache holds the Deployment (the trace reads only what the cache has)
    monkeypatch.setattr(svc, "_cached", lambda kind, ns, name: dep if (kind, name) == ("Deployment", "web") else None)
    ctx = _Context("s")
    with pytest.raises(RuntimeError):
        await svc.Trace(api.TraceRequest(kind="Deployment", namespace="default", name="web"), ctx)
    assert ctx.aborted is not None and ctx.aborted[1] == (
        'deployments.apps "web" is forbidden: User "stranger" cannot get resource "deployments" in API group '
        '"apps" in the namespace "default"')
    resp = await svc.Trace(api.TraceRequest(kind="Deployment", namespace="default", name="web"), _Context("a"))
    assert resp.critical_path.startswith("apply → all pods Ready 2.8 s") and len(resp.steps) == 10
    ctx = _Context("a")
    with pytest.raises(RuntimeError):
        await svc.Trace(api.TraceRequest(kind="Deployment", namespace="default", name="gone"), ctx)
    assert ctx.aborted is not None and ctx.aborted[1] == 'deployments.apps "gone" not found'


def test_a_change_whose_write_is_missing_waits_then_stands_alone() -> None:
    """A Ready change with no write: left out while the write may still be on its way, then shown alone."""
    clock = [T0]
    idx = TraceIndex(clock=lambda: clock[0])
    p = pod("solo", "solo-uid", "5", node="node-a", ready=True)
    idx.add_audit(write(T0 - 1, "create", "pods", "solo", KCM, "4"))
    clock[0] = T0 + 0.2
    idx.add_object("Pod", "MODIFIED", p)
    cached = cached_from({("Pod", "solo"): p})
    assert [s.action for s in trace_for(idx, cached, "pod", "default", "solo").steps] == ["create"]
    clock[0] = T0 + 2
    t = trace_for(idx, cached, "pod", "default", "solo")
    assert [(s.action, s.component, s.detail) for s in t.steps] == [
        ("create", "kube-controller-manager", ""),
        ("Ready", "", "seen by the watch cache; its write is not in the index")]
    assert t.critical_path.startswith("pod created → all pods Ready 1.2 s: controllers 0 ms, scheduling ?")


def test_follow_hands_out_a_step_again_once_a_later_record_completes_it() -> None:
    """The status write arrives before the watch event that shows it made the pod Ready: `-w` gets the write
    first, then again with Ready=True."""
    clock = [T0]
    idx = TraceIndex(clock=lambda: clock[0])
    p = pod("p", "p-uid", "5", node="node-a", ready=True)
    idx.add_audit(write(T0, "create", "pods", "p", KCM, "4"))
    idx.add_audit(write(T0 + 1, "update", "pods", "p", KUBELET, "5", sub="status"))
    cached = cached_from({("Pod", "p"): p})
    first = trace_for(idx, cached, "pod", "default", "p")
    assert [(s.action, s.detail) for s in first.steps] == [("create", ""), ("update status", "")]
    idx.add_object("Pod", "MODIFIED", p)
    more = trace_for(idx, cached, "pod", "default", "p", since=first.cursor)
    assert [(s.action, s.detail) for s in more.steps] == [("update status", "Ready=True")]


def proxy_report(node: str, t: float, uids: list[str], rv: str = "16", name: str = "web") -> Any:
    from kubelab.v1 import api_pb2 as api
    return api.ProxyReport(node_name=node, programmed=[api.ProxyProgrammed(
        namespace="default", name=name, resource_version=rv, pod_uids=uids, time=stamp(t))])


PROXY = "kube-proxy/v0.1.0 (linux/amd64) kubelab"


def test_each_nodes_proxy_is_a_step_and_ends_the_critical_path_when_last() -> None:
    idx = recorded([T0])
    assert idx.add_proxy_report("system:kube-proxy", PROXY, proxy_report("node-b", T0 + 2.85, ["pod-uid"])) == 1
    idx.add_proxy_report("system:kube-proxy", PROXY, proxy_report("node-a", T0 + 2.95, ["pod-uid"]))
    idx.add_proxy_report("system:kube-proxy", PROXY, proxy_report("node-a", T0 + 3.0, ["someone-else"]))
    dep = meta(pb.Deployment(), "web", "dep-uid", "10")
    t = trace_for(idx, cached_from({("Deployment", "web"): dep}), "Deployment", "default", "web")
    tail = [(round(s.time - T0, 3), s.component, s.identity, s.action, s.object) for s in t.steps][-3:]
    assert tail == [
        (2.8, "kube-controller-manager", "kube-controller-manager", "endpoints add", "endpoints/default/web"),
        (2.85, "kube-proxy", "system:kube-proxy", "proxy on node-b sends", "pod/default/web-1-a"),
        (2.95, "kube-proxy", "system:kube-proxy", "proxy on node-a sends", "pod/default/web-1-a"),
    ]
    assert t.steps[-1].detail == ("node node-a's proxy began sending to it (endpoints/default/web "
                                  "resourceVersion 16)")
    assert t.critical_path.endswith("; → every proxy sending 3.0 s: endpoints + proxies 200 ms after the last "
                                    "Ready (node node-a's proxy to pod web-1-a)")
    svc = meta(pb.Service(), "web", "svc-uid", "9")
    idx.add_audit(write(T0 - 1, "create", "services", "web", "kubelab/v0.1.0", "9", user="admin"))
    s = trace_for(idx, cached_from({("Service", "web"): svc}), "service", "default", "web")
    assert [x.action for x in s.steps if x.component == "kube-proxy"] == ["proxy on node-b sends",
                                                                          "proxy on node-a sends"]
    assert s.critical_path == ("service created → last endpoints add 3.8 s → last proxy sending 4.0 s "
                               "(node node-a's proxy to pod web-1-a)")
    # another Service's Endpoints sending to the same pod is not this Service's step
    idx.add_proxy_report("system:kube-proxy", PROXY, proxy_report("node-c", T0 + 3.1, ["pod-uid"], name="other"))
    s2 = trace_for(idx, cached_from({("Service", "web"): svc}), "service", "default", "web")
    assert not any("node-c" in x.action for x in s2.steps)


def test_an_empty_proxy_report_entry_is_not_indexed() -> None:
    idx = TraceIndex()
    assert idx.add_proxy_report("system:kube-proxy", PROXY, proxy_report("n", T0, [])) == 0
    assert not idx.records


def test_the_per_namespace_lists_follow_the_ring_and_the_graph() -> None:
    """What a trace reads instead of the whole ring: each namespace's records in the ring's order, gone with
    it; a namespace with none left is forgotten; the graph per namespace follows deletes."""
    clock = [T0]
    idx = TraceIndex(max_records=5, clock=lambda: clock[0])
    for i in range(8):
        ev = write(T0 + i, "create", "pods", f"p{i}", KCM, str(i))
        ev["objectRef"]["namespace"] = "a" if i < 3 else ("b" if i % 2 else "c")
        idx.add_audit(ev)
    assert [r.seq for r in idx.records] == [4, 5, 6, 7, 8]
    assert {ns: [r.seq for r in recs] for ns, recs in idx.by_ns.items()} == {"b": [4, 6, 8], "c": [5, 7]}
    p = pod("p", "uid-p", "1")
    idx.add_object("Pod", "ADDED", p)
    assert idx.latest_ns == {"default": {"uid-p": idx.latest["uid-p"]}}
    idx.add_object("Pod", "DELETED", p)
    assert idx.latest == {} and idx.latest_ns == {}
    assert sum(len(r) for r in idx.by_ns.values()) == len(idx.records) == 5


def test_a_repeated_trace_comes_from_the_cache_until_its_namespace_has_a_new_record() -> None:
    from apiserver.trace import trace_document, trace_proto, trace_response
    clock = [T0]
    idx = recorded(clock)
    clock[0] = T0 + 10                         # every change settled
    dep = meta(pb.Deployment(), "web", "dep-uid", "10")
    cached = cached_from({("Deployment", "web"): dep})
    first = trace_for(idx, cached, "Deployment", "default", "web")
    assert (idx.traces.hits, idx.traces.misses) == (0, 1)
    other = write(T0 + 11, "create", "pods", "x", KCM, "40")
    other["objectRef"]["namespace"] = "elsewhere"
    idx.add_audit(other)
    again = trace_for(idx, cached, "Deployment", "default", "web")
    assert idx.traces.hits == 1 and again.steps == first.steps and again.cursor == first.cursor + 1
    assert trace_response(idx, cached, "Deployment", "default", "web") == trace_proto(again)
    idx.add_object("Event", "ADDED", event("e9", "Killing", T0 + 12, "web-1-a", "pod-uid"))
    later = trace_for(idx, cached, "Deployment", "default", "web")
    assert [s.action for s in later.steps] == [s.action for s in first.steps] + ["Killing"]
    assert trace_response(idx, cached, "Deployment", "default", "web") == trace_proto(later)
    assert trace_document(idx, cached, "Deployment", "default", "web") == trace_json(later)
    assert trace_document(idx, cached, "Deployment", "default", "web") == trace_json(later)     # its steps kept
    assert trace_document(idx, cached, "Deployment", "default", "web", since=first.cursor) == \
        trace_json(trace_for(idx, cached, "Deployment", "default", "web", since=first.cursor))
    assert trace_response(idx, cached, "Deployment", "default", "web", since=first.cursor) == \
        trace_proto(trace_for(idx, cached, "Deployment", "default", "web", since=first.cursor))
    assert [s.action for s in trace_for(idx, cached, "Deployment", "default", "web", since=first.cursor).steps] \
        == ["Killing"]


def test_the_trace_cache_is_bounded() -> None:
    from apiserver.trace import Computed, Step, TraceCache
    cache = TraceCache(max_entries=3, max_steps=10)
    steps = [Step(0.0, "c", "i", "a", "o")]
    for i in range(5):
        cache.put(f"u{i}", Computed((i,), steps * 2, ""))
    assert list(cache.entries) == ["u2", "u3", "u4"] and cache.steps == 6
    cache.put("big", Computed((9,), steps * 8, ""))
    assert list(cache.entries) == ["u4", "big"] and cache.steps == 10
    cache.put("huge", Computed((9,), steps * 11, ""))                 # over the bound alone: not kept
    assert "huge" not in cache.entries and cache.steps == 10
    assert cache.get("u4", (4,), 0.0) is not None and cache.get("u4", (5,), 0.0) is None
    cache.clear()
    for i in range(3):
        cache.put(f"v{i}", Computed((i,), steps * 3, ""))
    assert list(cache.entries) == ["v0", "v1", "v2"] and cache.steps == 9


def test_a_trace_with_a_change_still_settling_is_kept_only_until_it_settles() -> None:
    clock = [T0]
    idx = TraceIndex(clock=lambda: clock[0])
    p = pod("solo", "solo-uid", "5", node="node-a", ready=True)
    idx.add_audit(write(T0 - 1, "create", "pods", "solo", KCM, "4"))
    clock[0] = T0 + 0.2
    idx.add_object("Pod", "MODIFIED", p)
    cached = cached_from({("Pod", "solo"): p})
    first = trace_for(idx, cached, "pod", "default", "solo")
    clock[0] = T0 + 1.1                     # the change is 0.9 s old: still waiting for its write
    assert trace_for(idx, cached, "pod", "default", "solo").steps == first.steps and idx.traces.hits == 1
    clock[0] = T0 + 1.3
    assert [s.action for s in trace_for(idx, cached, "pod", "default", "solo").steps] == ["create", "Ready"]
    assert idx.traces.hits == 1
