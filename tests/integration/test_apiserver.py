"""The API contract against a real etcd and a real apiserver process."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from kubelab import errors, manifests
from lab import local as launcher
from kubelab.client import Client, new_object
from kubelab.informer import Informer

from .conftest import etcd_revision, etcd_storage

SEEDS = sorted((Path(__file__).parent.parent / "fixtures" / "seeds").glob("*.yaml"))


def _subset(applied: Any, stored: Any, path: str = "") -> None:
    """Everything applied is in what was stored (which may add defaults)."""
    if isinstance(applied, dict):
        assert isinstance(stored, dict), path
        for k, v in applied.items():
            assert k in stored, f"{path}.{k} missing from stored object"
            _subset(v, stored[k], f"{path}.{k}")
    elif isinstance(applied, list):
        assert isinstance(stored, list) and len(stored) == len(applied), path
        for i, (a, s) in enumerate(zip(applied, stored)):
            _subset(a, s, f"{path}[{i}]")
    elif isinstance(applied, (int, float)) and isinstance(stored, str):
        assert str(applied) == stored, path   # quantities: cpu: 1 is stored as "1"
    else:
        assert applied == stored, f"{path}: {applied!r} != {stored!r}"


def _without_token_volume(spec: dict[str, Any]) -> None:
    """A stored pod less what the ServiceAccount admission adds (as in Kubernetes): the kube-api-access-xxxxx
    volume and its mounts, so the manifest's own lists compare one to one."""
    added = [v["name"] for v in spec.get("volumes", []) if v["name"].startswith("kube-api-access-")]
    assert len(added) == 1, spec.get("volumes")
    for holder, key in [(spec, "volumes")] + [(c, "volumeMounts") for c in spec.get("containers", [])
                                                + spec.get("initContainers", [])]:
        kept = [x for x in holder.get(key, []) if x["name"] not in added]
        if kept:
            holder[key] = kept
        else:
            holder.pop(key, None)


async def _namespace(client: Client, name: str) -> None:
    try:
        await client.create(new_object("Namespace", name))
    except errors.AlreadyExists:
        pass


@pytest.mark.parametrize("path", SEEDS, ids=[p.stem for p in SEEDS])
async def test_every_seed_manifest_applies_and_reads_back(client: Client, path: Path) -> None:
    import yaml
    ns = "seed-" + path.stem[:3] + "-" + path.stem[4:6]
    await _namespace(client, ns)
    raw = yaml.safe_load(path.read_text())
    [doc] = manifests.load([str(path)])
    doc.obj.metadata.namespace = ns
    created = await client.create(doc.obj)
    stored = manifests.to_dict(await client.get(created.kind, created.metadata.name, ns))
    if raw["kind"] == "Pod":
        _without_token_volume(stored["spec"])
    if raw["apiVersion"] == "policy/v1beta1":
        raw["apiVersion"] = "policy/v1"    # served as policy/v1, as Kubernetes does
    _subset(raw, stored)
    md = stored["metadata"]
    assert md["uid"] and md["creationTimestamp"] and md["resourceVersion"]
    kind = raw["kind"]
    if kind == "Deployment":
        assert stored["spec"]["strategy"]["type"] == "RollingUpdate"
        assert stored["spec"]["revisionHistoryLimit"] == 10 and stored["spec"]["progressDeadlineSeconds"] == 600
    if kind in ("Pod",):
        assert stored["spec"]["restartPolicy"] == "Always"
        assert stored["spec"]["terminationGracePeriodSeconds"] == 30
        assert stored["status"]["phase"] == "Pending"
    if kind == "Service":
        assert stored["spec"]["clusterIP"].startswith("10.96.")
        assert stored["spec"]["type"] in ("ClusterIP", "NodePort", "LoadBalancer")
        if stored["spec"]["type"] != "ClusterIP":
            assert 30000 <= stored["spec"]["ports"][0]["nodePort"] <= 32767


