"""EndpointSlices on `cluster up --local` (etcd, apiserver, scheduler, controller manager under its own identity,
two hollow nodes), read by clients nobody here wrote: the real kubectl 1.37 (its `describe service` reads
EndpointSlices, not Endpoints) and the official Python client's DiscoveryV1Api; and `kubelab get` beside them.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from lab import local as launcher
from tests import realclients
from tests.harness.cluster import FAST_CONTROLLER_MANAGER, FAST_HOLLOW

from .conftest import kubeconfig_in, need_etcd
from .test_http_api import http

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
NS = "slices"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    need_etcd()
    tmp = tmp_path_factory.mktemp("endpointslices")
    with kubeconfig_in(tmp):
        info = asyncio.run(launcher.up_local(hollow_nodes=2, state_dir=tmp / "state", extra_args={
            "controller-manager": FAST_CONTROLLER_MANAGER, "hollow-nodes": FAST_HOLLOW}))
        info["home"] = tmp
        info["kubelab_config"] = os.environ["KUBELAB_CONFIG"]
        try:
            yield info
        finally:
            launcher.down_local(tmp / "state")


@pytest.fixture(scope="module")
def kubectl(api: dict[str, Any]) -> Callable[..., subprocess.CompletedProcess[str]]:
    binary = realclients.kubectl_137()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(api["home"]), "KUBECONFIG": api["kubeconfig"]}

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([str(binary), *args], capture_output=True, text=True, env=env, timeout=60)
        if check:
            assert r.returncode == 0, f"kubectl {' '.join(args)}: {r.stderr}"
        return r
    run("create", "namespace", NS)
    return run


def kubelab(api: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBELAB_CONFIG": api["kubelab_config"]}
    r = subprocess.run([sys.executable, "-m", "kubectl", *args], capture_output=True, text=True, env=env,
                       timeout=60, cwd=REPO)
    assert r.returncode == 0, r.stderr
    return r


def until(check: Callable[[], Any], timeout: float = 60, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def slices(kubectl: Callable[..., Any], service: str, ns: str = NS) -> list[dict[str, Any]]:
    out = kubectl("get", "endpointslices", "-n", ns, "-l", f"kubernetes.io/service-name={service}", "-o", "json")
    return json.loads(out.stdout)["items"]


def ready_addresses(items: list[dict[str, Any]]) -> list[str]:
    return sorted(a for s in items for e in s["endpoints"] if e["conditions"].get("ready") for a in e["addresses"])


def rows(text: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", ln.strip()) for ln in text.strip().splitlines()]


def test_kubectl_describe_service_shows_the_pods_and_get_shows_the_slices(api: dict[str, Any], kubectl: Any) -> None:
    kubectl("create", "deployment", "web", "-n", NS, "--image=nginx", "--replicas=2", "--port=8080")
    kubectl("expose", "deployment", "web", "-n", NS, "--port=80", "--target-port=8080")

    def pod_ips() -> list[str]:
        out = kubectl("get", "pods", "-n", NS, "-l", "app=web", "-o", "jsonpath={.items[*].status.podIP}").stdout
        ips = sorted(out.split())
        return ips if len(ips) == 2 else []
    ips = until(pod_ips, what="two pod IPs")
    until(lambda: ready_addresses(slices(kubectl, "web")) == ips, what="both pods ready in the slice")

    [eps] = slices(kubectl, "web")
    assert eps["addressType"] == "IPv4" and eps["metadata"]["name"].startswith("web-")
    assert eps["metadata"]["generateName"] == "web-"
    assert eps["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == "endpointslice-controller.k8s.io"
    owner = eps["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"], owner["blockOwnerDeletion"]) == \
        ("Service", "web", True, True)
    assert eps["ports"] == [{"name": "", "port": 8080, "protocol": "TCP"}]     # name "" written, as Kubernetes
    for e in eps["endpoints"]:
        assert e["conditions"] == {"ready": True, "serving": True, "terminating": False}
        assert e["targetRef"]["kind"] == "Pod" and e["nodeName"]

    described = kubectl("describe", "service", "web", "-n", NS).stdout
    line = next(ln for ln in described.splitlines() if ln.startswith("Endpoints:"))
    # in the slice's order, which neither Kubernetes' controller nor ours sorts
    assert sorted(line.split()[1].split(",")) == [f"{ip}:8080" for ip in ips], described
    # kubelab's describe reads the same slices and prints the same line
    mine_described = kubelab(api, "describe", "service", "web", "-n", NS).stdout
    assert line in mine_described.splitlines(), mine_described
    # and describes a slice as kubectl does
    theirs = kubectl("describe", "endpointslice", eps["metadata"]["name"], "-n", NS).stdout
    assert "  - Addresses:  " in theirs and "TargetRef:  Pod/web-" in theirs, theirs
    assert kubelab(api, "describe", "endpointslice", eps["metadata"]["name"], "-n", NS).stdout == theirs

    table = kubectl("get", "endpointslices", "-n", NS).stdout
    got = rows(table)
    assert got[0] == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"], table
    assert got[1][:4] == [eps["metadata"]["name"], "IPv4", "8080", ",".join(ips)], table
    # kubelab's own get prints the same columns from the same printer
    mine = rows(kubelab(api, "get", "endpointslices", "-n", NS).stdout)
    assert mine[0] == got[0] and mine[1][:4] == got[1][:4], mine
    # the same through -o wide, a name and a field selector, and kubectl's discovery (no short name, as Kubernetes)
    assert rows(kubectl("get", "endpointslices", "-n", NS, "--field-selector",
                        f"metadata.name={eps['metadata']['name']}").stdout)[1][0] == eps["metadata"]["name"]
    resources = kubectl("api-resources", "--api-group=discovery.k8s.io").stdout
    assert rows(resources)[1][:4] == ["endpointslices", "discovery.k8s.io/v1", "true", "EndpointSlice"], resources
    # kubectl explain walks the OpenAPI v3 document of discovery.k8s.io/v1
    explained = kubectl("explain", "endpointslice.endpoints.conditions").stdout
    assert "GROUP:      discovery.k8s.io" in explained and "KIND:       EndpointSlice" in explained, explained
    assert {"ready", "serving", "terminating"} <= set(re.findall(r"^  (\w+)\t", explained, re.M)), explained


def test_the_kubernetes_service_has_its_slice_named_kubernetes(kubectl: Any) -> None:
    """As kube-apiserver writes it beside the Endpoints: named `kubernetes`, labelled with the Service's name."""
    endpoints = json.loads(kubectl("get", "endpoints", "kubernetes", "-n", "default", "-o", "json").stdout)
    address, port = endpoints["subsets"][0]["addresses"][0]["ip"], endpoints["subsets"][0]["ports"][0]["port"]
    [eps] = until(lambda: slices(kubectl, "kubernetes", "default"), what="the kubernetes slice")
    assert eps["metadata"]["name"] == "kubernetes"
    assert eps["metadata"]["labels"] == {"kubernetes.io/service-name": "kubernetes"}
    assert [e["addresses"] for e in eps["endpoints"]] == [[address]]
    assert eps["ports"] == [{"name": "https", "port": port, "protocol": "TCP"}]
    table = rows(kubectl("get", "endpointslices", "-n", "default").stdout)
    assert [r[:4] for r in table[1:]] == [["kubernetes", "IPv4", str(port), address]], table
    described = kubectl("describe", "service", "kubernetes", "-n", "default").stdout
    assert re.search(rf"^Endpoints:\s+{re.escape(address)}:{port}$", described, re.M), described


