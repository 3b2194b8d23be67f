"""Server-side apply and managedFields against `cluster up --local` (a real apiserver on a real etcd), driven
by the real kubectl 1.37 (`apply --server-side`, `scale`, `--force-conflicts`, `--show-managed-fields`) and the
official Python client; plus what the HTTP API answers a bad apply, in Kubernetes' words."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from .test_http_api import api, http, kubectl, kubectl_bin  # noqa: F401 - the fixtures, reused

pytestmark = pytest.mark.integration

DEPLOY_PATH = "/apis/apps/v1/namespaces/default/deployments"


def deployment(name: str, replicas: int, image: str = "nginx:1.25", **labels: str) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": labels or {"app": name}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "web", "image": image}]}}}}


def write(tmp_path: Path, doc: dict[str, Any]) -> str:
    path = tmp_path / f"{doc['metadata']['name']}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def live(api: dict[str, Any], name: str) -> dict[str, Any]:  # noqa: F811 - api is the fixture's value
    code, doc, _ = http(api, "GET", f"{DEPLOY_PATH}/{name}")
    assert code == 200, doc
    assert isinstance(doc, dict)
    return doc


def owners(doc: dict[str, Any], *path: str) -> list[str]:
    """The managers whose fieldsV1 hold `path` (`"f:spec", "f:replicas"`)."""
    out = []
    for entry in doc["metadata"].get("managedFields", []):
        node = entry["fieldsV1"]
        for element in path:
            node = node.get(element) if isinstance(node, dict) else None
        if node is not None:
            out.append(entry["manager"])
    return sorted(out)


def test_kubectl_server_side_apply_scale_conflict_force_and_removal(kubectl_bin: Path,  # noqa: F811
                                                                    api: dict[str, Any],  # noqa: F811
                                                                    tmp_path: Path) -> None:
    # Created by the apply: the object carries exactly one Apply entry, the applier's.
    manifest = write(tmp_path, deployment("ssa", 2, app="ssa", tier="front"))
    out = kubectl(kubectl_bin, api, "apply", "--server-side", "-f", manifest).stdout
    assert "deployment.apps/ssa serverside-applied" in out
    doc = live(api, "ssa")
    [entry] = doc["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["apiVersion"], entry["fieldsType"]) == \
        ("kubectl", "Apply", "apps/v1", "FieldsV1")
    assert entry["fieldsV1"]["f:metadata"] == {"f:labels": {"f:app": {}, "f:tier": {}}}
    assert entry["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"] == {
        'k:{"name":"web"}': {".": {}, "f:image": {}, "f:name": {}}}

    # Re-applied with a new image: changed, still one entry.
    manifest = write(tmp_path, deployment("ssa", 2, image="nginx:1.26", app="ssa", tier="front"))
    kubectl(kubectl_bin, api, "apply", "--server-side", "-f", manifest)
    doc = live(api, "ssa")
    assert doc["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26"
    assert [e["manager"] for e in doc["metadata"]["managedFields"]] == ["kubectl"]
    # The same file again changes nothing: no write, the entry's time kept.
    kubectl(kubectl_bin, api, "apply", "--server-side", "-f", manifest)
    again = live(api, "ssa")
    assert again["metadata"]["resourceVersion"] == doc["metadata"]["resourceVersion"]
    assert again["metadata"]["managedFields"] == doc["metadata"]["managedFields"]

    # Scaled by another manager, then applied with other replicas: kubectl prints the conflict, exits 1, and
    # nothing changes.
    kubectl(kubectl_bin, api, "scale", "deployment/ssa", "--replicas=5")
    scaled = live(api, "ssa")
    scaler = next(e for e in scaled["metadata"]["managedFields"] if e["operation"] == "Update")
    assert scaler["subresource"] == "scale" and owners(scaled, "f:spec", "f:replicas") == [scaler["manager"]]
    manifest = write(tmp_path, deployment("ssa", 3, image="nginx:1.26", app="ssa", tier="front"))
    r = kubectl(kubectl_bin, api, "apply", "--server-side", "-f", manifest, check=False)
    assert r.returncode == 1
    assert (f'Apply failed with 1 conflict: conflict with "{scaler["manager"]}" with subresource "scale" '
            f'using apps/v1: .spec.replicas') in r.stderr
    assert "--force-conflicts" in r.stderr          # kubectl's own advice, printed for a FieldManagerConflict
    after = live(api, "ssa")
    assert after["spec"]["replicas"] == 5
    assert after["metadata"]["resourceVersion"] == scaled["metadata"]["resourceVersion"]

    # -o yaml hides managedFields unless asked, as kubectl does; asked, both managers are there.
    plain = yaml.safe_load(kubectl(kubectl_bin, api, "get", "deployment", "ssa", "-o", "yaml").stdout)
    assert "managedFields" not in plain["metadata"]
    shown = yaml.safe_load(kubectl(kubectl_bin, api, "get", "deployment", "ssa", "-o", "yaml",
                                   "--show-managed-fields").stdout)
    assert [(e["manager"], e["operation"], e.get("subresource")) for e in shown["metadata"]["managedFields"]] \
        == [("kubectl", "Apply", None), (scaler["manager"], "Update", "scale")]
    # The table kubectl prints knows nothing of them either.
    assert "managedFields" not in kubectl(kubectl_bin, api, "get", "deployment", "ssa").stdout

    # --force-conflicts takes replicas over.
    kubectl(kubectl_bin, api, "apply", "--server-side", "--force-conflicts", "-f", manifest)
    doc = live(api, "ssa")
    assert doc["spec"]["replicas"] == 3 and owners(doc, "f:spec", "f:replicas") == ["kubectl"]

    # A label dropped from the applied file goes from the object (it was the applier's alone).
    manifest = write(tmp_path, deployment("ssa", 3, image="nginx:1.26", app="ssa"))
    kubectl(kubectl_bin, api, "apply", "--server-side", "-f", manifest)
    doc = live(api, "ssa")
    assert doc["metadata"]["labels"] == {"app": "ssa"}

    # The scaler owned replicas only: forced off it, its entry is gone. A label by kubectl label is another.
    kubectl(kubectl_bin, api, "label", "deployment/ssa", "env=prod")
    doc = live(api, "ssa")
    assert [(e["manager"], e["operation"]) for e in doc["metadata"]["managedFields"]] == \
        [("kubectl", "Apply"), ("kubectl-label", "Update")]
    assert doc["metadata"]["labels"] == {"app": "ssa", "env": "prod"}


def test_kubectl_client_side_apply_then_server_side_apply_conflicts(kubectl_bin: Path,  # noqa: F811
                                                                   api: dict[str, Any],  # noqa: F811
                                                                   tmp_path: Path) -> None:
    kubectl(kubectl_bin, api, "apply", "-f", write(tmp_path, deployment("csa", 2)))
    assert owners(live(api, "csa"), "f:spec", "f:replicas") == ["kubectl-client-side-apply"]
    r = kubectl(kubectl_bin, api, "apply", "--server-side", "-f", write(tmp_path, deployment("csa", 4)),
                check=False)
    assert r.returncode == 1
    assert ('Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: '
            '.spec.replicas') in r.stderr
    assert live(api, "csa")["spec"]["replicas"] == 2
    # The same values are shared, not a conflict.
    kubectl(kubectl_bin, api, "apply", "--server-side", "-f", write(tmp_path, deployment("csa", 2)))
    assert owners(live(api, "csa"), "f:spec", "f:replicas") == ["kubectl", "kubectl-client-side-apply"]


def test_http_apply_conflict_status_and_bad_requests(api: dict[str, Any]) -> None:  # noqa: F811
    body = json.dumps(deployment("raw", 1)).encode()
    code, doc, _ = http(api, "POST", f"{DEPLOY_PATH}?fieldManager=creator", body)
    assert code == 201, doc
    assert isinstance(doc, dict) and [e["manager"] for e in doc["metadata"]["managedFields"]] == ["creator"]

    apply_type = "application/apply-patch+yaml"
    code, doc, _ = http(api, "PATCH", f"{DEPLOY_PATH}/raw", json.dumps(deployment("raw", 2)).encode(), apply_type)
    assert code == 422 and isinstance(doc, dict)
    assert doc["message"] == ('PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
                              'is required for apply patch')

    code, doc, _ = http(api, "PATCH", f"{DEPLOY_PATH}/raw?fieldManager=me",
                        json.dumps(deployment("raw", 2)).encode(), apply_type)
    assert code == 409 and isinstance(doc, dict)
    assert doc["reason"] == "Conflict"
    assert doc["message"] == ('Apply failed with 1 conflict: conflict with "creator" using apps/v1: '
                              '.spec.replicas')
    assert doc["details"]["causes"] == [{"reason": "FieldManagerConflict", "field": ".spec.replicas",
                                         "message": 'conflict with "creator" using apps/v1'}]

    code, doc, _ = http(api, "PATCH", f"{DEPLOY_PATH}/raw?fieldManager=me&force=true",
                        json.dumps({"spec": {"replicas": 3}}).encode(), "application/merge-patch+json")
    assert code == 422 and isinstance(doc, dict)
    assert doc["message"] == 'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified ' \
                             'for non-apply patch'
    assert live(api, "raw")["spec"]["replicas"] == 1

    # A status write is the status subresource's entry, owning .status only.
    code, doc, _ = http(api, "PATCH", f"{DEPLOY_PATH}/raw/status?fieldManager=statusman",
                        json.dumps({"status": {"replicas": 1, "observedGeneration": 1}}).encode(),
                        "application/merge-patch+json")
    assert code == 200 and isinstance(doc, dict)
    [entry] = [e for e in doc["metadata"]["managedFields"] if e["manager"] == "statusman"]
    assert entry["subresource"] == "status" and entry["operation"] == "Update"
    assert entry["fieldsV1"] == {"f:status": {"f:observedGeneration": {}, "f:replicas": {}}}

    managed = deployment("raw", 2)
    managed["metadata"]["managedFields"] = [{"manager": "x"}]
    code, doc, _ = http(api, "PATCH", f"{DEPLOY_PATH}/raw?fieldManager=me", json.dumps(managed).encode(),
                        apply_type)
    assert code == 400 and isinstance(doc, dict) and doc["message"] == "metadata.managedFields must be nil"


def test_python_client_apply_and_merge_patch_record_their_managers(api: dict[str, Any]) -> None:  # noqa: F811
    import kubernetes       # the official client is a dev dependency: its absence is a broken install
    client = kubernetes.config.new_client_from_config(config_file=api["kubeconfig"])
    apps = kubernetes.client.AppsV1Api(client)
    apps.patch_namespaced_deployment("py", "default", deployment("py", 1), field_manager="py-applier",
                                     _content_type="application/apply-patch+yaml")
    apps.patch_namespaced_deployment("py", "default", {"metadata": {"labels": {"owner": "team"}}},
                                     field_manager="py-labeller")
    got = apps.read_namespaced_deployment("py", "default")
    entries = {(e.manager, e.operation) for e in got.metadata.managed_fields}
    assert entries == {("py-applier", "Apply"), ("py-labeller", "Update")}
    assert got.metadata.labels == {"app": "py", "owner": "team"}
    # The applier's re-apply leaves the label it never applied.
    apps.patch_namespaced_deployment("py", "default", deployment("py", 2), field_manager="py-applier",
                                     _content_type="application/apply-patch+yaml")
    got = apps.read_namespaced_deployment("py", "default")
    assert got.spec.replicas == 2 and got.metadata.labels == {"app": "py", "owner": "team"}


def test_kubelab_cli_writes_over_grpc_are_a_manager_kubectl_apply_conflicts_with(
        kubectl_bin: Path, api: dict[str, Any], tmp_path: Path) -> None:  # noqa: F811
    env = {**os.environ, "KUBELAB_SERVER": api["server"], "KUBELAB_TOKEN": api["token"]}
    manifest = write(tmp_path, deployment("cli", 2))
    subprocess.run([sys.executable, "-m", "kubectl", "apply", "-f", manifest], env=env, check=True,
                   capture_output=True, text=True)
    doc = live(api, "cli")
    assert [(e["manager"], e["operation"]) for e in doc["metadata"]["managedFields"]] == [("kubelab", "Update")]
    r = kubectl(kubectl_bin, api, "apply", "--server-side", "-f", write(tmp_path, deployment("cli", 6)),
                check=False)
    assert r.returncode == 1 and 'conflict with "kubelab" using apps/v1: .spec.replicas' in r.stderr
    # kubelab get hides them unless asked, as kubectl does.
    plain = subprocess.run([sys.executable, "-m", "kubectl", "get", "deployment", "cli", "-o", "yaml"], env=env,
                           check=True, capture_output=True, text=True).stdout
    assert "managedFields" not in plain
    shown = subprocess.run([sys.executable, "-m", "kubectl", "get", "deployment", "cli", "-o", "yaml",
                            "--show-managed-fields"], env=env, check=True, capture_output=True, text=True).stdout
    assert yaml.safe_load(shown)["metadata"]["managedFields"][0]["manager"] == "kubelab"
