"""policy/v1beta1 PodDisruptionBudgets and SelfSubjectReview over the HTTP API of `cluster up --local` (real etcd),
driven by clients nobody here wrote: kubectl 1.37 and Debian's kubectl 1.20 (the seeds' era), the official
Python client, and plain HTTPS for what no client shows (conversion, Warning headers, bad bodies)."""
from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests import realclients

from .conftest import etcd_revision
from .test_http_api import api, http, kubectl, pod_manifest  # noqa: F401 - the module's cluster and helpers

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SEED_PDB = ROOT / "tests" / "fixtures" / "seeds" / "001-13-poddisruptionbudget-nginx-pdb.yaml"
WARNING = ("policy/v1beta1 PodDisruptionBudget is deprecated in v1.21+, unavailable in v1.25+; use policy/v1 "
           "PodDisruptionBudget")
LABEL = "pdb.kubernetes.io/deprecated-v1beta1-empty-selector-match"


@pytest.fixture(scope="module", params=["1.37", "1.20"])
def kubectl_bin(request: pytest.FixtureRequest) -> Path:
    return realclients.kubectl_137() if request.param == "1.37" else realclients.kubectl_120()


def beta(ns: str, name: str = "") -> str:
    return f"/apis/policy/v1beta1/namespaces/{ns}/poddisruptionbudgets" + (f"/{name}" if name else "")


def v1(ns: str, name: str = "") -> str:
    return f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets" + (f"/{name}" if name else "")


def namespace(api: dict[str, Any], name: str) -> str:
    doc = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    assert http(api, "POST", "/api/v1/namespaces", json.dumps(doc).encode())[0] in (201, 409)
    return name


def running_pod(api: dict[str, Any], ns: str, name: str, **labels: str) -> None:
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}
    http(api, "POST", "/api/v1/nodes", json.dumps(node).encode())
    assert http(api, "POST", f"/api/v1/namespaces/{ns}/pods", json.dumps(pod_manifest(name, **labels)).encode())[0] \
        == 201
    bind = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name}, "target": {"kind": "Node", "name": "n1"}}
    assert http(api, "POST", f"/api/v1/namespaces/{ns}/pods/{name}/binding", json.dumps(bind).encode())[0] == 201
    assert http(api, "PATCH", f"/api/v1/namespaces/{ns}/pods/{name}/status",
                json.dumps({"status": {"phase": "Running"}}).encode(), "application/merge-patch+json")[0] == 200


def warnings_of(headers: Any) -> list[str]:
    return headers.get_all("Warning") or []