def test_a_selectorless_services_endpoints_are_mirrored(kubectl: Any, tmp_path: Path) -> None:
    manifest = tmp_path / "ext.yaml"
    manifest.write_text(f"""apiVersion: v1
kind: Service
metadata: {{name: ext, namespace: {NS}}}
spec:
  ports: [{{name: db, port: 5432}}]
---
apiVersion: v1
kind: Endpoints
metadata: {{name: ext, namespace: {NS}, labels: {{team: a}}}}
subsets:
- addresses: [{{ip: 192.168.7.1}}]
  notReadyAddresses: [{{ip: 192.168.7.2}}]
  ports: [{{name: db, port: 5432}}]
""")
    kubectl("apply", "-f", str(manifest))
    [eps] = until(lambda: slices(kubectl, "ext"), what="the mirrored slice")
    assert eps["metadata"]["name"].startswith("ext-")
    assert eps["metadata"]["labels"] == {"team": "a", "kubernetes.io/service-name": "ext",
                                         "endpointslice.kubernetes.io/managed-by":
                                             "endpointslicemirroring-controller.k8s.io"}
    assert eps["metadata"]["ownerReferences"][0]["kind"] == "Endpoints"
    assert [(e["addresses"], e["conditions"]) for e in eps["endpoints"]] == \
        [(["192.168.7.1"], {"ready": True}), (["192.168.7.2"], {"ready": False})]
    described = kubectl("describe", "service", "ext", "-n", NS).stdout
    assert re.search(r"^Endpoints:\s+192\.168\.7\.1:5432$", described, re.M), described
    kubectl("label", "endpoints", "ext", "-n", NS, "endpointslice.kubernetes.io/skip-mirror=true")
    until(lambda: slices(kubectl, "ext") == [], what="the mirror to go when skip-mirror is set")