async def test_concurrent_updates_from_one_version_conflict(client: Client) -> None:
    cm = new_object("Deployment", "conflict")
    [doc] = manifests.parse_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: conflict}\nspec:\n  replicas: 1\n"
        "  selector: {matchLabels: {app: c}}\n  template:\n    metadata: {labels: {app: c}}\n"
        "    spec: {containers: [{name: c, image: img}]}\n", "t")
    cm = await client.create(doc.obj)
    a, b = type(cm)(), type(cm)()
    a.CopyFrom(cm)
    b.CopyFrom(cm)
    a.spec.replicas, b.spec.replicas = 2, 3
    results = await asyncio.gather(client.update(a), client.update(b), return_exceptions=True)
    ok = [r for r in results if not isinstance(r, Exception)]
    conflicts = [r for r in results if isinstance(r, errors.Conflict)]
    assert len(ok) == 1 and len(conflicts) == 1, results
    assert "the object has been modified" in str(conflicts[0])
    assert (await client.get("Deployment", "conflict")).spec.replicas == ok[0].spec.replicas


async def test_no_update_is_lost_under_contention(client: Client) -> None:
    obj = new_object("Namespace", "counter")
    obj.metadata.annotations["count"] = "0"
    await client.create(obj)

    async def increment() -> int:
        conflicts = 0
        while True:
            cur = await client.get("Namespace", "counter")
            cur.metadata.annotations["count"] = str(int(cur.metadata.annotations["count"]) + 1)
            try:
                await client.update(cur)
                return conflicts
            except errors.Conflict:
                conflicts += 1
    conflicts = await asyncio.gather(*(increment() for _ in range(20)))
    final = await client.get("Namespace", "counter")
    assert final.metadata.annotations["count"] == "20"
    assert sum(conflicts) > 0     # there really was contention


def _pod(name: str, labels: dict[str, str] | None = None) -> Any:
    pod = new_object("Pod", name)
    pod.metadata.labels.update(labels or {})
    pod.spec.containers.add(name="c", image="busybox")
    return pod


async def test_watch_from_revision_delivers_every_later_change_in_order(client: Client) -> None:
    await _namespace(client, "watch")
    first = await client.create(_pod("w0"), )
    start = first.metadata.resource_version
    expected = []
    for i in range(1, 6):
        p = await client.create(_pod(f"w{i}"))
        expected.append(("ADDED", p.metadata.name, p.metadata.resource_version))
    p = await client.get("Pod", "w1")
    p.metadata.labels["touched"] = "yes"
    p = await client.update(p)
    expected.append(("MODIFIED", "w1", p.metadata.resource_version))
    d = await client.delete("Pod", "w2")
    expected.append(("DELETED", "w2", d.metadata.resource_version))
    got = []
    stream = client.watch("Pod", "default", resource_version=start)
    async for ev in stream:
        o = ev.object.pod
        got.append((ev.type, o.metadata.name, o.metadata.resource_version))
        if len(got) == len(expected):
            break
    stream.cancel()
    assert got == expected
    revs = [int(r) for _, _, r in got]
    assert revs == sorted(revs)


async def test_watch_label_selector_sees_objects_leave_and_enter(client: Client) -> None:
    await client.create(_pod("sel-a", {"tier": "x"}))
    rv = (await client.get("Pod", "sel-a")).metadata.resource_version
    p = await client.get("Pod", "sel-a")
    p.metadata.labels["tier"] = "y"
    await client.update(p)
    p = await client.get("Pod", "sel-a")
    p.metadata.labels["tier"] = "x"
    await client.update(p)
    stream = client.watch("Pod", "default", resource_version=rv, label_selector="tier=x")
    types = []
    async for ev in stream:
        types.append(ev.type)
        if len(types) == 2:
            break
    stream.cancel()
    assert types == ["DELETED", "ADDED"]


async def test_watch_from_compacted_revision_is_gone_and_informer_relists(local_cluster: dict[str, Any],
                                                                          client: Client) -> None:
    await _namespace(client, "compact")
    old = await client.create(_pod("c-old"))
    old_rv = int(old.metadata.resource_version)
    for i in range(30):   # push the old revision out of the apiserver's window is not needed:
        await client.create(_pod(f"c-{i}"))   # an etcd watch from before compaction must say Gone
    s = etcd_storage(local_cluster)
    await s.start()
    await s.compact(await s.current_revision())
    await s.close()
    # The apiserver keeps recent events in memory: ask for one older than its window (revision 1).
    with pytest.raises(errors.Gone):
        async for _ in client.watch("Pod", "default", resource_version="1"):
            pass
    # An informer whose resourceVersion is compacted away relists and converges.
    inf = Informer(client, "Pod", "default")
    inf.resource_version = "1"
    inf.start()
    await inf.wait_synced(10)
    names = {o.metadata.name for o in inf.list()}
    assert {"c-old", "c-29"} <= names
    await client.create(_pod("c-after"))
    for _ in range(100):
        if inf.get("default/c-after") is not None:
            break
        await asyncio.sleep(0.05)
    assert inf.get("default/c-after") is not None
    await inf.stop()
    assert old_rv > 0