# ---------------------------------------------------------------- the seed's PDB with the real kubectls
def test_kubectl_applies_gets_and_describes_the_seeds_v1beta1_pdb(kubectl_bin: Path, api: dict[str, Any],
                                                                   tmp_path: Path) -> None:
    ns = namespace(api, "seed-" + kubectl_bin.name.replace(".", "-"))
    assert "apiVersion: policy/v1beta1" in SEED_PDB.read_text()
    r = kubectl(kubectl_bin, api, "-n", ns, "apply", "-f", str(SEED_PDB))
    assert r.stdout == "poddisruptionbudget.policy/nginx-pdb created\n"
    assert f"Warning: {WARNING}" in r.stderr, r.stderr
    again = kubectl(kubectl_bin, api, "-n", ns, "apply", "-f", str(SEED_PDB))
    assert again.stdout == "poddisruptionbudget.policy/nginx-pdb unchanged\n"
    changed = tmp_path / "pdb.yaml"          # a change: kubectl's strategic merge patch to the v1beta1 URL
    changed.write_text(SEED_PDB.read_text().replace("minAvailable: 1", "minAvailable: 2"))
    r = kubectl(kubectl_bin, api, "-n", ns, "apply", "-f", str(changed))
    assert r.stdout == "poddisruptionbudget.policy/nginx-pdb configured\n"
    assert http(api, "GET", v1(ns, "nginx-pdb"))[1]["spec"]["minAvailable"] == 2  # type: ignore[index]
    assert kubectl(kubectl_bin, api, "-n", ns, "apply", "-f", str(SEED_PDB)).stdout == \
        "poddisruptionbudget.policy/nginx-pdb configured\n"

    lines = kubectl(kubectl_bin, api, "-n", ns, "get", "pdb").stdout.splitlines()
    assert re.split(r"\s{2,}", lines[0].strip()) == ["NAME", "MIN AVAILABLE", "MAX UNAVAILABLE",
                                                     "ALLOWED DISRUPTIONS", "AGE"]
    assert lines[1].split()[:4] == ["nginx-pdb", "1", "N/A", "0"]
    described = kubectl(kubectl_bin, api, "-n", ns, "describe", "pdb", "nginx-pdb").stdout
    assert re.search(r"^Name:\s+nginx-pdb$", described, re.M) and re.search(r"^Min available:\s+1$", described, re.M)
    assert re.search(r"^Selector:\s+component=nginx$", described, re.M), described

    # Read as each version: the preferred policy/v1, and policy/v1beta1 when asked by name (with its warning).
    stored = json.loads(kubectl(kubectl_bin, api, "-n", ns, "get", "pdb", "nginx-pdb", "-o", "json").stdout)
    assert stored["apiVersion"] == "policy/v1" and stored["spec"]["selector"] == {"matchLabels": {"component": "nginx"}}
    r = kubectl(kubectl_bin, api, "-n", ns, "get", "poddisruptionbudgets.v1beta1.policy", "nginx-pdb", "-o", "json")
    assert json.loads(r.stdout)["apiVersion"] == "policy/v1beta1" and f"Warning: {WARNING}" in r.stderr

    # The eviction it governs still answers with the budget's message.
    running_pod(api, ns, "web", component="nginx")
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "web"}}
    code, doc, _ = http(api, "POST", f"/api/v1/namespaces/{ns}/pods/web/eviction", json.dumps(eviction).encode())
    assert code == 429 and isinstance(doc, dict)
    assert "Cannot evict pod as it would violate the pod's disruption budget" in doc["message"]
    drain = kubectl(kubectl_bin, api, "drain", "n1", "--pod-selector=component=nginx", "--force", "--timeout=3s",
                    check=False)
    assert drain.returncode == 1
    assert "Cannot evict pod as it would violate the pod's disruption budget" in drain.stderr, drain.stderr
    kubectl(kubectl_bin, api, "uncordon", "n1")
    deleted = kubectl(kubectl_bin, api, "-n", ns, "delete", "-f", str(SEED_PDB))
    assert deleted.stdout.startswith('poddisruptionbudget.policy "nginx-pdb" deleted') and WARNING in deleted.stderr
    assert http(api, "GET", v1(ns, "nginx-pdb"))[0] == 404


def test_the_python_client_reads_the_v1beta1_pdb_as_policy_v1(api: dict[str, Any]) -> None:
    from kubernetes import client, config
    ns = namespace(api, "pyclient")
    body = {"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget", "metadata": {"name": "guard"},
            "spec": {"maxUnavailable": "25%", "selector": {"matchLabels": {"app": "x"}}}}
    assert http(api, "POST", beta(ns), json.dumps(body).encode())[0] == 201
    config.load_kube_config(config_file=api["kubeconfig"])
    read = client.PolicyV1Api().read_namespaced_pod_disruption_budget("guard", ns)
    assert (read.api_version, read.spec.max_unavailable, read.spec.selector.match_labels) == ("policy/v1", "25%",
                                                                                            {"app": "x"})