def test_the_python_client_lists_them(api: dict[str, Any], kubectl: Any) -> None:
    from kubernetes import client, config
    until(lambda: len(ready_addresses(slices(kubectl, "web"))) == 2, what="the web slice")
    config.load_kube_config(config_file=api["kubeconfig"])
    listed = client.DiscoveryV1Api().list_namespaced_endpoint_slice(NS, label_selector="kubernetes.io/service-name=web")
    [eps] = listed.items
    assert eps.address_type == "IPv4" and [(p.name, p.port, p.protocol) for p in eps.ports] == [("", 8080, "TCP")]
    assert sorted(e.conditions.ready for e in eps.endpoints) == [True, True]
    everywhere = client.DiscoveryV1Api().list_endpoint_slice_for_all_namespaces()
    assert {i.metadata.labels["kubernetes.io/service-name"] for i in everywhere.items} >= {"web", "kubernetes"}


def test_scaling_to_zero_leaves_a_placeholder_and_deleting_the_service_its_slices(kubectl: Any) -> None:
    until(lambda: len(ready_addresses(slices(kubectl, "web"))) == 2, what="the web slice")
    kubectl("scale", "deployment", "web", "-n", NS, "--replicas=0")
    placeholder = until(lambda: [s for s in slices(kubectl, "web") if not s["endpoints"]], what="a placeholder")
    assert len(slices(kubectl, "web")) == 1 and "ports" not in placeholder[0]
    row = rows(kubectl("get", "endpointslices", "-n", NS).stdout)[1]
    assert row[1:4] == ["IPv4", "<unset>", "<unset>"], row
    described = kubectl("describe", "service", "web", "-n", NS).stdout
    assert re.search(r"^Endpoints:\s*$", described, re.M), described     # slices, none ready: kubectl prints nothing
    kubectl("delete", "service", "web", "-n", NS)
    until(lambda: slices(kubectl, "web") == [], what="the slices to go with their Service")


def test_bad_slices_are_refused_in_kubernetes_words(api: dict[str, Any], kubectl: Any) -> None:
    base = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "mine"},
            "addressType": "IPv4", "endpoints": [{"addresses": ["10.1.2.3"]}], "ports": [{"port": 80}]}
    path = f"/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices"
    bad = [({"addressType": "IPX"}, 'addressType: Unsupported value: "IPX": supported values: "FQDN", "IPv4", "IPv6"'),
           ({"endpoints": [{"addresses": ["fe80::1"]}]},
            'endpoints[0].addresses[0]: Invalid value: "fe80::1": must be a valid IPv4 address'),
           ({"endpoints": [{"addresses": []}]}, "endpoints[0].addresses: Required value: must contain at least 1 address"),
           ({"ports": [{"name": "a", "port": 1}, {"name": "a", "port": 2}]}, 'ports[1].name: Duplicate value: "a"')]
    for change, words in bad:
        code, doc, _ = http(api, "POST", path, json.dumps({**base, **change}).encode())
        assert code == 422 and doc["reason"] == "Invalid" and words in doc["message"], doc
    code, doc, _ = http(api, "POST", path, json.dumps(base).encode())
    assert code == 201 and doc["ports"] == [{"name": "", "port": 80, "protocol": "TCP"}], doc   # defaulted
    assert doc["metadata"]["generation"] == 1
    doc["addressType"] = "IPv6"
    code, err, _ = http(api, "PUT", f"{path}/mine", json.dumps(doc).encode())
    assert code == 422 and 'addressType: Invalid value: "IPv6": field is immutable' in err["message"], err
    code, after, _ = http(api, "GET", f"{path}/mine")
    assert after["addressType"] == "IPv4" and after["metadata"]["resourceVersion"] == doc["metadata"]["resourceVersion"]