async def test_informer_recovers_from_gone_on_rewatch(client: Client) -> None:
    """Force the informer's stored resourceVersion to a compacted one; the next watch gets Gone → relist."""
    inf = Informer(client, "Namespace")
    inf.start()
    await inf.wait_synced(10)
    before = inf.relists
    inf.resource_version = "1"
    # Break the current watch by restarting nothing: create an object and make sure it still arrives.
    await client.create(new_object("Namespace", "inf-gone"))
    for _ in range(100):
        if inf.get("inf-gone") is not None:
            break
        await asyncio.sleep(0.05)
    assert inf.get("inf-gone") is not None
    assert inf.relists >= before
    await inf.stop()


async def test_bookmarks_arrive_on_request(client: Client) -> None:
    stream = client.watch("Lease", "default", resource_version="", allow_bookmarks=True)
    ev = await asyncio.wait_for(stream.__anext__(), timeout=15)
    stream.cancel()
    assert ev.type == "BOOKMARK" and int(ev.resource_version) > 0


async def test_hundred_watchers_all_see_every_event(client: Client) -> None:
    await _namespace(client, "fanout")
    start = (await client.create(_pod("f-start"))).metadata.resource_version
    n_events = 20
    streams = [client.watch("Pod", "fanout", resource_version=start) for _ in range(100)]

    async def collect(stream: Any) -> list[str]:
        names = []
        async for ev in stream:
            names.append(ev.object.pod.metadata.name)
            if len(names) == n_events:
                break
        stream.cancel()
        return names
    tasks = [asyncio.create_task(collect(s)) for s in streams]
    for i in range(n_events):
        p = _pod(f"f{i}")
        p.metadata.namespace = "fanout"
        await client.create(p)
    results = await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
    assert all(r == [f"f{i}" for i in range(n_events)] for r in results)


async def test_generate_name_uid_and_timestamps(client: Client) -> None:
    pod = _pod("")
    pod.metadata.generate_name = "gen-"
    a, b = await client.create(pod), await client.create(pod)
    assert a.metadata.name.startswith("gen-") and len(a.metadata.name) == 9
    assert a.metadata.name != b.metadata.name and a.metadata.uid != b.metadata.uid
    assert a.metadata.creation_timestamp.endswith("Z")


async def test_status_subresource_and_spec_updates_are_separate(client: Client) -> None:
    p = await client.create(_pod("status-sub"))
    p.status.phase = "Running"
    p.metadata.labels["ignored"] = "yes"          # a status update changes only status
    s = await client.update_status(p)
    assert s.status.phase == "Running" and "ignored" not in s.metadata.labels
    s.status.phase = "Failed"                     # a spec update keeps the stored status
    s.metadata.labels["kept"] = "yes"
    u = await client.update(s)
    assert u.status.phase == "Running" and u.metadata.labels["kept"] == "yes"


async def test_graceful_pod_deletion_and_finalizers(client: Client) -> None:
    p = _pod("graceful")
    await client.create(p)
    await client.bind("default", "graceful", "node-a")
    with pytest.raises(errors.Conflict, match="already assigned"):
        await client.bind("default", "graceful", "node-b")
    d = await client.delete("Pod", "graceful")
    assert d.metadata.deletion_timestamp and d.metadata.deletion_grace_period_seconds == 30
    assert (await client.get("Pod", "graceful")).metadata.deletion_timestamp
    await client.delete("Pod", "graceful", grace_period_seconds=0)
    with pytest.raises(errors.NotFound):
        await client.get("Pod", "graceful")
    f = _pod("finalized")
    f.metadata.finalizers.append("example.com/hold")
    await client.create(f)
    await client.delete("Pod", "finalized")
    held = await client.get("Pod", "finalized")
    assert held.metadata.deletion_timestamp
    del held.metadata.finalizers[:]
    await client.update(held)
    with pytest.raises(errors.NotFound):
        await client.get("Pod", "finalized")