# ---------------------------------------------------------------- conversion, over plain HTTPS
def test_an_empty_v1beta1_selector_selects_no_pods_whichever_version_reads_it(api: dict[str, Any]) -> None:
    ns = namespace(api, "empty-selector")
    body = {"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget", "metadata": {"name": "none"},
            "spec": {"minAvailable": 1, "selector": {}}}
    code, created, headers = http(api, "POST", beta(ns), json.dumps(body).encode())
    assert code == 201 and isinstance(created, dict), created
    assert created["apiVersion"] == "policy/v1beta1" and created["spec"]["selector"] == {}
    assert warnings_of(headers) == [f'299 - "{WARNING}"']
    code, stored, headers = http(api, "GET", v1(ns, "none"))
    assert code == 200 and isinstance(stored, dict) and not warnings_of(headers)
    assert stored["spec"]["selector"] == {"matchExpressions": [{"key": LABEL, "operator": "Exists"}]}
    # ... so the eviction of a pod in the namespace is not governed by it
    running_pod(api, ns, "free", app="free")
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "free"}}
    code, doc, _ = http(api, "POST", f"/api/v1/namespaces/{ns}/pods/free/eviction", json.dumps(eviction).encode())
    assert code == 201, doc

    # A v1 {} (every pod) reads through v1beta1 as the selector every pod matches, and back.
    every = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "every"},
             "spec": {"minAvailable": 1, "selector": {}}}
    assert http(api, "POST", v1(ns), json.dumps(every).encode())[0] == 201
    code, seen, _ = http(api, "GET", beta(ns, "every"))
    assert isinstance(seen, dict)
    assert seen["spec"]["selector"] == {"matchExpressions": [{"key": LABEL, "operator": "DoesNotExist"}]}
    code, put, _ = http(api, "PUT", beta(ns, "every"), json.dumps(dict(seen, metadata={
        **seen["metadata"], "labels": {"edited": "yes"}})).encode())
    assert code == 200 and isinstance(put, dict), put
    code, stored, _ = http(api, "GET", v1(ns, "every"))
    assert isinstance(stored, dict) and stored["spec"]["selector"] == {} and stored["metadata"]["labels"] == {
        "edited": "yes"}

    # A patch through v1beta1 is applied to the v1beta1 object: `selector: {}` patched in selects no pods.
    code, patched, headers = http(api, "PATCH", beta(ns, "every"),
                                  json.dumps({"spec": {"selector": {"matchExpressions": None}}}).encode(),
                                  "application/merge-patch+json")
    assert code == 200 and isinstance(patched, dict), patched
    assert patched["spec"]["selector"] == {} and warnings_of(headers) == [f'299 - "{WARNING}"']
    code, stored, _ = http(api, "GET", v1(ns, "every"))
    assert isinstance(stored, dict)
    assert stored["spec"]["selector"] == {"matchExpressions": [{"key": LABEL, "operator": "Exists"}]}