async def test_node_ports_and_cluster_ips_are_allocated_once_and_released(client: Client) -> None:
    def svc(name: str, node_port: int = 0, cluster_ip: str = "") -> Any:
        s = new_object("Service", name)
        s.spec.type = "NodePort"
        port = s.spec.ports.add(port=80)
        if node_port:
            port.node_port = node_port
        s.spec.cluster_ip = cluster_ip
        s.spec.selector["app"] = name
        return s
    a = await client.create(svc("np-a", 31000))
    with pytest.raises(errors.Invalid, match="provided port is already allocated"):
        await client.create(svc("np-b", 31000))
    with pytest.raises(errors.Invalid, match="provided IP is already allocated"):
        await client.create(svc("np-c", cluster_ip=a.spec.cluster_ip))
    await client.delete("Service", "np-a")
    b = await client.create(svc("np-b", 31000, a.spec.cluster_ip))   # released on delete
    assert b.spec.ports[0].node_port == 31000 and b.spec.cluster_ip == a.spec.cluster_ip
    # 200 at once over 2,768 ports: random picks collide (birthday odds ~99.9 %), and a lost race is
    # picked again, never reported to the user as "provided port is already allocated".
    many = await asyncio.gather(*(client.create(svc(f"np-many-{i}")) for i in range(200)))
    ports = [s.spec.ports[0].node_port for s in many]
    assert len(set(ports)) == 200
    assert len({s.spec.cluster_ip for s in many}) == 200


async def test_patch_merge_strategic_and_apply(client: Client) -> None:
    [doc] = manifests.parse_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: patched}\nspec:\n  replicas: 1\n"
        "  selector: {matchLabels: {app: p}}\n  template:\n    metadata: {labels: {app: p}}\n"
        "    spec: {containers: [{name: a, image: img:1}, {name: b, image: other:1}]}\n", "t")
    await client.create(doc.obj)
    d = await client.patch("Deployment", "patched", {"spec": {"replicas": 4}}, patch_type="merge")
    assert d.spec.replicas == 4
    d = await client.patch("Deployment", "patched",
                           {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "img:2"}]}}}})
    assert [c.image for c in d.spec.template.spec.containers] == ["img:2", "other:1"]
    rv = d.metadata.resource_version
    same = await client.patch("Deployment", "patched", {"spec": {"replicas": 4}}, patch_type="merge")
    assert same.metadata.resource_version == rv     # a no-op writes nothing


async def test_json_patch_is_applied_by_the_apiserver(client: Client, local_cluster: dict[str, Any]) -> None:
    """`patch --type json` as kube-apiserver applies it: to the current object, in evanphx/json-patch's words
    when it does not apply (Invalid), and never to another object (checkName's words)."""
    [doc] = manifests.parse_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: jp}\nspec:\n  replicas: 1\n"
        "  selector: {matchLabels: {app: jp}}\n  template:\n    metadata: {labels: {app: jp}}\n"
        "    spec: {containers: [{name: a, image: img:1}]}\n", "t")
    await client.create(doc.obj)
    d = await client.patch("Deployment", "jp", [{"op": "replace", "path": "/spec/template/spec/containers/0/image",
                                                 "value": "img:2"},
                                                {"op": "add", "path": "/metadata/labels", "value": {"x": "y"}}],
                           patch_type="json")
    assert d.spec.template.spec.containers[0].image == "img:2" and dict(d.metadata.labels) == {"x": "y"}
    refused = [
        ([{"op": "replace", "path": "/metadata/name", "value": "other"}], errors.BadRequest,
         "the name of the object (other) does not match the name on the URL (jp)"),
        ([{"op": "remove", "path": "/metadata/name"}], errors.BadRequest,
         "the name of the object () does not match the name on the URL (jp)"),
        ([{"op": "replace", "path": "/metadata/namespace", "value": "kube-system"}], errors.BadRequest,
         "the namespace of the object (kube-system) does not match the namespace on the URL (default)"),
        ([{"op": "replace", "path": "/spec/nope", "value": 1}], errors.Invalid,
         "replace operation does not apply: doc is missing key: /spec/nope"),
        ([{"op": "test", "path": "/spec/replicas", "value": 2}, {"op": "remove", "path": "/spec/replicas"}],
         errors.Invalid, "testing value /spec/replicas failed"),
        ([{"op": "replace", "path": "/spec/replicas", "value": "3"}], errors.Invalid, "spec.replicas"),
        ({"op": "replace"}, errors.BadRequest, "a JSON patch must be a list of operations"),
    ]
    before = await etcd_revision(local_cluster)
    for ops, error, words in refused:
        with pytest.raises(error) as e:
            await client.patch("Deployment", "jp", ops, patch_type="json")
        assert words in e.value.message, ops
    assert await etcd_revision(local_cluster) == before
    assert (await client.get("Deployment", "jp")).spec.replicas == 1


async def test_apiserver_restart_loses_nothing(local_cluster: dict[str, Any]) -> None:
    async with Client(local_cluster["server"], local_cluster["token"]) as c:
        await _namespace(c, "restart")
        for i in range(10):
            p = _pod(f"r{i}")
            p.metadata.namespace = "restart"
            await c.create(p)
        before, _ = await c.list("Pod", "restart")
    launcher.restart_component("apiserver", local_cluster["state_path"])
    await launcher._wait_api(local_cluster["server"], local_cluster["token"])
    async with Client(local_cluster["server"], local_cluster["token"]) as c:
        after, _ = await c.list("Pod", "restart")
        assert [(p.metadata.name, p.metadata.uid, p.metadata.resource_version) for p in after] == \
               [(p.metadata.name, p.metadata.uid, p.metadata.resource_version) for p in before]
        p = _pod("r-after")
        p.metadata.namespace = "restart"
        await c.create(p)


async def test_missing_or_wrong_token_is_unauthenticated(local_cluster: dict[str, Any]) -> None:
    for token in ("", "wrong"):
        async with Client(local_cluster["server"], token, retries=0) as c:
            with pytest.raises(errors.Unauthenticated):
                await c.list("Pod")


async def test_metrics_count_requests_objects_and_watches(local_cluster: dict[str, Any], client: Client) -> None:
    """`/metrics` in Prometheus text: requests by verb/resource/code, etcd latencies, objects, watches."""
    import re
    import urllib.request
    def pod(name: str) -> Any:
        p = new_object("Pod", name, "metrics")
        p.spec.containers.add(name="c", image="x")
        return p

    await _namespace(client, "metrics")
    for i in range(3):
        await client.create(pod(f"m{i}"))
    with pytest.raises(errors.AlreadyExists):
        await client.create(pod("m0"))
    with pytest.raises(errors.NotFound):
        await client.get("Pod", "nope", "metrics")
    watch = client.watch("Pod", "metrics")     # the call starts at once: one registered watcher
    await asyncio.sleep(0.5)

    def scrape() -> str:
        with urllib.request.urlopen(local_cluster["apiserver_metrics"], timeout=5) as resp:
            assert resp.headers["Content-Type"].startswith("text/plain")
            return resp.read().decode()

    def value(text: str, series: str) -> float:
        m = re.search(re.escape(series) + r" ([0-9.e+]+)$", text, re.M)
        assert m, f"{series} not in /metrics"
        return float(m.group(1))

    try:
        text = await asyncio.to_thread(scrape)
    finally:
        watch.cancel()
    assert value(text, 'apiserver_request_total{code="OK",resource="pods",verb="create"}') >= 3
    assert value(text, 'apiserver_request_total{code="AlreadyExists",resource="pods",verb="create"}') >= 1
    assert value(text, 'apiserver_request_total{code="NotFound",resource="pods",verb="get"}') >= 1
    assert value(text, 'apiserver_request_duration_seconds_count{resource="pods",verb="create"}') >= 4
    assert value(text, 'etcd_request_duration_seconds_count{operation="create"}') >= 3
    assert value(text, 'apiserver_storage_objects{resource="pods"}') >= 3
    assert value(text, 'apiserver_registered_watchers{kind="Pod"}') >= 1


async def test_the_kubernetes_service_has_the_apiservers_endpoints(client: Client,
                                                                   local_cluster: dict[str, Any]) -> None:
    """As kube-apiserver does: `default/kubernetes` (443) leads to the apiserver's own address and HTTPS port."""
    svc = await client.get("Service", "kubernetes", "default")
    assert [(p.name, p.port) for p in svc.spec.ports] == [("https", 443)] and not svc.spec.selector
    ep = await client.get("Endpoints", "kubernetes", "default")
    host, _ = local_cluster["server"].rsplit(":", 1)
    _, port = local_cluster["https"].rsplit(":", 1)         # the Kubernetes HTTP API's port, as in Kubernetes
    assert [a.ip for a in ep.subsets[0].addresses] == [host]
    assert [(p.name, p.port, p.protocol) for p in ep.subsets[0].ports] == [("https", int(port), "TCP")]