def test_list_watch_and_table_through_v1beta1(api: dict[str, Any]) -> None:
    ns = namespace(api, "list-watch")
    body = {"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget", "metadata": {"name": "w"},
            "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "w"}}}}
    assert http(api, "POST", beta(ns), json.dumps(body).encode())[0] == 201
    code, listed, headers = http(api, "GET", beta(ns))
    assert code == 200 and isinstance(listed, dict)
    assert (listed["apiVersion"], listed["kind"]) == ("policy/v1beta1", "PodDisruptionBudgetList")
    assert [i["apiVersion"] for i in listed["items"]] == ["policy/v1beta1"]
    assert warnings_of(headers) == [f'299 - "{WARNING}"']

    ctx = ssl.create_default_context(cafile=api["ca_file"])
    req = urllib.request.Request(api["https"] + beta(ns) + "?watch=true&timeoutSeconds=1",
                                 headers={"Authorization": f"Bearer {api['token']}"})
    with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
        assert warnings_of(resp.headers) == [f'299 - "{WARNING}"']
        events = [json.loads(line) for line in resp.read().splitlines() if line.strip()]
    assert [(e["type"], e["object"]["apiVersion"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "policy/v1beta1", "w")]

    table = "application/json;as=Table;v=v1;g=meta.k8s.io"
    tables = [http(api, "GET", path + "?includeObject=Object", accept=table)[1] for path in (beta(ns), v1(ns))]
    assert all(isinstance(t, dict) for t in tables)
    assert tables[0]["columnDefinitions"] == tables[1]["columnDefinitions"]      # type: ignore[index]
    assert [r["cells"] for r in tables[0]["rows"]] == [r["cells"] for r in tables[1]["rows"]]  # type: ignore[index]
    row_versions = [r["object"]["apiVersion"] for t in tables for r in t["rows"]]  # type: ignore[index]
    assert row_versions == ["policy/v1beta1", "policy/v1"]


@pytest.mark.parametrize("path, doc, query, words", [
    ("beta", {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "bad1"}}, "",
     "the API version in the data (policy/v1) does not match the expected API version (policy/v1beta1)"),
    ("v1", {"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget", "metadata": {"name": "bad2"}}, "",
     "the API version in the data (policy/v1beta1) does not match the expected API version (policy/v1)"),
    ("beta", {"apiVersion": "policy/v1beta1", "kind": "Deployment", "metadata": {"name": "bad3"}}, "",
     'Deployment in version "v1beta1" cannot be handled as a PodDisruptionBudget'),
    ("beta", {"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget", "metadata": {"name": "bad4"},
              "spec": {"minAvailabel": 1}}, "?fieldValidation=Strict",
     'PodDisruptionBudget in version "v1beta1" cannot be handled as a PodDisruptionBudget: strict decoding error: '
     'unknown field "spec.minAvailabel"'),
])
def test_bad_v1beta1_bodies_are_400_and_write_nothing(api: dict[str, Any], path: str, doc: dict[str, Any],
                                                      query: str, words: str) -> None:
    ns = namespace(api, "bad-bodies")
    before = asyncio.run(etcd_revision(api))
    code, status, _ = http(api, "POST", (beta(ns) if path == "beta" else v1(ns)) + query, json.dumps(doc).encode())
    assert code == 400 and isinstance(status, dict) and status["reason"] == "BadRequest", status
    assert words in status["message"], status
    assert asyncio.run(etcd_revision(api)) == before


def test_discovery_and_openapi_serve_both_versions(api: dict[str, Any]) -> None:
    code, group, _ = http(api, "GET", "/apis/policy")
    assert code == 200 and isinstance(group, dict)
    assert [v["groupVersion"] for v in group["versions"]] == ["policy/v1", "policy/v1beta1"]
    assert group["preferredVersion"]["groupVersion"] == "policy/v1"
    aggregated = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    code, doc, _ = http(api, "GET", "/apis", accept=aggregated)
    assert isinstance(doc, dict)
    [policy] = [i for i in doc["items"] if i["metadata"]["name"] == "policy"]
    assert [v["version"] for v in policy["versions"]] == ["v1", "v1beta1"]
    code, v2, _ = http(api, "GET", "/openapi/v2")
    assert isinstance(v2, dict) and "io.k8s.api.policy.v1beta1.PodDisruptionBudget" in v2["definitions"]
    code, index, _ = http(api, "GET", "/openapi/v3")
    assert isinstance(index, dict) and "apis/policy/v1beta1" in index["paths"]


# ---------------------------------------------------------------- SelfSubjectReview
def test_kubectl_auth_whoami_says_what_kubelab_auth_whoami_says(api: dict[str, Any]) -> None:
    binary = realclients.kubectl_137()
    env = {**os.environ, "KUBELAB_SERVER": api["server"], "KUBELAB_TOKEN": api["token"]}
    for extra in ([], ["--as=jane", "--as-group=devs", "--as-group=ops"]):
        real = kubectl(binary, api, "auth", "whoami", *extra)
        ours = subprocess.run([sys.executable, "-m", "kubectl", "auth", "whoami", *extra], capture_output=True,
                              text=True, env=env, check=True)
        assert real.stdout == ours.stdout and real.stdout.startswith("ATTRIBUTE"), (real.stdout, ours.stdout)
    assert re.search(r"^Username\s+jane$", real.stdout, re.M) and "[devs ops system:authenticated]" in real.stdout
    doc = json.loads(kubectl(binary, api, "auth", "whoami", "-o", "json").stdout)
    assert (doc["apiVersion"], doc["kind"]) == ("authentication.k8s.io/v1", "SelfSubjectReview")
    assert doc["status"]["userInfo"]["username"] == "admin" and doc["metadata"]["creationTimestamp"]
    code, listed, _ = http(api, "GET", "/apis/authentication.k8s.io/v1")
    assert isinstance(listed, dict) and [r["name"] for r in listed["resources"]] == ["selfsubjectreviews"]
    r = kubectl(binary, api, "--token=wrong", "auth", "whoami", check=False)
    assert r.returncode == 1 and "Unauthorized" in r.stderr
    # a service account's token: the same authenticator as every other request, over both APIs
    token = kubectl(binary, api, "-n", "default", "create", "token", "default").stdout.strip()
    real = kubectl(binary, api, f"--token={token}", "auth", "whoami")
    ours = subprocess.run([sys.executable, "-m", "kubectl", "auth", "whoami"], capture_output=True, text=True,
                          env={**env, "KUBELAB_TOKEN": token}, check=True)
    assert real.stdout == ours.stdout, (real.stdout, ours.stdout)
    assert re.search(r"^Username\s+system:serviceaccount:default:default$", real.stdout, re.M), real.stdout
    # the token's credential id, as kube-apiserver's ServiceAccount authenticator attaches it
    jti = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["jti"]
    assert re.search(rf"^Extra: authentication.kubernetes.io/credential-id\s+\[JTI={jti}\]$", real.stdout, re.M), \
        real.stdout


@pytest.mark.parametrize("method, body, code", [("GET", None, 405), ("POST", b'{"kind": "Pod"}', 400),
                                                ("POST", b'{"apiVersion": "v1"}', 400)])
def test_a_self_subject_review_is_create_only_and_checks_its_body(api: dict[str, Any], method: str,
                                                                  body: bytes | None, code: int) -> None:
    got, status, _ = http(api, method, "/apis/authentication.k8s.io/v1/selfsubjectreviews", body)
    assert got == code and isinstance(status, dict) and status["kind"] == "Status", status


def test_server_side_apply_through_v1beta1_converts_and_records_the_managers_version(api: dict[str, Any],
                                                                                    tmp_path: Path) -> None:
    ns = namespace(api, "ssa-beta")
    manifest = tmp_path / "pdb.yaml"
    manifest.write_text("apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata:\n  name: ssa\n"
                        "spec:\n  minAvailable: 1\n  selector: {}\n")
    binary = realclients.kubectl_137()
    r = kubectl(binary, api, "-n", ns, "apply", "--server-side", "-f", str(manifest))
    assert r.stdout == "poddisruptionbudget.policy/ssa serverside-applied\n" and WARNING in r.stderr
    code, stored, _ = http(api, "GET", v1(ns, "ssa"))
    assert isinstance(stored, dict)
    assert stored["spec"]["selector"] == {"matchExpressions": [{"key": LABEL, "operator": "Exists"}]}
    assert [(m["manager"], m["operation"], m["apiVersion"]) for m in stored["metadata"]["managedFields"]] == [
        ("kubectl", "Apply", "policy/v1beta1")]
    manifest.write_text(manifest.read_text().replace("minAvailable: 1", "minAvailable: 2"))
    r = kubectl(binary, api, "-n", ns, "apply", "--server-side", "-f", str(manifest))
    assert r.stdout == "poddisruptionbudget.policy/ssa serverside-applied\n"
    code, stored, _ = http(api, "GET", v1(ns, "ssa"))
    assert isinstance(stored, dict) and stored["spec"]["minAvailable"] == 2
    assert stored["spec"]["selector"] == {"matchExpressions": [{"key": LABEL, "operator": "Exists"}]}
